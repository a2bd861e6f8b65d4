"""The report's plain-language summary: short sentences whose every number is computed from the frames.

    sentences(exp) -> ["12 trials (4 configurations x 4 seeds): 10 ran to the end, 2 diverged.",
                       "PCD-1 beats CD-1 by 12.3 ± 1.1 nats (95% CI, paired over 4 seeds).", ...]

Every difference between configurations goes through :func:`analysis.stats.contrast`: called clear or not
clear only on a paired interval with ``stats.MIN_PAIRED_DOF`` degrees of freedom, shown seed by seed with
fewer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import effects, literature, stats, swings
from analysis.frames import Experiment
from analysis.stats import BASELINE_INIT, Skip, fmt, importance, importance_metric, sampler_name

PHRASES = {"ok": "ran to the end", "diverged": "diverged", "errored": "ended with an error",
           "stopped": "{were} stopped early by ASHA",
           "unfinished": "{were} unfinished when the sweep stopped"}
FEW_TRIALS = 10  # fewer trials than this make parameter importances a rough indication only
CLEAR = 2.0  # placement: differences larger than this many spreads are "clear" of the metric's own noise
# the best is contrasted with each of these in turn
RUNNERS_UP = ("The runner-up", "Third", "Fourth", "Fifth")


def sentences(exp: Experiment, imp: pd.Series | Skip | None = None) -> list[str]:
    """Every sentence that applies, most important first: the scale caveat, outcomes, the best configuration,
    the literature, the best against its runners-up, collapse, CD comparisons, main effects of a grid,
    swinging seeds, then divergence and the rest. ``imp``: the parameter importances
    (:func:`analysis.stats.importance`) or the :class:`Skip` it raised, where already computed; else computed
    here."""
    out = [scale(exp), outcomes(exp), best(exp)]
    out += literature.sentences(exp)
    out += runners_up(exp)
    out += [collapse(exp), unreliable(exp)]
    out += cd_comparisons(exp)
    out += effects.main_effects(exp)
    out += [swings.sentence(exp), divergence(exp), stopped(exp), errors(exp), unfinished(exp), missing(exp),
            importance_sentence(exp, imp)]
    return [s for s in out if s]


def scale(exp: Experiment) -> str:
    """First, where the run cannot answer its question at its scale: the preset says so (its ``caveat``), or
    the run fell back to a smaller data set than the preset was chosen for."""
    s = exp.sweep
    out = [f"This preset cannot answer its question at its scale: {s.caveat}"] if s.caveat else []
    if s.data_requested:
        out.append("This run cannot answer its question at the scale its preset was chosen for: it trained "
                   f"on the embedded {s.data_used} because {s.data_requested} was not available (fewer "
                   f"updates per epoch); rerun with --set data.root=DIR holding {s.data_requested}, or "
                   "--strict-data to refuse the fallback.")
    return " ".join(out)


def outcomes(exp: Experiment) -> str:
    t, g = exp.trials, exp.groups()
    counts = t["outcome"].value_counts()
    seeds = t["config/seed"].nunique() if "config/seed" in t else 1
    parts = [f"{int(counts[o])} " + PHRASES[o].format(were="was" if counts[o] == 1 else "were")
             for o in PHRASES if counts.get(o, 0)]
    shape = f"{len(g)} configuration{'s' * (len(g) != 1)} x {seeds} seed{'s' * (seeds != 1)}"
    return f"{len(t)} trial{'s' * (len(t) != 1)} ({shape}): {', '.join(parts)}."


def best(exp: Experiment) -> str:
    s, g = exp.sweep, exp.groups()
    ranked = g[g["n"] > 0]
    if ranked.empty:
        return f"No trial reported a finite {s.ranked_by}, so no configuration can be ranked."
    top = ranked.iloc[0]
    return f"Best configuration by {s.ranked_by} ({'higher' if s.mode == 'max' else 'lower'} is better): " \
           f"{top['group']}, {_estimate(exp, top)}."


def runners_up(exp: Experiment) -> list[str]:
    """The best configuration against each of the next ``len(RUNNERS_UP)``, paired over seeds."""
    s, g = exp.sweep, exp.groups()
    ranked = g[g["n"] > 0]
    if len(ranked) < 2:
        return []
    top = ranked.iloc[0]
    out = []
    for name, (_, r) in zip(RUNNERS_UP, ranked.iloc[1:].iterrows(), strict=False):
        c = stats.contrast(exp.by_seed(r), exp.by_seed(top), s.mode, s.level)
        head = f"{name}, {r['group']} ({fmt(r['mean'], 5)}),"
        if c.verdict == "no value":
            continue
        if c.difference == 0:
            out.append(f"{head} ties with the best on average, a difference of "
                       f"{stats.amount(c, stats.unit_phrase(s.ranked_by))}.")
        elif c.gain < 0:
            out.append(f"{head} is behind the best by {stats.amount(c, stats.unit_phrase(s.ranked_by))}.")
        else:
            why = "a seed diverged, and its mean covers only the seeds that survived" if r["diverged"] else \
                "its samples collapsed on some seed" if r["collapsed"] else \
                "its run called its value unreliable on some seed" if r["unreliable"] else \
                "it has fewer seeds with a value"
            by = stats.amount(c, stats.unit_phrase(s.ranked_by))
            out.append(f"{head} is ahead of the best by {by}, but ranks after it: {why}.")
    return out


def unreliable(exp: Experiment) -> str:
    """Which configurations have a value their own run called unreliable (:func:`analysis.stats.unreliable`);
    the ranking puts them after the reliable ones."""
    g = exp.groups()
    bad = g[g["unreliable"] > 0]
    if bad.empty:
        return ""
    names = "; ".join(bad["group"].head(6)) + (f"; and {len(bad) - 6} more" if len(bad) > 6 else "")
    bounds = (" The final evaluation's RAISE figure and Markov bound beside it (final/raise_log_likelihood, "
              "final/log_likelihood_high) say how far it may be off."
              if exp.sweep.ranked_by.startswith("final/") else "")
    return (f"{len(bad)} of {len(g)} configurations have a {exp.sweep.ranked_by} that their own run called "
            "unreliable on some seed (forward AIS whose weight ESS stayed below its threshold: it overstates "
            f"the likelihood by an amount it cannot state): {names}. They rank after the others whatever "
            f"their mean.{bounds}")


def collapse(exp: Experiment) -> str:
    """Which configurations drew collapsed samples on some seed (:func:`analysis.stats.collapsed`); the
    ranking puts them after the others."""
    g = exp.groups()
    bad = g[g["collapsed"] > 0]
    if bad.empty:
        return ""
    names = "; ".join(bad["group"].head(6)) + (f"; and {len(bad) - 6} more" if len(bad) > 6 else "")
    return (f"{len(bad)} of {len(g)} configurations drew collapsed samples on some seed, of fewer than two "
            f"classes by the domain classifier's labels ({stats.COLLAPSE_COLUMN} below "
            f"{stats.COLLAPSE_BELOW:g}: one pattern repeated, or noise it cannot class): {names}. They rank "
            f"after the others whatever their {exp.sweep.ranked_by}, which can score one pattern near the "
            "data's mean features well.")


def cd_comparisons(exp: Experiment) -> list[str]:
    """Set A / Set B: every chain start against CD (chains from the data) at the same k."""
    s, t = exp.sweep, exp.trials
    if not {"sampler.init", "sampler.k"} <= set(s.space) or len(s.space) != 2:
        return []
    if BASELINE_INIT not in set(t["config/sampler.init"]):
        return []
    g = exp.groups()
    out = []
    for k in sorted(t["config/sampler.k"].dropna().unique()):
        base = g[(g["sampler.init"] == BASELINE_INIT) & (g["sampler.k"] == k)]
        if base.empty:
            continue
        for _, r in g[(g["sampler.k"] == k) & (g["sampler.init"] != BASELINE_INIT)].iterrows():
            other, cd = f"{sampler_name(r['sampler.init'])}-{fmt(k)}", f"CD-{fmt(k)}"
            c = stats.contrast(exp.by_seed(r), exp.by_seed(base.iloc[0]), s.mode, s.level)
            if c.verdict == "no value":
                out.append(f"{other} vs {cd}: no comparison, one of them has no finite {s.ranked_by} "
                           f"({r['diverged'] + base.iloc[0]['diverged']} diverged).")
                continue
            better = c.gain > 0
            verb = "beats" if better else "trails"
            winner = (other, r) if better else (cd, base.iloc[0])
            note = (f"; but {winner[0]}'s samples collapsed on some seed ({stats.COLLAPSE_COLUMN} < "
                    f"{stats.COLLAPSE_BELOW:g}), so its {s.ranked_by} does not mean better samples"
                    if winner[1]["collapsed"] > 0 else "")
            out.append(f"{other} {verb} {cd} by {stats.amount(c, stats.unit_phrase(s.ranked_by))}{note}.")
    return out


def divergence(exp: Experiment) -> str:
    """How many configurations (cells) had a diverged trial, and where in the space they lie."""
    g, s = exp.groups(), exp.sweep
    n_div = int(exp.trials["outcome"].eq("diverged").sum())
    if n_div == 0:
        return "No trial diverged."
    bad = g[g["diverged"] > 0]
    cell = "cell" if effects.is_grid(s.domains) and s.space else "configuration"
    names = "/".join(k.rsplit(".", 1)[-1] for k in s.space) + " " if cell == "cell" else ""
    text = f"{n_div} of {len(exp.trials)} trials diverged; {len(bad)} of {len(g)} {names}{cell}" \
           f"{'s' * (len(g) != 1)} had a diverged trial"
    where = _threshold(g, bad, list(s.space), cell)
    if where:
        text += f", {where}"
    elif len(bad) <= 5:
        text += f" ({'; '.join(bad['group'])})"
    return text + "."


def stopped(exp: Experiment) -> str:
    t = exp.trials
    st = t[t["outcome"] == "stopped"]
    if st.empty:
        return ""
    of = f" of {exp.sweep.max_t}" if exp.sweep.max_t else ""
    return (f"ASHA stopped {len(st)} of {len(t)} trials early, after a median of "
            f"{fmt(st['iterations'].median())}{of} iterations; they count with their last reported value.")


def errors(exp: Experiment) -> str:
    t = exp.trials
    err = t[t["outcome"] == "errored"]
    if err.empty:
        return ""
    shown = "; ".join(f"{r['trial_id']}: {r['error']}" for _, r in err.head(3).iterrows())
    more = f" (and {len(err) - 3} more)" if len(err) > 3 else ""
    return f"{len(err)} trial{'s' * (len(err) != 1)} ended with an error{more} - {shown}. Retry with " \
           f"{exp.sweep.resume_command(exp.path)}."


def unfinished(exp: Experiment) -> str:
    t = exp.trials
    n = int((t["outcome"] == "unfinished").sum())
    if not n:
        return ""
    started = int(((t["outcome"] == "unfinished") & (t["iterations"] > 0)).sum())
    return (f"{n} trial{'s' * (n != 1)} ({started} started) had not finished when the sweep stopped; their "
            f"values are not averaged. Continue with {exp.sweep.resume_command(exp.path)}.")


def missing(exp: Experiment) -> str:
    t, m = exp.trials, exp.sweep.ranked_by
    none = t[(t["outcome"].isin(["ok", "stopped"])) & ~t[m].map(stats.finite)]
    if none.empty:
        return ""
    return f"{len(none)} trial{'s' * (len(none) != 1)} ran without diverging but reported no finite {m} " \
           f"(shown as nan in the tables)."


def importance_sentence(exp: Experiment, imp: pd.Series | Skip | None) -> str:
    if imp is None:
        try:
            imp = importance(exp)
        except Skip:
            return ""
    if isinstance(imp, Skip) or imp.empty:
        return ""
    metric = importance_metric(exp)
    n = int(exp.trials[metric].map(stats.finite).sum())
    top = [f"{k} ({v:.0%})" for k, v in imp.head(3).items()]
    rough = f" (only {n} trials: a rough indication)" if n < FEW_TRIALS else ""
    of = f" of {metric}" if metric != exp.sweep.ranked_by else ""
    return f"By fANOVA importance{of} over {n} trials with a value{rough}, {top[0]} matters most" + \
           (f", then {', '.join(top[1:])}" if len(top) > 1 else "") + "."


def placement_sentences(p: pd.DataFrame, metric: str) -> list[str]:
    """Where the best configuration sits between floor and ceiling (:func:`analysis.stats.placement`), and how
    many configurations the metric's spread cannot separate from it."""
    ranked = p[p["mean"].map(stats.finite)]
    if ranked.empty:
        return [f"No configuration has a finite {metric}."]
    top = ranked.iloc[0]
    out = [f"The best configuration, {top['group']}, sits at {fmt(top['position'], 2)} of the way from "
           f"the floor ({fmt(top['floor'], 3)}) to the ceiling ({fmt(top['ceiling'], 3)})."]
    spreads = ranked[["spread", "ceiling_spread"]].to_numpy(dtype=float)
    spread = float(np.nanmax(spreads)) if np.isfinite(spreads).any() else math.nan
    if stats.finite(spread):
        close = ranked[(ranked["mean"] - top["mean"]).abs() <= CLEAR * spread]
        out.append(f"The metric's spread at this N is up to {fmt(spread, 2)}: {len(close)} of {len(ranked)} "
                   f"configurations lie within {CLEAR:g} spreads of the best, which the metric does not tell "
                   "apart.")
    return out


