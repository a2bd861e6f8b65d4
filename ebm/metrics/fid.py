"""FID and KID from feature vectors, and the feature-network interface both are computed through.

- FID (Heusel et al. 2017): Frechet distance between Gaussians fitted to the two feature sets,
  ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}); the matrix square root as in pytorch-fid
  (``scipy.linalg.sqrtm``, eps on the diagonal if it is singular, imaginary round-off dropped).
- KID (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4): unbiased MMD^2 with the cubic polynomial
  kernel k(x, y) = (x.y / d + 1)^3, averaged over random subsets, with the std over subsets.

A feature network is any object with ``network: str`` and ``features(x) -> (N, d)`` for images x
(N, C, H, W) in [0, 1]. Reference features can be computed once with :func:`features` and passed
instead of images; reference images passed as a tensor are embedded once per process and network
(:func:`reference_features`), so an evaluation every epoch does not re-embed the same data.
"""

from __future__ import annotations

import collections
import hashlib
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from ebm.metrics.result import Metric, MetricUnavailable, guarded

FID_EPS = 1e-6  # pytorch-fid's diagonal offset when S_1 S_2 is singular
# pytorch-fid: imaginary parts of sqrtm's diagonal above this are an error, below it round-off
IMAG_TOL = 1e-3
KID_SUBSETS = 100  # Binkowski et al. 2018 / torch-fidelity defaults
KID_SUBSET_SIZE = 1000
KERNEL_CACHE_MAX = 4096**2  # KID precomputes full kernel matrices up to this many entries (128 MiB each)
FID_METHODS = ("sqrtm", "nuclear")


class FeatureNet(Protocol):
    network: str  # what the metric reports as its network
    # optional ``weights_id: str`` naming the exact weights (a file path, a hash): enables reference caching

    def features(self, x: Tensor) -> np.ndarray: ...


@dataclass(frozen=True)
class Features:
    """Feature vectors (N, d) float64 and the network that produced them."""

    values: np.ndarray
    network: str


def features(net: FeatureNet, x: Tensor) -> Features:
    """Embed images x (N, C, H, W) in [0, 1] with ``net``; non-finite images are refused."""
    if not torch.isfinite(x).all():
        raise MetricUnavailable(f"{int((~torch.isfinite(x.flatten(1))).any(1).sum())} of {len(x)} images "
                                "contain non-finite values")
    return Features(np.asarray(net.features(x), dtype=np.float64), net.network)


_REFERENCE_CACHE: collections.OrderedDict[tuple, Features] = collections.OrderedDict()
REFERENCE_CACHE_SIZE = 4  # reference sets remembered per process (e.g. one per data set and network)


def reference_features(net: FeatureNet, x: Tensor) -> Features:
    """:func:`features` of a reference set, remembered per (network, its ``weights_id``, image content).

    An evaluation every epoch compares new samples against the same held-out images; through Inception
    on CPU embedding them again would cost minutes each time. The key is the sha1 of the images' bytes
    (milliseconds), so a changed reference set can never be served stale features.
    """
    weights_id = getattr(net, "weights_id", None)
    if weights_id is None:  # a network that cannot say which weights it holds is never cached
        return features(net, x)
    xc = x.detach().to("cpu").contiguous()
    key = (net.network, weights_id, tuple(xc.shape), str(xc.dtype),
           hashlib.sha1(xc.numpy().tobytes()).hexdigest())
    if key in _REFERENCE_CACHE:
        _REFERENCE_CACHE.move_to_end(key)
        return _REFERENCE_CACHE[key]
    f = features(net, x)
    _REFERENCE_CACHE[key] = f
    while len(_REFERENCE_CACHE) > REFERENCE_CACHE_SIZE:
        _REFERENCE_CACHE.popitem(last=False)
    return f


