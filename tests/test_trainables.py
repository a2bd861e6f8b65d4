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
from trainables.train import _finite_parameters, _shared_images, _status


def test_status_is_the_run_s_own_else_diverged_on_a_non_finite_training_signal():
    assert _status({"status": "diverged", "train/loss": 1.0}) == "diverged"
    assert _status({"train/recon_error": 3.0, "eval/log_likelihood": -math.inf}) == "ok"
    assert _status({"train/recon_error": math.nan}) == "diverged"
    assert _status({"train/weight_norm": math.inf}) == "diverged"


def test_shared_images_are_the_driver_s_arrays_not_copies():
    cfg = load_config(os.path.join(ROOT, "configs", "rbm_mnist5k_quick.yaml"))
    train = np.zeros((4, 1, 28, 28), np.float32)
    train.setflags(write=False)  # as they come out of the object store
    test = np.ones((2, 1, 28, 28), np.float32)
    x, y = _shared_images(cfg, {"name": "mnist5k", "train": train, "test": test})
    assert np.shares_memory(x.numpy(), train) and np.shares_memory(y.numpy(), test)
    assert _shared_images(cfg, {"name": "digits", "train": train, "test": test}) == (None, None)
    assert _shared_images(cfg, None) == (None, None)


def test_finite_parameters_reads_the_run_s_model_state():
    class Run:
        def __init__(self, w):
            self.w = w

        def state_dict(self):
            return {"model": {"W": self.w, "steps": torch.tensor(3)}}

    assert _finite_parameters(Run(torch.ones(2, 2)))
    assert not _finite_parameters(Run(torch.tensor([[1.0, math.nan]])))


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
    assert "yaml.load(" not in text and "torch.load(" not in text  # yaml.safe_load; ebm.checkpoint.load_checkpoint


def test_only_sweeps_build_a_tuner():
    builders = [os.path.relpath(p, ROOT) for p in _sources("ebm", "trainables", "benchmarks", "analysis")
                if re.search(r"\bTuner\(", _read(p))]
    assert builders == []
