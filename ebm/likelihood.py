"""Log partition function and log-likelihood of a Bernoulli RBM: exact, AIS, reverse AIS, pseudo-LL.

- Exact: enumerate the smaller layer, log Z = logsumexp(-F) over its 2^min(V, H) states.
- AIS (Salakhutdinov & Murray 2008, "On the quantitative analysis of deep belief networks", Sec. 3-4):
  anneal from a base-rate model A (W = 0, c = 0, b_A = logit of the data marginals) to the RBM B
  through  p*_beta(v) = exp((1 - beta) b_A^T v + beta b^T v) prod_j (1 + exp(beta (c_j + v^T W_:j))).
  The mean importance weight is unbiased for Z_B / Z_A, so by Jensen its log is a stochastic LOWER
  bound on log Z_B, i.e. an optimistic log-likelihood.
- Reverse AIS (Grosse et al. 2015, "Sandwiching the marginal likelihood using bidirectional Monte
  Carlo"; Burda et al. 2015, RAISE): the same chain run from model samples at beta = 1 down to A. Its
  mean weight is unbiased for Z_A / Z_B, so log Z_A - log(mean weight) is a stochastic UPPER bound on
  log Z_B, i.e. a pessimistic log-likelihood -- as far as the starting states are exact model samples.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm.rbm import RBM, gibbs

# Salakhutdinov & Murray 2008, Sec. 4.1: 500 betas in [0, 0.5), 4,000 in [0.5, 0.9), 10,000 in [0.9, 1].
SCHEDULE_KNOTS = (0.0, 0.5, 0.9, 1.0)
SCHEDULE_COUNTS = (500, 4_000, 10_000)
N_BETAS_DEFAULT = sum(SCHEDULE_COUNTS)  # 14,500

BASE_MARGINAL_EPS = 1e-3  # clamp for the base-rate marginals so that b_A stays finite (Hinton 2010, 8.1)
N_SIGMA = 3.0  # half-width of the reported interval, in standard errors of the mean weight
EXACT_CHUNK_ELEMENTS = 2**22  # states x other-layer-size per enumeration chunk: 32 MiB in float64
AUTO_EXACT_MAX_UNITS = 20  # method="auto" enumerates exactly up to 2^20 states


@dataclass
class AISResult:
    """One AIS run. ``log_weights`` are per chain and in the run's own direction: forward AIS estimates
    log(Z_B / Z_A), reverse AIS estimates log(Z_A / Z_B)."""

    log_z: float
    log_z_low: float  # from mean weight -/+ N_SIGMA standard errors; may be -inf (see _log_mean_interval)
    log_z_high: float  # may be +inf for reverse AIS, for the same reason
    log_weights: Tensor  # (M,) float64
    log_z_base: float  # log Z_A of the base-rate model, exact
    n_betas: int  # inverse temperatures, both ends included
    final_visible: Tensor  # (M, V) float32 last states: from the Gibbs sweep at the second-to-last beta
    direction: str  # "forward" or "reverse"


# --- exact ---------------------------------------------------------------------------------------------
@torch.no_grad()
def exact_log_z(rbm: RBM, max_units: int = 25) -> float:
    """log Z by enumerating all 2^min(V, H) states of the smaller layer, in float64.

    Z = sum_v exp(-F(v)) = sum_h exp(-F(h)), so either layer will do; the smaller one is cheaper.
    """
    n_states_log2 = min(rbm.n_visible, rbm.n_hidden)
    if n_states_log2 > max_units:
        raise ValueError(f"exact_log_z enumerates 2^{n_states_log2} states, more than 2^{max_units} "
                         f"(max_units={max_units}); use ais_log_z instead")
    rbm64 = _float64_copy(rbm)
    if rbm.n_hidden <= rbm.n_visible:
        n, other, neg_free_energy = rbm.n_hidden, rbm.n_visible, lambda s: -rbm64.free_energy_hidden(s)
    else:
        n, other, neg_free_energy = rbm.n_visible, rbm.n_hidden, lambda s: -rbm64.free_energy(s)
    device = rbm64.W.device
    chunk = 2 ** max(0, min(n, int(math.log2(max(1, EXACT_CHUNK_ELEMENTS // other)))))
    bits = torch.arange(n, device=device)  # (n,)
    chunk_lse = []
    for start in range(0, 2**n, chunk):
        idx = torch.arange(start, min(start + chunk, 2**n), device=device)  # (S,)
        states = ((idx[:, None] >> bits) & 1).to(torch.float64)  # (S, n): the binary digits of idx
        chunk_lse.append(torch.logsumexp(neg_free_energy(states), dim=0))
    return torch.logsumexp(torch.stack(chunk_lse), dim=0).item()


# --- AIS -----------------------------------------------------------------------------------------------
def ais_schedule(n_betas: int = N_BETAS_DEFAULT) -> Tensor:
    """Salakhutdinov & Murray's piecewise-uniform schedule, shrunk to ``n_betas`` in the same proportions.

    Returns (n_betas,) float64 from 0 to 1 inclusive; n_betas = 14,500 gives exactly their schedule.
    """
    if n_betas < 4:
        raise ValueError(f"an AIS schedule needs n_betas >= 4 (one per segment plus beta = 1), got {n_betas}")
    counts = [max(1, round(n_betas * k / N_BETAS_DEFAULT)) for k in SCHEDULE_COUNTS[:2]]
    counts.append(n_betas - sum(counts))  # the last segment takes the rounding and ends exactly at 1
    lo, mid1, mid2, hi = SCHEDULE_KNOTS
    return torch.cat([
        torch.linspace(lo, mid1, counts[0] + 1, dtype=torch.float64)[:-1],
        torch.linspace(mid1, mid2, counts[1] + 1, dtype=torch.float64)[:-1],
        torch.linspace(mid2, hi, counts[2], dtype=torch.float64),
    ])


def base_rate_bias(marginals: Tensor, eps: float = BASE_MARGINAL_EPS) -> Tensor:
    """b_A = logit(clamp(p, eps, 1 - eps)): the base-rate model's visible bias, float32 (V,)."""
    p = marginals.detach().to(torch.float64).clamp(eps, 1 - eps)
    return (torch.log(p) - torch.log1p(-p)).to(torch.float32)


