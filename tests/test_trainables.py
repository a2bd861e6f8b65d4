"""Trainable helpers without Ray running, and the import rules the Ray glue keeps."""

import glob
import math
import os
import re

import numpy as np
import pytest
import torch
from test_sweeps_helpers import ROOT

from ebm.config import load_config
from ebm.rbm_train import RBMRun
from ebm.runs import finite_parameters, finite_signals
from trainables.train import SweepMetric, _shared_images


def test_a_non_finite_training_signal_is_a_divergence():
    assert finite_signals({"train/recon_error": 3.0, "eval/log_likelihood": -math.inf, "status": "ok"})
    assert not finite_signals({"train/recon_error": math.nan})
    assert not finite_signals({"train/weight_norm": math.inf})


def test_tune_gets_nan_where_the_run_cannot_vouch_for_its_steering_metric():
    """Issue 19: tune_rbm steers by eval/reliable_log_likelihood, which a run reports as None where its AIS is
    unreliable. Tune then gets NaN, which ASHA's cutoffs leave out (np.nanpercentile, and NaN < cutoff is
    false) and Optuna records as a failed trial, not a value it learns from."""
    class Run:
        status, epoch = "ok", 1

    metric = SweepMetric("eval/reliable_log_likelihood", "rbm", 3)
    assert metric.update({"eval/reliable_log_likelihood": -90.0},
                         Run)["eval/reliable_log_likelihood"] == -90.0
    Run.epoch = 2
    out = metric.update({"eval/log_likelihood": -80.0, "eval/reliable_log_likelihood": None}, Run)
    assert math.isnan(out["eval/reliable_log_likelihood"]) and out["eval/epoch"] == 2


def test_an_rbm_run_decides_its_own_divergence_and_stops():
    cfg = load_config(None, ["data.name=digits", "model.n_visible=64", "model.n_hidden=8", "train.epochs=3",
                             "data.binarize=threshold"])
    run = RBMRun(cfg)
    assert run.train_epoch()["status"] == "ok" and run.status == "ok" and run.is_finite()
    with torch.no_grad():
        run.rbm.W[0, 0] = math.nan
    assert not run.is_finite()
    metrics = run.train_epoch()
    assert metrics["status"] == "diverged" == run.status and metrics["epoch"] == 2
    with pytest.raises(RuntimeError, match="diverged"):
        run.train_epoch()


def test_every_model_kind_has_one_run_class_and_one_trainable():
    from ebm.config import KINDS
    from ebm.runs import Run, run_class
    from trainables import TRAINABLES

    assert set(TRAINABLES) == set(KINDS)
    methods = [m for m in vars(Run) if not m.startswith("_")]
    assert {"train_epoch", "state_dict", "load_state_dict", "sample", "is_finite"} <= set(methods)
    for kind in KINDS:
        assert all(callable(getattr(run_class(kind), m, None)) for m in methods), kind


def test_finite_parameters_reads_the_weights_not_the_buffers():
    net = torch.nn.Linear(2, 2)
    net.register_buffer("replay", torch.full((3,), math.nan))  # buffers are not checked (nor copied)
    assert finite_parameters(net)
    with torch.no_grad():
        net.weight[0, 0] = math.inf
    assert not finite_parameters(net)


def test_shared_images_are_the_driver_s_arrays_not_copies():
    cfg = load_config(os.path.join(ROOT, "configs", "rbm_mnist5k_quick.yaml"))
    train = np.zeros((4, 1, 28, 28), np.float32)
    train.setflags(write=False)  # as they come out of the object store
    test = np.ones((2, 1, 28, 28), np.float32)
    x, y = _shared_images(cfg, {"name": "mnist5k", "train": train, "test": test})
    assert np.shares_memory(x.numpy(), train) and np.shares_memory(y.numpy(), test)
    assert _shared_images(cfg, {"name": "digits", "train": train, "test": test}) == (None, None)
    assert _shared_images(cfg, None) == (None, None)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _sources(*folders):
    for folder in folders:
        yield from glob.glob(os.path.join(ROOT, folder, "**", "*.py"), recursive=True)


@pytest.mark.parametrize("path", list(_sources("ebm")), ids=lambda p: os.path.relpath(p, ROOT))
def test_ebm_never_imports_ray(path):
    assert not re.search(r"^\s*(import ray|from ray\b)", _read(path), re.M)


@pytest.mark.parametrize("path", list(_sources("trainables", "sweeps", "benchmarks")),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_the_ray_glue_uses_ray_tune_only_and_safe_loaders(path):
    text = _read(path)
    assert not re.search(r"ray\.air|from ray\.train|ray\.train\.report", text)
    # yaml.safe_load; ebm.checkpoint.load_checkpoint
    assert "yaml.load(" not in text and "torch.load(" not in text


def test_only_sweeps_build_a_tuner():
    builders = [os.path.relpath(p, ROOT) for p in _sources("ebm", "trainables", "benchmarks", "analysis")
                if re.search(r"\bTuner\(", _read(p))]
    assert builders == []
