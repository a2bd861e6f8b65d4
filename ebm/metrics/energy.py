"""EBM health signals: the energy gap between data and samples, sample energies, and how well the
Langevin chains mix, measured on their energy trace (Nijkamp et al. 2020, "On the Anatomy of MCMC-Based
Maximum Likelihood Learning of Energy-Based Models", track the same quantities).

E_gap = mean E(data) - mean E(samples). Training drives it towards 0 from below when samples are too
likely under the model; a gap that runs away signals divergence (Du & Mordatch 2019, Sec. 3.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ebm.metrics.result import Metric, MetricUnavailable, guarded

EBM_NET = "energy network"
DIAGNOSTICS = "ebm.diagnostics (Sokal window) on Langevin energies"
BATCH = 500


@torch.no_grad()
def _energies(energy: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    return torch.cat([energy(b).detach().double().cpu() for b in x.split(BATCH)])  # (N,)


def energy_stats(energy: Callable[[Tensor], Tensor], data: Tensor, samples: Tensor,
                 network: str = EBM_NET) -> dict[str, Metric]:
    """``energy_gap`` (E(data) - E(samples), means), ``energy_data`` and ``energy_samples`` (mean, with std).

    The network's train/eval mode is left as the caller set it (spectral norm's power iteration runs
    in train mode).
    """
    names = ("energy_gap", "energy_data", "energy_samples")

    def compute() -> dict[str, Metric]:
        if len(data) == 0 or len(samples) == 0:
            raise MetricUnavailable(f"energy stats need data and samples, got {len(data)} and {len(samples)}")
        e_data, e_samp = _energies(energy, data), _energies(energy, samples)  # (N,), (M,)
        return {"energy_gap": Metric.of(e_data.mean() - e_samp.mean(), network, what="energy gap"),
                "energy_data": Metric.of(e_data.mean(), network, std=_std(e_data), what="data energy"),
                "energy_samples": Metric.of(e_samp.mean(), network, std=_std(e_samp), what="sample energy")}

    return guarded(names, network, compute)


def chain_diagnostics(energies: Tensor) -> dict[str, Metric]:
    """``ess`` (effective sample size of all chains together) and ``tau`` (integrated autocorrelation
    time, in steps) of the energy trace ``energies`` (T steps, C chains), e.g. from
    ``langevin(..., record_energy=True)``."""
    names = ("ess", "tau")

    def compute() -> dict[str, Metric]:
        from ebm.diagnostics import effective_sample_size, integrated_autocorr_time

        if energies.ndim != 2 or energies.shape[0] < 2:
            raise MetricUnavailable(f"chain diagnostics need energies of shape (T >= 2, C), got "
                                    f"{tuple(energies.shape)}")
        if not torch.isfinite(energies).all():
            raise MetricUnavailable("the energy trace contains non-finite values")
        tau = integrated_autocorr_time(energies)
        if math.isnan(tau):
            raise MetricUnavailable("the energy trace is constant: autocorrelation undefined")
        return {"ess": Metric.of(effective_sample_size(energies), DIAGNOSTICS, what="ESS"),
                "tau": Metric.of(tau, DIAGNOSTICS, what="tau")}

    return guarded(names, DIAGNOSTICS, compute)


def _std(e: Tensor) -> float | None:
    return e.std().item() if len(e) > 1 else None
