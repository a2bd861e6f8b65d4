"""The analysis's statistics: across-seed means and intervals, paired differences, the one ranking rule of
configurations (the report's and the driver's table), positions between floor and ceiling, and fANOVA
parameter importances; with how a person reads a value, a configuration, a metric and a sampler.

The interval is mean ± t(0.975, n-1) · s / sqrt(n) over the group's finite values (n seeds). With one value
there is no spread to estimate, so std and the interval are NaN and the report says "1 seed, no interval".
Diverged, errored and unfinished trials are never averaged in silently: they are counted per group.

A contrast between two configurations (:func:`contrast`) is called clear or not clear only on a paired
interval with at least ``MIN_PAIRED_DOF`` degrees of freedom; with fewer seeds the report shows each seed's
difference instead, and an unpaired (Welch) interval is shown but never called.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as sps

from ebm.metric_names import unit

if TYPE_CHECKING:
    from analysis.frames import Experiment

LEVEL = 0.95
# A contrast a report calls clear (or not clear) rests on a paired interval with at least this many degrees of
# freedom, i.e. >= 4 seeds paired: with 1 (2 seeds) t(0.975) is 12.7 and the interval says nothing; the report
# shows the seeds' own differences instead, and plots show seed points instead of intervals.
MIN_PAIRED_DOF = 3
VERDICTS = ("clear", "unclear", "too few seeds", "unpaired", "no value")  # Contrast.verdict
OUTCOMES = ("ok", "diverged", "errored", "stopped", "unfinished")  # a trial's, as analysis.frames reads it
# Outcomes whose final value is averaged: runs that ended as planned, or were stopped by ASHA (they count with
# their last value, as in the driver's table). An errored or unfinished run's last value is from a shorter run
# than its seeds'; it is counted and shown, not averaged.
AVERAGED = ("ok", "stopped")
SAMPLER_NAMES = {"data": "CD", "persistent": "PCD", "buffer": "PCD", "noise": "short-run"}
# CD-k: chains start at the data batch (Hinton 2002); the other starts are compared to it
BASELINE_INIT = "data"
# Samples whose domain Inception Score (exp E KL(p(y|x) || p(y)) on the data set's own classifier) is below
# this cover fewer than two classes' worth of labels: one pattern repeated, or noise the classifier cannot
# class. KID and FID can rank such a set well: one pattern near the data's mean features scored KID_domain
# 0.73 and 1.35 in conv_cd_k's cpu preset, ahead of arms that draw digits of every class (BENCHMARKS.md,
# "Collapse"). Real digits score 8.78 at N = 500, 5 distinct ones repeated 3.79, one repeated 1
# (benchmarks/metric_ladder.py).
COLLAPSE_COLUMN, COLLAPSE_BELOW = "eval/is_domain", 2.0
# a conv run's final evaluation (N = eval.final_n_samples) is read too
FINAL_COLLAPSE_COLUMN = "final/is_domain"


class Skip(Exception):  # noqa: N818 - a reason, not an error
    """This statistic or plot does not apply to the sweep; the message says why (the report shows it)."""


def split_level(looks: int) -> float:
    """The level of each of ``looks`` looks at the same contrasts such that, together, what they call clear is
    wrong at most ``1 - LEVEL`` of the time (Bonferroni): 0.975 for two looks (:mod:`sweeps.sequential`)."""
    return 1 - (1 - LEVEL) / max(1, looks)


def ci_name(level: float = LEVEL) -> str:
    """``95% CI``; ``97.5% CI`` for a sweep that looked twice (sequential seeds: :attr:`SweepInfo.level`)."""
    return f"{100 * level:.1f}".removesuffix(".0") + "% CI"


def t_interval(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """(mean, std, half-width, n) of the finite ``values``; std and half-width are NaN for n < 2."""
    x = np.asarray([v for v in values if finite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, 1
    std = float(x.std(ddof=1))
    half = float(sps.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))
    return mean, std, half, n


def group_table(trials: pd.DataFrame, column: str, mode: str, group_keys: list[str], level: float = LEVEL
                ) -> pd.DataFrame:
    """One row per configuration (trials that differ only in ``config/seed``), best mean first; configurations
    with a diverged trial after all others.

    Columns: the group keys (without the ``config/`` prefix), ``group`` (a short label), ``mean``, ``std``,
    ``ci`` (half-width of the 95% interval), ``ci_low``, ``ci_high``, ``n`` (values averaged: finite, from
    ``AVERAGED`` outcomes), ``trials``, one count per outcome, ``no_value`` (trials not averaged),
    ``collapsed`` (averaged trials whose samples collapsed, :func:`collapsed`), ``unreliable`` (averaged
    trials whose run called the value unreliable, :func:`unreliable`), ``diverged_fraction`` and
    ``best_trial`` (the trial with the best value).

    Order: best mean first among configurations whose samples never collapsed and whose runs call every value
    reliable, then those with an unreliable value, then those with a collapsed seed, then those with a
    diverged seed.
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
        averaged = g[column].map(finite) & outcomes.isin(AVERAGED)
        mean, std, half, n = t_interval(g.loc[averaged, column], level)
        row = {k.removeprefix("config/"): v for k, v in zip(keys, values, strict=True)}
        best = g[averaged].sort_values(column, ascending=(mode == "min"))
        row.update({"mean": mean, "std": std, "ci": half, "ci_low": mean - half, "ci_high": mean + half,
                    "n": n, "trials": len(g), **{o: int((outcomes == o).sum()) for o in OUTCOMES},
                    "no_value": int((~averaged).sum()), "collapsed": int((collapsed(g) & averaged).sum()),
                    "unreliable": int((unreliable(g, column) & averaged).sum()),
                    "diverged_fraction": float((outcomes == "diverged").mean()),
                    "best_trial": best["trial_id"].iloc[0] if len(best) and "trial_id" in best else None})
        rows.append(row)
    out = pd.DataFrame(rows)
    names = [k.removeprefix("config/") for k in keys]
    out.insert(0, "group", [label(dict(zip(names, r, strict=True))) if swept else "(base config)"
                            for r in out[names].itertuples(index=False)])
    # Best mean first, but a configuration that diverged on some seed ranks after every one that never did
    # (its mean covers only the seeds that survived), and one whose samples collapsed on some seed after every
    # one whose samples never did (its mean scores one pattern, which KID and FID can rank well). An estimate
    # its own run calls unreliable (AIS with too few effective weights: optimistic by an unknown amount) ranks
    # after every reliable one, the same way.
    out["_diverged"], out["_collapsed"] = out["diverged"] > 0, out["collapsed"] > 0
    out["_unreliable"] = out["unreliable"] > 0
    # ties (equal means, or none) in the order of their labels, not of the trials' ending
    out = out.sort_values(["_diverged", "_collapsed", "_unreliable", "mean", "group"],
                          ascending=[True, True, True, mode == "min", True], na_position="last",
                          kind="stable")
    return out.drop(columns=["_diverged", "_collapsed", "_unreliable"]).reset_index(drop=True)


