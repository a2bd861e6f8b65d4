"""One short check of every sweep's full preset on a GPU: updates/s, peak memory, trials per GPU, wall time.

    python benchmarks/gpu_check.py                          # on a CUDA machine: every sweep, preset full
    python benchmarks/gpu_check.py --device cpu --preset smoke --updates 2   # the dry run prepared on a CPU

For each configuration of each sweep's grid (seeds cost alike) the script builds the run on random images of
the data set's shape (the cost of an update depends on shapes only, so no data set is needed), times a few
parameter updates after two warm-up ones, and reads the peak GPU memory. Trials per GPU are what the preset's
GPU fraction allows, capped by what the peak memory allows; the projected wall time packs every trial's
training (epochs x updates per epoch, evaluation not included) onto those slots, longest first. Optuna sweeps
are priced at their base configuration. Nothing is written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from analysis import stats  # noqa: E402
from ebm.runs import run_class  # noqa: E402
from ebm.strict import replace  # noqa: E402
from sweeps.projection import _duration, _makespan  # noqa: E402
from sweeps.spec import available, load_sweep  # noqa: E402

SHAPES = {"mnist": (1, 28, 28), "mnist5k": (1, 28, 28), "digits": (1, 8, 8), "cifar10": (3, 32, 32)}
TRAIN_SIZES = {"mnist": 60_000, "cifar10": 50_000, "mnist5k": 4_500, "digits": 1_497}
TIMING_IMAGES = 4_096  # images the timed run holds (its updates per epoch come from TRAIN_SIZES)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_updates(cfg, device: str, updates: int) -> tuple[float, float]:
    """(updates per second, peak GPU memory in MiB or NaN on a CPU) for the typed run config ``cfg``."""
    cfg = replace(cfg, "device", device, "gpu_check")
    g = torch.Generator().manual_seed(0)
    shape = SHAPES.get(cfg.data.name, (1, 28, 28))
    train = torch.rand(TIMING_IMAGES, *shape, generator=g)  # (N, C, H, W) in [0, 1]
    test = torch.rand(512, *shape, generator=g)
    run = run_class(cfg.kind)(cfg, train, test)
    if cfg.kind == "rbm":
        batch = run.train_x[: cfg.train.batch_size].bernoulli(generator=run.gen)  # (B, V)

        def update():
            run.step(batch)
    else:
        def update():
            run.step()
    for _ in range(2):  # warm-up: cuDNN autotuning, first allocations
        update()
    _sync(device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(updates):
        update()
    _sync(device)
    rate = updates / (time.perf_counter() - t0)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else math.nan
    return rate, peak


def updates_per_epoch(cfg) -> int:
    n = cfg.data.limit or TRAIN_SIZES.get(cfg.data.name, TIMING_IMAGES)
    if cfg.kind != "rbm" and cfg.train.iterations_per_epoch:
        return cfg.train.iterations_per_epoch
    return math.ceil(n / cfg.train.batch_size)


def check(name: str, preset: str, device: str, updates: int) -> list[str]:
    sweep = load_sweep(name, preset)
    gpu = sweep.resources.gpu
    points = [{}] if sweep.search.type == "optuna" else (sweep.grid() or [{}])
    seconds, peaks, lines = [], [], []
    for point in points:
        cfg = sweep.point_config(point)
        rate, peak = time_updates(cfg, device, updates)
        trial_s = sweep.epochs * updates_per_epoch(cfg) / rate
        seconds.append(trial_s)
        peaks.append(peak)
        label = stats.label(point) or "(base config)"
        mem = "" if math.isnan(peak) else f", peak {peak:,.0f} MiB"
        lines.append(f"    {label}: {rate:.1f} updates/s{mem}, {_duration(trial_s)} of training per trial")
    if sweep.search.type == "optuna":
        trials = seconds * sweep.n_trials()
    else:
        trials = [s for s in seconds for _ in range(len(sweep.seeds) * sweep.num_samples)]
    per_gpu = int(1 // gpu) if gpu else 1
    if device.startswith("cuda") and peaks and not any(math.isnan(p) for p in peaks):
        total = torch.cuda.get_device_properties(0).total_memory / 2**20
        per_gpu = max(1, min(per_gpu, int(0.9 * total // max(peaks))))
    slots = per_gpu * (torch.cuda.device_count() if device.startswith("cuda") else 1)
    head = (f"{name} (preset {preset}, {sweep.n_trials()} trials, {gpu:g} GPU each): {per_gpu} trial(s) per "
            f"{'GPU' if device.startswith('cuda') else 'device'}, projected "
            f"{_duration(_makespan(trials, slots))} of training on {slots} slot(s)")
    return [head, *lines]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--preset", default="full")
    p.add_argument("--updates", type=int, default=10, help="timed updates per configuration [10]")
    p.add_argument("--sweeps", nargs="+", default=None, help="sweep names [all]")
    args = p.parse_args(argv)
    where = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"torch {torch.__version__} on {where}; {args.updates} timed updates per configuration", flush=True)
    for name in args.sweeps or available():
        for line in check(name, args.preset, args.device, args.updates):
            print(line, flush=True)


if __name__ == "__main__":
    main()
