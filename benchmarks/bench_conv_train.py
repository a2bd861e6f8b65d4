"""Conv-EBM parameter updates per second of the ablation_langevin cpu trial, against the code path before
issue #11 (kept below as the baseline), and the Langevin sampler alone against a plain eager loop.

    python benchmarks/bench_conv_train.py                # the figures quoted in BENCHMARKS.md
    python benchmarks/bench_conv_train.py --compile      # also torch.compile'd autograd sampling (compile
    time shown)
    python benchmarks/bench_conv_train.py --smoke-test   # seconds

Trial: configs/sweeps/ablation_langevin.yaml's cpu preset on configs/conv_mnist_pcd20.yaml (FlatConvEBM width
32 on mnist5k, PCD-10 through a 1,024-slot replay buffer, batch 32; one middle cell of the grid, step 10,
noise 0.005). The sweep runs it at 1 torch thread, 2 trials on 2 cores; it is timed at 1 and at 2 threads.
``baseline`` is ``ConvEBMRun.step`` and ``langevin`` as they were (autograd through the net every Langevin
step); ``now`` is ``ConvEBMRun.step`` today. Both runs start from the same seed and are warmed up past the
buffer's filling, so every timed update is PCD. Target: now / baseline >= 2 at 1 thread.

Sampler: ``ebm.langevin.langevin`` on the trial's network and batch, at 2 threads, against ``eager``, the loop
anyone would write first (NCHW net, parameters requiring grad, ``autograd.grad`` per step). Target >= 1.5.

Rounds are interleaved (every variant at every thread count once per round) and the best round of each is
reported with the median, so load from other processes hurts all alike.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.config import load_config
from ebm.conv_ebm import build_energy_net
from ebm.conv_train import ConvEBMRun
from ebm.data import load_images
from ebm.langevin import frozen_parameters, init_chains, langevin

TARGET_TRAIN, TARGET_SAMPLER = 2.0, 1.5
BASE = "configs/conv_mnist_pcd20.yaml"
# configs/sweeps/ablation_langevin.yaml, presets.cpu.set (tests/test_conv_train.py checks they agree), less
# eval
TRIAL = ["train.batch_size=32", "sampler.k=10", "sampler.buffer_size=1024", "sampler.step_size=10.0",
         "sampler.noise_std=0.005", "eval.metrics=[]"]


# --- the code path before issue #11, verbatim but for names ----------------------------------------------
def langevin_baseline(energy, x0, steps, step_size, noise_std, grad_clip=None, clamp=(0.0, 1.0),
                      generator=None):
    """``ebm.langevin.langevin`` before issue #11 (record_energy left out: training does not record)."""
    x = x0.detach().clone(memory_format=torch.channels_last if x0.dim() == 4 else torch.preserve_format)
    if clamp is not None:
        x.clamp_(*clamp)
    noise = torch.empty_like(x)
    with frozen_parameters(energy), torch.enable_grad():
        x.requires_grad_(True)
        for _ in range(steps):
            e = energy(x)
            (g,) = torch.autograd.grad(e.sum(), x)
            with torch.no_grad():
                if grad_clip is not None:
                    norm = g.flatten(1).norm(dim=1).clamp_min(torch.finfo(g.dtype).tiny)
                    g.mul_((grad_clip / norm).clamp_max(1.0).view(-1, *([1] * (g.dim() - 1))))
                x.add_(g, alpha=-step_size)
                if noise_std:
                    x.add_(noise.normal_(generator=generator), alpha=noise_std)
                if clamp is not None:
                    x.clamp_(*clamp)
    x = x.detach()
    if x0.is_contiguous():
        x = x.contiguous()
    return x


