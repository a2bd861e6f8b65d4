"""Helpers shared by the sweep tests (no tests here): tiny sweep files, reading Tune experiment folders."""

from __future__ import annotations

import csv
import glob
import json
import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "sweeps", "run.py")

# An RBM small enough that an epoch takes well under a second and the likelihood is exact (2^8 states).
TINY = {"data.name": "mnist5k", "data.limit": 500, "model.n_hidden": 8, "train.batch_size": 20,
        "eval.every": 1, "eval.n_samples": 16, "eval.sample_steps": 20}


def write_sweep(folder, name: str, epochs: int = 3, **fields) -> str:
    """A sweep file over ``configs/rbm_mnist_pcd1.yaml`` with the ``TINY`` settings; returns its path."""
    spec = {"description": f"test sweep {name}", "base": "configs/rbm_mnist_pcd1.yaml",
            "set": {**TINY, "train.epochs": epochs, **fields.pop("set", {})},
            "metric": "eval/log_likelihood", "mode": "max", **fields}
    path = os.path.join(str(folder), f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python sweeps/run.py ARGS`` from the repository root, as a user types it."""
    return subprocess.run([sys.executable, RUN, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def trial_dirs(experiment: str) -> list[str]:
    return sorted(d for d in glob.glob(os.path.join(experiment, "train_*")) if os.path.isdir(d))


def progress(trial_dir: str) -> list[dict]:
    """Rows of a trial's progress.csv (one per report), [] when it has none yet."""
    path = os.path.join(trial_dir, "progress.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def last_result(trial_dir: str) -> dict:
    with open(os.path.join(trial_dir, "result.json")) as f:
        lines = [line for line in f if line.strip()]
    return json.loads(lines[-1])


def params(trial_dir: str) -> dict:
    with open(os.path.join(trial_dir, "params.json")) as f:
        return json.load(f)


def epochs(trial_dir: str) -> list[int]:
    return [int(r["epoch"]) for r in progress(trial_dir)]
