"""Log partition function and log-likelihood of a Bernoulli RBM: exact enumeration, the AIS estimates of
``ebm.ais`` put together with their labels, and the pseudo-log-likelihood.

- Exact: enumerate the smaller layer, log Z = logsumexp(-F) over its 2^min(V, H) states; exact samples
  of p(v) from the same enumeration (what makes reverse AIS an upper bound).
- ``estimate_log_likelihood``: exact where affordable, else forward AIS with its interval, weight ESS and
  reliability flag (the per-epoch curve).
- ``final_log_likelihood``: the final evaluation's bracket. Forward AIS, rerun with twice the betas while its
  weight ESS says unreliable, up to a stated number of rounds (the optimistic side); RAISE on held-out images
  (the conservative side), with a check that it does not fall as its schedule grows.
"""

from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from ebm.ais import (
    MARKOV_NATS,
    MIN_WEIGHT_ESS,
    AISResult,
    ais_log_z,
    raise_log_likelihood,
)
from ebm.rbm import RBM, sample_bernoulli
from ebm.rng import Rng, torch_generator

EXACT_CHUNK_ELEMENTS = 2**23  # states x other-layer-size per enumeration chunk: 64 MiB in float64
EXACT_SAMPLES_MAX_UNITS = 20  # exact_samples enumerates at most 2^20 states of the smaller layer
AUTO_EXACT_MAX_UNITS = 20  # method="auto" enumerates exactly up to 2^20 states


@torch.no_grad()
def exact_log_z(rbm: RBM, max_units: int = 25) -> float:
    """log Z by enumerating all 2^min(V, H) states of the smaller layer, in float64.

    Z = sum_v exp(-F(v)) = sum_h exp(-F(h)), so either layer will do; the smaller one is cheaper. Every
    chunk is computed into the same preallocated buffers, so the peak memory is a few chunks whatever the
    allocator does (fresh 25 MB temporaries per chunk once drove one call at V=784, H=20 to 6.9 GB).
    """
    n = min(rbm.n_visible, rbm.n_hidden)
    if n > max_units:
        raise ValueError(f"exact_log_z enumerates 2^{n} states, more than 2^{max_units} "
                         f"(max_units={max_units}); use ais_log_z instead")
    chunk_lse = [torch.logsumexp(neg_f, 0) for neg_f in _negative_free_energies(rbm)]  # one scalar per chunk
    return torch.logsumexp(torch.stack(chunk_lse), 0).item()


