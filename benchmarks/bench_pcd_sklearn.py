"""PCD-1 training throughput against scikit-learn's BernoulliRBM, same data, epochs, batch size and lr.

Both train PCD-1 with plain SGD (momentum 0, no weight decay: scikit-learn has neither) on the threshold-
binarized embedded MNIST digits (4,500 train / 500 held out); the held-out log-likelihood of both models is
then computed by the same estimator (exact enumeration when H <= 20, else AIS), so quality is compared on
equal terms. Prints examples/s of each and the ratio (target >= 4x).

    python benchmarks/bench_pcd_sklearn.py [--hidden 500 16] [--epochs 5] [--batch-size 100]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.neural_network import BernoulliRBM  # noqa: E402

from ebm import likelihood  # noqa: E402
from ebm.config import load_config  # noqa: E402
from ebm.data import binarize, flatten, load_images  # noqa: E402
from ebm.rbm import RBM  # noqa: E402
from ebm.rbm_train import RBMRun  # noqa: E402


def ours(train, test, H, epochs, B, lr, seed):
    cfg = load_config(None, [f"model.n_hidden={H}", "sampler.init=persistent", "sampler.k=1",
                             f"train.batch_size={B}", f"train.lr={lr}", "train.momentum=0",
                             "train.weight_decay=0",
                             f"train.epochs={epochs}", "data.binarize=threshold", f"seed={seed}"])
    run = RBMRun(cfg, train, test)
    data = binarize(run.train_x, "threshold")
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(data), generator=run.gen)
        for s in range(0, len(data), B):
            run.step(data[order[s:s + B]])
    return time.perf_counter() - t0, run.rbm, run.marginals


def sklearn(train, H, epochs, B, lr, seed):
    x = binarize(flatten(train), "threshold").numpy().astype(np.float32)
    model = BernoulliRBM(n_components=H, learning_rate=lr, batch_size=B, n_iter=epochs, random_state=seed)
    t0 = time.perf_counter()
    model.fit(x)
    seconds = time.perf_counter() - t0
    rbm = RBM(x.shape[1], H)
    with torch.no_grad():
        rbm.W.copy_(torch.as_tensor(model.components_.T))
        rbm.visible_bias.copy_(torch.as_tensor(model.intercept_visible_))
        rbm.hidden_bias.copy_(torch.as_tensor(model.intercept_hidden_))
    return seconds, rbm


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hidden", type=int, nargs="+", default=[500, 16])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    train, test = load_images("mnist5k", split="train"), load_images("mnist5k", split="test")
    test_v = binarize(flatten(test), "threshold")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; mnist5k {len(train)} train, "
          f"PCD-1, {a.epochs} epochs, batch {a.batch_size}, lr {a.lr}")
    for H in a.hidden:
        t_ours, rbm_ours, marg = ours(train, test, H, a.epochs, a.batch_size, a.lr, a.seed)
        t_sk, rbm_sk = sklearn(train, H, a.epochs, a.batch_size, a.lr, a.seed)
        n = len(train) * a.epochs
        gen = torch.Generator().manual_seed(0)
        ll = {name: likelihood.estimate_log_likelihood(r, test_v, marg, method="auto", generator=gen,
                                                       reverse=False)
              for name, r in (("ours", rbm_ours), ("sklearn", rbm_sk))}
        key = "exact/log_likelihood" if "exact/log_likelihood" in ll["ours"] else "ais/log_likelihood"
        print(f"H={H:4d}  ours {n / t_ours:9.0f} ex/s  sklearn {n / t_sk:9.0f} ex/s  ratio "
              f"{t_sk / t_ours:5.2f}x (target >= 4)  held-out LL [{key.split('/')[0]}] ours "
              f"{ll['ours'][key]:.2f} sklearn {ll['sklearn'][key]:.2f} nats")


if __name__ == "__main__":
    main()