def unreliable(trials: pd.DataFrame, column: str) -> pd.Series:
    """Per trial: whether its run called its ``column`` value unreliable, i.e. a log-likelihood whose group's
    ``<group>/reliable`` is false (an AIS estimate with weight ESS below ``ebm.ais.MIN_WEIGHT_ESS``). False
    where the run says nothing (exact values, other metrics)."""
    flag = f"{column.split('/', 1)[0]}/reliable"
    if not column.endswith("log_likelihood") or flag not in trials:
        return pd.Series(False, index=trials.index)
    return trials[flag].map(lambda v: isinstance(v, bool | np.bool_) and not v)


def unreliable_points(history: pd.DataFrame) -> set[tuple]:
    """(trial_id, iteration) of the per-epoch log-likelihoods their run called unreliable: an AIS estimate (it
    reports ``eval/weight_ess``) without a finite ``eval/reliable_log_likelihood`` beside it
    (``ebm.rbm_train``)."""
    if history.empty:
        return set()
    ais = history[history["metric"] == "eval/weight_ess"]
    ok = history[(history["metric"] == "eval/reliable_log_likelihood") & history["value"].map(finite)]
    vouched = set(zip(ok["trial_id"], ok["iteration"], strict=True))
    return set(zip(ais["trial_id"], ais["iteration"], strict=True)) - vouched


def collapsed(trials: pd.DataFrame) -> pd.Series:
    """Per trial: whether its samples collapsed, i.e. their ``COLLAPSE_COLUMN`` or ``FINAL_COLLAPSE_COLUMN``
    (domain Inception Score) is a number below ``COLLAPSE_BELOW``. False where the sweep did not measure it
    (RBM sweeps, or metrics off)."""
    out = pd.Series(False, index=trials.index)
    # the last per-epoch samples, or the final evaluation's
    for column in (COLLAPSE_COLUMN, FINAL_COLLAPSE_COLUMN):
        if column in trials:
            score = trials[column]
            out |= score.map(finite) & (pd.to_numeric(score, errors="coerce") < COLLAPSE_BELOW)
    return out


