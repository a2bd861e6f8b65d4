"""A seeded, checkpointable random stream for the Bernoulli draws of Gibbs chains and AIS.

A Gibbs sweep at V = 784, H = 500, batch 100 draws 128,400 Bernoulli bits beside its two matmuls. torch's
CPU generator (mt19937, one number at a time) took 0.37 ms for them against 1.03 ms for the matmuls, so
the draws cost a third of a sweep. Here the bits come from SFC64 (Doty-Humphrey's small fast chaotic
generator, 256 bits of state, passes PractRand and BigCrush; numpy ships it), two draws per 64-bit word.
Each draw keeps 24 bits, as torch's float uniforms do: h = [u < p] with u = s / 2^24, s uniform on
{0, ..., 2^24 - 1}, is decided as p * 2^24 > s, exact in float32 (P(h = 1) = ceil(p 2^24) / 2^24, so
p = 0 never fires and p = 1 always does).

Two implementations give the same bits: a numba kernel that steps SFC64 and compares in one pass over
``p`` (the fast path), and numpy's own SFC64 ``random_raw`` followed by torch ops (the reference, used
where numba is missing; ``tests/test_rng.py`` checks they agree bit for bit and that both keep numpy's
SFC64 state in step).

Off the CPU (or for float64 or strided probabilities) the draws come from the torch generator on the
stream's device instead (Philox on CUDA, already fast there). The stream also carries that torch generator
for the draws that are not Bernoulli (``randperm``, ``multinomial``), so one object is a run's whole
random state: ``state_dict`` / ``load_state_dict`` save and restore both.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import Tensor

_BITS = 24  # bits per draw: float32 holds every integer below 2^24 exactly
SCALE = float(1 << _BITS)  # p * SCALE > s decides a draw

try:
    import numba
except ImportError:  # the numpy reference path below gives the same bits, slower
    numba = None


def jit(fn=None, **options):
    """``numba.njit`` with this project's options (cached, no GIL, no bounds checks), or ``fn`` itself where
    numba is missing; usable bare (``@jit``) or with extra options (``@jit(fastmath=...)``)."""
    if fn is None:
        return lambda f: jit(f, **options)
    if numba is None:
        return fn
    return numba.njit(cache=True, nogil=True, boundscheck=False, **options)(fn)


@jit
def sfc64_fill_(s: np.ndarray, n: int, state: np.ndarray) -> None:
    """Write ``n`` draws into float32 ``s`` (length >= n rounded up to even): s[i] uniform on {0, ..., 2^24 -
    1}, the top 24 bits of each 32-bit half of SFC64's 64-bit outputs (low half first, as numpy's
    ``random_raw(...).view(np.uint32)``), exact in float32. Advances ``state`` (numpy's SFC64 state words a,
    b, c, counter) by ceil(n / 2) outputs. The draw for probability p is then [s < p * 2^24]."""
    u = np.uint64
    a, b, c, w = state[0], state[1], state[2], state[3]
    for j in range((n + 1) // 2):
        out = a + b + w  # SFC64 (numpy/random/src/sfc64/sfc64.h): the output, then the state update
        w += u(1)
        a = b ^ (b >> u(11))
        b = c + (c << u(3))
        c = ((c << u(24)) | (c >> u(40))) + out
        s[2 * j] = np.float32((out & u(0xFFFFFFFF)) >> u(32 - _BITS))
        s[2 * j + 1] = np.float32(out >> u(64 - _BITS))
    state[0], state[1], state[2], state[3] = a, b, c, w


@jit
def _sfc64_bernoulli_(p: np.ndarray, state: np.ndarray) -> None:
    """Overwrite float32 ``p`` (1-D) with [p * 2^24 > s], s from ``sfc64_fill_``; advances ``state``."""
    n = p.size
    s = np.empty(n + 1, np.float32)  # the draws' integers; compared below in one loop
    sfc64_fill_(s, n, state)
    scale = np.float32(SCALE)
    for i in range(n):  # no dependence between iterations: the compiler vectorizes it
        p[i] = np.float32(s[i] < p[i] * scale)


class BernoulliStream:
    """Bernoulli draws from a seeded SFC64 bit stream (CPU, float32) or the device's torch generator."""

    def __init__(self, seed: int, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._words = np.random.SFC64(seed).state["state"]["state"].copy()  # (4,) uint64: a, b, c, counter
        self.use_numba = numba is not None

    def bernoulli_(self, p: Tensor) -> Tensor:
        """Overwrite the probabilities ``p`` with 0./1. draws of Bernoulli(p), in place; returns ``p``."""
        if p.device.type != "cpu" or p.dtype != torch.float32 or not p.is_contiguous():
            u = torch.empty_like(p).uniform_(generator=self.generator)
            return p.copy_(u.lt_(p))
        if self.use_numba:
            _sfc64_bernoulli_(p.view(-1).numpy(), self._words)
            return p
        return self._numpy_bernoulli_(p)

    def kernel_state(self, p: Tensor) -> np.ndarray | None:
        """The SFC64 words that a numba kernel drawing for ``p`` advances in place (``sfc64_fill_``), giving
        the bits ``bernoulli_(p)`` would; None where ``bernoulli_`` takes another path (no numba, not float32
        on the CPU)."""
        fused = self.use_numba and p.device.type == "cpu" and p.dtype == torch.float32 and p.is_contiguous()
        return self._words if fused else None

    def _numpy_bernoulli_(self, p: Tensor) -> Tensor:
        """The reference: numpy's SFC64 words, then a shift and a comparison, as ``_sfc64_bernoulli_``."""
        bits = np.random.SFC64()
        bits.state = {"bit_generator": "SFC64", "state": {"state": self._words}, "has_uint32": 0,
                      "uinteger": 0}
        n = p.numel()
        words = bits.random_raw((n + 1) // 2).view(np.uint32)[:n]  # two 32-bit draws per 64-bit word
        self._words[:] = bits.state["state"]["state"]
        # uniform on [0, 2^24)
        s = torch.from_numpy(np.right_shift(words, 32 - _BITS, out=words).view(np.int32))
        return p.mul_(SCALE).gt_(s.view(p.shape))

    def state_dict(self) -> dict:
        """Tensors only, so a checkpoint holding it loads with ``torch.load(..., weights_only=True)``."""
        return {"generator": self.generator.get_state(),
                "sfc64": torch.from_numpy(self._words.view(np.int64).copy())}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._words[:] = state["sfc64"].numpy().view(np.uint64)


Rng = torch.Generator | BernoulliStream | None  # what every sampler takes as its source of randomness


def bernoulli_(p: Tensor, rng: Rng = None) -> Tensor:
    """Overwrite ``p`` with 0./1. draws of Bernoulli(p), in place. A torch generator (or None, the global
    one) draws ``uniform_ < p``, the stream this project used before ``BernoulliStream``."""
    if isinstance(rng, BernoulliStream):
        return rng.bernoulli_(p)
    return p.copy_(torch.empty_like(p).uniform_(generator=rng).lt_(p))


def torch_generator(rng: Rng) -> torch.Generator | None:
    """The torch generator behind ``rng``, for draws other than Bernoulli (``randperm``, ``multinomial``)."""
    return rng.generator if isinstance(rng, BernoulliStream) else rng


def seed_for(seed: int, purpose: str) -> int:
    """The seed of a run's random stream for one ``purpose`` (e.g. its final evaluation): a hash of (seed,
    purpose) in [2^62, 2^63), so it is a function of both, streams of different purposes are unrelated, and it
    can never equal a counter-style seed below 2^62 (``EVAL_SEED + 1_000_003 * seed + epoch`` and the
    like)."""
    digest = hashlib.sha256(f"{seed}|{purpose}".encode()).digest()
    return (int.from_bytes(digest[:8], "little") >> 2) | (1 << 62)
