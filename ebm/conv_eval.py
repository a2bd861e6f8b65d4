"""Evaluation of a conv-EBM run by metric name: energies, chain diagnostics, sample quality.

Two sample sets are scored at every evaluation (see :class:`ebm.config.EvalProtocolConfig`):

- ``<metric>``: samples of the common evaluation protocol (``eval.protocol``), the same sampler for every arm
  of a sweep, so CD-k, PCD-k and short-run arms are ranked on one procedure;
- ``as_trained/<metric>``: samples of the arm's own training sampler, reported beside them.

FID/KID also come with their floor (training vs held-out images), ceiling (uniform noise) and spread at the
same N through the same network (:mod:`ebm.metrics.baselines`), and each value's ``_position`` between them.
Every metric goes through :mod:`ebm.metrics`, so each value carries the network that produced it and a
metric that cannot be computed is ``None`` with a ``…/missing`` reason beside it.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from ebm.config import CONV_METRICS, ConfigError
from ebm.metrics import IMAGE_METRICS, chain_diagnostics, energy_stats, flatten, image_metrics
from ebm.metrics.baselines import BASELINE_METRICS, baseline_metrics, position
from ebm.metrics.result import Metric, MetricUnavailable

MAX_REFERENCE = 2000  # held-out images compared against the samples (FID/KID reference set)
AS_TRAINED = "as_trained/"
FID_METHOD = "nuclear"


def evaluate_conv(run, names: list[str]) -> dict:
    """Metrics of ``run`` (a :class:`ebm.conv_train.ConvEBMRun`) as one flat dict, keyed by metric name."""
    unknown = [n for n in names if n not in CONV_METRICS]
    if unknown:
        raise ConfigError(f"unknown conv-EBM metric(s) {', '.join(unknown)}; choose from {', '.join(CONV_METRICS)}")
    cfg, e = run.cfg, run.cfg.eval
    out: dict = {"data": cfg.data.name, "epoch": run.epoch, "protocol": run.protocol_description(),
                 "as_trained": run.as_trained_description()}
    reference = run.test_x[:MAX_REFERENCE]
    record = "ess" in names
    gen = run.eval_generator()
    common = _draw(lambda: run.protocol_samples(e.n_samples, gen, record))  # ((N, C, H, W), (T, N)) or a reason
    own = common if e.protocol.init == "as_trained" else _draw(lambda: run.as_trained_samples(e.n_samples, gen, record))
    score = functools.partial(image_metrics, [n for n in names if n in IMAGE_METRICS], reference=reference,
                              dataset=cfg.data.name, root=cfg.data.root, cache_dir=e.feature_cache or None,
                              device=run.device, download=False, fid_method=FID_METHOD, seed=cfg.seed)
    metrics = _set_metrics(names, common, run, reference, score)
    as_trained = metrics if own is common else _set_metrics(names, own, run, reference, score)
    base = baseline_metrics(names, e.n_samples, reference, run.train_x, _networks(metrics), score,
                            e.baseline_resamples, cfg.seed, e.feature_cache or None, _settings(cfg.data.name))
    metrics.update(base)
    metrics.update(positions(metrics, base))
    as_trained = {**as_trained, **positions(as_trained, base)}
    out.update(flatten(metrics))
    out.update(flatten({f"{AS_TRAINED}{k}": v for k, v in as_trained.items()
                        if k != "domain_accuracy" and not k.endswith(("_floor", "_ceiling", "_spread"))}))
    return out


def sample_quality(names: list[str], samples: Tensor, reference: Tensor, train_images: Tensor, dataset: str,
                   root: str = "./data", cache_dir: str | None = None, device: torch.device | str = "cpu",
                   seed: int = 0, resamples: int = 10) -> dict[str, Metric]:
    """Image metrics of any sample set (N, C, H, W) in [0, 1], with floors, ceilings, spreads and positions:
    what ``evaluate_conv`` reports for its samples, for images from anywhere (``python -m ebm score``)."""
    score = functools.partial(image_metrics, [n for n in names if n in IMAGE_METRICS], reference=reference,
                              dataset=dataset, root=root, cache_dir=cache_dir, device=device, download=False,
                              fid_method=FID_METHOD, seed=seed)
    metrics = score(samples)
    base = baseline_metrics(names, len(samples), reference, train_images, _networks(metrics), score, resamples,
                            seed, cache_dir, _settings(dataset))
    return {**metrics, **base, **positions(metrics, base)}


def positions(metrics: dict[str, Metric], base: dict[str, Metric]) -> dict[str, Metric]:
    """``<name>_position`` for every FID/KID in ``metrics`` whose floor and ceiling are in ``base``."""
    return {f"{m}_position": position(metrics[m], base[f"{m}_floor"], base[f"{m}_ceiling"])
            for m in BASELINE_METRICS if m in metrics and f"{m}_floor" in base}


# --------------------------------------------------------------------------------------------------


def _draw(sampler):
    """The sampler's (samples, energies), or the reason it does not apply to this arm (a string)."""
    try:
        result = sampler()
    except MetricUnavailable as err:
        return str(err)
    return result if isinstance(result, tuple) else (result, None)


def _set_metrics(names: list[str], drawn, run, reference: Tensor, score) -> dict[str, Metric]:
    """Every requested metric of one sample set; all missing, with the reason, if the set could not be drawn."""
    if isinstance(drawn, str):
        return _all_missing(names, drawn)
    samples, energies = drawn  # (N, C, H, W), (T, N) or None
    metrics: dict[str, Metric] = {}
    if "energy_gap" in names:
        metrics.update(energy_stats(run._energy_net(), reference, samples))
    if "ess" in names:
        metrics.update(chain_diagnostics(energies))
    if any(n in IMAGE_METRICS for n in names):
        metrics.update(score(samples))
    return metrics


def _all_missing(names: list[str], reason: str) -> dict[str, Metric]:
    expanded = {"energy_gap": ("energy_gap", "energy_data", "energy_samples"), "ess": ("ess", "tau")}
    return {m: Metric.missing("none", reason) for n in names for m in expanded.get(n, (n,))}


def _networks(metrics: dict[str, Metric]) -> dict[str, str]:
    return {k: m.network for k, m in metrics.items() if k in BASELINE_METRICS}


def _settings(dataset: str) -> str:
    """What, besides N, the networks and the image sets, decides a floor's value (part of its cache key)."""
    from ebm.metrics.domain import VERSION
    from ebm.metrics.fid import KID_SUBSET_SIZE, KID_SUBSETS

    return f"{dataset}|domain v{VERSION}|kid {KID_SUBSETS}x{KID_SUBSET_SIZE}|fid {FID_METHOD}"
