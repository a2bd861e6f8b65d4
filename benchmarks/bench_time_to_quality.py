"""Wall time to reach scikit-learn's best held-out log-likelihood: full MNIST, 16 hidden units, one run.

    python benchmarks/bench_time_to_quality.py --data-root ../shared/data     # the figures in BENCHMARKS.md
    python benchmarks/bench_time_to_quality.py --smoke-test                   # seconds, on the embedded
    digits

Raw throughput says little here: both implementations spend a PCD-1 update in the same five or six sgemm
calls. What a researcher waits for is a model of a given quality, so this measures time to quality.

scikit-learn's ``BernoulliRBM`` trains PCD-1 at batch 100 for ``--sk-epochs`` epochs at each learning rate
in ``--sk-lrs``, through its own per-batch update (``BernoulliRBM._fit``, the loop its ``fit`` runs; the
script checks that two epochs of it give exactly ``fit(n_iter=2)``'s model). Its best held-out
log-likelihood over every learning rate and epoch is the target, and the training time at which that run
first reached it is scikit-learn's time. Ours trains the shipped configuration
(configs/rbm_mnist_h16_pcd1.yaml: centered PCD-1, momentum 0.9, the Bernoulli stream of ``ebm.rng``) and
stops the clock the first time it reaches the target, checking every ``--check-every`` updates. Both
models are scored by the same estimator: the exact log-likelihood of the threshold-binarized test set
(2^16 hidden states enumerated), with evaluation time left off both clocks. The ratio is scikit-learn's
time over ours.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from sklearn.neural_network import BernoulliRBM
from sklearn.utils import gen_even_slices

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm import likelihood
from ebm.config import load_config
from ebm.data import binarize, flatten, load_images
from ebm.rbm import RBM
from ebm.rbm_train import RBMRun

CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                      "rbm_mnist_h16_pcd1.yaml")


def exact_ll(rbm: RBM, test_v: torch.Tensor) -> float:
    return likelihood.log_likelihood(rbm, test_v, likelihood.exact_log_z(rbm))


def as_rbm(model: BernoulliRBM) -> RBM:
    rbm = RBM(model.components_.shape[1], model.n_components)
    with torch.no_grad():
        rbm.W.copy_(torch.as_tensor(model.components_.T))
        rbm.visible_bias.copy_(torch.as_tensor(model.intercept_visible_))
        rbm.hidden_bias.copy_(torch.as_tensor(model.intercept_hidden_))
    return rbm


def sklearn_curve(x: np.ndarray, test_v, H: int, lr: float, epochs: int, batch: int, seed: int):
    """[(training seconds, held-out LL)] after each epoch of scikit-learn's own PCD-1 loop."""
    model = BernoulliRBM(n_components=H, learning_rate=lr, batch_size=batch, n_iter=1, random_state=seed)
    model.fit(x[:batch])  # allocates the fitted attributes; reset below exactly as fit() initialises them
    rng = np.random.RandomState(seed)
    model.components_ = np.asarray(rng.normal(0, 0.01, (H, x.shape[1])), order="F", dtype=x.dtype)
    model.intercept_hidden_ = np.zeros(H, dtype=x.dtype)
    model.intercept_visible_ = np.zeros(x.shape[1], dtype=x.dtype)
    model.h_samples_ = np.zeros((batch, H), dtype=x.dtype)
    n_batches = int(np.ceil(len(x) / batch))
    slices = list(gen_even_slices(n_batches * batch, n_batches, n_samples=len(x)))
    curve, clock = [], 0.0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for s in slices:
            model._fit(x[s], rng)
        clock += time.perf_counter() - t0
        curve.append((clock, exact_ll(as_rbm(model), test_v)))
    return curve, model


def check_loop_is_fit(x: np.ndarray, test_v, H: int, batch: int, seed: int) -> None:
    _, ours = sklearn_curve(x, test_v, H, 0.05, 2, batch, seed)
    ref = BernoulliRBM(n_components=H, learning_rate=0.05, batch_size=batch, n_iter=2,
                       random_state=seed).fit(x)
    assert np.array_equal(ours.components_, ref.components_), "the per-batch loop is not scikit-learn's fit"


