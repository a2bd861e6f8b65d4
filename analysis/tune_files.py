"""Tune's files in an experiment folder, read as plain JSON/CSV: no Ray, no unpickling.

The layout (Ray Tune 2.60, as ``sweeps/run.py`` runs it): ``experiment_state-<session>.json`` holds
``{"trial_data": [[trial state JSON, run metadata JSON], ...], "runner_data": {"_metric": ...}}``, where the
state gives the trial's ``status`` (PENDING, RUNNING, PAUSED, TERMINATED, ERROR), ``relative_logdir`` and
``config``, and the metadata its ``error_filename`` and ``last_result``. Each trial folder holds
``params.json``, ``result.json`` (one JSON object per report; NaN allowed), ``progress.csv`` and, when the
trial raised, ``error.txt`` ("Failure # N (occurred at ...)" and the exception, appended per failure).
"""

from __future__ import annotations

import csv
import glob
import json
import os

from ebm.sweep_record import SAMPLES_FILE

# Result fields that are bookkeeping, not measurements: left out of the tidy history.
BOOKKEEPING = {"timestamp", "pid", "done", "should_checkpoint", "training_iteration",
               "iterations_since_restore", "time_since_restore", "epoch", "eval/epoch"}


def read_experiment_state(path: str, notes: list) -> dict:
    """trial_id -> {status, logdir, config, evaluated_params, last_result, error_file, metric}; {} when there
    is no readable state (the trial folders are then all there is)."""
    files = sorted(glob.glob(os.path.join(path, "experiment_state-*.json")))
    for file in reversed(files):  # newest session first (names carry the start time)
        try:
            with open(file) as f:
                raw = json.load(f)
            trials = {}
            for state_json, meta_json in raw["trial_data"]:
                state, meta = json.loads(state_json), json.loads(meta_json)
                trials[state["trial_id"]] = {
                    "status": state.get("status"), "logdir": state.get("relative_logdir"),
                    "config": state.get("config") if isinstance(state.get("config"), dict) else {},
                    "evaluated_params": state.get("evaluated_params") or {},
                    "last_result": meta.get("last_result") if isinstance(meta.get("last_result"), dict)
                    else {},
                    "error_file": meta.get("error_filename"), "num_failures": meta.get("num_failures", 0),
                    "metric": (raw.get("runner_data") or {}).get("_metric"),
                }
            return trials
        except (OSError, ValueError, KeyError, TypeError) as e:
            notes.append(f"{os.path.basename(file)} is unreadable ({type(e).__name__}: {first_line(e)}); "
                         f"trial statuses are inferred from the trial folders")
    if not files:
        notes.append("no experiment_state-*.json (Tune's record of trial statuses); statuses are inferred "
                     "from the trial folders")
    return {}


def trial_folders(path: str, states: dict) -> dict:
    """trial_id -> folder (None for a trial Tune knows of that never wrote one)."""
    out = {}
    for trial_id, s in states.items():
        folder = os.path.join(path, s["logdir"]) if s.get("logdir") else None
        out[trial_id] = folder if folder and os.path.isdir(folder) else None
    known = {os.path.realpath(f) for f in out.values() if f}
    for entry in sorted(os.listdir(path)):
        folder = os.path.join(path, entry)
        if not os.path.isdir(folder) or os.path.realpath(folder) in known:
            continue
        if not {"params.json", "result.json", "progress.csv"} & set(os.listdir(folder)):
            continue  # not a trial folder (e.g. a report folder)
        out[_trial_id_from_folder(folder)] = folder
    return out


def _trial_id_from_folder(folder: str) -> str:
    """The id in ``train_rbm_2c205b55_1_...`` (Tune's default trial folder name), else the folder name."""
    result = _read_results(os.path.join(folder, "result.json"), [])[0]
    if result and result[-1].get("trial_id"):
        return str(result[-1]["trial_id"])
    parts = os.path.basename(folder).split("_")
    for p in parts:
        if len(p) == 8 and all(c in "0123456789abcdef" for c in p):
            return p
    return os.path.basename(folder)