def gaussian_stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features f (N, d), N >= 2."""
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = FID_EPS) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2}), computed as pytorch-fid does.

    ``scipy.linalg.sqrtm`` is Schur-based, O(d^3) with a large constant: ~100 s for d = 2048 on 2 busy
    CPU cores. :func:`fid_from_features` with ``method="nuclear"`` gives the same number much faster.
    """
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular S1 S2 is expected (N < d, dead units); handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(sigma1)) * eps
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAG_TOL):
            raise MetricUnavailable(f"sqrtm(S1 S2) has imaginary parts up to "
                                    f"{np.abs(covmean.imag).max():.3g}; use more samples")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid_from_features(f1: np.ndarray, f2: np.ndarray, method: str = "sqrtm") -> float:
    """FID between feature sets f1 (N1, d) and f2 (N2, d).

    ``sqrtm``: pytorch-fid's computation (:func:`frechet_distance`). ``nuclear``: the same quantity
    without a d x d matrix square root. With centred features A (N1, d), B (N2, d), S1 = A^T A / (N1 - 1)
    and S2 = B^T B / (N2 - 1), the non-zero eigenvalues of S1 S2 are the squared singular values of
    A B^T / sqrt((N1 - 1)(N2 - 1)), so Tr((S1 S2)^{1/2}) is that matrix's nuclear norm: one SVD of size
    min(N, d) instead of a d x d Schur decomposition (exact; agrees with ``sqrtm`` to float round-off,
    and has no imaginary parts to discard). Much faster for Inception features (d = 2048) at N <= 2000.
    """
    if len(f1) < 2 or len(f2) < 2:
        raise MetricUnavailable(f"FID needs >= 2 samples per set, got {len(f1)} and {len(f2)}")
    if method == "sqrtm":
        return frechet_distance(*gaussian_stats(f1), *gaussian_stats(f2))
    if method != "nuclear":
        raise ValueError(f"unknown FID method {method!r}; choose one of {', '.join(FID_METHODS)}")
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a, b = f1 - mu1, f2 - mu2  # (N1, d), (N2, d)
    c1, c2 = len(f1) - 1, len(f2) - 1
    tr_s1, tr_s2 = (a * a).sum() / c1, (b * b).sum() / c2
    if max(len(a), len(b)) > a.shape[1]:
        # more samples than dimensions: A B^T = Q_a (R_a R_b^T) Q_b^T with orthonormal Q, so take the
        # singular values of the d x d matrix R_a R_b^T instead of the N1 x N2 one
        a, b = np.linalg.qr(a, mode="r"), np.linalg.qr(b, mode="r")
    tr_covmean = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(c1 * c2)
    diff = mu1 - mu2
    return float(diff @ diff + tr_s1 + tr_s2 - 2 * tr_covmean)


def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1) ** 3  # (len(a), len(b)): k(a, b) = (a.b / d + 1)^3


def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m, n = len(kxx), len(kyy)
    # the diagonal k(x_i, x_i) is left out of the within-set means: that is what makes the estimate unbiased
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between x (m, d) and y (n, d) with k(a, b) = (a.b / d + 1)^3 (Binkowski et al. 2018)."""
    return _mmd2_unbiased(_poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y))


def kid_from_features(f1: np.ndarray, f2: np.ndarray, n_subsets: int = KID_SUBSETS,
                      subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> tuple[float, float | None]:
    """KID: mean and std of unbiased MMD^2 over ``n_subsets`` random subsets of size
    min(subset_size, N1, N2), each drawn without replacement from each set.

    If both sets are no larger than ``subset_size`` every "subset" is the whole set: the estimate is
    computed once and its std is None (a std of 0 would claim a certainty it does not have).
    """
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise MetricUnavailable(f"KID needs >= 2 samples per set, got {len(f1)} and {len(f2)}")
    if m == len(f1) == len(f2):
        return polynomial_mmd2_unbiased(f1, f2), None
    if max(len(f1), len(f2)) ** 2 <= KERNEL_CACHE_MAX:
        # every subset's kernel matrices are blocks of the full ones: three matrix products in all
        # instead of three per subset (the same numbers, ~n_subsets times less arithmetic at d = 2048)
        k11, k22, k12 = _poly_kernel(f1, f1), _poly_kernel(f2, f2), _poly_kernel(f1, f2)

        def mmd2(i: np.ndarray, j: np.ndarray) -> float:
            return _mmd2_unbiased(k11[np.ix_(i, i)], k22[np.ix_(j, j)], k12[np.ix_(i, j)])
    else:
        def mmd2(i: np.ndarray, j: np.ndarray) -> float:
            return polynomial_mmd2_unbiased(f1[i], f2[j])

    rng = np.random.default_rng(seed)
    est = np.array([mmd2(rng.choice(len(f1), m, replace=False), rng.choice(len(f2), m, replace=False))
                    for _ in range(n_subsets)])  # (n_subsets,)
    return float(est.mean()), float(est.std())


def fid_kid(samples: Tensor | Features, reference: Tensor | Features, net: FeatureNet,
            names: tuple[str, str], kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE,
            fid_method: str = "sqrtm", seed: int = 0) -> dict[str, Metric]:
    """``{names[0]: FID, names[1]: KID}`` of samples against reference (images or :class:`Features`),
    both embedded by ``net``; features made by another network are refused, not mixed."""

    def compute() -> dict[str, Metric]:
        fs = samples if isinstance(samples, Features) else features(net, samples)
        fr = reference if isinstance(reference, Features) else reference_features(net, reference)
        for f in (fs, fr):
            if f.network != net.network:
                raise MetricUnavailable(f"features from {f.network!r} cannot be compared with "
                                        f"{net.network!r}")
        fid = fid_from_features(fs.values, fr.values, method=fid_method)
        kid, kid_std = kid_from_features(fs.values, fr.values, kid_subsets, kid_subset_size, seed)
        return {names[0]: Metric.of(fid, net.network, what="FID"),
                names[1]: Metric.of(kid, net.network, std=kid_std, what="KID")}

    return guarded(names, net.network, compute)