def ours_time_to(target: float, train, test, root: str | None, check_every: int, max_epochs: int,
                 seed: int, overrides: list[str]):
    """(training seconds to reach ``target``, LL there, updates) for the shipped config; None if never."""
    cfg = load_config(CONFIG, [f"seed={seed}", *([f"data.root={root}"] if root else []), *overrides])
    run = RBMRun(cfg, train, test)
    print(f"ours before training (visible biases at the data's log-odds, Hinton's guide 8.1): "
          f"{exact_ll(run.rbm, run.test_v):.2f} nats")
    B, clock, updates, ll = cfg.train.batch_size, 0.0, 0, -np.inf
    for _ in range(max_epochs):
        t0 = time.perf_counter()
        data = binarize(run.train_x, cfg.data.binarize, run.stream)
        order = torch.randperm(len(data), generator=run.gen)
        for start in range(0, len(data), B):
            run.step(data[order[start:start + B]])
            updates += 1
            if updates % check_every == 0 or start + B >= len(data):
                clock += time.perf_counter() - t0
                ll = exact_ll(run.rbm, run.test_v)
                if ll >= target:
                    return clock, ll, updates
                t0 = time.perf_counter()
        run.scheduler.step()
        clock += time.perf_counter() - t0
    return None, ll, updates


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None, help="folder holding MNIST in torchvision layout")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--sk-lrs", type=float, nargs="+", default=[0.1, 0.05, 0.01])
    p.add_argument("--sk-epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--check-every", type=int, default=10, help="updates between our quality checks")
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke-test", action="store_true", help="embedded digits, 8 hidden units, 3 epochs")
    args = p.parse_args(argv)
    name, overrides = "mnist", []
    if args.smoke_test:
        name, args.hidden, args.sk_lrs, args.sk_epochs, args.check_every = "digits", 8, [0.05], 3, 5
        overrides = ["data.name=digits", "model.n_visible=64", "model.n_hidden=8", "train.epochs=3",
                     "eval.every=1"]
        args.max_epochs = 10
    else:
        overrides = [f"model.n_hidden={args.hidden}"]
    train = load_images(name, args.data_root, "train")
    test = load_images(name, args.data_root, "test")
    x = binarize(flatten(train), "threshold").numpy().astype(np.float32)
    test_v = binarize(flatten(test), "threshold")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {name} {len(x)} train / "
          f"{len(test_v)} test, threshold-binarized, {args.hidden} hidden units, exact held-out LL")
    check_loop_is_fit(x[: 20 * args.batch_size], test_v, args.hidden, args.batch_size, args.seed)

    best = (-np.inf, None, None)  # (LL, seconds, lr)
    for lr in args.sk_lrs:
        curve, _ = sklearn_curve(x, test_v, args.hidden, lr, args.sk_epochs, args.batch_size, args.seed)
        lls = ", ".join(f"{ll:.1f}" for _, ll in curve)
        print(f"scikit-learn lr {lr:g}: held-out LL by epoch [{lls}], {curve[-1][0]:.1f} s of training")
        for seconds, ll in curve:
            if ll > best[0]:
                best = (ll, seconds, lr)
    target, t_sk, lr_sk = best
    print(f"target: scikit-learn's best, {target:.2f} nats (lr {lr_sk:g}), first reached after {t_sk:.1f} s")

    t_ours, ll, updates = ours_time_to(target, train, test, args.data_root, args.check_every,
                                       args.max_epochs, args.seed, overrides)
    if t_ours is None:
        print(f"ours: did not reach {target:.2f} in {args.max_epochs} epochs (last {ll:.2f})")
        return
    print(f"ours: {ll:.2f} nats after {updates} updates, {t_ours:.2f} s of training")
    print(f"time-to-quality ratio (scikit-learn / ours): {t_sk / t_ours:.1f}x")


if __name__ == "__main__":
    main()
