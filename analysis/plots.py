"""Comparison plots of an :class:`~analysis.frames.Experiment`, one PNG each (matplotlib Agg + seaborn).

Each ``plot_*`` function returns a figure, or raises :class:`Skip` with the reason it does not apply to this
sweep (a heatmap needs two numeric grid keys, importance needs sampled parameters, ...); the report states the
reason instead of showing an empty plot. Every seed's value is drawn as a point; bands and error bars are 95%
t-intervals over seeds, drawn only where a configuration has the seeds for one (``stats.enough_seeds``: with 2
seeds, 1 degree of freedom, t(0.975) is 12.7 and the bar says nothing).
"""

from __future__ import annotations

import functools
import math
import os
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from analysis import stats  # noqa: E402
from analysis.frames import Experiment  # noqa: E402
from analysis.stats import SAMPLER_NAMES, Skip, importance, metric_label, sampler_name  # noqa: E402
from ebm import metric_names  # noqa: E402

HEADLINE = metric_names.panel("headline")  # plotted against k beside the sweep's metric
DIAGNOSTICS = metric_names.panel("diagnostics")
MAX_PANELS = 9  # training-curve panels; more groups share one panel
MAX_SAMPLES = 12  # sample grids side by side
UNRELIABLE_MARK = "unreliable by its run's AIS weight ESS (optimistic)"  # per-epoch points, ebm.rbm_train
OUTCOME_MARKS = {"stopped": ("X", "black", "stopped early by ASHA"), "diverged": ("v", "red", "diverged"),
                 "errored": ("s", "purple", "errored"), "unfinished": ("o", "gray", "unfinished")}

@dataclass
class Plot:
    name: str
    """File stem: ``DIR/<name>.png``."""
    title: str
    path: str | None = None
    skipped: str | None = None
    """Why the plot was not drawn (None when it was)."""


def make_plots(exp: Experiment, out_dir: str, imp: pd.Series | Skip | None = None) -> list[Plot]:
    """Every plot that applies, saved as ``out_dir/<name>.png``; the others carry their reason. ``imp``: the
    parameter importances (:func:`analysis.stats.importance`) or the :class:`Skip` it raised, where the caller
    has them already (the report computes them once for the plot and the summary); else computed here."""
    out = []
    with plt.rc_context():  # the theme stays inside: a notebook keeps its own style
        sns.set_theme(style="whitegrid", context="notebook")
        plt.rcParams["axes.formatter.useoffset"] = False  # -203.01, not -0.003 + -2.0301e2
        for name, title, fn in PLOTS:
            draw = (functools.partial(plot_importance, exp, imp) if fn is plot_importance
                    else functools.partial(fn, exp))
            out.append(_save(Plot(name, title), draw, out_dir))
    return out


def save_placement(exp: Experiment, p: pd.DataFrame, out_dir: str) -> Plot:
    """:func:`plot_placement` saved as ``out_dir/placement.png``, for the report's floor / ceiling section."""
    return _save(Plot("placement", "position between floor and ceiling"), lambda: plot_placement(exp, p),
                 out_dir)


# --------------------------------------------------------------------------------------------------


