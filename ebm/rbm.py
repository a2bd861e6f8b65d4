"""Bernoulli-Bernoulli restricted Boltzmann machine and its Gibbs sampler.

Energy (Smolensky 1986; Hinton 2002):  E(v, h) = -v^T W h - b^T v - c^T h,
with v in {0,1}^V, h in {0,1}^H, W of shape (V, H), b = ``visible_bias``, c = ``hidden_bias``.
Free energy:  F(v) = -b^T v - sum_j softplus(c_j + v^T W_:j),  p(v) = exp(-F(v)) / Z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm.rng import Rng, bernoulli_


class RBM(nn.Module):
    """Bernoulli-Bernoulli RBM whose state dict holds exactly ``W``, ``visible_bias``, ``hidden_bias``."""

    def __init__(self, n_visible: int, n_hidden: int, init_std: float = 0.01,
                 generator: torch.Generator | None = None):
        super().__init__()
        if n_visible < 1 or n_hidden < 1:
            raise ValueError(f"RBM needs n_visible, n_hidden >= 1, got {n_visible}, {n_hidden}")
        self.n_visible = n_visible
        self.n_hidden = n_hidden
        self.W = nn.Parameter(torch.randn(n_visible, n_hidden, generator=generator) * init_std)  # (V, H)
        self.visible_bias = nn.Parameter(torch.zeros(n_visible))  # (V,)
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden))  # (H,)

    # --- conditionals -------------------------------------------------------------------------
    def hidden_logits(self, v: Tensor) -> Tensor:
        return torch.addmm(self.hidden_bias, v, self.W)  # (B, H)

    def visible_logits(self, h: Tensor) -> Tensor:
        return torch.addmm(self.visible_bias, h, self.W.t())  # (B, V)

    def p_h_given_v(self, v: Tensor) -> Tensor:
        return torch.sigmoid(self.hidden_logits(v))

    def p_v_given_h(self, h: Tensor) -> Tensor:
        return torch.sigmoid(self.visible_logits(h))

    # --- energies ---------------------------------------------------------------------------
    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h) per row, shape (B,)."""
        return -((v @ self.W) * h).sum(1) - v @ self.visible_bias - h @ self.hidden_bias

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), shape (B,)."""
        return -v @ self.visible_bias - F.softplus(self.hidden_logits(v)).sum(1)

    def free_energy_hidden(self, h: Tensor) -> Tensor:
        """F(h) = -log sum_v exp(-E(v, h)): the hidden marginal's free energy, shape (B,)."""
        return -h @ self.hidden_bias - F.softplus(self.visible_logits(h)).sum(1)

    @torch.no_grad()
    def init_visible_bias(self, marginals: Tensor, eps: float = 1e-3) -> None:
        """b_i = log(p_i / (1 - p_i)) from the data's pixel marginals (Hinton 2010, practical guide 8.1)."""
        p = marginals.clamp(eps, 1 - eps).to(self.visible_bias)
        self.visible_bias.copy_(torch.log(p) - torch.log1p(-p))


def sample_bernoulli(p: Tensor, rng: Rng = None) -> Tensor:
    """0./1. samples of Bernoulli(p) as floats, a new tensor (``p`` is left as it was); see ``ebm.rng``."""
    return bernoulli_(p.clone(memory_format=torch.contiguous_format), rng)


@torch.no_grad()
def gibbs(rbm: RBM, v: Tensor, k: int, rng: Rng = None, ph: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run k full Gibbs sweeps v -> h -> v from ``v``; returns (v_k, p(h | v_k)).

    ``ph`` may pass p(h | v) when the caller already has it (CD's positive phase), saving a matmul; it is
    not modified. The returned hidden probabilities let the caller form the Rao-Blackwellised negative
    statistics without another matmul. ``rng`` is a ``BernoulliStream`` (fast on CPU) or a torch generator.
    """
    if k < 1:
        raise ValueError(f"gibbs needs k >= 1, got {k}")
    for step in range(k):
        if step > 0 or ph is None:
            h = bernoulli_(torch.sigmoid_(rbm.hidden_logits(v)), rng)  # (B, H): p(h | v), drawn in place
        else:
            h = sample_bernoulli(ph, rng)
        v = bernoulli_(torch.sigmoid_(rbm.visible_logits(h)), rng)  # (B, V)
    return v, torch.sigmoid_(rbm.hidden_logits(v))
