"""Sample-quality and EBM-health metrics. Every one returns :class:`Metric` (value + network, or missing +
reason); nothing here downloads, and nothing raises for a metric that cannot be computed.

Names (the keys of the returned dicts, and of ``eval.metrics`` in the configs):

==================  =====================================================  ========================
name                what                                                   module
==================  =====================================================  ========================
fid_domain          FID through the data set's own CNN classifier          :mod:`.domain`
kid_domain          KID (unbiased, cubic kernel) through the same features :mod:`.domain`
is_domain           IS on that classifier's class probabilities            :mod:`.domain`
prdc_domain         precision_domain, recall_domain, density_domain,       :mod:`.domain`,
                    coverage_domain in the same features (k-NN balls)      :mod:`.manifold`
domain_accuracy     that classifier's test accuracy                        :mod:`.domain`
fid_inception       FID through TF-Inception (pytorch-fid or TorchScript)  :mod:`.inception`
kid_inception       KID through the same network                           :mod:`.inception`
is                  Inception Score (pytorch-fid weights only)             :mod:`.inception`
lpips               mean pairwise LPIPS among samples (diversity)          :mod:`.lpips_div`
energy_gap          mean E(data) - mean E(samples); also energy_data/_samples  :mod:`.energy`
ess, tau            ESS and autocorrelation time of Langevin energy traces :mod:`.energy`
==================  =====================================================  ========================
"""

from __future__ import annotations

import torch
from torch import Tensor

from ebm.metric_names import IMAGE_METRICS, expand, network
from ebm.metrics.domain import (
    DomainNet,
    domain_fid_kid,
    domain_inception_score,
    domain_metrics,
    load_domain_net,
)
from ebm.metrics.energy import chain_diagnostics, energy_stats
from ebm.metrics.fid import Features, features, fid_kid, frechet_distance, kid_from_features
from ebm.metrics.inception import inception_metrics, load_inception
from ebm.metrics.lpips_div import lpips_diversity
from ebm.metrics.result import Metric, MetricUnavailable, flatten

__all__ = ["IMAGE_METRICS", "DomainNet", "Features", "Metric", "MetricUnavailable", "chain_diagnostics",
           "domain_fid_kid", "domain_inception_score", "domain_metrics", "energy_stats", "features",
           "fid_kid",
           "flatten", "frechet_distance", "image_metrics", "inception_metrics", "kid_from_features",
           "load_domain_net", "load_inception", "lpips_diversity"]


def image_metrics(names: list[str] | tuple[str, ...], samples: Tensor, reference: Tensor, dataset: str,
                  root: str = "./data", cache_dir: str | None = None, device: torch.device | str = "cpu",
                  download: bool = False, fid_method: str = "sqrtm", seed: int = 0) -> dict[str, Metric]:
    """The requested image metrics (any of :data:`IMAGE_METRICS`) of ``samples`` against ``reference``
    (both (N, C, H, W) in [0, 1]). FID and KID through one network share one pass of the images.
    ``prdc_domain`` reports four values (``precision_domain``, ``recall_domain``, ``density_domain``,
    ``coverage_domain``) from the same pass as ``fid_domain``/``kid_domain``; any of the three also adds
    ``domain_accuracy``. Unknown names raise ValueError."""
    bad = [n for n in names if n not in IMAGE_METRICS]
    if bad:
        raise ValueError(f"unknown image metrics {bad}; choose from {', '.join(IMAGE_METRICS)}")
    out: dict[str, Metric] = {}
    in_domain = [n for n in names if network(n) == "domain" and n != "is_domain"]  # one pass of the samples
    if in_domain:
        dom = domain_metrics(in_domain, samples, reference, dataset, root, cache_dir, device, download,
                             seed=seed)
        out.update({k: v for k, v in dom.items() if k in expand(in_domain)})
    if "is_domain" in names:
        out.update(domain_inception_score(samples, dataset, root, cache_dir, device, download))
    incep = tuple(n for n in names if network(n) == "inception")
    if incep:
        out.update(inception_metrics(samples, reference, incep, device, fid_method=fid_method, seed=seed))
    if "lpips" in names:
        out.update(lpips_diversity(samples, device=device, seed=seed))
    return out