def step_baseline(run: ConvEBMRun) -> dict | None:
    """``ConvEBMRun.step`` before issue #11."""
    cfg, s, t = run.cfg, run.cfg.sampler, run.cfg.train
    net = run.net
    stats = {"train/loss": 0.0, "train/energy_gap": 0.0, "train/energy_data": 0.0, "sampler/energy": 0.0}
    for _ in range(t.accumulation_steps):
        batch = run.next_batch()
        x_pos = batch + cfg.data.noise_std * torch.randn(batch.shape, generator=run.gen, device=run.device)
        x0, idx = init_chains(s.init, batch, run.buffer, run.gen)
        x_neg = langevin_baseline(net, x0, s.k, s.step_size, s.noise_std, grad_clip=s.grad_clip or None,
                                  clamp=(0.0, 1.0), generator=run.gen)
        if run.buffer is not None:
            run.buffer.push(x_neg, idx, steps=s.k)
        e_pos, e_neg = net(x_pos), net(x_neg)
        loss = e_pos.mean() - e_neg.mean() + t.alpha * (e_pos.pow(2).mean() + e_neg.pow(2).mean())
        worst = torch.maximum(e_pos.abs().max(), e_neg.abs().max())
        if not (torch.isfinite(loss) and worst <= t.energy_bound):
            return None
        (loss / t.accumulation_steps).backward()
        stats["train/loss"] += loss.item() / t.accumulation_steps
        stats["train/energy_gap"] += (e_pos.mean() - e_neg.mean()).item() / t.accumulation_steps
        stats["train/energy_data"] += e_pos.mean().item() / t.accumulation_steps
        stats["sampler/energy"] += e_neg.mean().item() / t.accumulation_steps
    norm = torch.nn.utils.clip_grad_norm_(net.parameters(), t.grad_clip or math.inf)
    if not torch.isfinite(norm):
        return None
    stats["train/grad_norm"] = float(norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    if run.ema_net is not None:
        with torch.no_grad():
            for pe, p in zip(run.ema_net.parameters(), net.parameters(), strict=True):
                pe.lerp_(p, 1.0 - t.ema)
    run.iteration += 1
    return stats


# --- the plain eager sampler -------------------------------------------------------------------------------
def eager_loop(net, x, steps: int, step_size: float, noise_std: float):
    for _ in range(steps):
        x = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(net(x).sum(), x)
        x = x - step_size * g + noise_std * torch.randn_like(x)
        x.clamp_(0.0, 1.0)
    return x.detach()


def _best_and_median(rates: dict) -> dict:
    return {k: (max(v), statistics.median(v)) for k, v in rates.items()}


def _timed_rate(fn, n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def bench_train(args, cfg, train, test) -> dict:
    runs = {"baseline": ConvEBMRun(cfg, train, test), "now": ConvEBMRun(cfg, train, test)}
    steppers = {"baseline": step_baseline, "now": ConvEBMRun.step}

    def updates(name):
        def go(n):
            for _ in range(n):
                if steppers[name](runs[name]) is None:
                    raise RuntimeError(f"{name}: the divergence guard fired; the benchmark needs a healthy "
                                       "run")
        return go
    fill = math.ceil(cfg.sampler.buffer_size / cfg.train.batch_size)
    for name in runs:  # past the buffer's filling (noise starts), so every timed update is PCD
        updates(name)(fill + args.warmup)
    rates = {(th, name): [] for th in args.threads for name in runs}
    for _ in range(args.rounds):
        for th in args.threads:
            torch.set_num_threads(th)
            for name in runs:
                rates[(th, name)].append(_timed_rate(updates(name), args.updates))
    stats = _best_and_median(rates)
    b = cfg.train.batch_size
    print(f"\nConv-EBM training, ablation_langevin cpu trial (FlatConvEBM w{cfg.model.width}, batch {b}, "
          f"PCD-{cfg.sampler.k}, buffer {cfg.sampler.buffer_size}): {args.updates} updates x {args.rounds} "
          "rounds")
    print(f"{'threads':>7}  "
          f"{'variant':<9}{'best updates/s':>16}{'median':>9}{'images/s':>10}{'vs baseline':>13}")
    ratios = {}
    for th in args.threads:
        for name in runs:
            best, med = stats[(th, name)]
            ratios[th] = best / stats[(th, "baseline")][0]
            print(f"{th:>7}  {name:<9}{best:>16.1f}{med:>9.1f}{best * b:>10.0f}{ratios[th]:>12.2f}x")
    for th in args.threads:
        verdict = "met" if ratios[th] >= TARGET_TRAIN else "NOT met"
        print(f"now / baseline at {th} thread{'s' * (th > 1)} = {ratios[th]:.2f}x "
              f"(target >= {TARGET_TRAIN:g}x): {verdict}")
    return ratios


def bench_sampler(args, cfg) -> float:
    m, s = cfg.model, cfg.sampler
    shape = (1, 28, 28)
    torch.manual_seed(0)
    nchw = build_energy_net(m.net, shape, m.width, m.activation, m.spectral_norm, channels_last=False)
    net = build_energy_net(m.net, shape, m.width, m.activation, m.spectral_norm)  # as the run builds it
    net.load_state_dict(nchw.state_dict())
    x0 = torch.rand(cfg.train.batch_size, *shape)
    variants = {
        "eager": lambda k: eager_loop(nchw, x0, k, s.step_size, s.noise_std),
        "langevin (before)": lambda k: langevin_baseline(net, x0, k, s.step_size, s.noise_std),
        "langevin": lambda k: langevin(net, x0, k, s.step_size, s.noise_std),
    }
    if args.compile:
        compiled = torch.compile(net)
        t0 = time.perf_counter()
        langevin_baseline(compiled, x0, 2, s.step_size, s.noise_std)  # compiles forward and input-backward
        print(f"\ntorch.compile of the net: first 2 Langevin steps took {time.perf_counter() - t0:.1f} s "
              f"(compile time)")
        variants["langevin (before) + compile"] = lambda k: langevin_baseline(compiled, x0, k, s.step_size,
                                                                             s.noise_std)
    torch.set_num_threads(args.sampler_threads)
    for fn in variants.values():  # warm-up: oneDNN primitive caches, allocator
        fn(2)
    rates = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            rates[name].append(_timed_rate(fn, args.steps))
    stats = _best_and_median(rates)
    print(f"\nLangevin sampler alone, {m.net} w{m.width} on 1x28x28, batch {cfg.train.batch_size}, "
          f"{args.steps} steps x {args.rounds} rounds, {args.sampler_threads} threads")
    print(f"{'variant':<30}{'best steps/s':>14}{'median':>9}{'vs eager':>10}")
    for name, (best, med) in stats.items():
        print(f"{name:<30}{best:>14.1f}{med:>9.1f}{best / stats['eager'][0]:>9.2f}x")
    ratio = stats["langevin"][0] / stats["eager"][0]
    verdict = "met" if ratio >= TARGET_SAMPLER else "NOT met"
    print(f"langevin / eager at {args.sampler_threads} threads = {ratio:.2f}x (target >= "
          f"{TARGET_SAMPLER:g}x): {verdict}")
    return ratio


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--updates", type=int, default=20, help="parameter updates per timed round")
    p.add_argument("--warmup", type=int, default=8, help="updates after the buffer has filled, before timing")
    p.add_argument("--steps", type=int, default=100, help="Langevin steps per timed sampler round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                   help="thread counts for the training rate")
    p.add_argument("--sampler-threads", type=int, default=2)
    p.add_argument("--compile", action="store_true", help="also time torch.compile'd autograd sampling")
    p.add_argument("--smoke-test", action="store_true")
    args = p.parse_args(argv)
    overrides = list(TRIAL)
    if args.smoke_test:
        args.updates, args.warmup, args.steps, args.rounds = 2, 1, 3, 1
        overrides += ["sampler.buffer_size=64", "sampler.k=3", "model.width=8", "data.limit=256"]
    cfg = load_config(BASE, overrides)
    train = load_images(cfg.data.name, cfg.data.root, "train", cfg.data.download)
    test = load_images(cfg.data.name, cfg.data.root, "test", cfg.data.download)
    before = torch.get_num_threads()
    try:
        bench_train(args, cfg, train, test)
        bench_sampler(args, cfg)
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    main()