@dataclass(frozen=True)
class Contrast:
    """``a - b`` over seeds and what a report may say of it (:func:`contrast`)."""

    difference: float
    """Mean of a minus mean of b (paired: the mean of the per-seed differences); NaN without values."""
    half: float
    """Half-width of its 95% interval; NaN where there is none (one seed, or one side with one value)."""
    n: int
    """Seeds paired (one-sample: seeds of a); unpaired: the smaller side's count."""
    dof: float
    """Degrees of freedom of the interval: n - 1 paired, Welch-Satterthwaite unpaired; NaN without one."""
    how: str
    """``paired`` (same seeds on both sides), ``one-sample`` (a against a fixed value) or ``unpaired``
    (Welch)."""
    verdict: str
    """One of ``VERDICTS``: ``clear`` (the interval excludes 0), ``unclear`` (it includes 0), ``too few
    seeds`` (paired with fewer than ``MIN_PAIRED_DOF`` degrees of freedom), ``unpaired`` (never called), ``no
    value``."""
    mode: str = "max"
    """The metric's direction: ``max`` when larger is better."""
    seeds: tuple = ()
    """Paired and one-sample: the per-seed differences, in seed order."""
    sizes: tuple = (0, 0)
    """Finite values on each side (one-sample: (n, 0))."""
    level: float = LEVEL
    """The interval's level: 0.95, or less than 0.05 / looks short of 1 for a sweep that looked several
    times."""

    @property
    def gain(self) -> float:
        """How much better a is than b in the metric's direction (negative: worse)."""
        return self.difference if self.mode == "max" else -self.difference

    @property
    def bound(self) -> float:
        """The largest difference the interval allows: the larger |end|, |difference| + half-width."""
        return abs(self.difference) + self.half


def enough_seeds(n: int) -> bool:
    """Whether ``n`` paired seeds give an interval a report may call (``MIN_PAIRED_DOF`` degrees of freedom);
    plots draw a configuration's interval only then, and its seeds' values otherwise."""
    return n - 1 >= MIN_PAIRED_DOF


def contrast(a: pd.Series, b: pd.Series | float, mode: str, level: float = LEVEL) -> Contrast:
    """a - b, indexed by seed: paired over the seeds when both sides have finite values on exactly the same
    (distinct) seeds, else Welch's unpaired interval; ``b`` a number: a one-sample interval on a - b. The one
    rule of what a report may call a difference: see :class:`Contrast` ``verdict``."""
    a = a[a.map(finite)].astype(float)
    if not isinstance(b, pd.Series):
        diffs, how, sizes = a - float(b), "one-sample", (len(a), 0)
    else:
        b = b[b.map(finite)].astype(float)
        sizes = (len(a), len(b))
        common = a.index.intersection(b.index)
        paired = a.index.is_unique and b.index.is_unique and len(common) == len(a) == len(b)
        diffs, how = ((a[common] - b[common]), "paired") if paired else (None, "unpaired")
    if diffs is not None:
        try:
            diffs = diffs.sort_index()
        except TypeError:  # seeds of mixed types: keep their order
            pass
        mean, _, half, n = t_interval(diffs.tolist(), level)
        if half < 1e-9 * abs(mean):  # identical differences: rounding, not spread
            half = 0.0
        if n == 0:
            return Contrast(math.nan, math.nan, 0, math.nan, how, "no value", mode, (), sizes, level)
        verdict = "too few seeds" if not enough_seeds(n) else "clear" if abs(mean) > half else "unclear"
        return Contrast(mean, half, n, float(n - 1) if n > 1 else math.nan, how, verdict, mode,
                        tuple(float(d) for d in diffs), sizes, level)
    n = min(sizes)
    if n == 0:
        return Contrast(math.nan, math.nan, 0, math.nan, how, "no value", mode, (), sizes, level)
    diff = float(a.mean() - b.mean())
    if n < 2:
        return Contrast(diff, math.nan, n, math.nan, how, "unpaired", mode, (), sizes, level)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Contrast(diff, 0.0, n, math.inf, how, "unpaired", mode, (), sizes, level)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))  # Welch-Satterthwaite
    return Contrast(diff, float(sps.t.ppf(0.5 + level / 2, dof) * se), n, float(dof), how, "unpaired", mode,
                    (), sizes, level)


