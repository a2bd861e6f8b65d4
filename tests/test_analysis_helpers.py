"""Helpers shared by the analysis tests (no tests here): experiment folders in Tune's on-disk format with
known values, and the check that a PNG is a real plot.

The layout copies what ``sweeps/run.py`` + Ray Tune 2.60 write (read from a smoke run of tune_rbm):
``experiment_state-<session>.json`` ({"trial_data": [[trial state JSON, run metadata JSON], ...],
"runner_data": {"_metric": ...}, "stats": ...}), ``sweep.yaml`` (the driver's record) and one folder per trial
with ``params.json``, ``result.json`` (a JSON line per report), ``progress.csv``, ``error.txt`` for an errored
trial and ``samples.png`` for a finished one.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os

import numpy as np
import yaml
from PIL import Image

SESSION = "2026-01-01_00-00-00"


def write_sweep_file(folder, name: str, base: str, space: dict, seeds: list, metric: str, mode: str,
                     epochs: int = 3, **fields) -> str:
    spec = {"description": f"synthetic {name}", "base": base,
            "set": {"train.epochs": epochs, **fields.pop("set", {})},
            "space": space, "seeds": seeds, "metric": metric, "mode": mode, **fields}
    path = os.path.join(str(folder), f"{name}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    return path


def write_experiment(folder, name: str, sweep_file: str | None, trials: list[dict], metric: str,
                     config: dict | None = None, samples: bool = True) -> str:
    """An experiment folder ``folder/name``. Each trial: ``params`` (the swept keys and seed), ``values``
    (metric per report; NaN allowed), ``status`` (Tune's: TERMINATED, ERROR, RUNNING, PENDING), optional
    ``diverged`` (the last report says status diverged), ``error`` (error.txt's message), ``extra`` (more
    metrics per report: {name: [values]}) and ``epochs`` (train.epochs of the trial's config)."""
    path = os.path.join(str(folder), name)
    os.makedirs(path)
    if sweep_file:
        from sweeps.spec import load_sweep

        settings = dataclasses.asdict(load_sweep(sweep_file, "cpu").settings())  # as sweeps/run.py records it
        record = {"sweep": sweep_file, "preset": "cpu", "overrides": [], "data": "mnist5k",
                  "settings": settings}
        with open(os.path.join(path, "sweep.yaml"), "w") as f:
            yaml.safe_dump(record, f, sort_keys=False)
    trial_data = []
    for i, t in enumerate(trials):
        tid = f"a{i:07x}"
        cfg = {**(config or {"kind": "rbm", "train.epochs": 3}), **t["params"]}
        tag = ",".join(f"{k.replace('.', '_')}={v}" for k, v in t["params"].items())
        logdir = f"train_rbm_{tid}_{i + 1}_{tag}_{SESSION}"
        results = _results(tid, cfg, t, metric)
        if t.get("status") != "PENDING":
            _write_trial(os.path.join(path, logdir), cfg, results, t, samples)
        state = {"stub": False, "trainable_name": "train_rbm", "trial_id": tid, "config": cfg,
                 "evaluated_params": t["params"], "status": t.get("status", "TERMINATED"),
                 "relative_logdir": logdir, "experiment_tag": f"{i + 1}_{tag}"}
        meta = {"start_time": 1.0, "num_failures": 1 if t.get("error") else 0,
                "num_failures_after_restore": 0, "error_filename": "error.txt" if t.get("error") else None,
                "pickled_error_filename": "error.pkl" if t.get("error") else None,
                "last_result": {**results[-1], "config": cfg} if results else {}}
        trial_data.append([json.dumps(state, indent=2), json.dumps(meta, indent=2)])
    state = {"trial_data": trial_data, "runner_data": {"_metric": metric, "_session_str": SESSION},
             "stats": {"start_time": 1.0}}
    with open(os.path.join(path, f"experiment_state-{SESSION}.json"), "w") as f:
        json.dump(state, f, indent=2)
    with open(os.path.join(path, "tuner.pkl"), "wb") as f:
        f.write(b"\x80\x05N.")  # unreadable without Ray: analysis never opens it
    return path


def _results(tid: str, cfg: dict, t: dict, metric: str) -> list[dict]:
    out, total = [], 0.0
    n = len(t["values"])
    for it, value in enumerate(t["values"], start=1):
        total += 1.5
        status = "diverged" if t.get("diverged") and it == n else "ok"
        r = {"epoch": it, "train/recon_error": 60.0 - it, metric: value, "eval/epoch": it, "status": status,
             "node_id": "n0", "timestamp": 1700000000 + it, "checkpoint_dir_name": f"checkpoint_{it - 1:06d}",
             "should_checkpoint": True, "done": it == n, "training_iteration": it, "trial_id": tid,
             "date": SESSION, "time_this_iter_s": 1.5, "time_total_s": total, "pid": 1, "hostname": "vm",
             "node_ip": "127.0.0.1", "config": cfg, "time_since_restore": total,
             "iterations_since_restore": it}
        for k, values in t.get("extra", {}).items():
            r[k] = values[it - 1]
        out.append(r)
    return out


def _write_trial(folder: str, cfg: dict, results: list[dict], t: dict, samples: bool) -> None:
    os.makedirs(folder)
    with open(os.path.join(folder, "params.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(folder, "result.json"), "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")  # NaN as Tune writes it
    with open(os.path.join(folder, "progress.csv"), "w", newline="") as f:
        if results:
            keys = [k for k in results[0] if k != "config"]
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows([{k: r[k] for k in keys} for r in results])
    if t.get("error"):
        with open(os.path.join(folder, "error.txt"), "w") as f:
            f.write(f"Failure # 1 (occurred at {SESSION})\nray::ImplicitFunc.train() (pid=1, ip=127.0.0.1)\n"
                    f'  File "trainables/train.py", line 70, in _train\n{t["error"]}\n')
    finished = t.get("status", "TERMINATED") == "TERMINATED" and not t.get("diverged")
    if samples and finished and len(t["values"]) == cfg.get("train.epochs", 3):
        rng = np.random.default_rng(len(folder))
        image = Image.fromarray((rng.random((60, 60)) * 255).astype(np.uint8))
        image.save(os.path.join(folder, "samples.png"))


KID = "eval/kid_domain"
STEPS, NOISES = (1.0, 10.0, 100.0), (0.001, 0.005, 0.02)
FLOOR, CEILING, SPREAD = 0.02, 10.02, 0.05


def kid_value(step: float, noise: float, seed: int) -> float:
    """Step 1 is bad (about 0.9), steps 10 and 100 draw digits (about 0.07), and step 100 differs from step 10
    by less than the seeds do: +0.01, -0.01, +0.01, -0.005 over seeds 0-3."""
    if step == 1.0:
        return 0.9 + 0.1 * seed + noise
    swing = (0.01, -0.01, 0.01, -0.005)[seed] if step == 100.0 else 0.0
    return 0.07 + 0.002 * seed + noise + swing


def langevin_grid(tmp_path, seeds=(0, 1, 2, 3), diverged=(), **fields):
    """ablation_langevin in miniature, read back: step size x noise (3 x 3) x ``seeds``, 2 epochs, KID (values
    from :func:`kid_value`) with its floor, ceiling, spread and position. ``diverged``: (step, noise, seed)
    trials that diverged; ``fields``: more sweep-file keys (``literature``, ``presets``)."""
    sweep = write_sweep_file(tmp_path, "langevin", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.step_size": {"grid": list(STEPS)},
                              "sampler.noise_std": {"grid": list(NOISES)}},
                             list(seeds), KID, "min", epochs=2, **fields)
    trials = []
    for step in STEPS:
        for noise in NOISES:
            for seed in seeds:
                kid = kid_value(step, noise, seed)
                t = {"params": {"sampler.step_size": step, "sampler.noise_std": noise, "seed": seed},
                     "values": [kid + 0.05, kid],
                     "extra": {f"{KID}_floor": [FLOOR] * 2, f"{KID}_ceiling": [CEILING] * 2,
                               f"{KID}_spread": [SPREAD] * 2,
                               f"{KID}_position": [(v - FLOOR) / (CEILING - FLOOR)
                                                   for v in (kid + 0.05, kid)]}}
                if (step, noise, seed) in diverged:
                    t.update(values=[kid, NAN], diverged=True)
                trials.append(t)
    path = write_experiment(tmp_path, "langevin", sweep, trials, KID, samples=False,
                            config={"kind": "conv_ebm", "train.epochs": 2})
    from analysis import load_experiment

    return load_experiment(path)


def assert_real_plot(path: str) -> None:
    """The PNG exists, is of a plot's size and is not blank (its pixels vary)."""
    assert os.path.exists(path), path
    with Image.open(path) as im:
        w, h = im.size
        pixels = np.asarray(im.convert("L"), dtype=float)
    assert w >= 300 and h >= 200, (path, w, h)
    assert pixels.std() > 5.0, (path, pixels.std())
    assert (pixels < 128).mean() > 0.005, path  # some ink: text, lines, cells


NAN = math.nan
