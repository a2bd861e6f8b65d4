"""How often the final evaluation's bracket holds the exact test log-likelihood, on CD-1 RBMs small enough to
enumerate.

    python benchmarks/bench_bracket.py                  # the figures quoted in BENCHMARKS.md (~2 min on one
    core)
    python benchmarks/bench_bracket.py --smoke-test     # seconds: one model, 3 repeats, 100 betas

Each repeat is ``ebm.likelihood.final_log_likelihood`` with a stream of its own: forward AIS (100 chains, one
run) and RAISE (Burda et al. 2015) on 100 test images, one chain each, at the same number of betas. The
bracket is RAISE's low end <= exact <= forward AIS's high end, its low side only where RAISE states itself
conservative (its trend check); the models are those of tests/test_likelihood.py (the same CD-1 arithmetic and
seeds), so the figures here are what its bracket tests assert on.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time

import torch

# ebm and benchmarks of this checkout
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.bench_ais import train_cd1  # noqa: E402
from ebm.data import binarize, flatten, load_images  # noqa: E402
from ebm.likelihood import exact_log_z, final_log_likelihood, log_likelihood  # noqa: E402
from ebm.rbm import RBM  # noqa: E402
from ebm.rng import BernoulliStream  # noqa: E402

# (name, data, hidden units, CD-1 epochs, learning rate, repeats, betas)
MODELS = (
    ("digits 64x14, 30 epochs", "digits", 14, 30, 0.3, 30, 1_000),
    ("digits 64x16, 300 epochs at lr 0.5 (rugged)", "digits", 16, 300, 0.5, 30, 1_000),
    ("mnist5k 784x16, 50 epochs", "mnist5k", 16, 50, 0.1, 20, 1_000),
    ("mnist5k 784x16, 50 epochs", "mnist5k", 16, 50, 0.1, 3, 14_500),
)


def trained(data: str, n_hidden: int, epochs: int, lr: float) -> tuple[RBM, torch.Tensor, torch.Tensor]:
    """(RBM, threshold-binarised test rows, training marginals) after plain CD-1 with batch 50 from seed 0."""
    train = binarize(flatten(load_images(data, split="train")), "threshold")
    test = binarize(flatten(load_images(data, split="test")), "threshold")
    rbm = RBM(train.shape[1], n_hidden, init_std=0.01, generator=torch.Generator().manual_seed(0))
    rbm.init_visible_bias(train.mean(0))
    train_cd1(rbm, train, epochs, lr, batch=50, generator=torch.Generator().manual_seed(0))
    return rbm, test, train.mean(0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="torch threads (the tests run at 1)")
    p.add_argument("--smoke-test", action="store_true", help="the first model, 3 repeats, 100 betas")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = [(*MODELS[0][:5], 3, 100)] if args.smoke_test else MODELS
    cpu = platform.processor() or platform.machine()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {cpu}, {os.cpu_count()} CPUs")
    for name, data, n_hidden, epochs, lr, repeats, n_betas in models:
        rbm, test, marginals = trained(data, n_hidden, epochs, lr)
        exact = log_likelihood(rbm, test, exact_log_z(rbm))
        stated = held = low_miss = high_miss = 0
        ess, seconds, raise_err, forward_err = [], [], [], []
        for r in range(repeats):
            t0 = time.perf_counter()
            res = final_log_likelihood(rbm, test, marginals, 100, n_betas, 1, 100, 1, n_betas,
                                       BernoulliStream(100 + r))
            seconds.append(time.perf_counter() - t0)
            low = res["raise/log_likelihood_low"] if res["raise/conservative"] else -math.inf
            stated += res["raise/conservative"]
            held += low <= exact <= res["ais/log_likelihood_high"]
            low_miss += low > exact
            high_miss += exact > res["ais/log_likelihood_high"]
            ess.append(res["ais/weight_ess"])
            raise_err.append(res["raise/log_likelihood"] - exact)
            forward_err.append(res["ais/log_likelihood"] - exact)
        mean = sum(raise_err) / repeats
        print(f"{name}, {n_betas} betas: exact {exact:.3f} nats; {repeats} repeats: RAISE stated "
              f"conservative in {stated}, bracket held in {held} (low side missed {low_miss}, high side "
              f"{high_miss})")
        print(f"  forward - exact {sum(forward_err) / repeats:+.3f} on average, RAISE - exact {mean:+.3f} "
              f"[{min(raise_err):+.3f}, {max(raise_err):+.3f}]; weight ESS {min(ess):.1f} to {max(ess):.1f} "
              f"of 100; {sum(seconds) / repeats:.2f} s per repeat")


if __name__ == "__main__":
    main()