def plot_groups(exp: Experiment) -> plt.Figure:
    """The metric of every configuration: each seed's value, the mean, and the 95% interval where the
    configuration has the seeds for one; best at the top, outcomes beside it."""
    s = exp.sweep
    g = exp.groups().head(30)
    if g["n"].sum() == 0:
        raise Skip(f"no trial reported a finite {s.ranked_by}")
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * len(g)))
    y = np.arange(len(g))[::-1]
    _seed_points(ax, [exp.by_seed(r) for _, r in g.iterrows()], y, horizontal=True)
    ax.scatter(g["mean"], y, marker="|", s=250, linewidths=2, color="black", zorder=4, label="mean")
    _intervals(ax, g, y, horizontal=True, level=exp.sweep.level)
    for yi, (_, r) in zip(y, g.iterrows(), strict=True):
        trouble = [f"{r[o]} {o}" for o in ("diverged", "errored", "stopped", "unfinished", "unreliable")
                   if r[o]]
        silent = r["no_value"] - r["diverged"] - r["errored"] - r["unfinished"]  # ran, but reported no value
        trouble = ", ".join(trouble + ([f"{silent} without a value"] if silent > 0 else []))
        note = f"n={r['n']}" + (f"; {trouble}" if trouble else "")
        ax.annotate(note, (1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=8,
                    color="red" if r["diverged"] or r["errored"] or r["unreliable"] or silent > 0
                    else "black")
    ax.set_yticks(y, g["group"])
    ax.set_xlabel(metric_label(s.ranked_by))
    ax.set_title(f"{s.name}: {s.ranked_by} per configuration ({'higher' if s.mode == 'max' else 'lower'} is "
                 f"better)")
    ax.legend(loc="best", fontsize=8)
    return fig


def plot_metric_vs_k(exp: Experiment) -> plt.Figure:
    """Set A / Set B: each metric against the number of MCMC steps k, one line per chain start."""
    s, t = exp.sweep, exp.trials
    if "sampler.k" not in s.space:
        raise Skip("sampler.k is not swept")
    kind = (s.domains["sampler.k"] or ("grid",))[0]  # inferred settings: taken as a grid
    others = [k for k in s.space if k not in ("sampler.k", "sampler.init")]
    if kind != "grid" or others:
        raise Skip(f"sampler.k is {'drawn' if kind != 'grid' else 'swept'} together with "
                   f"{', '.join(others) or 'sampled keys'}; a line per chain start would average over them "
                   f"(see the parameter importance instead)")
    metrics = [m for m in dict.fromkeys([s.ranked_by, *HEADLINE]) if m in t and t[m].map(stats.finite).any()]
    if not metrics:
        raise Skip(f"no trial reported a finite {s.ranked_by}")
    ks = sorted(t["config/sampler.k"].dropna().unique())
    inits = _inits(t)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        table = stats.group_table(t, metric, s.mode, ["config/sampler.init", "config/sampler.k"], s.level)
        keys = ["config/sampler.init", "config/sampler.k"]
        for i, init in enumerate(inits):
            line = table[table["sampler.init"] == init] if init is not None else table
            line = line.sort_values("sampler.k")
            name = sampler_name(init) if init is not None else "all"
            ax.plot(line["sampler.k"], line["mean"], "-", color=f"C{i}",
                    label=f"{name} (mean; points: seeds)")
            _seed_points(ax, [exp.by_seed(r, metric, keys if init is not None else keys[1:])
                              for _, r in line.iterrows()], line["sampler.k"].to_numpy(), color=f"C{i}")
            _intervals(ax, line, line["sampler.k"].to_numpy(), color=f"C{i}")
            if len(line) > 1 and line["n"].map(stats.enough_seeds).all():
                ax.fill_between(line["sampler.k"], line["ci_low"], line["ci_high"], color=f"C{i}", alpha=0.15)
            for _, r in line[line["diverged"] > 0].iterrows():
                ax.annotate(f"{r['diverged']}/{r['trials']} diverged", (r["sampler.k"], r["mean"]),
                            fontsize=7, color="red", textcoords="offset points", xytext=(4, -10))
            # an optimistic AIS value, never drawn as plain
            for _, r in line[line["unreliable"] > 0].iterrows():
                ax.plot(r["sampler.k"], r["mean"], "o", ms=10, mfc="none", mec="red", mew=1.5)
                ax.annotate(f"{r['unreliable']}/{r['trials']} unreliable", (r["sampler.k"], r["mean"]),
                            fontsize=7, color="red", textcoords="offset points", xytext=(4, 6))
        if len(ks) > 1 and ks[-1] / max(ks[0], 1) >= 10:
            ax.set_xscale("log")
        ax.set_xticks(ks, [stats.fmt(k) for k in ks])
        ax.set_xlabel("k (MCMC steps per update)")
        ax.set_ylabel(metric_label(metric))
        ax.set_title(f"{metric} vs k")
        ax.legend(fontsize=8)
    seeds = int(exp.groups()["trials"].max())
    fig.suptitle(f"{s.name}: final metrics vs k, {seeds} seed(s) per point; bars and bands: "
                 f"{stats.ci_name(s.level)} where >= {stats.MIN_PAIRED_DOF + 1} seeds", y=1.02)
    return fig


def plot_training_curves(exp: Experiment) -> plt.Figure:
    """The sweep metric over training, one line per trial, grouped; where trials ended early is marked."""
    s = exp.sweep
    # the steering metric has gaps where its run called the AIS estimate unreliable: draw the estimate, marked
    curves = exp.curves("eval/log_likelihood" if s.ranked_by == "eval/reliable_log_likelihood" else None)
    # a final/ metric's curve is its eval/ twin
    shown = curves["metric"].iloc[0] if len(curves) else s.ranked_by
    flagged = stats.unreliable_points(exp.history)
    if curves.empty or not curves["value"].map(stats.finite).any():
        raise Skip(f"no trial reported {shown} during training")
    groups = exp.groups()
    labels = _trial_groups(exp)
    outcome = exp.trials.set_index("trial_id")["outcome"]
    panels = list(groups["group"]) if len(groups) <= MAX_PANELS else [None]
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False, sharey=True)
    marked = set()
    for ax, panel in zip(axes.flat, panels, strict=False):
        trials = [tid for tid, g in labels.items() if panel is None or g == panel]
        for i, tid in enumerate(trials):
            c = curves[curves["trial_id"] == tid].sort_values("iteration")
            color = f"C{i % 10}"
            ax.plot(c["iteration"], c["value"], "-o", ms=3, color=color, alpha=0.8)
            bad = c[[(tid, it) in flagged for it in c["iteration"]]]
            if len(bad):
                ax.plot(bad["iteration"], bad["value"], "o", ms=9, mfc="none", mec="red", mew=1.5,
                        label=None if UNRELIABLE_MARK in marked else UNRELIABLE_MARK)
                marked.add(UNRELIABLE_MARK)
            mark = OUTCOME_MARKS.get(outcome.get(tid))
            finite = c[c["value"].map(stats.finite)]
            if mark and len(c):
                y = finite["value"].iloc[-1] if len(finite) else np.nan
                ax.plot(c["iteration"].iloc[-1], y, mark[0], color=mark[1], ms=9,
                        label=None if mark[2] in marked else mark[2])
                marked.add(mark[2])
        ax.set_title(textwrap.fill(panel, 50) if panel is not None else f"all {len(trials)} trials",
                     fontsize=9)
        ax.set_xlabel("training iteration (epoch)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, (s.max_t or curves["iteration"].max()) + 0.5)  # every panel spans the whole run
    for ax in axes[:, 0]:
        ax.set_ylabel(metric_label(shown))
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if marked:
        fig.legend(loc="lower center", ncol=len(marked), bbox_to_anchor=(0.5, -0.04), fontsize=9)
    max_t = f"; max {s.max_t} iterations" if s.max_t else ""
    cheap = f" (per-epoch estimate; ranked by {s.ranked_by})" if shown != s.ranked_by else ""
    fig.suptitle(f"{s.name}: {shown} during training{cheap}, one line per trial{max_t}")
    fig.tight_layout()
    return fig


def plot_heatmap(exp: Experiment) -> plt.Figure:
    """Ablations: the metric over the two swept keys (e.g. Langevin step size x noise); diverged cells
    marked."""
    s = exp.sweep
    keys = list(s.space)
    if len(keys) != 2:
        raise Skip(f"a heatmap needs exactly two swept keys; this sweep varies {len(keys)}")
    for k in keys:
        kind = (s.domains[k] or ("grid",))[0]  # inferred settings: taken as a grid
        values = exp.trials.get(f"config/{k}", pd.Series(dtype=object)).dropna()
        if kind not in ("grid", "choice") or not values.map(stats.finite).all():
            raise Skip(f"a heatmap needs two numeric grid keys; {k} is "
                       f"{'categorical' if kind in ('grid', 'choice') else 'sampled (' + kind + ')'}")
    g = exp.groups()
    a, b = keys
    mean = g.pivot_table(index=a, columns=b, values="mean", aggfunc="first", dropna=False)
    text = pd.DataFrame("", index=mean.index, columns=mean.columns)
    diverged = pd.DataFrame(False, index=mean.index, columns=mean.columns)
    for _, r in g.iterrows():
        cell = "–" if not stats.finite(r["mean"]) else stats.fmt(r["mean"], 3)
        if stats.finite(r["ci"]) and stats.enough_seeds(int(r["n"])):
            cell += f"\n± {stats.fmt(r['ci'], 2)}"
        elif r["n"] > 0:
            cell += f"\n{int(r['n'])} seed{'s' * (r['n'] != 1)}"
        if r["diverged"] or r["errored"]:
            cell += "\n" + ", ".join(f"{r[o]}/{r['trials']} {o}" for o in ("diverged", "errored") if r[o])
            diverged.loc[r[a], r[b]] = True
        text.loc[r[a], r[b]] = cell
    fig, ax = plt.subplots(figsize=(2.2 + 1.8 * len(mean.columns), 1.6 + 1.1 * len(mean.index)))
    sns.heatmap(mean.astype(float), annot=text.values, fmt="",
                cmap="viridis" if s.mode == "max" else "viridis_r",
                cbar_kws={"label": metric_label(s.ranked_by)}, linewidths=1, linecolor="white", ax=ax,
                annot_kws={"fontsize": 8})
    for i, row in enumerate(diverged.index):
        for j, col in enumerate(diverged.columns):
            if diverged.loc[row, col]:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="red", lw=2.5, hatch="//"))
            if not stats.finite(mean.loc[row, col]):  # seaborn leaves cells without a value blank
                ax.text(j + 0.5, i + 0.5, text.loc[row, col] or "no trial", ha="center", va="center",
                        fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
    ax.grid(False)
    ax.set_xlabel(b)
    ax.set_ylabel(a)
    ax.set_title(f"{s.name}: mean {s.ranked_by} over seeds ({'higher' if s.mode == 'max' else 'lower'} is "
                 f"better; ± {stats.ci_name(s.level)} where >= {stats.MIN_PAIRED_DOF + 1} seeds)\n"
                 f"red hatched: cells with diverged or errored trials", fontsize=10)
    return fig


def plot_samples(exp: Experiment) -> plt.Figure:
    """The final sample grid of the best trial of each configuration, best configuration first."""
    g = exp.groups()
    paths = exp.trials.set_index("trial_id")["samples"]
    picks = [(r["group"] + (" (collapsed)" if r["collapsed"] > 0 else ""), r["mean"],
              paths.get(r["best_trial"]))
             for _, r in g.iterrows() if r["best_trial"]]
    picks = [p for p in picks if isinstance(p[2], str) and os.path.exists(p[2])][:MAX_SAMPLES]
    if not picks:
        raise Skip("no trial wrote a samples.png (diverged and stopped trials write none)")
    cols = min(4, len(picks))
    rows = math.ceil(len(picks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.6 * rows), squeeze=False)
    for ax, (group, mean, path) in zip(axes.flat, picks, strict=False):
        ax.imshow(plt.imread(path), cmap="gray")
        ax.set_title(f"{textwrap.fill(group, 40)}\n{exp.sweep.ranked_by} = {stats.fmt(mean, 5)}", fontsize=8)
        ax.axis("off")
    for ax in list(axes.flat)[len(picks):]:
        ax.set_visible(False)
    fig.suptitle(f"{exp.sweep.name}: samples of the best trial per configuration (best first; collapsed "
                 "after)")
    fig.tight_layout()
    return fig


def plot_mcmc(exp: Experiment) -> plt.Figure:
    """Chain diagnostics: ESS and integrated autocorrelation time of the sampler's energy trace vs k."""
    t = exp.trials
    present = [m for m in DIAGNOSTICS if m in t and t[m].map(stats.finite).any()]
    if not present:
        raise Skip("the trials report no chain diagnostics (eval/ess, eval/tau); add ess to eval.metrics "
                   "(conv EBM) to record them")
    by_k = "config/sampler.k" in t and t["config/sampler.k"].nunique() > 1
    keys = ["config/sampler.init", "config/sampler.k"] if by_k else exp.group_keys
    order = list(exp.groups()["group"])  # without k to plot against: one row per configuration, best first
    fig, axes = plt.subplots(1, len(present),
                             figsize=(5.5 * len(present), 4.2 if by_k else 1.5 + 0.4 * len(order)),
                             squeeze=False, sharey=not by_k, layout="constrained")
    for ax, metric in zip(axes[0], present, strict=True):
        present_keys = [k for k in keys if k in t]
        table = stats.group_table(t, metric, "max", present_keys, exp.sweep.level)
        if by_k:
            for i, init in enumerate(_inits(t)):
                line = table[table["sampler.init"] == init] if init is not None else table
                line = line.sort_values("sampler.k")
                ax.plot(line["sampler.k"], line["mean"], "-", color=f"C{i}",
                        label=sampler_name(init) if init is not None else None)
                _seed_points(ax, [exp.by_seed(r, metric, present_keys) for _, r in line.iterrows()],
                             line["sampler.k"].to_numpy(), color=f"C{i}")
                _intervals(ax, line, line["sampler.k"].to_numpy(), color=f"C{i}")
            ax.set_xlabel("k (MCMC steps per update)")
            if "sampler.init" in table:
                ax.legend(fontsize=8)
        else:
            table = table.set_index("group").reindex(order).reset_index()
            y = np.arange(len(table))[::-1]
            _seed_points(ax, [exp.by_seed(r, metric, present_keys) for _, r in table.iterrows()], y,
                         horizontal=True)
            ax.scatter(table["mean"], y, marker="|", s=250, linewidths=2, color="black", zorder=4)
            _intervals(ax, table, y, horizontal=True, level=exp.sweep.level)
            ax.set_yticks(y, table["group"])
            ax.set_xlabel(metric_label(metric))
        ax.set_ylabel(metric_label(metric) if by_k else "")
        ax.set_title(metric)
    fig.suptitle(f"{exp.sweep.name}: MCMC diagnostics of the final model (points: seeds; "
                 f"{stats.ci_name(exp.sweep.level)} where >= {stats.MIN_PAIRED_DOF + 1} seeds)")
    return fig


def plot_importance(exp: Experiment, imp: pd.Series | Skip | None = None) -> plt.Figure:
    """Tuning sweeps: how much of the metric's variance each parameter explains (``imp``, the importances of
    :func:`analysis.stats.importance`: Optuna's fANOVA on the frame, Hutter et al. 2014)."""
    if imp is None:
        imp = importance(exp)
    if isinstance(imp, Skip):
        raise imp
    fig, ax = plt.subplots(figsize=(7, 1 + 0.45 * len(imp)))
    sns.barplot(x=imp.values, y=imp.index, ax=ax, color="C0")
    ax.set_xlabel("importance (fraction of explained variance, fANOVA)")
    ax.set_ylabel("")
    m = stats.importance_metric(exp)
    n = int(exp.trials[m].map(stats.finite).sum())
    ax.set_title(f"{exp.sweep.name}: parameter importance for {m} ({n} trials with a value)")
    return fig


def plot_placement(exp: Experiment, p: pd.DataFrame | None = None) -> plt.Figure:
    """Position between floor and ceiling per configuration (:func:`analysis.stats.placement`; 0 = floor,
    1 = ceiling): a heatmap over two numeric grid keys, else bars."""
    p = stats.placement(exp) if p is None else p
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
        for x, text in ((0, "floor (data)"), (1, "ceiling (noise)")):
            ax.axvline(x, color="gray", ls="--", lw=1)
            ax.text(x, -0.7, text, ha="center", fontsize=8, color="gray")
        ax.set_xlabel("position between floor and ceiling")
    ax.set_title(f"{exp.sweep.name}: where {exp.sweep.ranked_by} sits between held-out data (0) and noise "
                 "(1)", fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------------


def _save(plot: Plot, draw, out_dir: str) -> Plot:
    """``plot`` with the figure ``draw()`` returns saved as ``out_dir/<name>.png``, or the reason it does not
    apply."""
    try:
        fig = draw()
    except Skip as e:
        plot.skipped = str(e)
    else:
        plot.path = os.path.join(out_dir, f"{plot.name}.png")
        fig.savefig(plot.path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return plot


def _seed_points(ax, values: list[pd.Series], at, horizontal: bool = False, color: str = "C0") -> None:
    """Every seed's value as a point: ``values[i]`` (by seed) at position ``at[i]``, on the x axis for a
    ``horizontal`` plot (configurations down the y axis), else on the y axis."""
    pos, val = [], []
    for where, v in zip(at, values, strict=True):
        finite = [float(x) for x in v if stats.finite(x)]
        pos += [where] * len(finite)
        val += finite
    if not val:
        return
    xy = (val, pos) if horizontal else (pos, val)
    ax.scatter(*xy, s=18, color=color, alpha=0.6, zorder=3, label="each seed" if horizontal else None)


def _intervals(ax, table: pd.DataFrame, at, horizontal: bool = False, color: str = "C3",
               level: float = stats.LEVEL) -> None:
    """t-interval bars (at ``level``, the table's own) of the rows of ``table`` (``mean``, ``ci``, ``n``) that
    have the seeds for one (``stats.enough_seeds``); none for the others, whose seeds' points say more."""
    wide = (table["n"].map(lambda n: stats.finite(n) and stats.enough_seeds(int(n))).to_numpy(dtype=bool)
            & table["ci"].map(stats.finite).to_numpy(dtype=bool))
    if not wide.any():
        return
    at, mean, ci = np.asarray(at)[wide], table["mean"].to_numpy()[wide], table["ci"].to_numpy()[wide]
    label = f"{stats.ci_name(level)} (>= {stats.MIN_PAIRED_DOF + 1} seeds)" if horizontal else None
    if horizontal:
        ax.errorbar(mean, at, xerr=ci, fmt="none", ecolor=color, capsize=4, zorder=5, label=label)
    else:
        ax.errorbar(at, mean, yerr=ci, fmt="none", ecolor=color, capsize=4, zorder=5, label=label)


def _inits(t: pd.DataFrame) -> list:
    """The chain starts in the frame, CD first, then PCD, then short-run: one colour each in every panel."""
    if "config/sampler.init" not in t:
        return [None]
    order = list(SAMPLER_NAMES)
    return sorted(t["config/sampler.init"].dropna().unique(),
                  key=lambda v: (order.index(v) if v in order else len(order), str(v)))


def _trial_groups(exp: Experiment) -> dict:
    """trial_id -> its group's label, in the order of the per-trial frame."""
    keys = exp.group_keys
    out = {}
    for _, r in exp.trials.iterrows():
        values = {k.removeprefix("config/"): r[k] for k in keys}
        out[r["trial_id"]] = stats.label(values) if values else "(base config)"
    return out


PLOTS = [
    ("groups", "Metric per configuration", plot_groups),
    ("metric_vs_k", "Metric vs k (CD, PCD, short-run)", plot_metric_vs_k),
    ("training_curves", "Training curves", plot_training_curves),
    ("heatmap", "Heatmap over the two swept keys", plot_heatmap),
    ("samples", "Samples of the best trial per configuration", plot_samples),
    ("mcmc", "MCMC diagnostics", plot_mcmc),
    ("importance", "Parameter importance", plot_importance),
]
