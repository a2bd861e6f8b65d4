"""An experiment folder written by ``sweeps/run.py`` -> pandas frames, without Ray and without the trainables.

What is read, per trial (``STORAGE/NAME/<trial folder>``):

- ``params.json``: the trial's flat config (dotted keys, as in the YAML and ``--set``);
- ``result.json``: one JSON object per report (``progress.csv`` when it is missing);
- ``error.txt``: Tune's record of a trial that raised; ``samples.png``: the final sample grid.

And per experiment: the newest ``experiment_state-*.json`` (Tune's status of every trial, including ones that
never started or never wrote a folder) and ``sweep.yaml`` (how ``sweeps/run.py`` started the sweep; its sweep
file gives the metric, the mode, the space and the scheduler). Each may be missing: what it would have told
is then inferred from the trial folders and said so in ``Experiment.notes``.

Every trial gets one ``outcome``: ``ok`` (ran to its last epoch), ``diverged`` (the run reported
``status: diverged``), ``errored`` (Tune recorded an error), ``stopped`` (ended early without error under
ASHA: Li et al. 2020), ``unfinished`` (pending or running when the sweep was interrupted). No trial is dropped.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import pandas as pd

from analysis import stats
from analysis.tune_files import first_line, read_experiment_state, read_trial, to_int, trial_folders

OUTCOMES = ("ok", "diverged", "errored", "stopped", "unfinished")
RECORD_FILE = "sweep.yaml"  # sweeps/run.py's RECORD_FILE
# Metric direction when no sweep file says it (a lower FID/KID is better; a higher likelihood is).
KNOWN_MODES = {"log_likelihood": "max", "pseudo_log_likelihood": "max", "kid": "min", "fid": "min", "loss": "min",
               "recon_error": "min", "lpips": "max", "is": "max", "ess": "max", "tau": "min"}


class AnalysisError(ValueError):
    """An experiment folder that cannot be analysed; the message is one line."""


@dataclass
class SweepInfo:
    """What the sweep varied and measured."""

    name: str
    """Experiment folder name (the sweep's name unless ``--name`` picked another)."""
    metric: str
    """The result the sweep ranked by, e.g. ``eval/log_likelihood``."""
    mode: str
    """``max`` or ``min``: whether a larger ``metric`` is better."""
    space: dict = field(default_factory=dict)
    """Dotted config key -> domain string (``grid[1, 5]``, ``loguniform[0.001, 0.3]``); seeds not included."""
    domains: dict = field(default_factory=dict)
    """Dotted config key -> (kind, args): grid/choice and their values, uniform/loguniform/randint and
    [low, high]; empty when the settings were inferred."""
    seeds: list = field(default_factory=list)
    search: str = "grid"
    """grid, none (random draws) or optuna."""
    scheduler: str = "none"
    """none, fifo or asha."""
    max_t: int | None = None
    """The most training iterations a trial may get (ASHA's max_t, else train.epochs)."""
    cpu: float = 1.0
    """CPU cores per trial (compute used = wall time x cpu)."""
    gpu: float = 0.0
    kind: str = ""
    """rbm or conv_ebm."""
    preset: str = ""
    description: str = ""
    source: str = ""
    """Where these settings came from: the sweep file (with its preset) or 'inferred from the trial folders'."""
    sweep_file: str = ""
    """The sweep file as sweeps/run.py recorded it ('' when unknown)."""
    reported_metric: str = ""
    """The metric the trainables carried in every report, repeating it between evaluations (the sweep file's
    ``metric``; ``metric`` above differs when the sweep ranks by a ``rank_metric``). '' = ``metric``."""
    data_requested: str = ""
    """The data set the preset asked for, when the driver fell back to another ('' when it did not)."""
    data_used: str = ""
    """The data set the trials ran on, as the driver recorded it."""
    caveat: str = ""
    """The preset's own sentence on why it cannot answer its question at its scale ('' = none)."""
    provenance: dict = field(default_factory=dict)
    """Project version, git commit (and whether the tree was dirty), software versions and machine, as the
    driver recorded them when the sweep started; empty for older sweeps."""

    def resume_command(self, path: str) -> str:
        """How to continue the sweep in the experiment folder ``path`` (sweeps/run.py --resume)."""
        name = os.path.splitext(os.path.basename(self.sweep_file))[0] if self.sweep_file else self.name
        folder = os.path.basename(path.rstrip(os.sep))
        target = f" --name {folder}" if folder != name else ""
        return f"python sweeps/run.py {self.sweep_file or name} --storage {os.path.dirname(path)}{target} --resume"


@dataclass
class Experiment:
    """An experiment folder read into frames. ``trials``: one row per trial; ``history``: one row per trial,
    report and metric (tidy)."""

    path: str
    sweep: SweepInfo
    trials: pd.DataFrame
    history: pd.DataFrame
    notes: list = field(default_factory=list)
    """Things the reader should know: unreadable files, inferred settings."""

    @property
    def group_keys(self) -> list[str]:
        """Config keys (``config/...`` columns) that tell configurations apart; seeds of one form a group."""
        return [f"config/{k}" for k in self.sweep.space if f"config/{k}" in self.trials]

    def groups(self, metric: str | None = None, value: str = "final") -> pd.DataFrame:
        """One row per configuration, best first: mean, std and 95% t-interval of ``metric`` over seeds,
        outcome counts and the diverged fraction. ``value``: ``final`` (last report) or ``best`` (best report)."""
        metric = metric or self.sweep.metric
        column = metric if value == "final" else f"best/{metric}"
        return stats.group_table(self.trials, column, self.sweep.mode, self.group_keys)

    def curves(self, metric: str | None = None) -> pd.DataFrame:
        """``metric`` per trial and iteration, only where it was freshly computed (reports between
        evaluations repeat the last value; ``eval/epoch`` says when it was computed)."""
        metric = metric or self.sweep.metric
        if metric.startswith("final/"):  # computed once, after the last epoch: its curve is the per-epoch eval/
            metric = "eval/" + metric.removeprefix("final/")
        h = self.history[self.history["metric"] == metric]
        carried = metric == (self.sweep.reported_metric or self.sweep.metric)  # eval/epoch dates only this one
        if carried and metric.startswith("eval/") and "eval_epoch" in h and h["eval_epoch"].notna().any():
            h = h[(h["eval_epoch"] == h["epoch"]) | h["eval_epoch"].isna()]
        return h.reset_index(drop=True)


def load_experiment(path: str, metric: str | None = None, mode: str | None = None) -> Experiment:
    """Read the experiment folder ``path`` (e.g. ``results/rbm_cd_k``); ``metric``/``mode`` override the sweep's.

    Raises :class:`AnalysisError` for a missing, empty or unreadable folder.
    """
    if "://" in path:
        raise AnalysisError(f"{path}: only local folders can be read; copy the experiment here first "
                            f"(e.g. aws s3 sync {path} results/{path.rstrip('/').rsplit('/', 1)[-1]})")
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise AnalysisError(f"{path}: no such experiment folder (sweeps/run.py writes them under --storage, "
                            f"default ./results)")
    notes: list[str] = []
    states = read_experiment_state(path, notes)
    folders = trial_folders(path, states)
    if not states and not folders:
        what = "is empty" if not os.listdir(path) else "holds no trials (no trial folders; no Tune state lists any)"
        raise AnalysisError(f"{path} {what}; point at a folder written by sweeps/run.py (STORAGE/NAME)")
    rows, history = [], []
    for trial_id, folder in folders.items():
        row, hist = read_trial(trial_id, folder, states.get(trial_id), notes)
        rows.append(row)
        history.extend(hist)
    if not any(r.get("_readable") for r in rows) and not states:
        raise AnalysisError(f"{path}: no trial folder could be read (params.json / result.json unreadable)")

    sweep = _sweep_info(path, states, rows, notes)
    if metric:
        sweep.metric = metric
    if mode:
        sweep.mode = mode
    trials = _trial_frame(rows, sweep)
    hist = pd.DataFrame(history, columns=["trial_id", "iteration", "epoch", "eval_epoch", "metric", "value"])
    if not hist.empty:
        hist = hist.sort_values(["trial_id", "metric", "iteration"], kind="stable").reset_index(drop=True)
    return Experiment(path=path, sweep=sweep, trials=trials, history=hist, notes=notes)


# --------------------------------------------------------------------------------------------------
# The sweep's settings and the per-trial frame


def _sweep_info(path: str, states: dict, rows: list[dict], notes: list) -> SweepInfo:
    name = os.path.basename(path.rstrip(os.sep))
    record = _read_record(path, notes)
    info = _sweep_settings(path, name, record, states, rows, notes)
    requested, used = str((record or {}).get("data_requested") or ""), str((record or {}).get("data") or "")
    if requested and used and requested != used:  # the driver fell back to the embedded data set
        info.data_requested, info.data_used = requested, used
    if isinstance((record or {}).get("provenance"), dict):
        info.provenance = record["provenance"]
    return info


def _sweep_settings(path: str, name: str, record: dict | None, states: dict, rows: list[dict],
                    notes: list) -> SweepInfo:
    if record and isinstance(record.get("settings"), dict):
        info = _recorded_sweep(name, record, notes)
        if info is not None:
            return info
    if record:
        try:
            from sweeps.spec import SweepError, load_sweep  # no Ray, no torch: the YAML checks only
        except ImportError as e:  # analysing on a machine without the repository's packages
            notes.append(f"sweeps.spec is not importable ({e}); the sweep's settings are inferred")
        else:
            try:
                s = load_sweep(record["sweep"], record.get("preset", "cpu"), record.get("overrides") or [])
            except (SweepError, ValueError, OSError) as e:
                notes.append(f"the sweep file {record['sweep']} no longer loads ({first_line(e)}); the sweep's "
                             f"settings are inferred from the trial folders")
            else:
                info = SweepInfo(
                    name=name, metric=s.ranked_by, reported_metric=s.metric, mode=s.mode,
                    space={k: str(d) for k, d in s.space.items()},
                    domains={k: (d.kind, list(d.args)) for k, d in s.space.items()}, seeds=list(s.seeds),
                    search=s.search.type, scheduler=s.scheduler.type, cpu=s.resources.cpu, gpu=s.resources.gpu,
                    kind=s.kind, max_t=s.scheduler.max_t if s.scheduler.type == "asha" else s.epochs, preset=s.preset,
                    description=s.description, source=f"{record['sweep']} (preset {s.preset})",
                    sweep_file=record["sweep"], caveat=s.caveat)
                missing = [k for k in info.space if not any(f"config/{k}" in r for r in rows)]
                if not missing:
                    return info
                notes.append(f"the sweep file {record['sweep']} names space keys the trials lack "
                             f"({', '.join(missing)}); it changed since the sweep ran, so settings are inferred")
    return _inferred_sweep(name, states, rows, notes)


def _recorded_sweep(name: str, record: dict, notes: list) -> SweepInfo | None:
    """The settings ``sweeps/run.py`` resolved and recorded when the sweep started (``Sweep.settings``)."""
    st = record["settings"]
    try:
        domains = {k: next(iter(d.items())) for k, d in (st.get("space") or {}).items()}
        scheduler, resources = st.get("scheduler") or {}, st.get("resources") or {}
        return SweepInfo(
            name=name, metric=str(st.get("rank_metric") or st["metric"]), reported_metric=str(st["metric"]),
            mode=str(st["mode"]),
            space={k: f"{kind}{list(args)}" for k, (kind, args) in domains.items()},
            domains={k: (kind, list(args)) for k, (kind, args) in domains.items()},
            seeds=list(st.get("seeds") or []), search=str(st.get("search", "grid")),
            scheduler=str(scheduler.get("type", "none")), max_t=scheduler.get("max_t", st.get("epochs")),
            cpu=float(resources.get("cpu", 1.0)), gpu=float(resources.get("gpu", 0.0)), kind=str(st.get("kind", "")),
            preset=str(record.get("preset", "")), description=str(st.get("description", "")),
            source=f"{record['sweep']} (preset {record.get('preset', '?')}), as recorded when the sweep started",
            sweep_file=str(record["sweep"]), caveat=str(st.get("caveat") or ""))
    except (KeyError, TypeError, ValueError, StopIteration) as e:
        notes.append(f"{RECORD_FILE}'s settings are incomplete ({first_line(e)}); reading the sweep file instead")
        return None


def _read_record(path: str, notes: list) -> dict | None:
    file = os.path.join(path, RECORD_FILE)
    if not os.path.exists(file):
        notes.append(f"no {RECORD_FILE} (written by sweeps/run.py); the sweep's settings are inferred from the "
                     f"trial folders")
        return None
    import yaml

    try:
        with open(file) as f:
            record = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        notes.append(f"{RECORD_FILE} is unreadable ({first_line(e)}); the sweep's settings are inferred")
        return None
    if not isinstance(record, dict) or "sweep" not in record:
        notes.append(f"{RECORD_FILE} is not a sweep record; the sweep's settings are inferred")
        return None
    return record


def _inferred_sweep(name: str, states: dict, rows: list[dict], notes: list) -> SweepInfo:
    metric = next((s["metric"] for s in states.values() if s.get("metric")), None)
    if not metric:
        reported = {k for r in rows for k in r if k.startswith("eval/") and isinstance(r[k], int | float)}
        metric = next((m for m in ("eval/log_likelihood", "eval/kid_domain", "eval/fid_domain") if m in reported),
                      min(reported) if reported else "eval/log_likelihood")
    leaf = metric.rsplit("/", 1)[-1]
    mode = KNOWN_MODES.get(leaf) or next((m for k, m in KNOWN_MODES.items() if leaf.startswith(k)), None)
    if mode is None:
        mode = "max"
        notes.append(f"the direction of {metric} is unknown; assumed larger is better (pass --mode min if not)")
    config_keys = sorted({k for r in rows for k in r if k.startswith("config/")})
    varied = []
    for col in config_keys:
        values = {json.dumps(r.get(col), sort_keys=True, default=str) for r in rows if r.get("_readable")}
        if len(values) > 1 and col != "config/seed":
            varied.append(col.removeprefix("config/"))
    seeds = sorted({r.get("config/seed") for r in rows if r.get("config/seed") is not None})
    epochs = [r.get("config/train.epochs") for r in rows if isinstance(r.get("config/train.epochs"), int)]
    kind = next((r.get("config/kind") for r in rows if r.get("config/kind")), "")
    return SweepInfo(name=name, metric=metric, mode=mode, space={k: "varied" for k in varied}, seeds=seeds,
                     max_t=max(epochs) if epochs else None, kind=kind, search="unknown", scheduler="unknown",
                     source="inferred from the trial folders")


def _trial_frame(rows: list[dict], sweep: SweepInfo) -> pd.DataFrame:
    for r in rows:
        results = r.pop("_results")
        r.pop("_readable")
        r["iterations"] = to_int(r.get("training_iteration")) or 0
        r["outcome"] = _outcome(r, sweep)
        r["cpu_s"] = (r.get("time_total_s") or 0.0) * sweep.cpu
        r.update(_best(results, sweep.metric, sweep.mode))
    df = pd.DataFrame(rows)
    first = ["trial_id", "outcome", "iterations", sweep.metric, f"best/{sweep.metric}", "best_iteration",
             "time_total_s", "cpu_s", "error"]
    for col in first:
        if col not in df:
            df[col] = math.nan if col != "error" else None
    config = sorted(c for c in df if c.startswith("config/"))
    rest = [c for c in df if c not in first and c not in config]
    return df[first + config + rest]


def _outcome(r: dict, sweep: SweepInfo) -> str:
    status = r.get("tune_status")
    target = sweep.max_t or r.get("config/train.epochs")
    short = bool(target) and r["iterations"] < target
    if r.get("error") and (status == "ERROR" or (status is None and short)):
        return "errored"  # without Tune's state, an error.txt beside a finished run was a retried failure
    if r.get("status") == "diverged":
        return "diverged"
    if status in ("PENDING", "RUNNING", "PAUSED"):
        return "unfinished"
    if short:
        # Under ASHA a trial that TERMINATED short of max_t without error was stopped at a rung; without
        # Tune's state a short trial may also be one whose sweep was killed: it is unfinished then.
        return "stopped" if status == "TERMINATED" and sweep.scheduler in ("asha", "unknown") else "unfinished"
    return "ok" if status in ("TERMINATED", None) else "unfinished"


def _best(results: list[dict], metric: str, mode: str) -> dict:
    values = [(r.get(metric), r.get("training_iteration")) for r in results]
    finite = [(v, it) for v, it in values if isinstance(v, int | float) and not isinstance(v, bool)
              and math.isfinite(v)]
    if not finite:
        return {f"best/{metric}": math.nan, "best_iteration": math.nan}
    v, it = (max if mode == "max" else min)(finite, key=lambda p: p[0])
    return {f"best/{metric}": float(v), "best_iteration": it}
