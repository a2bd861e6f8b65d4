"""What a sweep will do, printed before it runs: the ``--dry-run`` report (trials, resources, projected wall
time) and the one-line plan a real run starts with. Nothing here starts Ray or writes anything."""

from __future__ import annotations

import math
import os
import sys

from sweeps.records import holds_sweep
from sweeps.spec import REPO_ROOT
from sweeps.sweep import Sweep


def plan(sweep: Sweep, cpus: float) -> None:
    import ray

    from sweeps.tuner import max_concurrent

    parallel = max_concurrent(sweep, cpus, ray.cluster_resources().get("GPU", 0))
    print(f"sweep {sweep.name} (preset {sweep.preset}): {sweep.n_trials()} trials x {sweep.epochs} epochs, "
          f"{sweep.resources.cpu:g} CPU / {sweep.resources.gpu:g} GPU each, up to {parallel} at once on "
          f"{cpus:g} CPUs; metric {sweep.metric} ({sweep.mode})", flush=True)
    if parallel == 0:
        print(f"warning: no GPU in the cluster, but each trial asks for {sweep.resources.gpu:g}; trials will "
              f"wait forever: use --preset cpu", file=sys.stderr, flush=True)


def dry_run(sweep: Sweep, path: str, project: bool = False, strict: bool = False,
            fallback: bool = True) -> int:
    """The dry run's report for results at ``path``, with the projected wall time when ``project``; ``strict``
    and ``fallback`` are what the real run would pass to ``sweeps.shared_data.load_shared``, so the data line
    says what it would do."""
    from sweeps.shared_data import describe
    from sweeps.tuner import max_concurrent

    cpus = os.cpu_count() or 1
    s, r = sweep, sweep.resources
    print(f"sweep {s.name} (preset {s.preset}) from {os.path.relpath(s.path, REPO_ROOT)}: {s.description}")
    print(f"  base: {s.base and os.path.relpath(s.base, REPO_ROOT)}  kind: {s.kind}")
    print(f"  data: {describe(s, strict, fallback)}")
    print(f"  metric: {s.metric} ({s.mode})  scheduler: {_scheduler_text(s)}  search: {_search_text(s)}")
    print(f"  results: {path}{'  (EXISTS: needs --resume or --name)' if holds_sweep(path) else ''}")
    sampled = {k: d for k, d in s.space.items() if d.kind != "grid"}
    if s.search.type == "optuna":
        domains = ", ".join(f"{k}~{d}" for k, d in sampled.items())
        print(f"  {s.n_trials()} trials suggested by Optuna over {domains}, seed {s.seeds[0]}")
    else:
        points = s.grid()
        extra = f", sampled per trial: {', '.join(f'{k}~{d}' for k, d in sampled.items())}" if sampled else ""
        reps = f" x {s.num_samples} samples" if s.num_samples > 1 else ""
        print(f"  {s.n_trials()} trials = {len(points)} configurations x {len(s.seeds)} seeds {s.seeds}{reps}"
              f"{extra}:")
        for i, point in enumerate(points):
            print(f"    {i + 1:3d}. " + (", ".join(f"{k}={v}" for k, v in point.items()) or "(base config)"))
    parallel = max_concurrent(s, cpus, _visible_gpus() if r.gpu else None)
    plan = (f"up to {parallel} trials at once, {math.ceil(s.n_trials() / parallel)} wave(s) of "
            f"{s.epochs} epochs{' (ASHA stops many early)' if s.scheduler.type == 'asha' else ''}" if parallel
            else "NO trial fits (it asks for a GPU): use --preset cpu, or --address a cluster with GPUs")
    print(f"  resources: {r.cpu:g} CPU + {r.gpu:g} GPU per trial (torch threads = {max(1, int(r.cpu))}); "
          f"this machine has {cpus} CPUs -> {plan}")
    if project:
        _projection(s, cpus)
    print("dry run: nothing was started or written")
    return 0


def _projection(s: Sweep, cpus: int) -> None:
    """Projected wall time from costs measured here (sweeps/projection.py) on the CPU and on a visible GPU;
    where the preset asks for a GPU and none is visible, the CPU measurement scaled by a stated assumption."""
    from sweeps.projection import PRICES, assumed_gpu, measure, render
    from sweeps.tuner import max_concurrent

    if s.kind not in PRICES:
        print(f"  projected wall time: not measured (no pricing for {s.kind} runs)", flush=True)
        return
    threads = max(1, int(s.resources.cpu))
    costs = measure(s, "cpu", threads)
    for line in render(s, costs, max_concurrent(s, cpus), "cpu"):
        print(line, flush=True)
    gpus = _visible_gpus()
    if gpus:
        slots = max_concurrent(s, cpus, gpus)
        lines = render(s, measure(s, "cuda", threads), slots, "cuda") if slots else \
            ["  projected wall time on cuda: no trial fits"]
    elif s.resources.gpu:
        lines = assumed_gpu(s, costs)
    else:
        lines = ["  projected wall time on a GPU: not measured (no CUDA device visible)"]
    for line in lines:
        print(line, flush=True)


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def _scheduler_text(s: Sweep) -> str:
    c = s.scheduler
    if c.type != "asha":
        return "FIFO (every trial runs to the end)"
    return (f"ASHA on {c.time_attr}: grace {c.grace_period}, max_t {c.max_t}, "
            f"reduction factor {c.reduction_factor:g}")


def _search_text(s: Sweep) -> str:
    if s.search.type == "optuna":
        return f"Optuna TPE (seed {s.search.seed}), at most {s.search.max_concurrent or 'CPU-count'} at once"
    text = "grid" if s.search.type == "grid" else f"variant generator (seed {s.search.seed})"
    if s.search.max_concurrent:  # sweeps.tuner.max_concurrent: only Optuna's limiter reads it
        text += f" (search.max_concurrent={s.search.max_concurrent} caps Optuna searches only; not this one)"
    return text