def amount(c: Contrast, unit: str) -> str:
    """How far apart the two sides are, as the report writes it, and whether the interval may be called:
    ``10 ± 2.5 nats (95% CI, paired over 4 seeds)``; with an interval that includes 0, ``…; the interval
    includes 0: no difference larger than 12.5 nats)``; with fewer seeds ``0.41 in X (2 seeds: 0.38, 0.44; a
    paired interval needs >= 4 seeds to call it)``; unpaired, never called. The size is |difference| (the
    caller's verb gives the direction); seed differences are signed in the same direction."""
    number = fmt(abs(c.difference), 3)
    if c.verdict in ("clear", "unclear"):
        over = "paired over" if c.how == "paired" else "over"
        text = f"{number} ± {fmt(c.half, 2)} {unit} ({ci_name(c.level)}, {over} {c.n} seeds"
        if c.verdict == "unclear":
            text += f"; the interval includes 0: no difference larger than {fmt(c.bound, 2)} {unit}"
        return text + ")"
    if c.verdict == "too few seeds":
        sign = -1.0 if c.difference < 0 else 1.0
        values = ", ".join(fmt(sign * d, 3) for d in c.seeds)
        return (f"{number} {unit} ({c.n} seed{'s' * (c.n != 1)}: {values}; a paired interval needs >= "
                f"{MIN_PAIRED_DOF + 1} seeds to call it)")
    if c.verdict == "unpaired":
        na, nb = c.sizes
        if not finite(c.half):
            return f"{number} {unit} (unpaired, {na} and {nb} seeds: no interval)"
        return (f"{number} ± {fmt(c.half, 2)} {unit} (unpaired {ci_name(c.level)} over {na} and {nb} seeds, "
                "not called: the two do not share their seeds)")
    return f"no finite value ({unit})"


def unit_phrase(metric: str) -> str:
    """How an amount of ``metric`` is written after the number: ``nats`` or ``in eval/kid_domain``."""
    return "nats" if metric.endswith("log_likelihood") else f"in {metric}"


def importance_metric(exp: Experiment) -> str:
    """What the importances explain: the metric every trial reported, the one ASHA and the search steered by
    (a ``rank_metric`` such as final/log_likelihood exists only for trials that ran to the end)."""
    m = exp.sweep.metric or exp.sweep.ranked_by
    return m if m in exp.trials else exp.sweep.ranked_by


def importance(exp: Experiment) -> pd.Series:
    """Parameter -> fANOVA importance (Hutter et al. 2014, as Optuna evaluates it), from a study rebuilt out
    of the per-trial frame (final values), most important first. Raises :class:`Skip` where it does not
    apply."""
    s, t = exp.sweep, exp.trials
    metric = importance_metric(exp)
    sampled = [k for k, d in s.domains.items() if d is None or d[0] != "grid"]
    if s.domains and s.search != "optuna" and all(d is not None and d[0] == "grid"
                                                  for d in s.domains.values()):
        raise Skip("only grid keys are swept; the comparison plots show each key's effect directly")
    import optuna

    dists = {k: d for k in sampled if (d := _distribution(s.domains[k], t.get(f"config/{k}"))) is not None}
    ok = t[t[metric].map(finite)]
    if len(ok) < 3 or len(dists) < 2:
        raise Skip(f"importance needs at least 3 trials with a finite {metric} and 2 varied parameters "
                   f"(have {len(ok)} and {len(dists)})")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize" if s.mode == "max" else "minimize")
    try:
        for _, r in ok.iterrows():
            params = {k: _plain(r[f"config/{k}"]) for k in dists}
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                      value=float(r[metric])))
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as e:  # e.g. a value outside the sweep file's domain (the file changed)
        raise Skip(f"Optuna could not evaluate the importances: {str(e).splitlines()[0]}") from None
    return pd.Series(imp, dtype=float).sort_values(ascending=False)


