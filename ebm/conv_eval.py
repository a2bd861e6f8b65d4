"""Evaluation of a conv-EBM run by metric name: energies, chain diagnostics, sample quality.

Every metric goes through :mod:`ebm.metrics`, so each value carries the network that produced it and a
metric that cannot be computed is ``None`` with a ``…/missing`` reason beside it.
"""

from __future__ import annotations

from ebm.config import CONV_METRICS, ConfigError
from ebm.metrics import IMAGE_METRICS, chain_diagnostics, energy_stats, flatten, image_metrics

MAX_REFERENCE = 2000  # held-out images compared against the samples (FID/KID reference set)


def evaluate_conv(run, names: list[str]) -> dict:
    """Metrics of ``run`` (a :class:`ebm.conv_train.ConvEBMRun`) as one flat dict, keyed by metric name."""
    unknown = [n for n in names if n not in CONV_METRICS]
    if unknown:
        raise ConfigError(f"unknown conv-EBM metric(s) {', '.join(unknown)}; choose from {', '.join(CONV_METRICS)}")
    cfg, e = run.cfg, run.cfg.eval
    out: dict = {"data": cfg.data.name, "epoch": run.epoch}
    result = run.generate(e.n_samples, record_energy="ess" in names)
    samples, energies = result if isinstance(result, tuple) else (result, None)  # (N, C, H, W), (T, N)
    reference = run.test_x[:MAX_REFERENCE]
    metrics = {}
    if "energy_gap" in names:
        metrics.update(energy_stats(run._energy_net(), reference, samples))
    if "ess" in names:
        metrics.update(chain_diagnostics(energies))
    image = [n for n in names if n in IMAGE_METRICS]
    if image:
        metrics.update(image_metrics(image, samples, reference, dataset=cfg.data.name, root=cfg.data.root,
                                     cache_dir=e.feature_cache or None, device=run.device, download=False,
                                     fid_method="nuclear", seed=cfg.seed))
    out.update(flatten(metrics))
    return out
