"""Sweep-system figures: per-trial scheduling overhead, CPU use of a 2-core sweep, ASHA against the full grid.

    python benchmarks/bench_sweeps.py                  # all three (about 15 minutes on 2 cores)
    python benchmarks/bench_sweeps.py --only overhead  # or: cpu, asha

- overhead: 8 one-epoch trials of a tiny RBM, 1 CPU each on 2 CPUs; per trial,
  (2 x wall time of Tuner.fit - sum of the trials' own time) / trials: what a trial costs beyond training.
- cpu: 6 equal trials of one to two minutes (PCD-5, 100 epochs, seeds 0-5), 3 waves on 2 slots; CPU seconds
  used by this process and its descendants (driver, Ray, trial workers) over 2 x the wall time of Tuner.fit
  (target >= 90%), slot occupancy: the trials' own time over 2 x the wall time (what the sweep system
  controls; other processes competing for the cores lower the first figure, not this one), and how busy the
  machine's cores were (all processes: 100% means the sweep left no core idle).
- asha: ``tune_rbm``'s space as a grid (learning rate x k x CD/PCD, 16 configurations; cpu preset: embedded
  digits, 64 hidden units so the likelihood is AIS, held-out likelihood every epoch, 9 epochs), or with
  ``--asha-sweep rbm_cd_k`` Set A's grid (8 configurations x 2 seeds), run in full and with ASHA (grace 1,
  reduction factor 3), each grid axis in a shuffled order (seed 0; ``--asha-order listed`` keeps the listed
  order, learning rate ascending, which asynchronous ASHA cannot prune: every newcomer beats the bar);
  compute = trial-seconds and epochs; target: ASHA's best within the grid best's AIS interval at <= 35% of
  the grid's compute.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")

TINY = ["data.limit=500", "model.n_hidden=8", "eval.every=1", "eval.n_samples=16", "eval.sample_steps=20"]


def run_sweep(sweep, storage: str, name: str):
    """Tuner.fit of a sweep in this process's Ray session; returns (wall seconds, per-trial dataframe)."""
    import ray

    from sweeps import tuner as tuners
    from sweeps.shared_data import load_shared

    data = load_shared(sweep)
    trainable = tuners.make_trainable(sweep.kind, data, sweep.metric, sweep.sample_every, sweep.resources.cpu,
                                      sweep.resources.gpu)
    tuner = tuners.make_tuner(sweep, trainable, storage, name, ray.cluster_resources()["CPU"])
    t0 = time.perf_counter()
    results = tuner.fit()
    return time.perf_counter() - t0, results.get_dataframe()


def bench_overhead(storage: str) -> None:
    from sweeps.space import Domain
    from sweeps.spec import load_sweep

    sweep = load_sweep("rbm_cd_k", "smoke", [*TINY, "train.epochs=1"])
    sweep.space = {"train.lr": Domain("grid", (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08))}
    sweep.sample_every = 0
    wall, df = run_sweep(sweep, storage, "overhead")
    busy = df["time_total_s"].sum()
    print(f"overhead: {len(df)} trials of 1 epoch in {wall:.1f} s on 2 slots; trials' own time {busy:.1f} s; "
          f"scheduling overhead {(2 * wall - busy) / len(df):.2f} s per trial (incl. worker start, data "
          f"from the object store, checkpoint and sample grid)")


