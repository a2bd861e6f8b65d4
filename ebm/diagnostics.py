"""MCMC diagnostics for a scalar statistic recorded along many parallel chains (RBM Gibbs, conv-EBM Langevin).

Input everywhere: ``x`` of shape (T, C), T steps of C chains (a 1-D (T,) tensor is one chain).

Each chain is centred on the mean over ALL chains, not on its own mean, and the autocovariances are
averaged over chains before normalising. Chains stuck in different modes then show up as long-range
correlation (a large tau, a small ESS) instead of being hidden by per-chain centring -- the same reason
Stan's multi-chain ESS includes the between-chain variance (Stan Reference Manual, "Effective sample size").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SOKAL_C = 5.0  # Sokal 1997 window constant: the smallest M with M >= c * tau(M); emcee's default


def autocorrelation(x: Tensor, max_lag: int | None = None) -> Tensor:
    """Normalised autocorrelation rho_t for t = 0..max_lag (default T - 1), float64 (max_lag + 1,).

    FFT-based (zero-padded to avoid circular wrap-around), biased 1/T autocovariance as in emcee's
    ``function_1d``. If the series has zero variance about the grand mean, rho is undefined: all NaN.
    """
    x = _as_tc(x)
    T = x.shape[0]
    max_lag = T - 1 if max_lag is None else max_lag
    if not 0 <= max_lag < T:
        raise ValueError(f"max_lag must be in [0, {T - 1}] for T = {T} steps, got {max_lag}")
    y = x - x.mean()  # (T, C): grand-mean centring, see module docstring
    n_fft = 2 ** math.ceil(math.log2(2 * T))  # >= 2T - 1, so lags never wrap around
    f = torch.fft.rfft(y, n=n_fft, dim=0)  # (n_fft // 2 + 1, C)
    acov = torch.fft.irfft(f * f.conj(), n=n_fft, dim=0)[:T].mean(1) / T  # (T,): averaged over chains
    if acov[0] <= 0:
        return torch.full((max_lag + 1,), math.nan, dtype=torch.float64)
    return (acov / acov[0])[: max_lag + 1]


def integrated_autocorr_time(x: Tensor, c: float = SOKAL_C) -> float:
    """tau = 1 + 2 sum_{t=1}^{M} rho_t with Sokal's automatic window (Sokal 1997, "Monte Carlo methods in
    statistical mechanics", Sec. 3; emcee's ``integrated_time``): M is the smallest lag with M >= c tau(M).

    If no lag satisfies the window rule the chains are too short to estimate tau, and tau(T - 1) is
    returned as what it then is, a lower bound (emcee raises instead). Constant chains: NaN (undefined).
    """
    rho = autocorrelation(x)  # (T,)
    if torch.isnan(rho[0]):
        return math.nan
    taus = 2.0 * torch.cumsum(rho, 0) - 1.0  # (T,): tau(M) = 1 + 2 sum_{t=1}^{M} rho_t
    ok = torch.arange(len(taus), dtype=torch.float64) >= c * taus
    window = int(ok.int().argmax()) if ok.any() else len(taus) - 1
    return taus[window].item()


def effective_sample_size(x: Tensor, c: float = SOKAL_C) -> float:
    """ESS = T C / tau: how many independent draws the T x C correlated ones are worth. NaN when constant."""
    x = _as_tc(x)
    return x.numel() / integrated_autocorr_time(x, c)


def _as_tc(x: Tensor) -> Tensor:
    x = torch.as_tensor(x).detach().to(device="cpu", dtype=torch.float64)
    if x.ndim == 1:
        x = x[:, None]  # (T, 1)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"expected x of shape (T >= 2, C), got {tuple(x.shape)}")
    return x
