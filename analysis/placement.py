"""Where each configuration's sample metric sits between its floor (held-out data) and ceiling (uniform noise).

Conv-EBM trials report, beside FID/KID ``eval/<m>``, ``eval/<m>_floor`` (training vs held-out images),
``eval/<m>_ceiling`` (uniform noise) and ``eval/<m>_spread`` (the floor's std over draws of N images: the
metric's own noise at that N), all at the trial's N through the same network (:mod:`ebm.metrics.baselines`).
This module turns them into a table, a plot and a sentence for the report:

    position = (value - floor) / (ceiling - floor):  0 = as good as held-out data, 1 = as bad as noise.

A configuration's position is the mean over its seeds of each trial's own position. Sweeps whose metric
has no floor (log-likelihoods, Inception Score) get nothing from here.
"""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import stats  # noqa: E402
from analysis.frames import Experiment  # noqa: E402
from analysis.stats import Skip  # noqa: E402

CLEAR = 2.0  # differences larger than this many spreads are "clear" of the metric's own noise


def placement(exp: Experiment) -> pd.DataFrame:
    """One row per configuration, in the report's order: ``group``, ``mean`` (of the sweep metric), ``position``
    (mean over seeds), ``floor``, ``ceiling``, ``spread``, ``ceiling_spread`` (the ceiling's std over draws),
    ``as_trained`` and ``as_trained_position`` (the same metric of the arm's own training sampler's samples,
    ``eval/as_trained/<m>``; means over the group's trials) and ``n``.

    Raises :class:`~analysis.stats.Skip` when the trials report no floor and ceiling for the metric."""
    m = exp.sweep.metric
    t = exp.trials.copy()
    own = m.replace("eval/", "eval/as_trained/", 1)
    cols = {"floor": f"{m}_floor", "ceiling": f"{m}_ceiling", "spread": f"{m}_spread",
            "ceiling_spread": f"{m}_ceiling/std", "as_trained": own, "as_trained_position": f"{own}_position"}
    if not all(c in t and t[c].map(stats.finite).any() for c in (cols["floor"], cols["ceiling"])):
        raise Skip(f"the trials report no {m}_floor / {m}_ceiling (conv-EBM FID/KID only, with "
                   "eval.baseline_resamples > 0)")
    ok = t["outcome"].isin(stats.AVERAGED) & t[m].map(stats.finite)
    t["_position"] = ((t[m] - t[cols["floor"]]) / (t[cols["ceiling"]] - t[cols["floor"]])).where(ok)
    g = exp.groups()
    pos = stats.group_table(t, "_position", exp.sweep.mode, exp.group_keys).set_index("group")
    rows = []
    for _, r in g.iterrows():
        members = exp.members(r)
        rows.append({"group": r["group"], "mean": r["mean"], "position": pos.loc[r["group"], "mean"],
                     **{k: _mean(members[c]) if c in members else math.nan for k, c in cols.items()},
                     "n": int(r["n"])})
    return pd.DataFrame(rows)


def blocks(exp: Experiment, out_dir: str) -> list[tuple]:
    """Report blocks (heading, sentences, table, plot); empty when the sweep's metric has no floor."""
    try:
        p = placement(exp)
    except Skip:
        return []

    m = exp.sweep.metric
    out: list[tuple] = [("h2", "Between floor and ceiling")]
    out.append(("p", f"Floor: {m} of N training images against the same held-out reference; ceiling: N "
                     f"uniform-noise images; both at each trial's N through the same network. Position = "
                     f"(value - floor) / (ceiling - floor): 0 is as good as data, 1 as bad as noise. Spread: "
                     f"the std of floor and ceiling over draws of N images, the metric's own noise at that N "
                     f"(it grows with the distance from the data, so the larger of the two is used to call a "
                     f"difference clear). Uniform noise lies far from any image in feature space, so FID/KID "
                     f"positions crowd near 0: on mnist5k at N = 500 a Gaussian blur of 1 px already sits at a "
                     f"KID position of 0.07 and 5% salt-and-pepper at 0.04 (the ladder in BENCHMARKS.md); read a "
                     f"small position against that ladder, not as 'almost data'. 'As trained': the same metric of "
                     f"each arm's own training sampler's samples ({m.replace('eval/', 'eval/as_trained/', 1)}), "
                     f"not used for ranking."))
    out.append(("ul", sentences(p, m)))
    header = ["#", "configuration", f"{m} mean", "position (0 = data, 1 = noise)", "floor", "ceiling",
              "spread at floor", "spread at ceiling", "as trained", "its position", "n"]
    rows = [[str(i + 1), r["group"], stats.fmt(r["mean"], 4), stats.fmt(r["position"], 3), stats.fmt(r["floor"], 4),
             stats.fmt(r["ceiling"], 4), stats.fmt(r["spread"], 2), stats.fmt(r["ceiling_spread"], 2),
             stats.fmt(r["as_trained"], 4), stats.fmt(r["as_trained_position"], 3), str(r["n"])]
            for i, (_, r) in enumerate(p.iterrows())]
    out.append(("table", header, rows))
    try:
        fig = plot_placement(exp, p)
    except Skip as e:
        out.append(("p", f"Position plot not drawn: {e}."))
    else:
        path = os.path.join(out_dir, "placement.png")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        out.append(("img", path, "position between floor and ceiling"))
    return out


