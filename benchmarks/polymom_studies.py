"""The studies behind the choices of the Polymom table (``polymom_table.py``).

Each study is one command; its runs are appended to a JSONL (one line per finished run,
skipped on restart) and summarised into a markdown file in ``benchmarks/results/``.
Machine: 2 cores, 24 GiB, shared.

* ``python benchmarks/polymom_studies.py --weighting [--report] [--rows gauss,multiview,mlr]
  [--min-T 0] [--max-T 1e6] [--methods ...]``: Poly under each moment weighting (``none``,
  ``variance``, ``covariance``, ``two_step``; for the Gaussian rows also moments of degree
  <= 4, ``R4 ...``) in every table cell, on seeds 100-111 (disjoint from the table's 0-9):
  the choice of the default weighting and of the Gaussian rows' moment order. Mean / median
  error, median fit time and models won against ``variance``:
  ``polymom_table_weighting{_runs.jsonl,.md}``. ``--report`` only aggregates the JSONL.
* ``python benchmarks/polymom_studies.py --em-check [--report]``: per model of the two cells
  where Poly + EM misses the 10-step EM column (spherical T = 1e3, 3-view T = 1e4; the
  table's seeds 0-9), the errors of Poly + EM, the EM column and converged EM (Gaussians:
  ``GaussianMixture``; 3-view: best of 10 Dirichlet starts) and the mean log-likelihoods of
  Poly + EM, converged EM and the truth: does the refinement reach the likelihood of
  converged EM (a miss then is the MLE's own error, not a defect of the refinement)?
  ``polymom_table_em_check{.jsonl,.md}``; ``--report`` only aggregates the JSONL.
* ``python benchmarks/polymom_studies.py --mlr-start``: the Polymom start of
  ``MixtureOfLinearRegressions`` under each start setting of ``MLR_STARTS`` (the previous
  one and the default), T = 1e4, noise variance 0.1 and 1, seeds 100-111: errors of the start
  and of the EM after it. ``polymom_table_mlr_start{.jsonl,.md}``.
* ``python benchmarks/polymom_studies.py --more-models [--seeds 200]``: the table's EM, Poly,
  Poly + EM and Poly + EM (as EM column) on 200 models (seeds 0-199, the table's 10 included)
  in the two cells whose 10-model means are within noise of each other (``MORE_CELLS``):
  mean (se), median, the paired difference to EM and the blocks of 10 models at or below EM.
  ``polymom_table_more_models{_runs.jsonl,.md}``.

The table's rows, metric and JSONL bookkeeping are imported from ``polymom_table.py``, the
peer methods from ``polymom_baselines.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
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
from momix.polymom import LinearRegression, MixtureOfLinearRegressions, MultiView, Polymom

# the script's folder, also when run by ``momix bench`` (runpy does not add it to sys.path)
sys.path.insert(0, str(Path(__file__).resolve().parent))
from polymom_baselines import _simplex, categorical_em, paper_em  # noqa: E402
from polymom_table import (  # noqa: E402
    ONLY,
    PAPER_GAUSSIAN,
    POLY_GAUSSIAN,
    RESULTS,
    SETTINGS,
    _done,
    _err,
    _fmt,
    _method_rng,
    _num,
    _poly_then_em,
    run_grid,
    run_method,
    summarise,
)

# ------------------------------------------------------------- moment-weighting choice

WEIGHTING_RUNS = RESULTS / "polymom_table_weighting_runs.jsonl"
WEIGHTINGS = ("none", "variance", "covariance", "two_step")
ORDER4 = ("R4 variance", "R4 covariance", "R4 two_step")  # Gaussian rows, moments of degree 4
CHOICE_SEEDS = range(100, 112)  # disjoint from the table's seeds 0..9


def weighting_fits(row, T, seed):
    """(truth, {weighting: fit -> estimate}) for the Poly method of a table cell."""
    if row == "3-view":
        data = make_multiview_mixture(T, 3, 3, symmetric=True, random_state=seed)
        Z, model = np.hstack(list(data.views)), MultiView(3, symmetric=True, simplex=True)
        fit = lambda w: _simplex(Polymom(model, 3, random_state=0,  # noqa: E731
                                         moment_weighting=w).fit(Z).params_)
        return data.means[0], {w: (lambda w=w: fit(w)) for w in WEIGHTINGS[:3]}
    if row == "lin. reg.":
        data = make_linear_regression_mixture(T, 2, 2, random_state=seed)
        model = LinearRegression(2, data.noise_variance, x_order=2, y_order=3)
        fit = lambda w: Polymom(model, 2, random_state=0,  # noqa: E731
                                moment_weighting=w).fit(data.X, data.y).params_
        return data.coefs, {w: (lambda w=w: fit(w)) for w in WEIGHTINGS[:3]}
    data = make_gaussian_mixture(T, 2, 2, row, random_state=seed)

    def fit(name):
        model = POLY_GAUSSIAN if name.startswith("R4 ") else PAPER_GAUSSIAN
        return Polymom(model, 2, random_state=0,
                       moment_weighting=name.removeprefix("R4 ")).fit(data.X).means_

    return data.means, {w: (lambda w=w: fit(w)) for w in WEIGHTINGS + ORDER4}


def run_weighting(cells, seeds=CHOICE_SEEDS, path: Path = WEIGHTING_RUNS) -> None:
    """Poly under each moment weighting on seeds outside the table's (the choice of the
    default); one JSON line per (row, T, seed, weighting), resumable like :func:`run_grid`."""
    done = _done(path)
    for seed in seeds:
        for row, T in cells:
            truth, fits = weighting_fits(row, T, seed)
            for name, fn in fits.items():
                if (row, T, seed, name) in done or (ONLY and name not in ONLY):
                    continue
                rec = {"row": row, "T": T, "seed": seed, "method": name,
                       **run_method(fn, truth, row not in ("3-view", "lin. reg."))}
                with path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                print(f"weighting {row} T={T:.0e} seed={seed} {name}: "
                      f"{rec.get('error', rec.get('failure'))} ({rec['wall_s']:.2f} s)", flush=True)


def weighting_markdown(path: Path = WEIGHTING_RUNS) -> str:
    """Mean / median error per weighting (moments of degree <= 3; ``R4``: <= 4) and models
    won against ``"variance"``."""
    cells = summarise(path)
    runs: dict = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.strip():
            r = json.loads(line)
            runs.setdefault((r["row"], r["T"], r["method"]), {})[r["seed"]] = r.get("error")
    names = WEIGHTINGS + ORDER4
    lines = ["| row | T | n | " + " | ".join(names) + " |",
             "|---|---|---|" + "---|" * len(names)]
    for c in cells:
        base = runs.get((c["row"], c["T"], "variance"), {})
        vals = []
        for w in names:
            rec = c["methods"].get(w)
            if rec is None:
                vals.append("")
                continue
            mine = runs[(c["row"], c["T"], w)]
            common = [s for s in mine if s in base and mine[s] is not None and base[s] is not None]
            wins = sum(mine[s] < base[s] for s in common)
            won = "" if w == "variance" else f" ({wins}/{len(common)} won)"
            vals.append(f"{_fmt(rec['mean_error'])} / {_fmt(rec['median_error'])}"
                        f" ({_num(rec['median_wall_s'], 2)} s){won}")
        n = max(r["n"] for r in c["methods"].values())
        lines.append(f"| {c['row']} | {c['T']:.0e} | {n} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------- Poly + EM against EM: likelihoods per model

EM_CHECK_RUNS = RESULTS / "polymom_table_em_check.jsonl"


def _diag_loglik(X, weights, means, variances) -> float:
    diff = X[:, None, :] - means[None]
    logp = -0.5 * np.sum(np.log(2 * np.pi * variances)[None] + diff**2 / variances[None], axis=2)
    return float(np.mean(logsumexp(logp + np.log(weights)[None], axis=1)))


def _categorical_loglik(views, weights, xi) -> float:
    logp = views.sum(axis=0) @ np.log(np.clip(xi, 1e-300, None)).T
    return float(np.mean(logsumexp(logp + np.log(np.maximum(weights, 1e-300)), axis=1)))


def _categorical_mle(views, seed, n_starts=10):
    """Best of ``n_starts`` converged categorical EMs from Dirichlet starts (weights too)."""
    best = None
    for i in range(n_starts):
        g = np.random.default_rng([seed, 99, i])
        xi = categorical_em(views, g.dirichlet(np.ones(3)), g.dirichlet(np.ones(3), 3),
                            max_iter=2000, tol=1e-10)
        logp, w = views.sum(axis=0) @ np.log(xi).T, np.full(3, 1 / 3)
        for _ in range(200):  # the weights of the converged means
            w = np.exp(logp + np.log(w) - logsumexp(logp + np.log(w), axis=1)[:, None]).mean(0)
        ll = _categorical_loglik(views, w, xi)
        best = (ll, xi) if best is None or ll > best[0] else best
    return best


def em_check(row, T, seed) -> dict:
    """Errors and mean log-likelihoods of Poly + EM, the EM column, converged EM
    and the truth on one table model (cells where the converged fits are further from the
    truth than the 10-step EM: spherical T = 1e3, 3-view T = 1e4)."""
    if row == "3-view":
        data = make_multiview_mixture(T, 3, 3, symmetric=True, random_state=seed)
        views, Z = data.views, np.hstack(list(data.views))
        est = Polymom(MultiView(3, symmetric=True, simplex=True), 3, random_state=0).fit(Z)
        ref = _poly_then_em(est, Z)
        rng = _method_rng(seed)
        em = categorical_em(views, rng.dirichlet(np.ones(3)), rng.dirichlet(np.ones(3), 3))
        ll_best, xi_best = _categorical_mle(views, seed)
        truth = data.means[0]
        return {"poly_em": _err(truth, ref.params), "em": _err(truth, em),
                "em_converged": _err(truth, xi_best),
                "ll_poly_em": _categorical_loglik(views, ref.weights, ref.params),
                "ll_em_converged": ll_best,
                "ll_truth": _categorical_loglik(views, data.weights, truth)}
    data = make_gaussian_mixture(T, 2, 2, row, random_state=seed)
    X = data.X
    est = Polymom(POLY_GAUSSIAN, 2, random_state=0).fit(X)
    ref = _poly_then_em(est, X)
    gm = GaussianMixture(2, covariance_type="diag", n_init=5, max_iter=500, tol=1e-6,
                         random_state=seed + 10_000).fit(X)
    true_var = np.stack([np.diag(c) for c in data.covariances])
    return {"poly_em": _err(data.means, ref.params[:, :2]), "em": _err(data.means,
                                                                        paper_em(X, 2, seed)),
            "em_converged": _err(data.means, gm.means_),
            "ll_poly_em": _diag_loglik(X, ref.weights, ref.params[:, :2], ref.params[:, 2:]),
            "ll_em_converged": float(gm.score(X)),
            "ll_truth": _diag_loglik(X, data.weights, data.means, true_var),
            "poly_em_iter": int(ref.n_iter)}


def run_em_check(cells=(("spherical", 1_000), ("3-view", 10_000)), seeds=10,
                 path: Path = EM_CHECK_RUNS) -> str:
    """Append :func:`em_check` per model (resumable); return the markdown summary."""
    done = {(r, T, s) for r, T, s, _ in _done(path)}
    for seed in range(seeds):
        for row, T in cells:
            if (row, T, seed) not in done:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rec = {"row": row, "T": T, "seed": seed, "method": "em_check",
                           **em_check(row, T, seed)}
                with path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
    return em_check_markdown(path)


def em_check_markdown(path: Path = EM_CHECK_RUNS) -> str:
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = ["| row | T | model | Poly + EM | EM | EM (converged) | "
             "LL Poly + EM | "
             "LL EM (converged) | LL truth |", "|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        lines.append(f"| {r['row']} | {r['T']:.0e} | {r['seed']} | {r['poly_em']:.2f} | "
                     f"{r['em']:.2f} | {r['em_converged']:.2f} | {r['ll_poly_em']:.6f} | "
                     f"{r['ll_em_converged']:.6f} | {r['ll_truth']:.6f} |")
    for row in sorted({r["row"] for r in recs}):
        sub = [r for r in recs if r["row"] == row]
        d = np.array([r["poly_em"] - r["em"] for r in sub])
        dc = np.array([r["poly_em"] - r["em_converged"] for r in sub])
        dll = np.array([r["ll_poly_em"] - r["ll_em_converged"] for r in sub])
        lines.append(
            f"\n{row}: Poly + EM - EM = {d.mean():+.3f} (sd {d.std(ddof=1):.3f}, se "
            f"{d.std(ddof=1) / np.sqrt(len(d)):.3f}; lower in {np.sum(d < 0)}/{len(d)});"
            f" against converged EM {dc.mean():+.3f} (se {dc.std(ddof=1) / np.sqrt(len(d)):.3f},"
            f" lower in {np.sum(dc < 0)}/{len(d)}); log-likelihood minus converged EM's: "
            f"median {np.median(dll):+.1e}, range [{dll.min():+.1e}, {dll.max():+.1e}] per "
            f"sample, higher in {np.sum(dll > 0)}/{len(d)}; every Poly + EM fit above "
            "the truth's: "
            f"{all(r['ll_poly_em'] > r['ll_truth'] for r in sub)}.")
    return "\n".join(lines) + "\n"


# ------------------------------------------- MixtureOfLinearRegressions: Polymom start

MLR_START_RUNS = RESULTS / "polymom_table_mlr_start.jsonl"
MLR_STARTS = {  # start settings: (moment_weighting, penalty, polish)
    "variance, lambda 1e-3, no polish (before)": ("variance", 1e-3, False),
    "covariance, lambda 0.1, polish (default)": ("covariance", 0.1, True),
}


def run_mlr_start(seeds=CHOICE_SEEDS, noises=(0.1, 1.0), T=10_000,
                  path: Path = MLR_START_RUNS) -> str:
    """Error of the Polymom start of ``MixtureOfLinearRegressions`` and of the EM after it,
    per start setting (seeds outside the table's); one JSON line per run, resumable."""
    import momix.polymom._mlr as mlr

    done = _done(path)
    for noise in noises:
        for seed in seeds:
            data = make_linear_regression_mixture(T, 2, 2, noise_variance=noise,
                                                  random_state=seed)
            for name, (weighting, lam, pol) in MLR_STARTS.items():
                row = f"noise {noise}"
                if (row, T, seed, name) in done:
                    continue
                kw = dict(moment_weighting=weighting, penalty=lam, polish=pol)
                start_fn = mlr.polymom_regression_start
                mlr.polymom_regression_start = lambda *a, _f=start_fn, _kw=kw, **k: _f(
                    *a, **{**k, **_kw})
                try:
                    rec = run_method(lambda d=data: MixtureOfLinearRegressions(
                        2, fit_intercept=False, random_state=0).fit(d.X, d.y).coef_,
                        data.coefs, False)
                    start = start_fn(data.X, data.y, np.ones(T), 2, noise_variance=None,
                                     x_order=2, y_order=3, solver="CLARABEL",
                                     rng=np.random.default_rng(0), **kw)[0]
                finally:
                    mlr.polymom_regression_start = start_fn
                rec = {"row": row, "T": T, "seed": seed, "method": name,
                       "start_error": _err(data.coefs, start), **rec}
                with path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
    lines = ["| noise | start | n | start error mean / median / max | after EM mean / median |",
             "|---|---|---|---|---|"]
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in sorted({r["row"] for r in recs}):
        for name in MLR_STARTS:
            sub = [r for r in recs if r["row"] == row and r["method"] == name]
            s0 = np.array([r["start_error"] for r in sub])
            s1 = np.array([r["error"] for r in sub])
            lines.append(f"| {row} | {name} | {len(sub)} | {s0.mean():.3g} / "
                         f"{np.median(s0):.3g} / {s0.max():.3g} | {s1.mean():.3g} / "
                         f"{np.median(s1):.3g} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------- more models for the closest cells

MORE_RUNS = RESULTS / "polymom_table_more_models_runs.jsonl"
MORE_CELLS = (("spherical", 1_000), ("3-view", 10_000))
MORE_METHODS = ("EM", "Poly", "Poly + EM", "Poly + EM (as EM column)")


def run_more_models(seeds=200, path: Path = MORE_RUNS) -> str:
    """The table's methods on ``seeds`` models (seeds 0..seeds-1, the table's first 10
    included) in the cells whose 10-model means are within noise of each other; returns
    :func:`more_models_markdown`."""
    ONLY.update(MORE_METHODS)
    run_grid(MORE_CELLS, seeds, path=path)
    return more_models_markdown(path)


def more_models_markdown(path: Path = MORE_RUNS) -> str:
    """Mean error (standard error), median, the paired difference to EM over the same
    models, and in how many blocks of 10 consecutive models (the table's sample size) the
    method's mean is at or below EM's."""
    runs: dict = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs.setdefault((r["row"], r["T"], r["method"]), {})[r["seed"]] = r.get("error")
    lines = ["| row | T | method | n | mean (se) | median | minus EM: mean (se) | "
             "models below EM | blocks of 10 at or below EM |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row, T in MORE_CELLS:
        em = runs.get((row, T, "EM"), {})
        for m in MORE_METHODS:
            errs = runs.get((row, T, m), {})
            seeds = sorted(k for k in errs if k in em)
            e = np.array([errs[k] for k in seeds], dtype=float)
            d = e - np.array([em[k] for k in seeds], dtype=float)
            n, se = len(e), (lambda v: v.std(ddof=1) / np.sqrt(len(v)))
            blocks = [d[i:i + 10].mean() <= 0 for i in range(0, n - n % 10, 10)]
            paired = "–" if m == "EM" else f"{d.mean():+.3f} ({se(d):.3f})"
            below = "–" if m == "EM" else f"{np.sum(d < 0)}/{n}"
            nb = "–" if m == "EM" else f"{sum(blocks)}/{len(blocks)}"
            lines.append(f"| {row} | {T:.0e} | {m} | {n} | {e.mean():.3f} ({se(e):.3f}) | "
                         f"{np.median(e):.3f} | {paired} | {below} | {nb} |")
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    study = parser.add_mutually_exclusive_group(required=True)
    study.add_argument("--weighting", action="store_true",
                       help="compare the moment weightings on seeds 100-111 (the choice)")
    study.add_argument("--em-check", action="store_true",
                       help="per-model likelihoods of Poly + EM and EM in the two missed cells")
    study.add_argument("--mlr-start", action="store_true",
                       help="MixtureOfLinearRegressions' Polymom start settings, seeds 100-111")
    study.add_argument("--more-models", action="store_true",
                       help="200 models in the cells closest to a tie (MORE_CELLS)")
    parser.add_argument("--report", action="store_true",
                        help="only aggregate the JSONL (--weighting, --em-check)")
    parser.add_argument("--rows", default="gauss,multiview,mlr", help="--weighting: row groups")
    parser.add_argument("--max-T", type=float, default=1e6, help="--weighting: largest T")
    parser.add_argument("--min-T", type=float, default=0, help="--weighting: smallest T")
    parser.add_argument("--methods", default="",
                        help="--weighting: comma-separated subset of the weightings")
    parser.add_argument("--seeds", type=int, default=200,
                        help="--more-models: number of models")
    args = parser.parse_args(argv)
    ONLY.update(m for m in args.methods.split(",") if m)
    rows = args.rows.split(",")
    if args.mlr_start:
        md = run_mlr_start()
        (RESULTS / "polymom_table_mlr_start.md").write_text(md)
    elif args.em_check:
        md = run_em_check() if not args.report else em_check_markdown()
        (RESULTS / "polymom_table_em_check.md").write_text(md)
    elif args.more_models:
        md = more_models_markdown() if args.report else run_more_models(args.seeds)
        (RESULTS / "polymom_table_more_models.md").write_text(md)
    else:
        cells = [c for group in ("gauss", "multiview", "mlr") if group in rows
                 for c in SETTINGS[group] if args.min_T <= c[1] <= args.max_T]
        if not args.report:
            run_weighting(cells)
        md = weighting_markdown()
        (RESULTS / "polymom_table_weighting.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
