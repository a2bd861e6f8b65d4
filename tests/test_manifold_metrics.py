"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) in the domain
features."""

import numpy as np
import pytest
import torch

from ebm.data import load_images
from ebm.metrics import image_metrics
from ebm.metrics.manifold import NEAREST_K, precision_recall_density_coverage


def _prdc(real, fake):
    return {k: m.value for k, m in precision_recall_density_coverage(real, fake, "test net").items()}


def _by_definition(real: np.ndarray, fake: np.ndarray, k: int = NEAREST_K) -> dict[str, float]:
    """The four metrics written out from the papers' definitions, one point at a time."""
    def radii(x):  # distance from each point to its k-th nearest neighbour in its own set (itself excluded)
        d = np.linalg.norm(x[:, None] - x[None], axis=2)
        return np.sort(d, axis=1)[:, k]

    r_real, r_fake = radii(real), radii(fake)
    d = np.linalg.norm(real[:, None] - fake[None], axis=2)  # (N real, M fake)
    in_real_balls = d < r_real[:, None]  # fake j inside the ball of real i
    return {"precision": float(np.mean([in_real_balls[:, j].any() for j in range(len(fake))])),
            "recall": float(np.mean([(d[i] < r_fake).any() for i in range(len(real))])),
            "density": float(in_real_balls.sum() / (k * len(fake))),
            "coverage": float(np.mean([d[i].min() < r_real[i] for i in range(len(real))]))}


def test_the_four_values_follow_their_definitions():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(60, 4)), rng.normal(0.5, 1.2, size=(40, 4))
    assert _prdc(real, fake) == pytest.approx(_by_definition(real, fake))


def test_identical_sets_score_one_and_far_apart_sets_zero():
    real = np.random.default_rng(1).normal(size=(200, 8))
    assert _prdc(real, real.copy()) == pytest.approx({"precision": 1, "recall": 1, "density": 1,
                                                      "coverage": 1})
    assert _prdc(real, real + 1000.0) == {"precision": 0, "recall": 0, "density": 0, "coverage": 0}


def test_a_collapsed_sample_set_keeps_precision_and_loses_recall_and_coverage():
    real = np.random.default_rng(2).normal(size=(200, 8))
    collapsed = np.repeat(real[:1], 100, axis=0)  # one point of the real manifold, repeated
    m = _prdc(real, collapsed)
    assert m["precision"] == 1.0 and m["recall"] == 0.0  # all inside; no fake ball has a radius
    assert m["coverage"] < 0.1  # only the real balls around that one point hold a sample


def test_too_few_features_are_missing_with_the_reason():
    m = image_metrics(["prdc_domain"], torch.rand(4, 1, 8, 8), load_images("digits", split="test"), "digits")
    assert set(m) == {"precision_domain", "recall_domain", "density_domain", "coverage_domain",
                      "domain_accuracy"}
    reason = m["recall_domain"].reason
    assert not m["recall_domain"].ok and "need >= 7 real and 7 fake features, got 300 and 4" in reason
    assert m["domain_accuracy"].ok


def test_held_out_digits_score_high_precision_and_recall_and_noise_none():
    """N = 100 through the mnist5k domain classifier (trained once and cached, ~1 min the first time)."""
    # 500 digits: 100 as samples, the other 400 as the reference
    held_out = load_images("mnist5k", split="test")
    reference = held_out[100:]
    digits = image_metrics(["prdc_domain", "kid_domain"], held_out[:100], reference, "mnist5k")
    noise = image_metrics(["prdc_domain"],
                          torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
                          reference, "mnist5k")
    assert digits["precision_domain"].network == digits["kid_domain"].network  # the very same features
    assert digits["precision_domain"].value > 0.8 and digits["recall_domain"].value > 0.8, digits
    assert noise["precision_domain"].value < 0.05 and noise["coverage_domain"].value < 0.05, noise
