"""The table a sweep ends with: its best configurations, by the analysis's one ranking rule.

The rule and the numbers are :func:`analysis.stats.group_table`'s: best mean first, a configuration whose
samples collapsed on some seed after every one whose samples never did, and one with a diverged seed after
those; mean and 95% t-interval over the seeds that ran to the end
or were stopped by ASHA; each outcome counted. The trials are the frame ``python -m analysis`` reports on,
read from the experiment folder. Storage the analysis cannot read as a local folder (``--storage
s3://...``) gets the same frame from Ray's own results instead.
"""

from __future__ import annotations

import os

import pandas as pd

from analysis import AnalysisError, load_experiment, stats
from analysis.frames import outcome
from analysis.sweep_info import SweepInfo, from_settings
from analysis.tune_files import first_line, to_int


def final_table(path: str, results, sweep, top: int) -> tuple[str, int]:
    """The best ``top`` configurations of the sweep in ``path`` as text, and how many trials are unfinished.
    ``results``: Tune's ResultGrid, read only where ``path`` is not a local experiment folder; ``sweep``: the
    ``sweeps.sweep.Sweep`` that ran."""
    try:
        exp = load_experiment(path)
    except AnalysisError:  # e.g. s3:// storage
        info = from_settings(os.path.basename(path.rstrip("/")), sweep.settings(),
                             source="the sweep that ran")
        trials = ray_trials(results, info)
    else:
        info, trials = exp.sweep, exp.trials
    if trials.empty:
        return "no trial reported a result", 0
    keys = [k for k in info.space if f"config/{k}" in trials]
    groups = stats.group_table(trials, info.ranked_by, info.mode, [f"config/{k}" for k in keys])
    return table(groups, keys, info.ranked_by, info.mode, top), int((trials["outcome"] == "unfinished").sum())


def ray_trials(results, info: SweepInfo) -> pd.DataFrame:
    """Tune's ResultGrid as the analysis's per-trial frame: one row per trial with ``trial_id``,
    ``config/...``, its last result and its ``outcome`` (:func:`analysis.frames.outcome`). Ray tells only
    which trials ended with an error; the others count as TERMINATED."""
    errors = {r.metrics.get("trial_id"): first_line(r.error) for r in results if r.error is not None
              and r.metrics}
    rows = []
    for r in results.get_dataframe().to_dict("records"):
        error = errors.get(r.get("trial_id"))
        r.update(tune_status="ERROR" if error else "TERMINATED", error=error,
                 iterations=to_int(r.get("training_iteration")) or 0)
        r["outcome"] = outcome(r, info)
        rows.append(r)
    return pd.DataFrame(rows)


def table(groups: pd.DataFrame, keys: list[str], metric: str, mode: str, top: int) -> str:
    """The first ``top`` rows of ``stats.group_table``'s frame as aligned text, with a title."""
    counts = [*stats.OUTCOMES, *(c for c in ("collapsed", "unreliable") if (groups[c] > 0).any())]
    header = ["#", *keys, f"{metric} ({mode})", "± 95% CI", "n", *counts]
    rows = [[str(i + 1), *(stats.fmt(r[k], 5) for k in keys), _number(r["mean"]), _number(r["ci"]),
             str(int(r["n"])),
             *(str(int(r[o])) for o in counts)] for i, (_, r) in enumerate(groups.head(top).iterrows())]
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in [header, *rows]]
    collapsed = (f", with collapsed samples ({stats.COLLAPSE_COLUMN} < {stats.COLLAPSE_BELOW:g}) before them"
                 if "collapsed" in counts else "")
    collapsed += ", with a value its run called unreliable before them" if "unreliable" in counts else ""
    title = (f"best {min(top, len(groups))} of {len(groups)} configurations by {metric} ({mode}), mean and "
             f"95% t-interval over seeds (configurations with a diverged trial last{collapsed}):")
    return "\n".join([title, *lines])


def _number(v) -> str:
    """A mean or interval half-width; "-" where there is none (no value, or one seed: no interval)."""
    return stats.fmt(v, 5) if stats.finite(v) else "-"
