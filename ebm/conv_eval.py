"""Evaluation of a conv-EBM run by metric name: energies, chain diagnostics, sample quality.

Two sample sets, drawn by :mod:`ebm.conv_protocol`, are scored at every evaluation (see
:class:`ebm.config.EvalProtocolConfig`):

- ``<metric>``: samples of the common evaluation protocol (``eval.protocol``), the same sampler for every arm
  of a sweep, so CD-k, PCD-k and short-run arms are ranked on one procedure;
- ``as_trained/<metric>``: samples of the arm's own training sampler, reported beside them.

After the last epoch, :func:`final_evaluation` scores ``eval.final_n_samples`` protocol samples against the
whole held-out split, from a random stream of its own, as ``final/<metric>``: the figures a paper would quote.

FID/KID also come with their floor (training vs held-out images), ceiling (uniform noise) and spread at the
same N through the same network (:mod:`ebm.metrics.baselines`), and each value's ``_position`` between them.
Every metric goes through :mod:`ebm.metrics`, so each value carries the network that produced it and a
metric that cannot be computed is ``None`` with a ``…/missing`` reason beside it.
"""

from __future__ import annotations

import functools
import time

import torch
from torch import Tensor

from ebm import conv_protocol
from ebm.config import ConfigError
from ebm.metric_names import IMAGE_METRICS, OPTIONS, PLACED, as_trained_names, expand
from ebm.metrics import chain_diagnostics, energy_stats, flatten, image_metrics
from ebm.metrics.baselines import baseline_metrics, position
from ebm.metrics.result import Metric, MetricUnavailable

MAX_REFERENCE = 2000  # held-out images compared against the samples (FID/KID reference set)
FINAL_WHOLE_REFERENCE = 10_000  # the final evaluation's reference: the whole held-out split up to this size
AS_TRAINED = "as_trained/"
FINAL = "final/"
FID_METHOD = "nuclear"
# Floors, ceilings and spreads are properties of the metric at N, not of a run: every seed of a sweep reads
# the same ones (computed once, then cached), so positions are comparable across seeds and a 4-seed sweep does
# not pay for them four times.
BASELINE_SEED = 0


def evaluate_conv(run, names: list[str]) -> dict:
    """Metrics of ``run`` (a :class:`ebm.conv_train.ConvEBMRun`) as one flat dict, keyed by metric name."""
    unknown = [n for n in names if n not in OPTIONS]
    if unknown:
        raise ConfigError(f"unknown conv-EBM metric(s) {', '.join(unknown)}; choose from "
                          f"{', '.join(OPTIONS)}")
    cfg, e = run.cfg, run.cfg.eval
    out: dict = {"data": cfg.data.name, "epoch": run.epoch,
                 "protocol": conv_protocol.protocol_description(cfg),
                 "as_trained": conv_protocol.as_trained_description(cfg)}
    reference = run.test_x[:MAX_REFERENCE]
    record = "ess" in names
    gen = conv_protocol.eval_generator(run)
    # ((N, C, H, W), (T, N)) or a reason
    common = _draw(lambda: conv_protocol.protocol_samples(run, e.n_samples, gen, record))
    own = (common if e.protocol.init == "as_trained"
           else _draw(lambda: conv_protocol.as_trained_samples(run, e.n_samples, gen, record)))
    score = _scorer(run, names, reference)
    metrics = _set_metrics(names, common, run, reference, score)
    as_trained = metrics if own is common else _set_metrics(names, own, run, reference, score)
    base = baseline_metrics(expand(names), e.n_samples, reference, run.train_x, _networks(metrics),
                            _scorer(run, names, reference, BASELINE_SEED), e.baseline_resamples,
                            BASELINE_SEED, e.feature_cache or None, _settings(cfg.data.name))
    metrics.update(base)
    metrics.update(positions(metrics, base))
    as_trained = {**as_trained, **positions(as_trained, base)}
    out.update(flatten(metrics))
    shown = as_trained_names(as_trained)  # the floors, ceilings and spreads are the protocol's too
    out.update(flatten({f"{AS_TRAINED}{k}": v for k, v in as_trained.items() if k in shown}))
    return out


