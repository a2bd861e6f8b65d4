"""How often a seed swings: a trial that ended much worse than its own best epoch of the sweep's per-epoch
metric.

Short-run arms can draw digits at one epoch and noise at the last (conv_cd_k's cpu preset: short-run k=20 seed
0 went from KID_domain 0.15 to 3.4 in its last 250 updates), so a configuration's final mean can hide seeds
that were good and fell apart, or one lucky last epoch. "Much worse" is measured against the metric's own
noise:

    last - best  >  SPREADS x <metric>_spread          (lower is better; the other way for higher)
                    or, without a spread, RANGE x |<metric>_ceiling - <metric>_floor|

each read from the trial's own last report. Metrics with neither (log-likelihoods) get no sentence: there is
no scale to call a drop large.
"""

from __future__ import annotations

import pandas as pd

from analysis import stats
from analysis.frames import Experiment
from analysis.stats import fmt, sampler_name

# worse than the best epoch by more than this many of the metric's spreads (its noise at that N)
SPREADS = 3.0
RANGE = 0.5  # without a spread: by more than this fraction of the floor-to-ceiling range


def swings(exp: Experiment) -> pd.DataFrame:
    """One row per trial whose per-epoch metric could be judged: ``group``, ``trial_id``, ``seed``, ``best``,
    ``best_epoch``, ``last``, ``threshold`` (how much worse counts as a swing), ``by`` (``spread`` or
    ``range``) and ``swung``; groups in the report's order. Empty when nothing can be judged."""
    curves = exp.curves()
    columns = ["group", "trial_id", "seed", "best", "best_epoch", "last", "threshold", "by", "swung"]
    if curves.empty:
        return pd.DataFrame(columns=columns)
    metric = curves["metric"].iloc[0]  # the per-epoch twin of a final/ metric
    curves = curves[curves["value"].map(stats.finite)]
    rows = []
    for _, g in exp.groups().iterrows():
        members = exp.members(g)
        for _, trial in members[members["outcome"].isin(stats.AVERAGED)].iterrows():
            c = curves[curves["trial_id"] == trial["trial_id"]].sort_values("iteration")
            threshold, by = _threshold(trial, metric)
            if len(c) < 2 or threshold is None:
                continue
            top = c.loc[c["value"].idxmax() if exp.sweep.mode == "max" else c["value"].idxmin()]
            last = c.iloc[-1]
            drop = top["value"] - last["value"] if exp.sweep.mode == "max" else last["value"] - top["value"]
            epoch = top["epoch"] if stats.finite(top["epoch"]) else top["iteration"]
            rows.append({"group": _name(exp, g), "trial_id": trial["trial_id"],
                         "seed": trial.get("config/seed"),
                         "best": float(top["value"]), "best_epoch": epoch, "last": float(last["value"]),
                         "threshold": threshold, "by": by, "swung": bool(drop > threshold)})
    return pd.DataFrame(rows, columns=columns)


def sentence(exp: Experiment) -> str:
    """``short-run k=20 swung on 1 of 4 seeds (seed 0: 0.15 at epoch 3 -> 3.4 at the end)``, for every
    configuration with a swinging seed; one line saying none did where the metric could be judged."""
    table = swings(exp)
    if table.empty:
        return ""
    metric = exp.curves()["metric"].iloc[0]
    by = set(table["by"])
    rule = (f"{fmt(SPREADS)} x {metric}_spread" if by == {"spread"} else
            f"{fmt(RANGE)} of the floor-to-ceiling range" if by == {"range"} else
            f"{fmt(SPREADS)} x {metric}_spread, or {fmt(RANGE)} of the floor-to-ceiling range without one")
    parts = []
    for group, rows in table.groupby("group", sort=False):
        bad = rows[rows["swung"]].sort_values("seed", kind="stable")  # whatever order the trials ended in
        if bad.empty:
            continue
        shown = "; ".join(f"seed {fmt(r['seed'])}: {fmt(r['best'], 3)} at epoch {fmt(r['best_epoch'])} -> "
                          f"{fmt(r['last'], 3)} at the end" for _, r in bad.iterrows())
        parts.append(f"{group} swung on {len(bad)} of {len(rows)} seeds ({shown})")
    if not parts:
        return (f"No seed ended much worse than its own best epoch ({metric} worse than there by more than "
                f"{rule}).")
    return (f"Seeds that ended much worse than their own best epoch ({metric} worse than there by more than "
            f"{rule}): {'; '.join(parts)}.")


def _threshold(trial, metric: str) -> tuple[float | None, str]:
    spread = trial.get(f"{metric}_spread")
    if stats.finite(spread):
        return SPREADS * float(spread), "spread"
    floor, ceiling = trial.get(f"{metric}_floor"), trial.get(f"{metric}_ceiling")
    if stats.finite(floor) and stats.finite(ceiling):
        return RANGE * abs(float(ceiling) - float(floor)), "range"
    return None, ""


def _name(exp: Experiment, row) -> str:
    """``short-run k=20`` in a chain start x k sweep; the configuration's label otherwise."""
    if set(exp.sweep.space) == {"sampler.init", "sampler.k"}:
        return f"{sampler_name(row['sampler.init'])} k={fmt(row['sampler.k'])}"
    return row["group"]