def _tree_cpu_seconds(seen: dict) -> float:
    """CPU seconds of this process and all its descendants (the Ray it started, the trial workers), keeping
    the last reading of processes that have exited."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, ..., utime, stime
        except OSError:
            continue
        stats[int(pid)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, grew = {os.getpid()}, True
    while grew:
        new = {pid for pid, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= new
        grew = bool(new)
    for pid in tree:
        seen[pid] = stats[pid][1]
    return sum(seen.values())


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def bench_cpu(storage: str) -> None:
    from sweeps.spec import load_sweep

    sweep = load_sweep("rbm_cd_k", "cpu", ["train.epochs=100", "eval.every=100", "eval.sample_steps=100"])
    sweep.space, sweep.seeds = {}, [0, 1, 2, 3, 4, 5]  # six equal trials of one to two minutes each: PCD-5
    sweep.base_config = sweep.point_config({"sampler.init": "persistent", "sampler.k": 5})
    seen: dict = {}
    start, driver_start, machine_start = _tree_cpu_seconds(seen), time.process_time(), _machine_cpu()
    done = threading.Event()

    def sample():
        while not done.wait(0.5):
            _tree_cpu_seconds(seen)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    wall, df = run_sweep(sweep, storage, "cpu")
    done.set()
    sampler.join()
    used, driver = _tree_cpu_seconds(seen) - start, time.process_time() - driver_start
    machine = [b - a for a, b in zip(machine_start, _machine_cpu(), strict=True)]
    busy = df["time_total_s"].sum()
    print(f"cpu: {len(df)} trials of {busy / len(df):.0f} s in {wall:.1f} s; CPU use {used:.1f} CPU-s = "
          f"{100 * used / (2 * wall):.0f}% of 2 cores (target >= 90%; the driver's share {driver:.1f} "
          f"CPU-s); slot occupancy {100 * busy / (2 * wall):.0f}%; all cores busy "
          f"{100 * machine[0] / machine[1]:.0f}% of the time (load average {os.getloadavg()[0]:.1f}: other "
          "processes share these cores)")


def bench_asha(storage: str, name: str, order: str) -> None:
    from sweeps.space import Domain
    from sweeps.spec import load_sweep
    from sweeps.sweep import SearchSpec

    def sweep(scheduler: str):
        s = load_sweep(name, "cpu",
                       ["train.epochs=9", "eval.every=1", "eval.sample_steps=100", "model.n_hidden=64",
                                     "eval.ais_betas=1000", "eval.ais_chains=100"])
        s.sample_every = 0
        if name == "tune_rbm":  # its search space as a grid (one seed), so both runs see the same trials
            s.space = {"sampler.init": Domain("grid", ("data", "persistent")),
                       "sampler.k": Domain("grid", (1, 5)),
                       "train.lr": Domain("grid", (0.003, 0.01, 0.03, 0.1))}  # the last key varies fastest
            s.search, s.num_samples = SearchSpec(type="grid"), 1
        if order == "shuffled":  # grids run in listed order; asynchronous ASHA never stops the trials that
            rng = random.Random(0)  # come first, so an order sorted worst-first defeats it
            for key, d in s.space.items():
                s.space[key] = Domain(d.kind, tuple(rng.sample(d.args, len(d.args))))
        s.scheduler.type = "none"
        if scheduler == "asha":
            s.scheduler.type, s.scheduler.grace_period, s.scheduler.max_t = "asha", 1, s.epochs
            s.scheduler.reduction_factor = 3.0
        return s

    figures = {}
    for scheduler in ("grid", "asha"):
        s = sweep(scheduler)
        wall, df = run_sweep(s, storage, f"asha-vs-grid_{scheduler}")
        full = df[df["training_iteration"] == s.epochs]
        best = full.loc[full["eval/log_likelihood"].idxmax()]
        figures[scheduler] = dict(wall=wall, trial_s=df["time_total_s"].sum(),
                                  epochs=df["training_iteration"].sum(),
                                  best=best["eval/log_likelihood"],
                                  low=best.get("eval/log_likelihood_low", math.nan),
                                  high=best.get("eval/log_likelihood_high", math.nan), n=len(df),
                                  finished=len(full),
                                  config=", ".join(f"{k}={best[f'config/{k}']}" for k in [*s.space, "seed"]))
    g, a = figures["grid"], figures["asha"]
    for run, f in figures.items():
        print(f"asha: {run:4s} {f['n']} trials ({f['finished']} ran all epochs), {f['trial_s']:.0f} trial-s, "
              f"{f['epochs']} epochs, {f['wall']:.0f} s wall; best held-out log-likelihood {f['best']:.2f} "
              f"(AIS interval [{f['low']:.2f}, {f['high']:.2f}]) at {f['config']}")
    within = g["low"] <= a["best"] <= g["high"] or a["best"] >= g["best"]
    print(f"asha: ASHA used {100 * a['trial_s'] / g['trial_s']:.0f}% of the grid's trial-seconds and "
          f"{100 * a['epochs'] / g['epochs']:.0f}% of its epochs (target <= 35%); its best is "
          f"{'within' if within else 'OUTSIDE'} the grid best's AIS interval")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["overhead", "cpu", "asha"], action="append")
    p.add_argument("--asha-sweep", choices=["tune_rbm", "rbm_cd_k"], default="tune_rbm",
                   help="sweep whose space ASHA and the full grid search [tune_rbm]")
    p.add_argument("--asha-order", choices=["shuffled", "listed"], default="shuffled",
                   help="trial order: each grid axis shuffled (seed 0), or as listed (learning rate "
                        "ascending: worst first) [shuffled]")
    args = p.parse_args()
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False)
    print(f"ray.init: {time.perf_counter() - t0:.1f} s")
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sweeps-") as storage:
            for name in args.only or ["overhead", "cpu", "asha"]:
                if name == "asha":
                    bench_asha(storage, args.asha_sweep, args.asha_order)
                else:
                    {"overhead": bench_overhead, "cpu": bench_cpu}[name](storage)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