def final_evaluation(run) -> tuple[dict, Tensor | None]:
    """The last model's samples scored as a paper would quote them, keyed ``final/...``, and the samples (on
    the CPU; None when none could be drawn).

    N = ``eval.final_n_samples`` samples of ``eval.protocol`` (a buffer start takes every chain it needs, see
    :func:`ebm.conv_protocol.final_starts`), drawn from a stream of their own (``final_generator``), scored
    on ``eval.final_metrics`` against the whole held-out split (its first MAX_REFERENCE images only when it
    holds more than FINAL_WHOLE_REFERENCE), with every floor, ceiling, spread and position at that N; beside
    them the N used, the epoch, the seconds it took and how the samples were drawn.
    """
    cfg, e = run.cfg, run.cfg.eval
    t0 = time.perf_counter()
    names = list(e.final_metrics)  # checked against ebm.metric_names.OPTIONS by the config
    held_out = run.test_x
    reference = held_out if len(held_out) <= FINAL_WHOLE_REFERENCE else held_out[:MAX_REFERENCE]
    try:
        gen = conv_protocol.final_generator(run)
        samples, energies, how = conv_protocol.final_samples(run, e.final_n_samples, gen, "ess" in names)
        drawn = (samples, energies)
    except MetricUnavailable as err:
        samples, drawn, how = None, str(err), conv_protocol.protocol_description(cfg)
    score = _scorer(run, names, reference)
    metrics = _set_metrics(names, drawn, run, reference, score)
    n = 0 if samples is None else len(samples)
    if n:
        base = baseline_metrics(expand(names), n, reference, run.train_x, _networks(metrics),
                                _scorer(run, names, reference, BASELINE_SEED), e.baseline_resamples,
                                BASELINE_SEED, e.feature_cache or None, _settings(cfg.data.name))
        metrics.update(base)
        metrics.update(positions(metrics, base))
    out = {f"{FINAL}protocol": how,
           f"{FINAL}reference": f"{cfg.data.name} held-out split, {len(reference)} "
           f"of its {len(held_out)} images", f"{FINAL}n_samples": n, f"{FINAL}epoch": run.epoch}
    out.update(flatten({f"{FINAL}{k}": v for k, v in metrics.items()}))
    out[f"{FINAL}seconds"] = time.perf_counter() - t0
    return out, None if samples is None else samples.cpu()


def sample_quality(names: list[str], samples: Tensor, reference: Tensor, train_images: Tensor, dataset: str,
                   root: str = "./data", cache_dir: str | None = None, device: torch.device | str = "cpu",
                   seed: int = 0, resamples: int = 10) -> dict[str, Metric]:
    """Image metrics of any sample set (N, C, H, W) in [0, 1], with floors, ceilings, spreads and positions:
    what ``evaluate_conv`` reports for its samples, for images from anywhere (``python -m ebm score``)."""
    score = functools.partial(image_metrics, [n for n in names if n in IMAGE_METRICS], reference=reference,
                              dataset=dataset, root=root, cache_dir=cache_dir, device=device, download=False,
                              fid_method=FID_METHOD, seed=seed)
    metrics = score(samples)
    base = baseline_metrics(expand(names), len(samples), reference, train_images, _networks(metrics), score,
                            resamples, seed, cache_dir, _settings(dataset))
    return {**metrics, **base, **positions(metrics, base)}


def positions(metrics: dict[str, Metric], base: dict[str, Metric]) -> dict[str, Metric]:
    """``<name>_position`` for every metric in ``metrics`` whose floor and ceiling are in ``base``."""
    return {f"{m}_position": position(metrics[m], base[f"{m}_floor"], base[f"{m}_ceiling"])
            for m in PLACED if m in metrics and f"{m}_floor" in base}


# --------------------------------------------------------------------------------------------------


def _scorer(run, names: list[str], reference: Tensor, seed: int | None = None):
    """``images -> {name: Metric}`` for the image metrics among ``names``: the one function a run's samples,
    floors and ceilings are all scored with (``seed``: KID's subset draws; the run's seed unless given)."""
    cfg = run.cfg
    return functools.partial(image_metrics, [n for n in names if n in IMAGE_METRICS], reference=reference,
                             dataset=cfg.data.name, root=cfg.data.root,
                             cache_dir=cfg.eval.feature_cache or None,
                             device=run.device, download=False, fid_method=FID_METHOD,
                             seed=cfg.seed if seed is None else seed)


def _draw(sampler):
    """The sampler's (samples, energies), or the reason it does not apply to this arm (a string)."""
    try:
        return sampler()
    except MetricUnavailable as err:
        return str(err)


def _set_metrics(names: list[str], drawn, run, reference: Tensor, score) -> dict[str, Metric]:
    """Every requested metric of one sample set; all missing, with the reason, if the set could not be
    drawn."""
    if isinstance(drawn, str):
        return _all_missing(names, drawn)
    samples, energies = drawn  # (N, C, H, W), (T, N) or None
    metrics: dict[str, Metric] = {}
    if "energy_gap" in names:
        metrics.update(energy_stats(run.energy_net, reference, samples))
    if "ess" in names:
        metrics.update(chain_diagnostics(energies))
    if any(n in IMAGE_METRICS for n in names):
        metrics.update(score(samples))
    return metrics


def _all_missing(names: list[str], reason: str) -> dict[str, Metric]:
    return {m: Metric.missing("none", reason) for m in expand(names)}


def _networks(metrics: dict[str, Metric]) -> dict[str, str]:
    return {k: m.network for k, m in metrics.items() if k in PLACED}


def _settings(dataset: str) -> str:
    """What, besides N, the networks and the image sets, decides a floor's value (part of its cache key)."""
    from ebm.metrics.domain import VERSION
    from ebm.metrics.fid import KID_SUBSET_SIZE, KID_SUBSETS

    return f"{dataset}|domain v{VERSION}|kid {KID_SUBSETS}x{KID_SUBSET_SIZE}|fid {FID_METHOD}"
