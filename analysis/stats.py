"""The analysis's statistics: across-seed means and intervals, paired differences, the one ranking rule of
configurations (the report's and the driver's table), and fANOVA parameter importances; with how a person
reads a value, a configuration, a metric and a sampler.

The interval is mean ± t(0.975, n-1) · s / sqrt(n) over the group's finite values (n seeds). With one value
there is no spread to estimate, so std and the interval are NaN and the report says "1 seed, no interval".
Diverged, errored and unfinished trials are never averaged in silently: they are counted per group.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats as sps

if TYPE_CHECKING:
    from analysis.frames import Experiment

LEVEL = 0.95
OUTCOMES = ("ok", "diverged", "errored", "stopped", "unfinished")  # a trial's, as analysis.frames reads it
# Outcomes whose final value is averaged: runs that ended as planned, or were stopped by ASHA (they count with
# their last value, as in the driver's table). An errored or unfinished run's last value is from a shorter run
# than its seeds'; it is counted and shown, not averaged.
AVERAGED = ("ok", "stopped")
UNITS = {"log_likelihood": "nats per image", "kid": "KID", "fid": "FID", "ess": "effective samples",
         "tau": "steps", "energy_gap": "energy units"}
SAMPLER_NAMES = {"data": "CD", "persistent": "PCD", "buffer": "PCD", "noise": "short-run"}
# Samples whose domain Inception Score (exp E KL(p(y|x) || p(y)) on the data set's own classifier) is below this
# cover fewer than two classes' worth of labels: one pattern repeated, or noise the classifier cannot class.
# KID and FID can rank such a set well: one pattern near the data's mean features scored KID_domain 0.73 and
# 1.35 in conv_cd_k's cpu preset, ahead of arms that draw digits of every class (BENCHMARKS.md, "Collapse").
# Real digits score 8.78 at N = 500, 5 distinct ones repeated 3.79, one repeated 1 (benchmarks/metric_ladder.py).
COLLAPSE_COLUMN, COLLAPSE_BELOW = "eval/is_domain", 2.0


class Skip(Exception):  # noqa: N818 - a reason, not an error
    """This statistic or plot does not apply to the sweep; the message says why (the report shows it)."""


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


def group_table(trials: pd.DataFrame, column: str, mode: str, group_keys: list[str]) -> pd.DataFrame:
    """One row per configuration (trials that differ only in ``config/seed``), best mean first; configurations
    with a diverged trial after all others.

    Columns: the group keys (without the ``config/`` prefix), ``group`` (a short label), ``mean``, ``std``,
    ``ci`` (half-width of the 95% interval), ``ci_low``, ``ci_high``, ``n`` (values averaged: finite, from
    ``AVERAGED`` outcomes), ``trials``, one count per outcome, ``no_value`` (trials not averaged),
    ``collapsed`` (averaged trials whose samples collapsed, :func:`collapsed`), ``diverged_fraction`` and
    ``best_trial`` (the trial with the best value).

    Order: best mean first among configurations whose samples never collapsed, then those with a collapsed
    seed, then those with a diverged seed.
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
        mean, std, half, n = t_interval(g.loc[averaged, column])
        row = {k.removeprefix("config/"): v for k, v in zip(keys, values, strict=True)}
        best = g[averaged].sort_values(column, ascending=(mode == "min"))
        row.update({"mean": mean, "std": std, "ci": half, "ci_low": mean - half, "ci_high": mean + half, "n": n,
                    "trials": len(g), **{o: int((outcomes == o).sum()) for o in OUTCOMES},
                    "no_value": int((~averaged).sum()), "collapsed": int((collapsed(g) & averaged).sum()),
                    "diverged_fraction": float((outcomes == "diverged").mean()),
                    "best_trial": best["trial_id"].iloc[0] if len(best) and "trial_id" in best else None})
        rows.append(row)
    out = pd.DataFrame(rows)
    names = [k.removeprefix("config/") for k in keys]
    out.insert(0, "group", [label(dict(zip(names, r, strict=True))) if swept else "(base config)"
                            for r in out[names].itertuples(index=False)])
    # Best mean first, but a configuration that diverged on some seed ranks after every one that never did (its
    # mean covers only the seeds that survived), and one whose samples collapsed on some seed after every one
    # whose samples never did (its mean scores one pattern, which KID and FID can rank well).
    out["_diverged"], out["_collapsed"] = out["diverged"] > 0, out["collapsed"] > 0
    out = out.sort_values(["_diverged", "_collapsed", "mean"], ascending=[True, True, mode == "min"],
                          na_position="last", kind="stable")
    return out.drop(columns=["_diverged", "_collapsed"]).reset_index(drop=True)