def _negative_free_energies(rbm: RBM):
    """Yield -F(s) over all 2^n states s of the smaller layer, chunk by chunk, in float64 buffers that are
    reused from chunk to chunk (callers must consume each chunk before asking for the next)."""
    W = rbm.W.detach().to(torch.float64)  # (V, H)
    b, c = rbm.visible_bias.detach().to(torch.float64), rbm.hidden_bias.detach().to(torch.float64)
    if rbm.n_hidden <= rbm.n_visible:  # enumerate h: -F(h) = c^T h + sum_i softplus(b_i + W_i: h)
        n, other, Wn, own_bias, other_bias = rbm.n_hidden, rbm.n_visible, W.t(), c, b
    else:  # enumerate v: -F(v) = b^T v + sum_j softplus(c_j + v^T W_:j)
        n, other, Wn, own_bias, other_bias = rbm.n_visible, rbm.n_hidden, W, b, c
    Wn = Wn.contiguous()  # (n, other)
    chunk = 2 ** max(0, min(n, int(math.log2(max(1, EXACT_CHUNK_ELEMENTS // other)))))
    device = W.device
    bits = torch.arange(n, device=device)  # (n,)
    idx = torch.empty(chunk, dtype=torch.long, device=device)  # (S,)
    states = torch.empty(chunk, n, dtype=torch.float64, device=device)  # (S, n)
    x = torch.empty(chunk, other, dtype=torch.float64, device=device)  # (S, other) logits of the other layer
    t = torch.empty_like(x)
    out = torch.empty(chunk, dtype=torch.float64, device=device)  # (S,)
    for start in range(0, 2**n, chunk):
        S = min(chunk, 2**n - start)
        torch.arange(start, start + S, device=device, out=idx[:S])
        states[:S].copy_((idx[:S, None] >> bits) & 1)  # (S, n): the binary digits of idx (small)
        xs, ts = x[:S], t[:S]
        torch.addmm(other_bias, states[:S], Wn, out=xs)
        # softplus(x) = max(x, 0) + log1p(exp(-|x|)), in place
        torch.abs(xs, out=ts).neg_().exp_().log1p_()
        xs.clamp_(min=0).add_(ts)
        torch.sum(xs, 1, out=out[:S])
        out[:S].addmv_(states[:S], own_bias)
        yield out[:S]
# --- AIS -----------------------------------------------------------------------------------------------
@torch.no_grad()
def exact_samples(rbm: RBM, n: int, generator: Rng = None,
                  max_units: int = EXACT_SAMPLES_MAX_UNITS) -> Tensor:
    """``n`` exact samples of p(v) (n, V) float32, by enumerating the smaller layer.

    H <= V: h ~ p(h) (softmax of -F(h) over all 2^H states), then v ~ p(v | h). V < H: v ~ p(v) directly.
    This is what makes reverse AIS an upper bound (Grosse et al. 2015), where it can be afforded.
    """
    n_units = min(rbm.n_visible, rbm.n_hidden)
    if n_units > max_units:
        raise ValueError(f"exact_samples enumerates 2^{n_units} states, more than 2^{max_units}")
    neg_f = torch.cat([chunk.clone() for chunk in _negative_free_energies(rbm)])  # (2^n,) float64
    idx = torch.multinomial(torch.softmax(neg_f, 0), n, replacement=True,
                            generator=torch_generator(generator))  # (n,)
    bits = torch.arange(n_units, device=idx.device)
    states = ((idx[:, None] >> bits) & 1).to(rbm.W.dtype)  # (n, n_units)
    if rbm.n_hidden <= rbm.n_visible:
        return sample_bernoulli(rbm.p_v_given_h(states), generator).float()
    return states.float()


@torch.no_grad()
def log_likelihood(rbm: RBM, v: Tensor, log_z: float) -> float:
    """Mean over rows of log p(v) = -F(v) - log Z, in float64."""
    rbm64 = _float64_copy(rbm)
    return (-rbm64.free_energy(v.to(rbm64.W))).mean().item() - log_z


@torch.no_grad()
def estimate_log_likelihood(rbm: RBM, v_test: Tensor, base_marginals: Tensor, method: str = "auto",
                            n_chains: int = 100, n_betas: int | None = None, betas: Tensor | None = None,
                            generator: Rng = None) -> dict:
    """Mean test log-likelihood with its log Z, keyed ``exact/...`` or ``ais/...`` (see ``ais_keys``).

    ``method="auto"`` enumerates when min(V, H) <= 20, else runs forward AIS once.
    """
    if method not in ("auto", "exact", "ais"):
        raise ValueError(f"unknown method {method!r}; choose auto, exact or ais")
    if method == "exact" or (method == "auto" and min(rbm.n_visible, rbm.n_hidden) <= AUTO_EXACT_MAX_UNITS):
        log_z = exact_log_z(rbm)
        return {"exact/log_z": log_z, "exact/log_likelihood": log_likelihood(rbm, v_test, log_z)}
    fwd = ais_log_z(rbm, base_marginals, n_chains, betas=betas, n_betas=n_betas, generator=generator)
    return ais_keys(fwd, log_likelihood(rbm, v_test, 0.0))


def ais_keys(fwd: AISResult, neg_free: float) -> dict:
    """A forward AIS run as log-likelihoods, where ``neg_free`` is the test images' mean -F(v) (LL = -F - log
    Z).

    Reliable (weight ESS >= ``MIN_WEIGHT_ESS``): ``ais/log_likelihood_low`` and ``..._high`` are the 95%
    interval, from the log Z interval's high and low ends. Unreliable: nothing bounds it from below (-inf),
    and the high end is Markov's, ``ais/log_likelihood`` + ``MARKOV_NATS``, which holds with >= 95% at any ESS
    (``ebm.ais``).
    """
    reliable = fwd.reliable
    low, high = (fwd.log_z_low, fwd.log_z_high) if reliable else (fwd.log_z - MARKOV_NATS, math.inf)
    out = {
        "ais/log_z": fwd.log_z, "ais/log_z_low": low, "ais/log_z_high": high,
        "ais/log_likelihood": neg_free - fwd.log_z,
        "ais/log_likelihood_low": neg_free - high, "ais/log_likelihood_high": neg_free - low,
        "ais/weight_ess": fwd.weight_ess, "ais/chains": len(fwd.log_weights), "ais/betas": fwd.n_betas,
        "ais/reliable": reliable,
    }
    if not reliable:
        out["ais/note"] = (f"unreliable: weight ESS {fwd.weight_ess:.1f} of {len(fwd.log_weights)} chains "
                           f"(< {MIN_WEIGHT_ESS:g}) at {fwd.n_betas} betas; only the high end is bounded")
    return out


@torch.no_grad()
def final_log_likelihood(rbm: RBM, v_test: Tensor, base_marginals: Tensor, n_chains: int, n_betas: int,
                         rounds: int = 1, raise_images: int = 0, raise_chains: int = 1, raise_betas: int = 0,
                         generator: Rng = None) -> dict:
    """The bracket a paper can quote: forward AIS (optimistic) keyed ``ais/...``, RAISE (conservative)
    ``raise/...``.

    Forward AIS runs with ``n_betas``, and again with twice as many while its weight ESS is below
    ``MIN_WEIGHT_ESS``, for at most ``rounds`` runs (``n_betas`` (2^rounds - 1) betas in all); the last run is
    the estimate, labelled unreliable if it still is (``ais/rounds``, ``ais/forward_seconds``: the effort
    spent).

    RAISE (``ebm.ais.raise_log_likelihood``) runs on ``raise_images`` held-out images drawn at random (0 =
    off), at ``raise_betas`` and, on the same images, at a quarter of them. Where the annealing model beats
    the RBM on held-out images, RAISE overestimates and falls towards the truth as its schedule grows: a fall
    of more than two standard errors (``raise/rise``, per image), or a low end above forward AIS's high end,
    sets ``raise/conservative`` false. The log Z those images imply gives the whole test set's figure;
    ``raise/log_likelihood_low`` is it less Markov's margin for N images.
    """
    if raise_images == 1:
        raise ValueError("final_log_likelihood's RAISE needs raise_images >= 2 (its trend check needs a "
                         "spread) or 0")
    neg_free = log_likelihood(rbm, v_test, 0.0)
    t0 = time.perf_counter()
    for r in range(1, rounds + 1):
        fwd = ais_log_z(rbm, base_marginals, n_chains, n_betas=n_betas * 2 ** (r - 1), generator=generator)
        if fwd.reliable:
            break
    out = ais_keys(fwd, neg_free) | {"ais/rounds": r, "ais/forward_seconds": time.perf_counter() - t0}
    if not raise_images:
        return out
    t0 = time.perf_counter()
    rows = torch.randperm(len(v_test), generator=torch_generator(generator),
                          device=v_test.device)[:raise_images]
    full, short = (raise_log_likelihood(rbm, base_marginals, v_test[rows], raise_chains, n_betas=k,
                                        generator=generator)
                   for k in (raise_betas, max(4, raise_betas // 4)))
    rise = full.log_p - short.log_p  # (N,) paired by image
    falls = rise.mean().item() < -2 * rise.std().item() / math.sqrt(len(rise))
    low = neg_free - full.log_z - MARKOV_NATS / len(rows)
    above = low > out["ais/log_likelihood_high"]
    out |= {"raise/log_likelihood": neg_free - full.log_z, "raise/log_likelihood_low": low,
            "raise/log_z": full.log_z, "raise/images": len(rows), "raise/chains": raise_chains,
            "raise/betas": full.n_betas, "raise/rise": rise.mean().item(),
            "raise/conservative": not (falls or above), "raise/seconds": time.perf_counter() - t0}
    if falls:
        out["raise/note"] = (f"not conservative here: RAISE fell by {-rise.mean().item():.2f} nats per image "
                             f"(> 2 SE) from {short.n_betas} to {full.n_betas} betas, so the annealing model "
                             "beats the RBM on these images and the figure bounds nothing")
    elif above:
        out["raise/note"] = ("not conservative here: RAISE's low end is above forward AIS's high end, so the "
                             "annealing model beats the RBM on these images and the figure bounds nothing")
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