# --------------------------------------------------------------------------------------------------
# One trial


def read_trial(trial_id: str, folder: str | None, state: dict | None, notes: list) -> tuple[dict, list]:
    state = state or {}
    name = os.path.basename(folder) if folder else f"{trial_id} (no folder)"
    params = _read_json(os.path.join(folder, "params.json"), notes) if folder else None
    config = params if isinstance(params, dict) else state.get("config") or {}
    results, bad = _read_results(os.path.join(folder, "result.json"), notes) if folder else ([], 0)
    if folder and not results:
        results = _read_progress(os.path.join(folder, "progress.csv"))
    if bad:
        notes.append(f"{name}: {bad} unreadable line(s) in result.json skipped")
    results = _dedupe(results)
    last = dict(results[-1]) if results else dict(state.get("last_result") or {})
    last.pop("config", None)

    error = None
    error_file = os.path.join(folder, state.get("error_file") or "error.txt") if folder else None
    if state.get("status") == "ERROR" or (not state and error_file and os.path.exists(error_file)):
        error = _error_message(error_file) or "Tune recorded an error (no error.txt)"

    row = {"trial_id": trial_id, "trial": name, "path": folder, "tune_status": state.get("status"),
           "_readable": bool(config or results), "error": error,
           "num_failures": to_int(state.get("num_failures")),
           "samples": os.path.join(folder, SAMPLES_FILE) if folder and os.path.exists(
               os.path.join(folder, SAMPLES_FILE)) else None,
           "_results": results}
    row.update(last)
    row.update({f"config/{k}": v for k, v in config.items()})
    if not config and state.get("evaluated_params"):
        row.update({f"config/{k}": v for k, v in state["evaluated_params"].items()})
    return row, _tidy(trial_id, results)


def _read_json(path: str, notes: list):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        notes.append(f"{_short(path)} is unreadable ({type(e).__name__}: {first_line(e)})")
        return None


def _read_results(path: str, notes: list) -> tuple[list[dict], int]:
    """The reports in ``result.json`` (one JSON object a line; NaN is allowed) and the count of bad lines
    (a line cut short when the sweep was killed mid-write)."""
    try:  # bytes that are not UTF-8 (a disk fault) spoil only their lines, which then fail to parse
        with open(path, errors="replace") as f:
            lines = [line for line in f if line.strip()]
    except OSError:
        return [], 0
    out, bad = [], 0
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(value, dict):
            out.append(value)
        else:
            bad += 1
    return out, bad


def _read_progress(path: str) -> list[dict]:
    try:
        with open(path, newline="", errors="replace") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error):
        return []
    return [{k: _parse_cell(v) for k, v in r.items() if k} for r in rows]


def _parse_cell(v: str | None):
    if v is None or v == "":
        return None
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return {"True": True, "False": False}.get(v, v)


def _dedupe(results: list[dict]) -> list[dict]:
    """One report per training iteration: a trial retried from a checkpoint reports the iterations after that
    checkpoint again; the later report is the one its final state descends from."""
    seen: dict = {}
    for r in results:
        seen[r.get("training_iteration", len(seen))] = r
    return list(seen.values())


def _tidy(trial_id: str, results: list[dict]) -> list[tuple]:
    out = []
    for r in results:
        it = r.get("training_iteration")
        epoch, eval_epoch = r.get("epoch"), r.get("eval/epoch")
        for k, v in r.items():
            if k in BOOKKEEPING or isinstance(v, bool) or not isinstance(v, int | float):
                continue
            out.append((trial_id, it, epoch, eval_epoch, k, float(v)))
    return out


def _error_message(path: str | None) -> str | None:
    """The last line of the last failure in Tune's ``error.txt`` (the exception and its message)."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, TypeError):
        return None
    lines = [line for line in lines if not line.startswith("Failure #")]
    return lines[-1][:300] if lines else None


def to_int(v) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def first_line(e) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _short(path: str) -> str:
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))