# --------------------------------------------------------------------------------------------------


def _estimate(exp: Experiment, r) -> str:
    """A configuration's mean with its interval where it has the seeds for one (``stats.enough_seeds``), else
    with its seeds' values."""
    if r["n"] < 2:
        return f"{fmt(r['mean'], 5)} ({int(r['n'])} seed, so no interval)"
    if not stats.enough_seeds(int(r["n"])):
        values = [v for v in exp.by_seed(r) if stats.finite(v)]
        return f"{fmt(r['mean'], 4)} ({int(r['n'])} seeds: {', '.join(fmt(v, 4) for v in values)})"
    return (f"{fmt(r['mean'], 4)} ± {fmt(r['ci'], 2)} ({stats.ci_name(exp.sweep.level)} over {int(r['n'])} "
            "seeds)")


def _threshold(g: pd.DataFrame, bad: pd.DataFrame, keys: list[str], cell: str) -> str:
    """``all with step_size ≥ 50 (3 of the 4 cells with step_size ≥ 50)`` for the numeric key and direction
    that best separates the cells with diverged trials; "" when no key does better than chance."""
    best_text, best_score = "", len(bad) / len(g)
    for k in keys:
        if k not in g or not g[k].map(stats.finite).all():
            continue
        for op, pick in (("≥", min), ("≤", max)):
            x = pick(bad[k])
            side = g[g[k] >= x] if op == "≥" else g[g[k] <= x]
            hit = int((side["diverged"] > 0).sum())
            score = hit / len(side)
            if score > best_score and len(side) < len(g):
                leaf = k.rsplit(".", 1)[-1]
                rule = f"{leaf} {op} {fmt(x)}"
                share = f"every {cell} with {rule} had one" if hit == len(side) else \
                    f"{hit} of the {len(side)} {cell}s with {rule}"
                best_text = f"all with {rule} ({share})"
                best_score = score
    return best_text if best_text else ""