def collapsed(trials: pd.DataFrame) -> pd.Series:
    """Per trial: whether its samples collapsed, i.e. their ``COLLAPSE_COLUMN`` (domain Inception Score) is a
    number below ``COLLAPSE_BELOW``. False where the sweep did not measure it (RBM sweeps, or metrics off)."""
    if COLLAPSE_COLUMN not in trials:
        return pd.Series(False, index=trials.index)
    score = trials[COLLAPSE_COLUMN]
    return score.map(finite) & (pd.to_numeric(score, errors="coerce") < COLLAPSE_BELOW)


def paired_difference(a: pd.Series, b: pd.Series, level: float = LEVEL) -> tuple[float, float, int, str]:
    """a - b with its 95% interval: paired over the seeds both have (same seed, same data order), else Welch's
    unpaired interval. Returns (difference, half-width, n, how), ``how`` in {"paired", "unpaired"}."""
    a, b = a[a.map(finite)].astype(float), b[b.map(finite)].astype(float)
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


def importance_metric(exp: Experiment) -> str:
    """What the importances explain: the metric every trial reported, the one ASHA and the search steered by
    (a ``rank_metric`` such as final/log_likelihood exists only for trials that ran to the end)."""
    m = exp.sweep.reported_metric or exp.sweep.metric
    return m if m in exp.trials else exp.sweep.metric


def importance(exp: Experiment) -> pd.Series:
    """Parameter -> fANOVA importance (Hutter et al. 2014, as Optuna evaluates it), from a study rebuilt out of
    the per-trial frame (final values), most important first. Raises :class:`Skip` where it does not apply."""
    s, t = exp.sweep, exp.trials
    metric = importance_metric(exp)
    sampled = [k for k, d in s.domains.items() if d is None or d[0] != "grid"]
    if s.domains and s.search != "optuna" and all(d is not None and d[0] == "grid" for d in s.domains.values()):
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
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(r[metric])))
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        imp = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (ValueError, RuntimeError) as e:  # e.g. a value outside the sweep file's domain (the file changed)
        raise Skip(f"Optuna could not evaluate the importances: {str(e).splitlines()[0]}") from None
    return pd.Series(imp, dtype=float).sort_values(ascending=False)


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


def metric_label(metric: str) -> str:
    """``eval/log_likelihood`` -> ``eval/log_likelihood (nats per image)``: the metric with its unit, where known."""
    leaf = metric.rsplit("/", 1)[-1]
    unit = next((u for k, u in UNITS.items() if leaf.startswith(k)), None)
    return f"{metric} ({unit})" if unit else metric


def sampler_name(init) -> str:
    """Chain start -> the method's name: data = CD (Hinton 2002), persistent / buffer = PCD (Tieleman 2008),
    noise = short-run MCMC (Nijkamp et al. 2019)."""
    return SAMPLER_NAMES.get(str(init), str(init))


def finite(v) -> bool:
    """Whether ``v`` is a number to compute with: an int or float (numpy's too) that is neither NaN nor
    infinite. Booleans, strings, None and missing values are not (a frame's cell may hold any of them)."""
    return isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v)


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
