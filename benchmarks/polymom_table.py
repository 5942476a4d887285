"""Polymom against EM and tensor factorisation, setting by setting as in the paper's Table 3.

Rows (10 random models each unless ``--seeds``):

* Gaussians K = D = 2 (spherical / diagonal / constrained, ``momix.datasets``), T = 1e3..1e5.
  EM: scikit-learn ``GaussianMixture`` (diag, k-means init, 5 restarts) with the paper's
  ``max_iter=10, tol=1e-2`` and converged (``max_iter=200``); TF: the spherical-Gaussian
  moment method (Hsu & Kakade) with a whitened symmetric tensor power method; Poly: momix
  Polymom with the diagonal parametrisation, moments of degree <= 3 and the per-component
  "coordinates sum to one" constraint, as the paper; Poly (paper settings): unweighted least
  squares, lambda = 1e-5, one trace minimisation; Poly + EM: Polymom then GaussianMixture.
* 3-view symmetric categorical K = D = 3, T = 1e4..1e6: EM (one Dirichlet start, <= 100
  iterations), TF (cross-view moments, whitened tensor power method), Poly, Poly + EM.
* Mixture of linear regressions K = D = 2, T = 1e4..1e6: EM (random starts, 5 restarts),
  Poly (known noise), Poly + EM.

Metric: the paper's max_k ||theta_k - theta_hat_k|| / ||theta_k|| after Hungarian matching (means
only for Gaussians, as the paper), mean over models; the per-coordinate variant of the
paper's Gaussian code is stored in the JSON. Also: SDP size and solve time against dimension
and order, and the D = 2 diagonal fit time. Machine: 2 cores, 24 GiB, shared.

Usage: ``python benchmarks/polymom_table.py [--seeds 10] [--rows gauss,multiview,mlr,size]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

from momix.datasets import (
    make_gaussian_mixture,
    make_linear_regression_mixture,
    make_multiview_mixture,
)
from momix.metrics import parameter_error
from momix.polymom import (
    GaussianDiagonal,
    GaussianSpherical,
    LinearRegression,
    MixtureOfLinearRegressions,
    MultiView,
    Polymom,
)

RESULTS = Path(__file__).parent / "results"
ONLY: set[str] = set()  # run only these methods (``--methods``), for partial re-runs
PAPER = {  # Table 3 of the paper: (EM, TF, Poly) per T
    "spherical": [(0.37, 2.05, 0.58), (0.24, 0.73, 0.29), (0.19, 0.36, 0.14)],
    "diagonal": [(0.44, 2.15, 0.48), (0.48, 4.03, 0.40), (0.38, 2.46, 0.35)],
    "constrained": [(0.49, 7.52, 0.38), (0.47, 2.56, 0.30), (0.34, 3.02, 0.29)],
    "3-view": [(0.38, 0.51, 0.57), (0.31, 0.33, 0.26), (0.36, 0.16, 0.12)],
    "lin. reg.": [(None, None, 3.51), (None, None, 2.60), (None, None, 2.52)],
}


# ------------------------------------------------------------------ tensor power method


def whitened_tensor_power(M2, M3, k, rng, n_restarts=None, n_iter=None):
    """Robust symmetric tensor power method after whitening (Anandkumar et al. 2014).

    ``M2 = sum_k w_k mu_k mu_k^T``, ``M3 = sum_k w_k mu_k^{(x)3}`` -> (weights, means (k, d)).
    """
    U, s, _ = np.linalg.svd((M2 + M2.T) / 2)
    W = U[:, :k] / np.sqrt(np.maximum(s[:k], 1e-12))
    T = np.einsum("abc,ai,bj,ck->ijk", M3, W, W, W)
    n_restarts = n_restarts or 2 * k
    n_iter = n_iter or 10 * int(np.ceil(np.log(k) + 1)) * 3
    lams, vecs = [], []
    for _ in range(k):
        best = None
        for _ in range(n_restarts):
            th = rng.standard_normal(k)
            th /= np.linalg.norm(th)
            for _ in range(n_iter):
                th = np.einsum("ijk,j,k->i", T, th, th)
                th /= max(np.linalg.norm(th), 1e-300)
            val = np.einsum("ijk,i,j,k->", T, th, th, th)
            if best is None or val > best[0]:
                best = (val, th)
        lam, th = best
        lams.append(lam)
        vecs.append(th)
        T = T - lam * np.einsum("i,j,k->ijk", th, th, th)
    lams, vecs = np.array(lams), np.array(vecs)
    B = np.linalg.pinv(W.T)
    means = (lams[:, None] * vecs) @ B.T
    weights = 1.0 / np.maximum(lams, 1e-12) ** 2
    return weights / weights.sum(), means


def spherical_tf(X, k, rng):
    """Hsu-Kakade moments for spherical Gaussians with a common variance, then TPM."""
    mu = X.mean(0)
    cov = np.cov(X.T)
    vals, vecs = np.linalg.eigh(cov)
    sigma2, v = vals[0], vecs[:, 0]
    m1 = ((((X - mu) @ v) ** 2)[:, None] * X).mean(0)
    d = X.shape[1]
    M2 = X.T @ X / len(X) - sigma2 * np.eye(d)
    M3 = np.einsum("na,nb,nc->abc", X, X, X) / len(X)
    eye = np.eye(d)
    M3 -= (np.einsum("a,bc->abc", m1, eye) + np.einsum("b,ac->abc", m1, eye)
           + np.einsum("c,ab->abc", m1, eye))
    return whitened_tensor_power(M2, M3, k, rng)[1]


def multiview_tf(views, k, rng):
    x1, x2, x3 = views
    n = x1.shape[0]
    M2 = x1.T @ x2 / n
    M3 = np.einsum("na,nb,nc->abc", x1, x2, x3) / n
    M3 = sum(np.transpose(M3, p) for p in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0),
                                          (2, 0, 1), (2, 1, 0)]) / 6
    return _simplex(whitened_tensor_power(M2, M3, k, rng)[1])


# ----------------------------------------------------------------------------- helpers


def _simplex(means):
    a = np.abs(means)
    return a / np.maximum(a.sum(axis=1, keepdims=True), 1e-300)


def _err(true, est) -> float:
    """Paper metric: max_k ||theta_k - theta_hat_k|| / ||theta_k|| after matching."""
    return float(parameter_error(true, est).value)


def _coord_err(true, est) -> float:
    """Paper code metric (Gaussian rows): max over coordinates of the column errors."""
    return float(parameter_error(true, est).coordinate_errors.max())


def _timed(fn):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn()
        except Exception as exc:  # a failed fit is recorded, not hidden
            return None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
    return out, time.perf_counter() - start, None


def categorical_em(views, weights, means, max_iter=100, tol=1e-5):
    counts = views.sum(axis=0)  # (n, d): how often each category appears over the views
    w = np.maximum(weights, 0.01 / len(weights))  # a zero weight would stay dead under EM
    w, xi = w / w.sum(), np.clip(means, 1e-6, None)
    xi /= xi.sum(1, keepdims=True)
    prev = -np.inf
    for _ in range(max_iter):
        logp = counts @ np.log(xi).T + np.log(np.maximum(w, 1e-300))
        norm = logsumexp(logp, axis=1)
        if norm.mean() - prev < tol:
            break
        prev = norm.mean()
        r = np.exp(logp - norm[:, None])
        w = r.mean(0)
        xi = np.clip(r.T @ counts, 1e-10, None)
        xi /= xi.sum(1, keepdims=True)
    return xi


# -------------------------------------------------------------------------------- rows


def _poly_gauss(X, paper_settings=False, refine=None):
    model = GaussianDiagonal(2, order=3, mean_sum=1.0)
    kw = dict(moment_weighting="none", penalty=1e-5, rank_method="trace") if paper_settings \
        else {}
    est = Polymom(model, 2, random_state=0, refine=refine, **kw).fit(X)
    return est.means_


def gaussian_row(kind, T, seed):
    data = make_gaussian_mixture(T, 2, 2, kind, random_state=seed)
    X, mu = data.X, data.means
    rng = np.random.default_rng(seed)
    methods = {
        "EM": lambda: GaussianMixture(2, covariance_type="diag", n_init=5, max_iter=10, tol=1e-2,
                                      random_state=seed).fit(X).means_,
        "EM (converged)": lambda: GaussianMixture(2, covariance_type="diag", n_init=5,
                                                  max_iter=200, random_state=seed).fit(X).means_,
        "TF": lambda: spherical_tf(X, 2, rng),
        "Poly": lambda: _poly_gauss(X),
        "Poly (paper settings)": lambda: _poly_gauss(X, paper_settings=True),
        "Poly + EM": lambda: _poly_gauss(X, refine="em"),
        "Poly (unweighted lambda=1e-2)": lambda: Polymom(
            GaussianDiagonal(2, order=3, mean_sum=1.0), 2, moment_weighting="none",
            penalty=1e-2, random_state=0).fit(X).means_,
    }
    if kind == "spherical":  # the correctly specified model (the paper fitted diagonal)
        methods["Poly (spherical model)"] = lambda: Polymom(
            GaussianSpherical(2, order=3, mean_sum=1.0), 2, random_state=0).fit(X).means_
    return _score(methods, mu, coord=True)


def _score(methods, truth, coord=False):
    out = {}
    for name, fn in methods.items():
        if ONLY and name not in ONLY:
            continue
        est, sec, err = _timed(fn)
        rec = {"time": sec}
        if err is None:
            rec["error"] = _err(truth, est)
            if coord:
                rec["coordinate_error"] = _coord_err(truth, est)
        else:
            rec["failure"] = err
        out[name] = rec
    return out


def multiview_row(T, seed):
    data = make_multiview_mixture(T, 3, 3, symmetric=True, random_state=seed)
    views, xi = data.views, data.means[0]
    Z = np.hstack(list(views))
    rng = np.random.default_rng(seed)
    model = MultiView(3, symmetric=True)

    def poly():
        est = Polymom(model, 3, random_state=0).fit(Z)
        return est

    def em():
        return categorical_em(views, rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3), 3))

    def poly_em():
        est = poly()
        return categorical_em(views, est.weights_, _simplex(est.params_))

    methods = {"EM": em, "TF": lambda: multiview_tf(views, 3, rng),
               "Poly": lambda: _simplex(poly().params_), "Poly + EM": poly_em}
    return _score(methods, xi)


def regression_row(T, seed):
    data = make_linear_regression_mixture(T, 2, 2, random_state=seed)
    X, y, w = data.X, data.y, data.coefs
    model = LinearRegression(2, data.noise_variance, x_order=2, y_order=3)
    methods = {
        "EM": lambda: MixtureOfLinearRegressions(2, init="random", n_init=5, fit_intercept=False,
                                                 max_iter=100, random_state=seed).fit(X, y).coef_,
        "Poly": lambda: Polymom(model, 2, random_state=0).fit(X, y).params_,
        "Poly + EM": lambda: Polymom(model, 2, random_state=0, refine="em").fit(X, y).params_,
    }
    return _score(methods, w)


# ------------------------------------------------------------------------- SDP scaling


def size_table(repeats=3, max_d=4):
    rows = []
    settings = [(1, 6, "Gaussian1D order 6"), (2, 3, "diag, R_obs=3 + sum-to-one"),
                (2, 4, "diag, R_obs=4"), (3, 3, "diag, R_obs=3 + sum-to-one"),
                (3, 4, "diag, R_obs=4"), (4, 3, "diag, R_obs=3 + sum-to-one")]
    for d, r_obs, label in settings:
        from momix.polymom import Gaussian1D

        if d > max_d:
            continue
        model = Gaussian1D(6) if d == 1 else GaussianDiagonal(
            d, r_obs, mean_sum=1.0 if r_obs == 3 else None)
        rng = np.random.default_rng(d)
        means = np.eye(d)[:2] + 0.3 * rng.random((2, d)) if d > 1 else np.array([[-1.0], [1.5]])
        if r_obs == 3 and d > 1:
            means -= (means.sum(1, keepdims=True) - 1) / d
        params = np.hstack([means, rng.uniform(0.5, 1.0, (2, d))])
        mom = model.population_moments([0.4, 0.6], params)
        times, est = [], None
        for _ in range(repeats):
            est, sec, err = _timed(lambda m=model, mo=mom: Polymom(
                m, 2, relaxation="exact", random_state=0).fit_moments(mo))
            times.append(sec)
        ok = est is not None
        rows.append({"setting": label, "D": d, "P": model.n_params,
                     "order": est.order_ if ok else None,
                     "s": int(est.moment_matrix_.shape[0]) if ok else None,
                     "n_y": _n_vars(model, est) if ok else None,
                     "solves": int(est.n_iter_) if ok else None,
                     "time_median": float(np.median(times)),
                     "exact_error": (float(parameter_error(params, est.params_).value)
                                     if ok else None)})
    return rows


def _n_vars(model, est):
    from momix.polymom import moment_structure

    return int(moment_structure(model.n_params, est.order_, model.degree_weights).n_vars)


def d2_timing(repeats=7):
    data = make_gaussian_mixture(10_000, 2, 2, "diagonal", random_state=0)
    out = {}
    for name, fn in {
        "Polymom diag R_obs=4": lambda: Polymom(GaussianDiagonal(2, 4), 2,
                                                random_state=0).fit(data.X),
        "Polymom diag R_obs=3 + sum-to-one": lambda: _poly_gauss(data.X),
        "sklearn EM (5 k-means starts)": lambda: GaussianMixture(
            2, covariance_type="diag", n_init=5, random_state=0).fit(data.X),
    }.items():
        fn()
        times = [_timed(fn)[1] for _ in range(repeats)]
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out[name] = {"median_s": float(np.median(times)), "peak_MiB": peak / 2**20}
    return out


# -------------------------------------------------------------------------------- main

SETTINGS = {
    "gauss": [(kind, T) for kind in ("spherical", "diagonal", "constrained")
              for T in (1_000, 10_000, 100_000)],
    "multiview": [("3-view", T) for T in (10_000, 100_000, 1_000_000)],
    "mlr": [("lin. reg.", T) for T in (10_000, 100_000, 1_000_000)],
}


def _run_cell(row, T, seeds):
    runs = []
    for seed in range(seeds):
        if row == "3-view":
            runs.append(multiview_row(T, seed))
        elif row == "lin. reg.":
            runs.append(regression_row(T, seed))
        else:
            runs.append(gaussian_row(row, T, seed))
    summary = {}
    for name in runs[0]:
        errs = [r[name].get("error") for r in runs]
        ok = [e for e in errs if e is not None]
        coord = [r[name]["coordinate_error"] for r in runs if "coordinate_error" in r[name]]
        summary[name] = {
            "mean_error": float(np.mean(ok)) if ok else None,
            "median_error": float(np.median(ok)) if ok else None,
            "mean_coordinate_error": float(np.mean(coord)) if coord else None,
            "failures": len(errs) - len(ok),
            "median_time_s": float(np.median([r[name]["time"] for r in runs])),
        }
    return {"row": row, "T": T, "seeds": seeds, "methods": summary, "runs": runs}


def _sci(v):
    return "–" if v is None else f"{v:.1e}"


def _fmt(v):
    return "–" if v is None else f"{v:.2f}"


def _coordinate_table(cells, methods) -> list[str]:
    """Gaussian rows with the metric of the paper's code (max over coordinates)."""
    gauss = [c for c in cells if c["row"] in ("spherical", "diagonal", "constrained")]
    if not gauss:
        return []
    lines = ["", "Gaussian rows with the per-coordinate metric of the paper's code "
             "(`column_rerr`, which produced its Gaussian numbers, spec §2.2):", "",
             "| row | T | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for c in gauss:
        vals = [_fmt(c["methods"].get(m, {}).get("mean_coordinate_error")) for m in methods]
        lines.append(f"| {c['row']} | {c['T']:.0e} | " + " | ".join(vals) + " |")
    return lines


def _markdown(cells, sizes, timing, args) -> str:
    lines = ["# Polymom: the paper's Table 3, setting by setting", "",
             f"Machine: 2 cores, 24 GiB, shared with other jobs ({platform.processor() or 'x86_64'}"
             f", Python {platform.python_version()}). n = random models per cell. Error: the "
             "paper's max_k ||theta_k - theta_hat_k||/||theta_k|| (means only for Gaussians), "
             "mean over models; the paper's printed numbers in the last column.", ""]
    methods = []
    for c in cells:
        methods += [m for m in c["methods"] if m not in methods]
    lines += ["| row | T | n | " + " | ".join(methods) + " | paper EM / TF / Poly |",
              "|---|---|---|" + "---|" * len(methods) + "---|"]
    for c in cells:
        idx = {1_000: 0, 10_000: 0, 100_000: 1, 1_000_000: 2}[c["T"]]
        if c["row"] in ("spherical", "diagonal", "constrained"):
            idx = {1_000: 0, 10_000: 1, 100_000: 2}[c["T"]]
        paper = " / ".join(_fmt(v) for v in PAPER[c["row"]][idx])
        vals = []
        for m in methods:
            rec = c["methods"].get(m)
            if rec is None:
                vals.append("")
                continue
            fail = f" ({rec['failures']} failed)" if rec["failures"] else ""
            vals.append(_fmt(rec["mean_error"]) + fail)
        lines.append(f"| {c['row']} | {c['T']:.0e} | {c['seeds']} | " + " | ".join(vals)
                     + f" | {paper} |")
    lines += _coordinate_table(cells, methods)
    if timing:
        lines += ["", "## D = 2 diagonal fit, T = 1e4 (moments + SDP + extraction)", "",
                  "| method | median time (s) | peak memory (MiB) |", "|---|---|---|"]
        lines += [f"| {k} | {v['median_s']:.3f} | {v['peak_MiB']:.1f} |" for k, v in timing.items()]
    if sizes:
        lines += ["", "## SDP size and time against dimension and order (exact moments, K = 2)",
                  "", "| setting | P | order r | s = rows of M_r | n_y variables | SDP solves | "
                  "median fit time (s) | error |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['setting']} | {r['P']} | {r['order']} | {r['s']} | {r['n_y']} | "
                  f"{r['solves']} | {r['time_median']:.2f} | {_sci(r['exact_error'])} |"
                  for r in sizes]
    return "\n".join(lines) + "\n"


def _write(cells, sizes, timing, args, tag=""):
    RESULTS.mkdir(exist_ok=True)
    payload = {"args": vars(args), "cells": cells, "sdp_sizes": sizes, "d2_timing": timing,
               "paper": PAPER}
    (RESULTS / f"polymom_table{tag}.json").write_text(json.dumps(payload, indent=1))
    md = _markdown(cells, sizes, timing, args)
    (RESULTS / f"polymom_table{tag}.md").write_text(md)
    return md


def _merge(tags, args):
    cells, sizes, timing = [], [], {}
    for tag in tags:
        part = json.loads((RESULTS / f"polymom_table_{tag}.json").read_text())
        for cell in part["cells"]:
            same = [c for c in cells if (c["row"], c["T"]) == (cell["row"], cell["T"])]
            if same:  # a partial re-run adds methods to an existing cell
                same[0]["methods"].update(cell["methods"])
                for r0, r1 in zip(same[0]["runs"], cell["runs"], strict=False):
                    r0.update(r1)
            else:
                cells.append(cell)
        sizes += part["sdp_sizes"]
        timing.update(part["d2_timing"])
    order = ["spherical", "diagonal", "constrained", "3-view", "lin. reg."]
    cells.sort(key=lambda c: (order.index(c["row"]), c["T"]))
    return _write(cells, sizes, timing, args)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--rows", default="gauss,multiview,mlr,size,timing")
    parser.add_argument("--max-T", type=float, default=1e6)
    parser.add_argument("--min-T", type=float, default=0)
    parser.add_argument("--max-size-D", type=int, default=4)
    parser.add_argument("--tag", default="", help="suffix of the result files (partial runs)")
    parser.add_argument("--merge", default="", help="comma-separated tags to merge")
    parser.add_argument("--methods", default="", help="comma-separated subset of methods")
    parser.add_argument("--kinds", default="spherical,diagonal,constrained")
    args = parser.parse_args(argv)
    ONLY.update(m for m in args.methods.split(",") if m)
    if args.merge:
        print(_merge(args.merge.split(","), args))
        return
    rows = args.rows.split(",")
    cells, tag = [], f"_{args.tag}" if args.tag else ""
    for group in ("gauss", "multiview", "mlr"):
        if group not in rows:
            continue
        for row, T in SETTINGS[group]:
            skip_kind = group == "gauss" and row not in args.kinds.split(",")
            if T > args.max_T or T < args.min_T or skip_kind:
                continue
            start = time.perf_counter()
            cells.append(_run_cell(row, T, args.seeds))
            print(f"{row} T={T:.0e}: " + ", ".join(
                f"{m}={_fmt(v['mean_error'])}" for m, v in cells[-1]["methods"].items())
                + f" ({time.perf_counter() - start:.0f} s)", flush=True)
            _write(cells, [], {}, args, tag)
    sizes = size_table(max_d=args.max_size_D) if "size" in rows else []
    timing = d2_timing() if "timing" in rows else {}
    print(_write(cells, sizes, timing, args, tag))


if __name__ == "__main__":
    main()
