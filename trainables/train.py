"""Function trainables: one training run per trial, reported and checkpointed once per epoch.

Each reads top to bottom (Ray's ``mnist_pytorch.py``): build the run from the flat trial config (the dotted
keys of the YAML and ``--set``), restore it from ``tune.get_checkpoint()`` when Tune retries or resumes the
trial (weights, optimiser, PCD chains or replay buffer, RNG state), then train epoch by epoch with
``tune.report(metrics, checkpoint=...)``. The run (``ebm.runs.Run``) decides its ``status``, ``ok`` or
``diverged``: a diverged run reports once more and ends, and the sweep goes on.

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
from ebm.config import from_dict
from ebm.runs import run_class
from ebm.strict import unflatten
from ebm.sweep_record import SAMPLES_FILE

CHECKPOINT_FILE = "checkpoint.pt"


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
    sweep_metric = SweepMetric(metric, cfg.kind, cfg.train.epochs)

    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(os.path.join(folder, CHECKPOINT_FILE))
        run.load_state_dict(state)
        sweep_metric.last = state.get("last_eval", sweep_metric.last)

    trial_dir = tune.get_context().get_trial_dir()  # local working folder; synced to storage on reports
    node_id = ray.get_runtime_context().get_node_id()
    while run.status == "ok" and run.epoch < cfg.train.epochs:
        metrics = run.train_epoch()  # the run decides divergence: metrics["status"]
        report = _loggable({**metrics, **sweep_metric.update(metrics, run), "node_id": node_id})
        _write_due_samples(run, trial_dir, sample_every)
        if not run.is_finite():  # nothing worth resuming from
            tune.report(report)
            break
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint({**run.state_dict(), "last_eval": sweep_metric.last},
                            os.path.join(folder, CHECKPOINT_FILE))
            tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))


class SweepMetric:
    """The sweep metric, which Tune needs in every report: between evaluations it holds the last value, and
    from a divergence on it is NaN, so a diverged run ranks last whatever it reached before."""

    def __init__(self, name: str, kind: str, epochs: int):
        self.name, self.kind, self.epochs = name, kind, epochs
        self.last = {name: math.nan, "eval/epoch": 0}

    def update(self, metrics: dict, run) -> dict:
        if run.status != "ok":
            self.last = {self.name: math.nan, "eval/epoch": run.epoch}
        elif self.name in metrics:  # None: it could not be computed this time (its reason is beside it)
            value = metrics[self.name]
            self.last = {self.name: math.nan if value is None else value, "eval/epoch": run.epoch}
        elif self._due(metrics, run.epoch == self.epochs):
            raise ValueError(f"sweep metric {self.name!r} is not reported by {self.kind} runs; reported: "
                             f"{', '.join(sorted(k for k in metrics if '/' in k))}")
        return {**self.last, "status": run.status}

    def _due(self, metrics: dict, last_epoch: bool) -> bool:
        """Whether this epoch's metrics should have held the metric (eval/ metrics come every eval.every,
        final/ metrics after the last epoch)."""
        if self.name.startswith("final/"):
            return last_epoch
        return not self.name.startswith("eval/") or any(k.startswith("eval/") for k in metrics)


def _write_due_samples(run, trial_dir: str, sample_every: int) -> None:
    """Sample grids go into the trial's working folder before the report, whose checkpoint makes Tune copy
    the folder's files to the trial's storage folder (SyncConfig(sync_artifacts=True))."""
    if run.status != "ok":
        return
    if run.epoch == run.cfg.train.epochs:
        _write_samples(run, os.path.join(trial_dir, SAMPLES_FILE), trial_dir)
    elif sample_every and run.epoch % sample_every == 0:
        _write_samples(run, os.path.join(trial_dir, f"samples_epoch{run.epoch:04d}.png"), trial_dir)


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
