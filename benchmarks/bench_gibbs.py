"""Gibbs sweeps per second of ``ebm.rbm.gibbs`` at V = 784, H = 500, batch 100, against the fp32 matmul rate.

    python benchmarks/bench_gibbs.py                # the figures quoted in the README
    python benchmarks/bench_gibbs.py --smoke-test   # a second

A sweep v -> h -> v needs two matmuls, (100x784)@(784x500) and (100x500)@(500x784); everything else
(sigmoids, random numbers) is overhead. The ratio (sweeps/s) / (matmul pairs/s) says how close the
sampler is to that floor (target >= 0.8). ``prealloc`` is a candidate rewrite measured in the same run:
buffers reused through ``out=`` and in-place ops, and ``uniform_`` + ``lt_`` instead of ``torch.bernoulli``.
Rounds are interleaved and the best round of each is kept, so load from other processes hurts all alike.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.rbm import RBM, gibbs
from ebm.rng import BernoulliStream

TARGET_RATIO = 0.8


@torch.no_grad()
def gibbs_prealloc(rbm: RBM, v: torch.Tensor, k: int, generator: torch.Generator | None = None):
    """Same chain as ``ebm.rbm.gibbs`` (same conditionals, 24-bit uniforms), no allocation per sweep."""
    W, Wt = rbm.W, rbm.W.t()
    B = v.shape[0]
    v = v.clone()
    h = torch.empty(B, rbm.n_hidden)
    ph = torch.empty(B, rbm.n_hidden)
    pv = torch.empty(B, rbm.n_visible)
    for _ in range(k):
        torch.addmm(rbm.hidden_bias, v, W, out=ph).sigmoid_()  # (B, H)
        h.uniform_(generator=generator).lt_(ph)  # h ~ Bernoulli(ph) as 0./1. floats
        torch.addmm(rbm.visible_bias, h, Wt, out=pv).sigmoid_()  # (B, V)
        v.uniform_(generator=generator).lt_(pv)
    return v, torch.sigmoid_(rbm.hidden_logits(v))


def _rate(fn, steps: int) -> float:
    t0 = time.perf_counter()
    fn(steps)
    return steps / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300, help="Gibbs sweeps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--smoke-test", action="store_true")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.steps, args.rounds = 10, 1

    g = torch.Generator().manual_seed(0)
    rbm = RBM(784, 500, init_std=0.03, generator=g)
    v0 = torch.bernoulli(torch.full((args.batch, 784), 0.2), generator=g)  # (B, V)
    h0 = torch.bernoulli(torch.full((args.batch, 500), 0.5), generator=g)  # (B, H)
    W = rbm.W.detach()

    def matmuls(n):
        for _ in range(n):
            v0 @ W, h0 @ W.t()

    stream = BernoulliStream(0)
    candidates = {
        "matmul pair": matmuls,
        "ebm.rbm.gibbs": lambda n: gibbs(rbm, v0, n, stream),
        "torch generator": lambda n: gibbs(rbm, v0, n, g),
        "prealloc": lambda n: gibbs_prealloc(rbm, v0, n, g),
    }
    for fn in candidates.values():  # warm-up: first calls pay for allocation and thread start-up
        fn(5)
    best = dict.fromkeys(candidates, 0.0)
    for _ in range(args.rounds):
        for name, fn in candidates.items():
            best[name] = max(best[name], _rate(fn, args.steps))

    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {os.cpu_count()} CPUs; "
          f"V=784, H=500, batch {args.batch}; best of {args.rounds} rounds x {args.steps} sweeps")
    mm = best["matmul pair"]
    print(f"{'matmul pair':>14}: {mm:8.0f} /s  ({2 * 2 * args.batch * 784 * 500 * mm / 1e9:.0f} GFLOP/s)")
    for name in ("ebm.rbm.gibbs", "torch generator", "prealloc"):
        ratio = best[name] / mm
        verdict = "meets" if ratio >= TARGET_RATIO else "misses"
        print(f"{name:>14}: {best[name]:8.0f} sweeps/s  ratio to matmul {ratio:.2f} "
              f"({verdict} target >= {TARGET_RATIO})")


if __name__ == "__main__":
    main()
