"""Function trainables: one training run per trial, reported and checkpointed once per epoch.

Each reads top to bottom (Ray's ``mnist_pytorch.py``): build the run from the flat trial config (the dotted
keys of the YAML and ``--set``), restore it from ``tune.get_checkpoint()`` when Tune retries or resumes the
trial (weights, optimiser, PCD chains or replay buffer, RNG state), then train epoch by epoch with
``tune.report(metrics, checkpoint=...)``. ``status`` is ``ok`` or ``diverged``: a diverged run reports once
more and ends, and the sweep goes on.

``data`` is the data set the sweep driver loaded once and put in Ray's object store
(``tune.with_parameters``); every trial on a node maps the same read-only memory, so runs must not write
into their data tensors.
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings

import numpy as np
import ray
import torch
from ray import tune

from ebm.checkpoint import load_checkpoint, save_checkpoint
from ebm.config import from_dict, unflatten
from ebm.runs import run_class

CHECKPOINT_FILE = "checkpoint.pt"
SAMPLES_FILE = "samples.png"


def train_rbm(config: dict, data: dict | None = None, metric: str = "eval/log_likelihood",
              sample_every: int = 0) -> None:
    """A Bernoulli RBM trained with CD-k or PCD-k (``kind: rbm``), one report per epoch."""
    _train(config, "rbm", data, metric, sample_every)


def train_conv_ebm(config: dict, data: dict | None = None, metric: str = "eval/kid_domain",
                   sample_every: int = 0) -> None:
    """A convolutional EBM trained with Langevin CD-k, PCD-k or short-run MCMC (``kind: conv_ebm``)."""
    _train(config, "conv_ebm", data, metric, sample_every)


TRAINABLES = {"rbm": train_rbm, "conv_ebm": train_conv_ebm}


def _train(config: dict, kind: str, data: dict | None, metric: str, sample_every: int) -> None:
    cfg = from_dict(unflatten(config), source="trial config")
    if cfg.kind != kind:
        raise ValueError(f"train_{kind} got a {cfg.kind!r} config; use train_{cfg.kind}")
    torch.set_num_threads(_trial_cpus())
    run = run_class(cfg.kind)(cfg, *_shared_images(cfg, data))

    # The sweep metric is in every report (Tune requires it); between evaluations it holds the last value.
    last_eval = {metric: math.nan, "eval/epoch": 0}
    checkpoint = tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(os.path.join(folder, CHECKPOINT_FILE))
        run.load_state_dict(state)
        last_eval = state.get("last_eval", last_eval)

    trial_dir = tune.get_context().get_trial_dir()  # local working folder; synced to storage on reports
    node_id = ray.get_runtime_context().get_node_id()
    status = getattr(run, "status", "ok")
    while status == "ok" and run.epoch < cfg.train.epochs:
        try:
            metrics = run.train_epoch()
        except (RuntimeError, ValueError, FloatingPointError):
            if _finite_parameters(run):
                raise  # a bug, not a divergence
            metrics = {"epoch": run.epoch + 1, "status": "diverged"}  # e.g. Gibbs probabilities became NaN
        finite = _finite_parameters(run)
        status = _status(metrics) if finite else "diverged"
        if status == "diverged":  # a diverged run ranks last, whatever it reached before
            last_eval = {metric: math.nan, "eval/epoch": run.epoch}
        elif metric in metrics:  # None: the metric could not be computed this time (its reason is beside it)
            last_eval = {metric: math.nan if metrics[metric] is None else metrics[metric], "eval/epoch": run.epoch}
        elif status == "ok" and _evaluated(metrics, metric, run.epoch == cfg.train.epochs):
            raise ValueError(f"sweep metric {metric!r} is not reported by {cfg.kind} runs; reported: "
                             f"{', '.join(sorted(k for k in metrics if '/' in k))}")
        # Sample grids go into the trial's working folder before the report, whose checkpoint makes Tune
        # copy the folder's files to the trial's storage folder (SyncConfig(sync_artifacts=True)).
        if status == "ok" and run.epoch == cfg.train.epochs:
            _write_samples(run, os.path.join(trial_dir, SAMPLES_FILE), trial_dir)
        elif status == "ok" and sample_every and run.epoch % sample_every == 0:
            _write_samples(run, os.path.join(trial_dir, f"samples_epoch{run.epoch:04d}.png"), trial_dir)
        report = _loggable({**metrics, **last_eval, "status": status, "node_id": node_id})
        if not finite:  # nothing worth resuming from
            tune.report(report)
            break
        with tempfile.TemporaryDirectory() as folder:
            state = {**run.state_dict(), "last_eval": last_eval}
            save_checkpoint(state, os.path.join(folder, CHECKPOINT_FILE))
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))


def _trial_cpus() -> int:
    cpus = tune.get_context().get_trial_resources().required_resources.get("CPU", 1)
    return max(1, int(cpus))


def _shared_images(cfg, data: dict | None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The driver's shared (train, test) tensors when they are this run's data set, else (None, None)."""
    if not data or data.get("name") != cfg.data.name:
        return None, None  # the run loads its own data set
    with warnings.catch_warnings():  # the object store's arrays are read-only; runs only read them
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(data["train"]), torch.from_numpy(data["test"])


def _status(metrics: dict) -> str:
    """The run's own ``status`` when it reports one, else ``diverged`` once a training signal isn't finite."""
    if "status" in metrics:
        return str(metrics["status"])
    finite = all(math.isfinite(v) for k, v in metrics.items()
                 if k.startswith("train/") and isinstance(v, int | float))
    return "ok" if finite else "diverged"


def _evaluated(metrics: dict, metric: str, last_epoch: bool) -> bool:
    """Whether this epoch's metrics should have held ``metric`` (eval/ metrics come every eval.every,
    final/ metrics after the last epoch)."""
    if metric.startswith("final/"):
        return last_epoch
    return not metric.startswith("eval/") or any(k.startswith("eval/") for k in metrics)


def _finite_parameters(run) -> bool:
    model = run.state_dict()["model"]
    return all(bool(torch.isfinite(t).all()) for t in model.values() if t.is_floating_point())


def _loggable(metrics: dict) -> dict:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, torch.Tensor | np.generic):
            v = v.item()
        if v is not None:
            out[k] = v
    return out


def _write_samples(run, path: str, trial_dir: str) -> None:
    """The sample grid as a PNG and as a TensorBoard image at this epoch (beside Tune's scalars), so
    ``tensorboard --logdir results/NAME`` shows every trial's samples over training."""
    from torch.utils.tensorboard import SummaryWriter
    from torchvision.utils import make_grid, save_image

    images = run.sample(run.cfg.eval.n_samples)  # (n, C, H, W) in [0, 1]
    nrow = max(1, int(math.sqrt(len(images))))
    save_image(images, path, nrow=nrow)
    with SummaryWriter(os.path.join(trial_dir, "tensorboard_samples")) as writer:
        writer.add_image("samples", make_grid(images, nrow=nrow), run.epoch)
