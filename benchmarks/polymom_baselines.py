"""The peer methods of the Polymom table (``polymom_table.py``), on the same data as Poly.

* :func:`whitened_tensor_power`: the robust symmetric tensor power method after whitening
  (Anandkumar et al. 2014), shared by the two TF columns.
* :func:`spherical_tf`: TF for the Gaussian rows, the spherical-Gaussian moments with a common
  variance (Hsu & Kakade) factored by :func:`whitened_tensor_power`.
* :func:`multiview_tf`: TF for the 3-view row, the symmetrised cross-view moments.
* :func:`paper_em`: the paper's EM column for Gaussians, scikit-learn 0.16's ``GMM`` (10 steps
  from k-means means, the data variance and uniform weights) with today's ``GaussianMixture``.
* :func:`categorical_em`: the paper's EM for the 3-view categorical row.

No imports from the table or the studies (they import this module).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.mixture import GaussianMixture

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
    """Symmetrised cross-view moments of three views, then TPM; means mapped to the simplex."""
    x1, x2, x3 = views
    n = x1.shape[0]
    M2 = x1.T @ x2 / n
    M3 = np.einsum("na,nb,nc->abc", x1, x2, x3) / n
    M3 = sum(np.transpose(M3, p) for p in [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0),
                                          (2, 0, 1), (2, 1, 0)]) / 6
    return _simplex(whitened_tensor_power(M2, M3, k, rng)[1])


def _simplex(means):
    """Rows of ``|means|`` normalised to sum to one (categorical probabilities)."""
    a = np.abs(means)
    return a / np.maximum(a.sum(axis=1, keepdims=True), 1e-300)


# --------------------------------------------------------------------------------- EM


def categorical_em(views, weights, means, max_iter=100, tol=1e-5):
    """EM for the 3-view categorical mixture from (weights, means); returns the means."""
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


def paper_em(X, k, seed, n_init=5, n_iter=10, thresh=1e-2, min_covar=1e-3, means_init=None):
    """The paper's EM baseline, ``sklearn.mixture.GMM(k, 'diag', n_init=5, n_iter=10,
    thresh=1e-2)`` of scikit-learn 0.15/0.16, with today's ``GaussianMixture``.

    That GMM started every restart from k-means means (``KMeans`` with 10 starts), uniform
    weights and the *data* variance for every component (plus ``min_covar``), and its
    ``thresh`` bounded the change of the summed log-likelihood (0.16: ``thresh / n`` on the
    mean), so 10 iterations were run in practice. ``GaussianMixture(init_params="kmeans",
    tol=1e-2)`` instead starts from per-cluster variances and stops on the mean
    log-likelihood after two or three steps, far from the paper's EM column.

    ``means_init`` replaces the k-means means by one given start (Poly + EM: the same EM from
    the Polymom means).
    """
    from sklearn.cluster import KMeans

    var = np.var(X, axis=0) + min_covar
    best = None
    for i in range(1 if means_init is not None else n_init):
        start = means_init if means_init is not None else KMeans(
            k, n_init=10, random_state=seed + 10_000 + i).fit(X).cluster_centers_
        gm = GaussianMixture(k, covariance_type="diag", weights_init=np.full(k, 1.0 / k),
                             means_init=start,
                             precisions_init=np.tile(1.0 / var, (k, 1)), reg_covar=min_covar,
                             max_iter=n_iter, tol=thresh / len(X)).fit(X)
        score = gm.score(X)
        if best is None or score > best[0]:
            best = (score, gm.means_)
    return best[1]