def placement(exp: Experiment) -> pd.DataFrame:
    """Where each configuration's sample metric sits between its floor and ceiling.

    Conv-EBM trials report, beside ``eval/<m>``, ``eval/<m>_floor`` (training vs held-out images),
    ``eval/<m>_ceiling`` (uniform noise) and ``eval/<m>_spread`` (the floor's std over draws of N images: the
    metric's own noise at that N), all at the trial's N through the same network
    (:mod:`ebm.metrics.baselines`):
    position = (value - floor) / (ceiling - floor), 0 = as good as held-out data, 1 = as bad as noise; a
    configuration's position is the mean over its seeds of each trial's own position.

    One row per configuration, in the report's order: ``group``, ``mean`` (of the sweep metric), ``position``,
    ``floor``, ``ceiling``, ``spread``, ``ceiling_spread`` (the ceiling's std over draws), ``as_trained`` and
    ``as_trained_position`` (the same metric of the arm's own training sampler's samples,
    ``eval/as_trained/<m>``; means over the group's trials) and ``n``. Raises :class:`Skip` when the trials
    report no floor and ceiling for the metric (log-likelihoods, Inception Score)."""
    m = exp.sweep.ranked_by
    t = exp.trials.copy()
    own = m.replace("eval/", "eval/as_trained/", 1)
    cols = {"floor": f"{m}_floor", "ceiling": f"{m}_ceiling", "spread": f"{m}_spread",
            "ceiling_spread": f"{m}_ceiling/std", "as_trained": own, "as_trained_position": f"{own}_position"}
    if not all(c in t and t[c].map(finite).any() for c in (cols["floor"], cols["ceiling"])):
        raise Skip(f"the trials report no {m}_floor / {m}_ceiling (conv-EBM FID/KID only, with "
                   "eval.baseline_resamples > 0)")
    ok = t["outcome"].isin(AVERAGED) & t[m].map(finite)
    t["_position"] = ((t[m] - t[cols["floor"]]) / (t[cols["ceiling"]] - t[cols["floor"]])).where(ok)
    pos = group_table(t, "_position", exp.sweep.mode, exp.group_keys).set_index("group")
    rows = []
    for _, r in exp.groups().iterrows():
        members = exp.members(r)
        rows.append({"group": r["group"], "mean": r["mean"], "position": pos.loc[r["group"], "mean"],
                     **{k: _finite_mean(members[c]) if c in members else math.nan for k, c in cols.items()},
                     "n": int(r["n"])})
    return pd.DataFrame(rows)


def label(values: dict, keys=None) -> str:
    """``{"sampler.init": "data", "sampler.k": 5}`` -> ``init=data, k=5`` (full keys where leaves collide
    among ``keys``, by default the keys of ``values``: pass the swept keys to name a part of a
    configuration)."""
    names = key_names(keys if keys is not None else list(values))
    return ", ".join(f"{names.get(k, k)}={fmt(v)}" for k, v in values.items())


def key_names(keys) -> dict:
    """Dotted key -> how a person reads it: its leaf (``step_size``), or the full key where two leaves collide
    (``data.noise_std`` beside ``sampler.noise_std``)."""
    leaves = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: leaf if leaves.count(leaf) == 1 else k for k, leaf in zip(keys, leaves, strict=True)}


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


def metric_label(metric: str) -> str:
    """``eval/log_likelihood`` -> ``eval/log_likelihood (nats per image)``: the metric with its unit, where
    known."""
    return f"{metric} ({unit(metric)})" if unit(metric) else metric


def sampler_name(init) -> str:
    """Chain start -> the method's name: data = CD (Hinton 2002), persistent / buffer = PCD (Tieleman 2008),
    noise = short-run MCMC (Nijkamp et al. 2019)."""
    return SAMPLER_NAMES.get(str(init), str(init))


def finite(v) -> bool:
    """Whether ``v`` is a number to compute with: an int or float (numpy's too) that is neither NaN nor
    infinite. Booleans, strings, None and missing values are not (a frame's cell may hold any of them)."""
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)


def _finite_mean(values: pd.Series) -> float:
    kept = values[values.map(finite)]
    return float(kept.mean()) if len(kept) else math.nan


def _distribution(domain: tuple | None, values: pd.Series | None):
    """The Optuna distribution of a swept key: from its domain, else (settings inferred) from its values."""
    import optuna.distributions as od

    if domain is not None:
        kind, args = domain
        if kind in ("grid", "choice"):
            return od.CategoricalDistribution([_plain(v) for v in args]) if len(args) > 1 else None
        if kind == "randint":
            return od.IntDistribution(int(args[0]), int(args[1]) - 1)
        return od.FloatDistribution(float(args[0]), float(args[1]), log=kind == "loguniform")
    if values is None:
        return None
    values = values.dropna()
    if values.nunique() < 2:
        return None
    if values.map(finite).all():
        lo, hi = float(values.min()), float(values.max())
        return od.FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)
    return od.CategoricalDistribution(sorted({_plain(v) for v in values}, key=str))


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v