@torch.no_grad()
def ais_log_z(rbm: RBM, base_visible_marginals: Tensor, n_chains: int = 100, betas: Tensor | None = None,
              n_betas: int | None = None, generator: torch.Generator | None = None) -> AISResult:
    """Forward AIS estimate of log Z (Salakhutdinov & Murray 2008, Sec. 3-4): a stochastic lower bound.

    Chains start from exact samples of the base-rate model and take one Gibbs sweep at each
    intermediate beta. ``betas`` (increasing, 0 to 1) or ``n_betas`` (``ais_schedule``) set the schedule;
    neither gives the paper's 14,500.
    """
    if n_chains < 2:
        raise ValueError(f"ais_log_z needs n_chains >= 2 to state an interval, got {n_chains}")
    betas = _schedule(betas, n_betas)
    b_A = base_rate_bias(base_visible_marginals).to(rbm.W.device)  # (V,)
    v0 = torch.empty(n_chains, rbm.n_visible, device=rbm.W.device)
    v0.uniform_(generator=generator).lt_(torch.sigmoid(b_A))  # (M, V): exact samples of the base model
    log_w, v = _anneal(rbm, b_A, betas, v0, generator)
    log_z_A = _base_log_z(b_A, rbm.n_hidden)
    log_mean, log_low, log_high = _log_mean_interval(log_w)
    return AISResult(log_z_A + log_mean, log_z_A + log_low, log_z_A + log_high, log_w, log_z_A,
                     len(betas), v, "forward")


@torch.no_grad()
def reverse_ais_log_z(rbm: RBM, base_visible_marginals: Tensor, v_init: Tensor, betas: Tensor | None = None,
                      n_betas: int | None = None, generator: torch.Generator | None = None,
                      burn_in: int = 0) -> AISResult:
    """Reverse AIS estimate of log Z (Grosse et al. 2015; Burda et al. 2015): a stochastic upper bound.

    Anneals from beta = 1 down to the base model along the reversed schedule, starting from ``v_init``
    (M, V) after ``burn_in`` Gibbs sweeps of the RBM itself. The upper-bound guarantee holds only as far
    as those starting states are exact model samples; ``estimate_log_likelihood`` starts from the
    forward chains' final states, which are approximate samples (not importance-resampled).
    """
    if v_init.ndim != 2 or v_init.shape[0] < 2 or v_init.shape[1] != rbm.n_visible:
        raise ValueError(f"v_init must be (M >= 2, {rbm.n_visible}), got {tuple(v_init.shape)}")
    betas = _schedule(betas, n_betas)
    b_A = base_rate_bias(base_visible_marginals).to(rbm.W.device)  # (V,)
    v = v_init.to(device=rbm.W.device, dtype=torch.float32)
    if burn_in > 0:
        v, _ = gibbs(rbm, v.to(rbm.W.dtype), burn_in, generator)
    log_w, v = _anneal(rbm, b_A, betas.flip(0), v.float().clone(), generator)  # log w estimates log(Z_A/Z_B)
    log_z_A = _base_log_z(b_A, rbm.n_hidden)
    log_mean, log_low, log_high = _log_mean_interval(log_w)
    return AISResult(log_z_A - log_mean, log_z_A - log_high, log_z_A - log_low, log_w, log_z_A,
                     len(betas), v, "reverse")


