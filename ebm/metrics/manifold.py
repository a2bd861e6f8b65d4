"""Fidelity and diversity of a sample set as two numbers each, from k-nearest-neighbour balls in a feature
space.

The real manifold is estimated as the union of balls B(r_i, NND_k(r_i)) around each real feature r_i, with
radius the distance to its k-th nearest real neighbour; the fake manifold likewise from the samples' features.

- precision: the fraction of samples inside the real manifold (fidelity); recall: the fraction of real
  features inside the fake manifold (diversity). Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved
  Precision and Recall Metric for Assessing Generative Models" (NeurIPS).
- density: (1 / kM) sum_j sum_i 1[f_j in B(r_i, NND_k(r_i))], how many real balls a sample lies in, on
  average, over k (about 1 when samples and data coincide; it exceeds 1 when samples crowd dense regions);
  coverage: the fraction of real balls holding at least one sample. Both use only the real balls, so an
  outlier among the samples cannot inflate them as it inflates recall. Naeem, Oh, Uh, Choi & Yoo 2020,
  "Reliable Fidelity and Diversity Metrics for Generative Models" (ICML); k = 5 is their recommended value.

Neither FID nor KID separates the two failures: a collapsed sampler (one good digit repeated) keeps precision
high while recall and coverage fall; blurry but diverse samples do the opposite. Computed with the authors'
own code, ``prdc.compute_prdc`` (NAVER, MIT licence).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

from ebm.metrics.result import Metric, MetricUnavailable

NEAREST_K = 5  # k of the k-NN balls (Naeem et al. 2020's choice)
PRDC = ("precision", "recall", "density", "coverage")  # compute_prdc's keys, in the order of ``names`` below


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, network: str,
                                      names: tuple[str, str, str, str] = PRDC) -> dict[str, Metric]:
    """``{names[i]: Metric}`` for precision, recall, density and coverage of the fake features (M, d) against
    the real ones (N, d), both from ``network``. Raises MetricUnavailable for sets too small to hold a k-th
    neighbour besides each point itself."""
    from prdc import compute_prdc

    need = NEAREST_K + 2  # k neighbours plus the point itself, and compute_prdc's partition needs one more
    if len(real) < need or len(fake) < need:
        raise MetricUnavailable(f"precision/recall/density/coverage (k = {NEAREST_K}) need >= {need} real "
                                f"and {need} fake features, got {len(real)} and {len(fake)}")
    if not (np.isfinite(real).all() and np.isfinite(fake).all()):
        raise MetricUnavailable("features contain non-finite values")
    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the two set sizes
        values = compute_prdc(real_features=real, fake_features=fake, nearest_k=NEAREST_K)
    return {name: Metric.of(values[key], network, what=key) for name, key in zip(names, PRDC, strict=True)}
