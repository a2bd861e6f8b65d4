"""An experiment folder written by ``sweeps/run.py`` -> pandas frames, without Ray and without the trainables.

What is read, per trial (``STORAGE/NAME/<trial folder>``):

- ``params.json``: the trial's flat config (dotted keys, as in the YAML and ``--set``);
- ``result.json``: one JSON object per report (``progress.csv`` when it is missing);
- ``error.txt``: Tune's record of a trial that raised; ``samples.png``: the final sample grid.

And per experiment: the newest ``experiment_state-*.json`` (Tune's status of every trial, including ones that
never started or never wrote a folder) and ``sweep.yaml`` (how ``sweeps/run.py`` started the sweep and the
settings it resolved: the metric, the mode, the space and the scheduler; read by :mod:`analysis.sweep_info`).
Each may be missing: what it would have told is then inferred from the trial folders and said so in
``Experiment.notes``.

Every trial gets one ``outcome``: ``ok`` (ran to its last epoch), ``diverged`` (the run reported
``status: diverged``), ``errored`` (Tune recorded an error), ``stopped`` (ended early without error under
ASHA: Li et al. 2020), ``unfinished`` (pending or running when the sweep was interrupted). No trial is
dropped.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import pandas as pd

from analysis import stats
from analysis.sweep_info import SweepInfo, read_sweep_info
from analysis.tune_files import read_experiment_state, read_trial, to_int, trial_folders


class AnalysisError(ValueError):
    """An experiment folder that cannot be analysed; the message is one line."""


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
        outcome counts and the diverged fraction. ``value``: ``final`` (last report) or ``best`` (best
        report)."""
        metric = metric or self.sweep.ranked_by
        column = metric if value == "final" else f"best/{metric}"
        return stats.group_table(self.trials, column, self.sweep.mode, self.group_keys, self.sweep.level)

    def members(self, group_row, keys: list[str] | None = None) -> pd.DataFrame:
        """The trials of one configuration: ``group_row`` is a row of :meth:`groups` (or a dict with its
        keys), or of a ``stats.group_table`` over other ``keys`` (``config/...`` columns; default
        :attr:`group_keys`)."""
        t = self.trials
        mask = pd.Series(True, index=t.index)
        for k in self.group_keys if keys is None else keys:
            mask &= t[k].map(lambda v: tuple(v) if isinstance(v, list)
                             else v) == group_row[k.removeprefix("config/")]
        return t[mask]

    def by_seed(self, group_row, column: str | None = None, keys: list[str] | None = None) -> pd.Series:
        """One configuration's ``column`` (the sweep's metric by default) indexed by seed, one value per
        trial; NaN where the trial's outcome is not averaged (``stats.AVERAGED``), as in the group table.
        ``keys``: as :meth:`members` takes them."""
        rows = self.members(group_row, keys)
        column = column or self.sweep.ranked_by
        seeds = rows["config/seed"] if "config/seed" in rows else pd.Series(range(len(rows)),
                                                                            index=rows.index)
        values = rows[column] if column in rows else pd.Series(math.nan, index=rows.index)
        values = values.where(rows["outcome"].isin(stats.AVERAGED))
        return pd.Series(values.to_numpy(), index=seeds.to_numpy())

    def curves(self, metric: str | None = None) -> pd.DataFrame:
        """``metric`` per trial and iteration, only where it was freshly computed (reports between
        evaluations repeat the last value; ``eval/epoch`` says when it was computed)."""
        metric = metric or self.sweep.ranked_by
        # computed once, after the last epoch: its curve is the per-epoch eval/
        if metric.startswith("final/"):
            metric = "eval/" + metric.removeprefix("final/")
        h = self.history[self.history["metric"] == metric]
        # eval/epoch dates only this one
        carried = metric == (self.sweep.ranked_by or self.sweep.ranked_by)
        if carried and metric.startswith("eval/") and "eval_epoch" in h and h["eval_epoch"].notna().any():
            h = h[(h["eval_epoch"] == h["epoch"]) | h["eval_epoch"].isna()]
        return h.reset_index(drop=True)


def load_experiment(path: str, metric: str | None = None, mode: str | None = None) -> Experiment:
    """Read the experiment folder ``path`` (e.g. ``results/rbm_cd_k``); ``metric``/``mode`` override the
    sweep's.

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
        what = ("is empty" if not os.listdir(path)
                else "holds no trials (no trial folders; no Tune state lists any)")
        raise AnalysisError(f"{path} {what}; point at a folder written by sweeps/run.py (STORAGE/NAME)")
    rows, history = [], []
    for trial_id, folder in folders.items():
        row, hist = read_trial(trial_id, folder, states.get(trial_id), notes)
        rows.append(row)
        history.extend(hist)
    if not any(r.get("_readable") for r in rows) and not states:
        raise AnalysisError(f"{path}: no trial folder could be read (params.json / result.json unreadable)")

    sweep = read_sweep_info(path, states, rows, notes)
    if metric:
        sweep.rank_metric = metric
    if mode:
        sweep.mode = mode
    trials = _trial_frame(rows, sweep)
    hist = pd.DataFrame(history, columns=["trial_id", "iteration", "epoch", "eval_epoch", "metric", "value"])
    if not hist.empty:
        hist = hist.sort_values(["trial_id", "metric", "iteration"], kind="stable").reset_index(drop=True)
    return Experiment(path=path, sweep=sweep, trials=trials, history=hist, notes=notes)


# --------------------------------------------------------------------------------------------------
# The per-trial frame


def _trial_frame(rows: list[dict], sweep: SweepInfo) -> pd.DataFrame:
    for r in rows:
        results = r.pop("_results")
        r.pop("_readable")
        r["iterations"] = to_int(r.get("training_iteration")) or 0
        r["outcome"] = outcome(r, sweep)
        r["cpu_s"] = (r.get("time_total_s") or 0.0) * sweep.cpu
        r.update(_best(results, sweep.ranked_by, sweep.mode))
    df = pd.DataFrame(rows)
    m = sweep.ranked_by
    first = ["trial_id", "outcome", "iterations", m, f"best/{m}", "best_iteration", "time_total_s", "cpu_s",
             "error"]
    for col in first:
        if col not in df:
            df[col] = math.nan if col != "error" else None
    config = sorted(c for c in df if c.startswith("config/"))
    rest = [c for c in df if c not in first and c not in config]
    return df[first + config + rest]


def outcome(r: dict, sweep: SweepInfo) -> str:
    """One trial's outcome (the module docstring's five) from its row: ``tune_status`` (Tune's status, None
    when unknown), ``iterations``, ``error`` (Tune's error message, None without one), ``status`` (the run's
    own last reported status) and ``config/train.epochs``."""
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
        return ("stopped" if status == "TERMINATED" and sweep.scheduler in ("asha", "unknown")
                else "unfinished")
    return "ok" if status in ("TERMINATED", None) else "unfinished"


def _best(results: list[dict], metric: str, mode: str) -> dict:
    values = [(r.get(metric), r.get("training_iteration")) for r in results]
    finite = [(v, it) for v, it in values if stats.finite(v)]
    if not finite:
        return {f"best/{metric}": math.nan, "best_iteration": math.nan}
    v, it = (max if mode == "max" else min)(finite, key=lambda p: p[0])
    return {f"best/{metric}": float(v), "best_iteration": it}
