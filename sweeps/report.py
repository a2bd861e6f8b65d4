"""The table a sweep ends with: its best configurations, mean +- std of the metric over seeds."""

from __future__ import annotations

import math

import pandas as pd


def group_summary(df: pd.DataFrame, metric: str, mode: str, group_keys: list[str]) -> pd.DataFrame:
    """One row per configuration (trials that differ only in ``seed``), best first.

    ``df`` holds one row per trial with its last result and ``config/<key>`` columns
    (``ResultGrid.get_dataframe()``); a trial stopped early by ASHA counts with its last value, and
    ``epochs`` says how far the configuration's trials got.
    """
    df = df.copy()
    cols = [f"config/{k}" for k in group_keys if f"config/{k}" in df]
    if not cols:
        df["config"] = "(base config)"
        cols = ["config"]
    if metric not in df:
        df[metric] = math.nan
    for col in cols:  # lists (e.g. eval.metrics) are not hashable
        df[col] = df[col].map(lambda v: tuple(v) if isinstance(v, list) else v)
    df["_epochs"] = df["epoch"] if "epoch" in df else df.get("training_iteration", math.nan)
    df["_diverged"] = (df["status"] == "diverged") if "status" in df else False
    if "errored" in df:  # the driver marks trials that ended with an error (ResultGrid.errors)
        df["_errored"] = df["errored"].fillna(False).astype(bool)
    else:  # analysis.load_experiment's frame
        df["_errored"] = (df["outcome"] == "errored") if "outcome" in df else False
    df.loc[df["_errored"], metric] = math.nan  # an errored trial's last value is counted, never averaged
    g = df.groupby(cols, dropna=False, sort=False)
    out = pd.DataFrame({
        "mean": g[metric].mean(),
        "std": g[metric].std(ddof=1),
        "seeds": g.size(),
        "epochs": g["_epochs"].max(),
        "diverged": g["_diverged"].sum(),
        "errored": g["_errored"].sum(),
    }).reset_index()
    out.columns = [c.removeprefix("config/") for c in out.columns]
    return out.sort_values("mean", ascending=(mode == "min"), na_position="last").reset_index(drop=True)


def best_table(df: pd.DataFrame, metric: str, mode: str, group_keys: list[str], top: int = 5) -> str:
    if df.empty:
        return "no trial reported a result"
    summary = group_summary(df, metric, mode, group_keys)
    keys = [c for c in summary.columns if c not in ("mean", "std", "seeds", "epochs", "diverged", "errored")]
    header = ["#", *keys, f"{metric} ({mode})", "seeds", "epochs", "diverged", "errored"]
    rows = []
    for i, r in summary.head(top).iterrows():
        spread = "" if math.isnan(r["std"]) else f" ± {_num(r['std'])}"
        rows.append([str(i + 1), *(_num(r[k]) for k in keys), f"{_num(r['mean'])}{spread}",
                     str(int(r["seeds"])), _num(r["epochs"]), str(int(r["diverged"])),
                     str(int(r["errored"]))])
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    title = f"best {min(top, len(summary))} of {len(summary)} configurations by {metric} ({mode}), " \
            f"mean ± std over seeds:"
    return "\n".join([title, *lines])


def _num(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.0f}" if v.is_integer() and abs(v) < 1e6 else f"{v:.5g}"
    return str(v)
