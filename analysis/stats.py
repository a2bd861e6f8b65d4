"""Across-seed statistics: mean, standard deviation and a 95% Student-t confidence interval per group.

The interval is mean ± t(0.975, n-1) · s / sqrt(n) over the group's finite values (n seeds). With one value
there is no spread to estimate, so std and the interval are NaN and the report says "1 seed, no interval".
Diverged, errored and unfinished trials are never averaged in silently: they are counted per group.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

LEVEL = 0.95
COUNTS = ("ok", "diverged", "errored", "stopped", "unfinished")
# Outcomes whose final value is averaged: runs that ended as planned, or were stopped by ASHA (they count with
# their last value, as in the driver's table). An errored or unfinished run's last value is from a shorter run
# than its seeds'; it is counted and shown, not averaged.
AVERAGED = ("ok", "stopped")


def t_interval(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, std, half-width, n) of the finite ``values``; std and half-width are NaN for n < 2."""
    x = np.asarray([v for v in values if _finite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, 1
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))
    return mean, std, half, n


def group_table(trials: pd.DataFrame, column: str, mode: str, group_keys: list[str]) -> pd.DataFrame:
    """One row per configuration (trials that differ only in ``config/seed``), best mean first; configurations
    with a diverged trial after all others.

    Columns: the group keys (without the ``config/`` prefix), ``group`` (a short label), ``mean``, ``std``,
    ``ci`` (half-width of the 95% interval), ``ci_low``, ``ci_high``, ``n`` (values averaged: finite, from
    ``AVERAGED`` outcomes), ``trials``, one count per outcome, ``no_value`` (trials not averaged),
    ``diverged_fraction`` and ``best_trial`` (the trial with the best value).
    """
    df = trials.copy()
    keys = [k for k in group_keys if k in df]
    swept = bool(keys)
    if not swept:
        df["config/config"] = "(base config)"
        keys = ["config/config"]
    for k in keys:  # lists (e.g. eval.metrics) are not hashable
        df[k] = df[k].map(lambda v: tuple(v) if isinstance(v, list) else v)
    if column not in df:
        df[column] = math.nan
    rows = []
    for values, g in df.groupby(keys, dropna=False, sort=False):
        values = values if isinstance(values, tuple) else (values,)
        outcomes = g["outcome"] if "outcome" in g else pd.Series("ok", index=g.index)
        finite = g[column].map(_finite) & outcomes.isin(AVERAGED)
        mean, std, half, n = t_interval(g.loc[finite, column])
        row = {k.removeprefix("config/"): v for k, v in zip(keys, values, strict=True)}
        best = g[finite].sort_values(column, ascending=(mode == "min"))
        row.update({"mean": mean, "std": std, "ci": half, "ci_low": mean - half, "ci_high": mean + half, "n": n,
                    "trials": len(g), **{o: int((outcomes == o).sum()) for o in COUNTS},
                    "no_value": int((~finite).sum()),
                    "diverged_fraction": float((outcomes == "diverged").mean()),
                    "best_trial": best["trial_id"].iloc[0] if len(best) and "trial_id" in best else None})
        rows.append(row)
    out = pd.DataFrame(rows)
    names = [k.removeprefix("config/") for k in keys]
    out.insert(0, "group", [label(dict(zip(names, r, strict=True))) if swept else "(base config)"
                            for r in out[names].itertuples(index=False)])
    # Best mean first, but a configuration that diverged on some seed ranks after every one that never did:
    # its mean covers only the seeds that survived.
    out["_diverged"] = out["diverged"] > 0
    out = out.sort_values(["_diverged", "mean"], ascending=[True, mode == "min"], na_position="last", kind="stable")
    return out.drop(columns="_diverged").reset_index(drop=True)


def paired_difference(a: pd.Series, b: pd.Series, level: float = LEVEL) -> tuple[float, float, int, str]:
    """a - b with its 95% interval: paired over the seeds both have (same seed, same data order), else Welch's
    unpaired interval. Returns (difference, half-width, n, how), ``how`` in {"paired", "unpaired"}."""
    a, b = a[a.map(_finite)].astype(float), b[b.map(_finite)].astype(float)
    common = a.index.intersection(b.index)
    if len(common) >= 2 and len(common) == len(a) == len(b):
        mean, _, half, n = t_interval((a[common] - b[common]).tolist(), level)
        return mean, half, n, "paired"
    if len(a) == 0 or len(b) == 0:
        return math.nan, math.nan, 0, "unpaired"
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        return diff, math.nan, min(len(a), len(b)), "unpaired"
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, 0.0, min(len(a), len(b)), "unpaired"
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    return diff, float(sps.t.ppf(0.5 + level / 2, dof) * se), min(len(a), len(b)), "unpaired"


def label(values: dict) -> str:
    """``{"sampler.init": "data", "sampler.k": 5}`` -> ``init=data, k=5`` (full keys where leaves collide)."""
    leaves = [k.rsplit(".", 1)[-1] for k in values]
    parts = []
    for (k, v), leaf in zip(values.items(), leaves, strict=True):
        name = leaf if leaves.count(leaf) == 1 else k
        parts.append(f"{name}={fmt(v)}")
    return ", ".join(parts)


def fmt(v, digits: int = 4) -> str:
    """A value as a person reads it: 0.005, 1e-05, 100, data."""
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return "nan"
    if v.is_integer() and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.{digits}g}"


def _finite(v) -> bool:
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)
