"""Langevin steps per second of ``ebm.langevin.langevin`` on the default MNIST energy net, against a plain
eager loop, and the cost of one evaluation of each sample-quality metric.

    python benchmarks/bench_langevin.py                  # the figures quoted in the README
    python benchmarks/bench_langevin.py --no-metrics     # sampler only (~1 min)
    python benchmarks/bench_langevin.py --compile        # also try torch.compile (compile time included)
    python benchmarks/bench_langevin.py --smoke-test     # seconds

Sampler: ``SmallConvEBM`` on 1x28x28, batch 100, step 10, noise 0.005. ``eager`` is the loop anyone would
write first: a net in the default (NCHW) memory format with parameters requiring grad, and per step
``x.requires_grad_(); g = autograd.grad(net(x).sum(), x); x = x - step*g + noise*randn; x.clamp_``.
``langevin`` is the library function on the net as ``build_energy_net`` returns it (NHWC weights). The
two ablations say where the difference comes from: ``eager+frozen`` (parameters' requires_grad off) and
``eager+nhwc`` (NHWC weights). Target: langevin / eager >= 1.5. Rounds are interleaved and the best
round of each variant is reported (and the median), so load from other processes hurts all alike.

Metrics: one evaluation = embedding the samples + FID + KID (100 subsets of min(1000, N); a single
estimate when both sets have <= 1000 images), with the reference features computed once beforehand
(as a training loop should: ``ebm.metrics.features``).
Stand-in samples are real mnist5k digits (samples = train[:N], reference = train[N:2N]); values are
printed only to show the metric ran. For Inception the reference features are a perturbed copy of the
sample features, which costs the same arithmetic without a second embedding pass.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.conv_ebm import build_energy_net
from ebm.data import load_images
from ebm.langevin import langevin
from ebm.metrics import MetricUnavailable, domain, fid, inception

TARGET_RATIO = 1.5
STEP_SIZE, NOISE_STD = 10.0, 0.005  # IGEBM-style settings


def eager_loop(net, x, steps: int):
    for _ in range(steps):
        x = x.detach().requires_grad_()
        e = net(x).sum()
        (g,) = torch.autograd.grad(e, x)
        x = x - STEP_SIZE * g + NOISE_STD * torch.randn_like(x)
        x.clamp_(0.0, 1.0)
    return x.detach()


def _frozen(net, fn):
    def run(x, steps):
        flags = [p.requires_grad_(False) for p in net.parameters()]
        try:
            return fn(x, steps)
        finally:
            for p in flags:
                p.requires_grad_(True)
    return run


def bench_sampler(args) -> dict[str, float]:
    shape = (1, 28, 28)
    torch.manual_seed(0)
    nchw = build_energy_net("small", shape, channels_last=False)
    nhwc = build_energy_net("small", shape)  # the library default
    nhwc.load_state_dict(nchw.state_dict())
    x0 = torch.rand(args.batch, *shape)
    variants = {
        "eager": lambda x, k: eager_loop(nchw, x, k),
        "eager+frozen": _frozen(nchw, lambda x, k: eager_loop(nchw, x, k)),
        "eager+nhwc": lambda x, k: eager_loop(nhwc, x, k),
        "langevin(nchw net)": lambda x, k: langevin(nchw, x, k, STEP_SIZE, NOISE_STD),
        "langevin": lambda x, k: langevin(nhwc, x, k, STEP_SIZE, NOISE_STD),
    }
    if args.compile:
        t0 = time.perf_counter()
        compiled = torch.compile(nhwc)
        langevin(compiled, x0, 3, STEP_SIZE, NOISE_STD)  # compiles forward and backward
        print(f"torch.compile: first 3 steps took {time.perf_counter() - t0:.1f} s (compile time)")
        variants["langevin+compile"] = lambda x, k: langevin(compiled, x, k, STEP_SIZE, NOISE_STD)
    for fn in variants.values():  # warm-up: oneDNN primitive caches, allocator
        fn(x0, 2)
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn(x0, args.steps)
            rates[name].append(args.steps / (time.perf_counter() - t0))
    print(f"\nLangevin on SmallConvEBM 1x28x28, batch {args.batch}, {args.steps} steps x {args.rounds} "
          f"rounds, {torch.get_num_threads()} threads")
    print(f"{'variant':<22}{'best steps/s':>14}{'median':>10}{'sample-steps/s':>16}{'vs eager':>10}")
    best = {k: max(v) for k, v in rates.items()}
    for name, v in rates.items():
        print(f"{name:<22}{best[name]:>14.1f}{statistics.median(v):>10.1f}{best[name] * args.batch:>16.0f}"
              f"{best[name] / best['eager']:>9.2f}x")
    ratio = best["langevin"] / best["eager"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"langevin / eager = {ratio:.2f}x (target >= {TARGET_RATIO}x): {verdict}")
    return best


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_metrics(args) -> None:
    x = load_images(args.domain_data, split="train")  # (4500, 1, 28, 28) for mnist5k
    sizes = [n for n in args.sizes if 2 * n <= len(x)]
    print(f"\nMetric cost per evaluation, {torch.get_num_threads()} threads (reference features precomputed)")
    net, dt = _timed(lambda: domain.load_domain_net(args.domain_data, cache_dir=args.cache_dir,
                                                    epochs=args.domain_epochs))
    print(f"domain classifier ({args.domain_data}): ready in {dt:.1f} s (trains once, then loads from the "
          f"cache); test accuracy {net.test_accuracy:.4f}")
    for n in sizes:
        ref = fid.features(net, x[n:2 * n])
        f_s, t_emb = _timed(lambda n=n: fid.features(net, x[:n]))
        fd, t_fid = _timed(lambda a=f_s.values, b=ref.values: fid.fid_from_features(a, b))
        (kd, kd_std), t_kid = _timed(lambda a=f_s.values, b=ref.values: fid.kid_from_features(a, b))
        print(f"  N={n:>5}: embed {t_emb:6.2f} s + FID(sqrtm, d=128) {t_fid:6.2f} s + KID {t_kid:6.2f} s = "
              f"{t_emb + t_fid + t_kid:6.1f} s   (fid_domain {fd:.3f}, kid_domain {kd:.5f}"
              + (f" +- {kd_std:.5f})" if kd_std is not None else ")"))
    if args.smoke_test or args.no_inception:
        return
    try:
        net = inception.load_inception()
    except MetricUnavailable as e:
        print(f"Inception: not available ({e})")
        return
    n_max = max(sizes)
    t0 = time.perf_counter()
    feats = np.concatenate([net.features(x[i:i + inception.BATCH]) for i in range(0, n_max, inception.BATCH)])
    rate = n_max / (time.perf_counter() - t0)  # images/s: embedding cost is linear in N beyond one batch
    t_at = {n: n / rate for n in sizes}
    print(f"Inception via {net.network}: embedding {rate:.1f} images/s (N={n_max}); embed times below are N "
          "/ rate")
    rng = np.random.default_rng(0)
    for n in sizes:
        f_s = feats[:n]
        f_r = f_s[rng.permutation(n)] + 0.1 * rng.standard_normal(f_s.shape)  # stand-in reference features
        _, t_nuc = _timed(lambda f_s=f_s, f_r=f_r: fid.fid_from_features(f_s, f_r, "nuclear"))
        t_sqrtm = float("nan")
        if not args.skip_sqrtm:
            _, t_sqrtm = _timed(lambda f_s=f_s, f_r=f_r: fid.fid_from_features(f_s, f_r, "sqrtm"))
        _, t_kid = _timed(lambda f_s=f_s, f_r=f_r: fid.kid_from_features(f_s, f_r))
        print(f"  N={n:>5}: embed {t_at[n]:6.1f} s + FID sqrtm {t_sqrtm:6.1f} s | nuclear {t_nuc:5.1f} s + "
              f"KID {t_kid:5.1f} s = {t_at[n] + t_sqrtm + t_kid:6.1f} s (sqrtm) | "
              f"{t_at[n] + t_nuc + t_kid:6.1f} s (nuclear)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--steps", type=int, default=30, help="Langevin steps per timed round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd langevin")
    p.add_argument("--no-metrics", action="store_true")
    p.add_argument("--no-inception", action="store_true")
    p.add_argument("--skip-sqrtm", action="store_true", help="skip sqrtm FID at d=2048 (~100 s per call)")
    p.add_argument("--sizes", type=int, nargs="+", default=[500, 1000])
    p.add_argument("--domain-data", default="mnist5k")
    p.add_argument("--domain-epochs", type=int, default=None)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--smoke-test", action="store_true")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.steps, args.rounds, args.batch, args.sizes = 2, 1, 8, [50]
        args.domain_data, args.domain_epochs = "digits", 1
    if args.threads:
        torch.set_num_threads(args.threads)
    bench_sampler(args)
    if not args.no_metrics:
        bench_metrics(args)


if __name__ == "__main__":
    main()