def _anneal(rbm: RBM, b_A: Tensor, betas: Tensor, v: Tensor,
            generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Run AIS along ``betas`` (either direction) from states ``v`` (M, V), updated in place.

    Returns (log w (M,) float64, final v). At step k the weight gains log p*_k(v) - log p*_{k-1}(v),
    then v moves by one Gibbs sweep that leaves p*_k invariant (none after the last beta).
    """
    W = rbm.W.detach().float().contiguous()  # (V, H)
    Wt = W.t().contiguous()  # (H, V): a contiguous copy keeps the second matmul a plain gemm
    c = rbm.hidden_bias.detach().float()  # (H,)
    b_delta = rbm.visible_bias.detach().float() - b_A  # (V,): p*_beta's visible bias is b_A + beta (b - b_A)
    x_bound = _hidden_input_bound(W, c)
    M, H = v.shape[0], W.shape[1]
    x, p, t, h = (torch.empty(M, H, device=v.device) for _ in range(4))
    pv = torch.empty_like(v)
    log_w = torch.zeros(M, dtype=torch.float64, device=v.device)
    beta_list = betas.tolist()
    for k in range(1, len(beta_list)):
        beta, beta_prev = beta_list[k], beta_list[k - 1]
        delta = beta - beta_prev
        torch.addmm(c, v, W, out=x)  # (M, H): x_j = c_j + v^T W_:j, shared by both betas and p(h | v)
        torch.mul(x, beta, out=p).sigmoid_()  # (M, H): p(h_j = 1 | v) at beta_k
        inc = torch.mv(v, b_delta).mul_(delta)  # (M,): the visible-bias part of the increment
        if abs(delta) * x_bound <= 1.0:
            # softplus(beta x) - softplus(beta_prev x) = -log1p(sigmoid(beta x) expm1(-delta x)): exact, and
            # with |delta x| <= 1 the log1p argument stays above e^-1 - 1, so float32 keeps full relative
            # precision where the difference of two float32 softplus values would cancel.
            torch.mul(x, -delta, out=t).expm1_().mul_(p).log1p_()
            log_w.add_(inc).sub_(t.sum(1))
        else:  # coarse schedules or huge weights: the direct difference, in float64 against cancellation
            x64 = x.double()
            log_w.add_(inc).add_((F.softplus(beta * x64) - F.softplus(beta_prev * x64)).sum(1))
        if k == len(beta_list) - 1:
            break
        h.uniform_(generator=generator).lt_(p)  # (M, H): h ~ Bernoulli(p), written as 0./1. floats
        vis_bias = torch.add(b_A, b_delta, alpha=beta)  # (V,)
        torch.addmm(vis_bias, h, Wt, alpha=beta, out=pv).sigmoid_()  # (M, V): p(v_i = 1 | h) at beta_k
        v.uniform_(generator=generator).lt_(pv)
    return log_w, v


def _hidden_input_bound(W: Tensor, c: Tensor) -> float:
    """max_j |c_j + v^T W_:j| over all binary v: bounds |x| so each step can pick a safe formula."""
    lo = c + W.clamp(max=0).sum(0)  # (H,)
    hi = c + W.clamp(min=0).sum(0)  # (H,)
    return max(lo.abs().max().item(), hi.abs().max().item())


def _base_log_z(b_A: Tensor, n_hidden: int) -> float:
    """log Z_A = H log 2 + sum_i softplus(b_A,i): p*_0 keeps the factor prod_j (1 + e^0) = 2^H."""
    return n_hidden * math.log(2.0) + F.softplus(b_A.double()).sum().item()


def _log_mean_interval(log_w: Tensor) -> tuple[float, float, float]:
    """log of (mean, mean - N_SIGMA se, mean + N_SIGMA se) of w = exp(log_w), computed after shifting by
    max log w so no weight overflows. se = std(w) / sqrt(M), the standard error of the mean weight
    (Salakhutdinov & Murray report mean +/- 3 std of the weights; the error of the *mean* is what bounds
    the estimate). When mean - N_SIGMA se <= 0 the low end is -inf: the weights are too heavy-tailed for
    the interval to exclude zero, which itself says the estimate is unreliable.
    """
    M = log_w.numel()
    shift = log_w.max()
    w = torch.exp(log_w - shift)  # (M,) in (0, 1]
    mean = w.mean()
    se = w.std(correction=1) / math.sqrt(M)
    low = mean - N_SIGMA * se
    log_low = (torch.log(low) + shift).item() if low > 0 else -math.inf
    return (torch.log(mean) + shift).item(), log_low, (torch.log(mean + N_SIGMA * se) + shift).item()


def _schedule(betas: Tensor | None, n_betas: int | None) -> Tensor:
    if betas is not None and n_betas is not None:
        raise ValueError("give either betas or n_betas, not both")
    if betas is None:
        return ais_schedule(N_BETAS_DEFAULT if n_betas is None else n_betas)
    betas = torch.as_tensor(betas, dtype=torch.float64).cpu()
    if betas.ndim != 1 or len(betas) < 2 or betas[0] != 0 or betas[-1] != 1 or (betas.diff() < 0).any():
        raise ValueError("betas must be a 1-D non-decreasing schedule from exactly 0 to exactly 1")
    return betas


# --- log-likelihood ------------------------------------------------------------------------------------
@torch.no_grad()
def log_likelihood(rbm: RBM, v: Tensor, log_z: float) -> float:
    """Mean over rows of log p(v) = -F(v) - log Z, in float64."""
    rbm64 = _float64_copy(rbm)
    return (-rbm64.free_energy(v.to(rbm64.W))).mean().item() - log_z


@torch.no_grad()
def estimate_log_likelihood(rbm: RBM, v_test: Tensor, base_marginals: Tensor, method: str = "auto",
                            n_chains: int = 100, n_betas: int | None = None, betas: Tensor | None = None,
                            reverse: bool = True, reverse_burn_in: int = 1_000,
                            generator: torch.Generator | None = None) -> dict[str, float]:
    """Mean test log-likelihood with its log Z, keyed ``exact/...`` or ``ais/...`` + ``reverse_ais/...``.

    ``method="auto"`` enumerates when min(V, H) <= 20, else runs AIS. Because LL = -F - log Z, the high
    end of the log Z interval gives ``ais/log_likelihood_low`` and the low end gives ``..._high``.
    Reverse AIS (if ``reverse``) starts from the forward chains' final states after ``reverse_burn_in``
    Gibbs sweeps at beta = 1, so its pessimism is only as trustworthy as those samples.
    """
    if method not in ("auto", "exact", "ais"):
        raise ValueError(f"unknown method {method!r}; choose auto, exact or ais")
    if method == "exact" or (method == "auto" and min(rbm.n_visible, rbm.n_hidden) <= AUTO_EXACT_MAX_UNITS):
        log_z = exact_log_z(rbm)
        return {"exact/log_z": log_z, "exact/log_likelihood": log_likelihood(rbm, v_test, log_z)}
    fwd = ais_log_z(rbm, base_marginals, n_chains, betas=betas, n_betas=n_betas, generator=generator)
    neg_free = log_likelihood(rbm, v_test, 0.0)  # mean -F(v): every LL below is this minus a log Z
    out = {
        "ais/log_z": fwd.log_z, "ais/log_z_low": fwd.log_z_low, "ais/log_z_high": fwd.log_z_high,
        "ais/log_likelihood": neg_free - fwd.log_z,
        "ais/log_likelihood_low": neg_free - fwd.log_z_high,
        "ais/log_likelihood_high": neg_free - fwd.log_z_low,
    }
    if reverse:
        rev = reverse_ais_log_z(rbm, base_marginals, fwd.final_visible, betas=betas, n_betas=n_betas,
                                generator=generator, burn_in=reverse_burn_in)
        out |= {"reverse_ais/log_z": rev.log_z, "reverse_ais/log_likelihood": neg_free - rev.log_z}
    return out


@torch.no_grad()
def pseudo_log_likelihood(rbm: RBM, v: Tensor, generator: torch.Generator | None = None) -> float:
    """Stochastic pseudo-log-likelihood, mean over rows (as scikit-learn's ``BernoulliRBM.score_samples``).

    For one uniformly chosen bit i per row, V * log p(v_i | v_-i) = V * log sigmoid(F(v_flip) - F(v)):
    an unbiased one-sample estimate of sum_i log p(v_i | v_-i), hence the factor V.
    """
    rbm64 = _float64_copy(rbm)
    v = v.to(rbm64.W)  # (B, V)
    i = torch.randint(0, v.shape[1], (v.shape[0],), generator=generator, device=v.device)  # (B,)
    rows = torch.arange(v.shape[0], device=v.device)
    v_flip = v.clone()
    v_flip[rows, i] = 1 - v_flip[rows, i]
    return (v.shape[1] * F.logsigmoid(rbm64.free_energy(v_flip) - rbm64.free_energy(v))).mean().item()


def _float64_copy(rbm: RBM) -> RBM:
    return copy.deepcopy(rbm).to(torch.float64)
