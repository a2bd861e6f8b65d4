"""Wall time of AIS at Salakhutdinov & Murray 2008's scale: V = 784, H = 500, 14,500 betas, 100 chains.

    python benchmarks/bench_ais.py --compare       # the figures quoted in BENCHMARKS.md
    python benchmarks/bench_ais.py --smoke-test    # seconds: digits, 1 epoch, 100 betas

Target: forward AIS within 1.3x its own matmul floor (the two chain matmuls of every step, timed alone over
the whole schedule before and after each forward run in the same process; the best of each is kept, as these
cores are shared and noisy).
Draws come from ``ebm.rng.BernoulliStream``; ``--compare`` also times the same run with torch's generator,
the path before it.

The RBM is trained for a few epochs of CD-1 on mnist5k (not left at random weights): AIS cost does not
depend on the weights, but its log Z interval does, and a random-weight model would make the interval
look better than it is on a model anyone cares about. Threads are left at torch's default unless
``--threads`` says otherwise (a sweep's trials run at one thread per CPU they hold).

RAISE (Burda et al. 2015) runs on as many held-out rows as there are chains, one reverse chain each, at the
same schedule: the conservative side of the final evaluation's bracket
(``ebm.likelihood.final_log_likelihood``).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import torch

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.ais import MIN_WEIGHT_ESS, N_BETAS_DEFAULT, ais_log_z, ais_schedule, raise_log_likelihood
from ebm.data import binarize, flatten, load_images
from ebm.likelihood import log_likelihood
from ebm.rbm import RBM, gibbs
from ebm.rng import BernoulliStream

TARGET_RATIO = 1.3  # forward AIS time over its own matmul floor, default schedule, 100 chains


def train_cd1(rbm: RBM, v: torch.Tensor, epochs: int, lr: float, batch: int,
              generator: torch.Generator) -> None:
    """Plain CD-1 (Hinton 2002), just enough to give the weights the structure of a model of digits."""
    for _ in range(epochs):
        for rows in torch.randperm(len(v), generator=generator).split(batch):
            v0 = v[rows]  # (B, V)
            with torch.no_grad():
                ph0 = rbm.p_h_given_v(v0)  # (B, H)
                v1, ph1 = gibbs(rbm, v0, 1, generator)
                rbm.W += lr * (v0.t() @ ph0 - v1.t() @ ph1) / len(v0)
                rbm.visible_bias += lr * (v0 - v1).mean(0)
                rbm.hidden_bias += lr * (ph0 - ph1).mean(0)


def matmul_floor_s(rbm: RBM, n_chains: int, n_steps: int) -> float:
    """Seconds the two chain matmuls alone take over ``n_steps`` AIS steps: the floor on AIS time. Timed over
    all ``n_steps``, as AIS is, so both see the same kind of noise from these shared cores."""
    W = rbm.W.detach().float()
    Wt = W.t().contiguous()
    v = torch.bernoulli(torch.full((n_chains, rbm.n_visible), 0.2))  # (M, V)
    h = torch.bernoulli(torch.full((n_chains, rbm.n_hidden), 0.5))  # (M, H)
    for _ in range(10):
        v @ W, h @ Wt
    t0 = time.perf_counter()
    for _ in range(n_steps):
        v @ W, h @ Wt
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", choices=("mnist5k", "digits"), default="mnist5k")
    p.add_argument("--n-hidden", type=int, default=500)
    p.add_argument("--epochs", type=int, default=5, help="CD-1 epochs before timing")
    p.add_argument("--n-betas", type=int, default=N_BETAS_DEFAULT)
    p.add_argument("--chains", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=2, help="forward runs timed (the best is kept)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's; a sweep's trials run at 1 per CPU they hold)")
    p.add_argument("--compare", action="store_true", help="also time forward AIS with torch's generator")
    p.add_argument("--smoke-test", action="store_true", help="digits, 1 epoch, 100 betas")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke_test:
        args.data, args.epochs, args.n_betas, args.repeats = "digits", 1, 100, 1

    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {cpu}, {os.cpu_count()} CPUs")
    g = torch.Generator().manual_seed(args.seed)
    train = binarize(flatten(load_images(args.data, split="train")), "stochastic", g)  # (N, V)
    test = binarize(flatten(load_images(args.data, split="test")), "stochastic", g)  # (N_test, V)
    marginals = train.mean(0)  # (V,): the base-rate model's p_i
    rbm = RBM(train.shape[1], args.n_hidden, init_std=0.01, generator=g)
    rbm.init_visible_bias(marginals)
    t0 = time.perf_counter()
    train_cd1(rbm, train, args.epochs, lr=0.05, batch=100, generator=g)
    print(f"RBM {rbm.n_visible}x{rbm.n_hidden}: {args.epochs} CD-1 epochs on {args.data} in "
          f"{time.perf_counter() - t0:.1f} s, |W|_F = {rbm.W.norm():.2f}")

    n_steps = len(ais_schedule(args.n_betas)) - 1
    floor = matmul_floor_s(rbm, args.chains, n_steps)
    print(f"matmul floor: 2 x ({args.chains}x{rbm.n_visible} @ {rbm.n_visible}x{rbm.n_hidden}) per step "
          f"x {n_steps} steps = {floor:.1f} s")

    t_fwd = math.inf
    # the same run (same seed) again, with the floor timed between: best of each
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fwd = ais_log_z(rbm, marginals, n_chains=args.chains, n_betas=args.n_betas,
                        generator=BernoulliStream(args.seed))
        t_fwd = min(t_fwd, time.perf_counter() - t0)
        floor = min(floor, matmul_floor_s(rbm, args.chains, n_steps))
    ratio = t_fwd / floor
    if (args.n_betas, args.chains) == (N_BETAS_DEFAULT, 100):
        verdict = f"target <= {TARGET_RATIO}x: {'meets' if ratio <= TARGET_RATIO else 'MISSES'}"
    else:
        verdict = f"the {TARGET_RATIO}x target is for {N_BETAS_DEFAULT} betas x 100 chains"
    print(f"forward AIS: {args.n_betas} betas x {args.chains} chains in {t_fwd:.1f} s "
          f"({t_fwd / n_steps * 1e3:.2f} ms/step, {ratio:.2f}x the matmul floor of {floor:.1f} s; {verdict})")
    if args.compare:
        t0 = time.perf_counter()
        ais_log_z(rbm, marginals, n_chains=args.chains, n_betas=args.n_betas, generator=g)
        t_old = time.perf_counter() - t0
        print(f"  the same with torch's generator for the draws: {t_old:.1f} s, "
              f"{t_old / floor:.2f}x the floor")
    state = "" if fwd.reliable else f"; UNRELIABLE (weight ESS < {MIN_WEIGHT_ESS:g})"
    print(f"  log Z = {fwd.log_z:.3f}  95% [{fwd.log_z_low:.3f}, {fwd.log_z_high:.3f}], "
          f"weight ESS {fwd.weight_ess:.1f} of {args.chains}{state}")

    t0 = time.perf_counter()
    rows = torch.randperm(len(test), generator=g)[: args.chains]
    rai = raise_log_likelihood(rbm, marginals, test[rows], n_betas=args.n_betas,
                               generator=BernoulliStream(args.seed + 1))
    t_raise = time.perf_counter() - t0
    print(f"RAISE on {args.chains} held-out rows, one chain each: {args.n_betas} betas in {t_raise:.1f} s")
    print(f"  implied log Z = {rai.log_z:.3f} (high in expectation where the annealing model is no better "
          "than the RBM on these rows)")
    ll_fwd, ll_raise = log_likelihood(rbm, test, fwd.log_z), log_likelihood(rbm, test, rai.log_z)
    print(f"test log-likelihood ({args.data}, {len(test)} rows): forward AIS {ll_fwd:.2f} (optimistic), "
          f"RAISE {ll_raise:.2f} nats (conservative on the same condition)")


if __name__ == "__main__":
    main()