def sentences(p: pd.DataFrame, metric: str) -> list[str]:
    """Where the best configuration sits, and how many configurations the metric's spread cannot separate."""
    ranked = p[p["mean"].map(stats.finite)]
    if ranked.empty:
        return [f"No configuration has a finite {metric}."]
    top = ranked.iloc[0]
    out = [f"The best configuration, {top['group']}, sits at {stats.fmt(top['position'], 2)} of the way from "
           f"the floor ({stats.fmt(top['floor'], 3)}) to the ceiling ({stats.fmt(top['ceiling'], 3)})."]
    spreads = ranked[["spread", "ceiling_spread"]].to_numpy(dtype=float)
    spread = float(np.nanmax(spreads)) if np.isfinite(spreads).any() else math.nan
    if stats.finite(spread):
        close = ranked[(ranked["mean"] - top["mean"]).abs() <= CLEAR * spread]
        out.append(f"The metric's spread at this N is up to {stats.fmt(spread, 2)}: {len(close)} of {len(ranked)} "
                   f"configurations lie within {CLEAR:g} spreads of the best, which the metric does not tell apart.")
    return out


def plot_placement(exp: Experiment, p: pd.DataFrame | None = None) -> plt.Figure:
    """Position per configuration (0 = floor, 1 = ceiling): a heatmap over two numeric grid keys, else bars."""
    p = placement(exp) if p is None else p
    if not p["position"].map(stats.finite).any():
        raise Skip("no configuration has a finite position")
    keys = list(exp.sweep.space)
    g = exp.groups()
    numeric = len(keys) == 2 and set(keys) <= set(g) and all(g[k].map(stats.finite).all() for k in keys)
    if numeric:
        a, b = keys
        table = g[[a, b, "group"]].merge(p[["group", "position"]], on="group")
        grid = table.pivot_table(index=a, columns=b, values="position", aggfunc="first", dropna=False)
        fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(grid.columns), 1.6 + 1.1 * len(grid.index)))
        sns.heatmap(grid.astype(float), annot=True, fmt=".2f", cmap="viridis_r", vmin=0, vmax=1, linewidths=1,
                    linecolor="white", cbar_kws={"label": "position (0 = data, 1 = noise)"}, ax=ax)
        ax.set_xlabel(b)
        ax.set_ylabel(a)
    else:
        shown = p[p["position"].map(stats.finite)].head(30)
        fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(shown)))
        ax.barh(range(len(shown)), shown["position"], color="tab:blue")
        ax.set_yticks(range(len(shown)), shown["group"], fontsize=8)
        ax.invert_yaxis()
        for x, label in ((0, "floor (data)"), (1, "ceiling (noise)")):
            ax.axvline(x, color="gray", ls="--", lw=1)
            ax.text(x, -0.7, label, ha="center", fontsize=8, color="gray")
        ax.set_xlabel("position between floor and ceiling")
    ax.set_title(f"{exp.sweep.name}: where {exp.sweep.metric} sits between held-out data (0) and noise (1)",
                 fontsize=10)
    return fig


def insert(report_blocks: list[tuple], exp: Experiment, out_dir: str) -> list[tuple]:
    """``report_blocks`` with this module's section placed before the plots (appended if there is none)."""
    extra = blocks(exp, out_dir)
    at = next((i for i, b in enumerate(report_blocks) if b[:2] == ("h2", "Plots")), len(report_blocks))
    return report_blocks[:at] + extra + report_blocks[at:]


# --------------------------------------------------------------------------------------------------


def _mean(values: pd.Series) -> float:
    finite = values[values.map(stats.finite)]
    return float(finite.mean()) if len(finite) else math.nan
