import math

import pytest
import scipy.signal
import torch

from ebm.diagnostics import autocorrelation, effective_sample_size, integrated_autocorr_time


def _ar1(phi, T, C, seed=0):
    """x_t = phi x_{t-1} + eps_t, started in the stationary law N(0, 1 / (1 - phi^2)): (T, C) float64."""
    g = torch.Generator().manual_seed(seed)
    eps = torch.randn(T, C, generator=g, dtype=torch.float64)
    eps[0] /= math.sqrt(1 - phi**2)
    return torch.from_numpy(scipy.signal.lfilter([1.0], [1.0, -phi], eps.numpy(), axis=0))  # the recursion


@pytest.mark.parametrize("phi", [0.5, 0.9])
def test_ar1_tau_matches_theory(phi):
    tau_true = (1 + phi) / (1 - phi)  # 3 and 19
    x = _ar1(phi, T=20_000, C=16)
    tau = integrated_autocorr_time(x)
    assert abs(tau - tau_true) / tau_true < 0.10, (tau, tau_true)
    assert effective_sample_size(x) == pytest.approx(x.numel() / tau)


def test_ar1_acf_matches_phi_power_t():
    phi = 0.7
    acf = autocorrelation(_ar1(phi, T=20_000, C=16, seed=1), max_lag=6)
    assert acf.shape == (7,) and acf[0] == 1
    expected = phi ** torch.arange(7, dtype=torch.float64)
    assert torch.allclose(acf, expected, atol=0.02), (acf, expected)


def test_iid_chains_give_tau_one_and_full_ess():
    x = torch.randn(5_000, 20, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert integrated_autocorr_time(x) == pytest.approx(1.0, abs=0.1)
    assert effective_sample_size(x) == pytest.approx(x.numel(), rel=0.1)


def test_fft_acf_equals_direct_sum():
    """The zero-padded FFT must give the plain (1/T) lag sum, with no circular wrap-around."""
    x = torch.randn(50, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = x - x.mean()
    direct = torch.stack([(y[: 50 - t] * y[t:]).sum(0).mean() / 50 for t in range(50)])
    assert torch.allclose(autocorrelation(x), direct / direct[0], atol=1e-12)


def test_chains_stuck_at_different_levels_are_flagged():
    """Grand-mean centring: chains that never move between two levels must not look independent."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2_000, 8, generator=g, dtype=torch.float64) * 0.1
    x[:, :4] += 5.0
    assert effective_sample_size(x) < 0.01 * x.numel()


def test_constant_chains_are_nan_not_a_crash():
    x = torch.ones(100, 4)
    assert torch.isnan(autocorrelation(x)).all()
    assert math.isnan(integrated_autocorr_time(x))
    assert math.isnan(effective_sample_size(x))


def test_one_dimensional_input_is_one_chain():
    x = _ar1(0.5, T=20_000, C=1, seed=5)
    assert integrated_autocorr_time(x[:, 0]) == integrated_autocorr_time(x)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError):
        autocorrelation(torch.zeros(1, 3))
    with pytest.raises(ValueError):
        autocorrelation(torch.randn(10, 2), max_lag=10)
