"""Published claims a run is held against, each judged by :func:`analysis.stats.contrast` and said as "this
run agrees", "this run DISAGREES", "not resolved at this scale (...)" or "too few seeds".

The claims are the sweep file's ``literature:`` entries (checked when the sweep loads, ``sweeps.literature``,
and recorded in ``sweep.yaml``'s settings) and, for RBM Set A, the two directions the RBM literature reports.
An entry takes one of two forms:

- ``better`` / ``than``: the cells matching ``better`` beat those matching ``than`` in the sweep's metric;
  each side is the per-seed mean over its matching cells, paired over seeds;
- ``good`` / ``position_below`` (``bad`` / ``position_above``): the matching cells' mean ``<metric>_position``
  (0 = as good as held-out data, 1 = as bad as uniform noise) lies below (above) the threshold, by its 95%
  interval over seeds;
- ``at`` / ``value``: a published figure for the matching cells. :func:`published_table` puts each beside this
  run's mean, and :func:`published_order` holds the order of the published figures against this run's, each
  neighbouring pair paired over seeds.

A cell matches when its trials' config has every value the selector names. Cells with a diverged trial are
left out of a side's average (the sentence says so), and a side judged better whose samples collapsed is
flagged.
"""

from __future__ import annotations

import pandas as pd

from analysis import stats
from analysis.effects import cells_by_seed, on_common_seeds
from analysis.frames import Experiment
from analysis.stats import BASELINE_INIT, fmt

# Directions the RBM literature reports for Set A, with the figures it quotes (test log-likelihood on MNIST).
LITERATURE_CD_K = ("Salakhutdinov & Murray (2008, Table 2) report that more Gibbs steps train better RBMs "
                   "(500 hidden units: CD-1 -125.53, CD-3 -105.50, CD-25 -86.34 nats)")
LITERATURE_PCD = ("Tieleman (2008, Sec. 4) reports that PCD trains better RBMs than CD-1 "
                  "(exact test log-likelihood of small RBMs on MNIST)")
UNRESOLVED = "not resolved at this scale"


def sentences(exp: Experiment) -> list[str]:
    """Set A's RBM directions where they apply, then every ``literature:`` entry of the sweep, in file
    order."""
    claims = [judge(exp, entry) for entry in exp.sweep.literature if "at" not in entry]
    return rbm_claims(exp) + claims + [published_order(exp)]


PUBLISHED_NOTE = (
    "Each row: the published figure for a configuration, this run's mean over its seeds with the interval, "
    "and the gap (this run minus published). Forward AIS, the final evaluation's estimate where log Z cannot "
    "be enumerated, overstates the log-likelihood in expectation; a mean marked unreliable averages a seed "
    "whose estimate kept too few effective weights, and is optimistic by an amount it cannot state. The "
    "conservative column (RAISE on a subset of held-out images, where the run computed it) errs the other way"
    " unless its own trend check failed (final/raise_conservative).")


def _raise_column(exp: Experiment) -> str | None:
    """The conservative RAISE twin of a log-likelihood rank metric, where the trials report it."""
    m = exp.sweep.ranked_by
    column = f"{m.split('/', 1)[0]}/raise_log_likelihood"
    return column if m.endswith("log_likelihood") and column in exp.trials else None


def _published(exp: Experiment) -> list[dict]:
    return [e for e in exp.sweep.literature if isinstance(e.get("at"), dict) and stats.finite(e.get("value"))]


def _side_values(exp: Experiment, selector: dict, column: str | None = None) -> pd.Series:
    """Per seed, the mean over the cells matching ``selector`` of ``column`` (the metric by default), without
    cells that had a diverged trial."""
    rows = [r for r in _matching(exp, selector) if r["diverged"] == 0]
    return cells_by_seed(exp, rows, column)


def published_table(exp: Experiment) -> tuple[list[str], list[list[str]]] | None:
    """(header, rows) of the published figures (``at``/``value`` entries) beside this run's, or None when the
    sweep quotes none."""
    entries = _published(exp)
    if not entries:
        return None
    s = exp.sweep
    raise_column = _raise_column(exp)
    conservative = raise_column is not None
    header = ["published", "configuration", f"this run: {s.ranked_by}", f"± {stats.ci_name(s.level)}",
              "seeds",
              *(["conservative (RAISE)"] if conservative else []), "published figure", "this run - published"]
    rows = []
    for e in entries:
        name, rows_of = _label(exp, e["at"]), _matching(exp, e["at"])
        if not rows_of:
            rows.append([e["claim"], name, "not run", "", "0", *([""] if conservative else []),
                         fmt(e["value"]), ""])
            continue
        mean, _, half, n = stats.t_interval(_side_values(exp, e["at"]).tolist(), s.level)
        bad = sum(int(r["unreliable"]) for r in rows_of)
        cons = _side_values(exp, e["at"], raise_column).mean() if conservative else None
        rows.append([e["claim"], name, fmt(mean, 5) + (f" ({bad} unreliable)" if bad else ""),
                     fmt(half, 2) if stats.finite(half) else "", str(n),
                     *([fmt(cons, 5)] if conservative else []), fmt(e["value"], 5),
                     f"{mean - e['value']:+.2f}" if stats.finite(mean) else ""])
    return header, rows


def published_order(exp: Experiment) -> str:
    """One sentence: whether this run orders the configurations as their published figures do, each
    neighbouring pair (in published order) contrasted paired over seeds; '' when fewer than two are quoted
    and run."""
    s = exp.sweep
    entries = [e for e in _published(exp) if _matching(exp, e["at"])]
    if len(entries) < 2:
        return ""
    entries.sort(key=lambda e: e["value"], reverse=s.mode == "max")  # best published first
    names = [_label(exp, e["at"]) for e in entries]
    sources = "; ".join(dict.fromkeys(e["source"] for e in entries))
    steps, verdicts = [], []
    named = list(zip(entries, names, strict=True))
    for (upper, upper_name), (lower, lower_name) in zip(named, named[1:], strict=False):
        a, b = on_common_seeds(_side_values(exp, upper["at"]), _side_values(exp, lower["at"]))
        c = stats.contrast(a, b, s.mode, s.level)
        if c.verdict == "no value":
            steps.append(f"{upper_name} vs {lower_name}: no seed has a value for both")
            verdicts.append("no value")
            continue
        published = abs(upper["value"] - lower["value"])
        verb = "beats" if c.gain > 0 else "trails" if c.gain < 0 else "ties with"
        leans = [d > 0 if s.mode == "max" else d < 0 for d in c.seeds if d != 0]
        verdict = _verdict(c, c.gain > 0, leans, 0)
        verdicts.append(verdict)
        by = stats.amount(c, stats.unit_phrase(s.ranked_by))
        steps.append(f"{upper_name} {verb} {lower_name} by {by}, published {fmt(published, 4)} ({verdict})")
    agrees = all(v == "this run agrees" for v in verdicts)
    against = any(v == "this run DISAGREES" for v in verdicts)
    overall = ("this run orders them the same way, every step resolved" if agrees else
               "this run DISAGREES on at least one step" if against else
               "not every step is resolved at this scale")
    return (f"Published order ({sources}), best first: {' > '.join(names)}; {overall}. Step by step: "
            + "; ".join(steps) + "." + _unreliable_order(exp, entries, names))


def _unreliable_order(exp: Experiment, entries: list[dict], names: list[str]) -> str:
    """Where some value behind the order is an estimate its run called unreliable: how many, and whether the
    conservative RAISE means (where the run computed them) order the rows the same way."""
    s = exp.sweep
    rows = [r for e in entries for r in _matching(exp, e["at"])]
    bad, n = sum(int(r["unreliable"]) for r in rows), sum(int(r["n"]) for r in rows)
    if not bad:
        return ""
    text = f" {bad} of the {n} values behind it are forward AIS estimates their runs called unreliable"
    raise_column = _raise_column(exp)
    if raise_column is None:
        return text + ", so the order rests on them."
    means = [_side_values(exp, e["at"], raise_column).mean() for e in entries]
    if not all(stats.finite(m) for m in means):
        return text + ", and not every row has a RAISE figure to check the order against."
    same = all((a > b) == (s.mode == "max") for a, b in zip(means, means[1:], strict=False))
    parts = [f"{name} {fmt(m, 4)}" for name, m in zip(names, means, strict=True)]
    shown = (" > " if same else "; ").join(parts)
    verdict = "the same way" if same else "DIFFERENTLY"
    return text + f"; the conservative RAISE means order the rows {verdict} ({shown})."


def rbm_claims(exp: Experiment) -> list[str]:
    """RBM Set A: the largest CD-k against CD-1 (Salakhutdinov & Murray 2008) and PCD-1 against CD-1 (Tieleman
    2008), as ``better``/``than`` claims."""
    s, t = exp.sweep, exp.trials
    if s.kind != "rbm" or not {"sampler.init", "sampler.k"} <= set(s.space) or "config/sampler.k" not in t:
        return []
    cd = t[t["config/sampler.init"] == BASELINE_INIT]
    if cd.empty or 1 not in set(cd["config/sampler.k"]):
        return []
    cd1 = {"sampler.init": BASELINE_INIT, "sampler.k": 1}
    out = []
    top_k = max(cd["config/sampler.k"])
    if top_k > 1:
        out.append(judge(exp, {"claim": LITERATURE_CD_K, "better": {**cd1, "sampler.k": top_k}, "than": cd1},
                         (f"CD-{fmt(top_k)}", "CD-1")))
    if ((t["config/sampler.init"] == "persistent") & (t["config/sampler.k"] == 1)).any():
        out.append(judge(exp,
                         {"claim": LITERATURE_PCD, "better": {"sampler.init": "persistent", "sampler.k": 1},
                               "than": cd1}, ("PCD-1", "CD-1")))
    return out


def judge(exp: Experiment, entry: dict, names: tuple[str, str] | None = None) -> str:
    """One claim as a sentence: ``<source>: <claim>; here <what this run measured>: <verdict>.`` ``names``:
    how to call the two sides (default: their selectors)."""
    head = f"{entry['source']}: {entry['claim']}" if entry.get("source") else str(entry.get("claim", ""))
    malformed = (f"{head}; this entry of the sweep's literature is malformed in its record, so it is not "
                 "judged.")
    if "better" in entry:
        if not (isinstance(entry["better"], dict) and isinstance(entry.get("than"), dict)):
            return malformed
        return _better_than(exp, entry["better"], entry["than"], head, names)
    good = "good" in entry
    selector = entry["good"] if good else entry.get("bad")
    threshold = entry.get("position_below") if good else entry.get("position_above")
    if not isinstance(selector, dict) or not stats.finite(threshold):
        return malformed
    return _position(exp, selector, float(threshold), good, head)


# --------------------------------------------------------------------------------------------------


def _better_than(exp: Experiment, better: dict, than: dict, head: str, names) -> str:
    s = exp.sweep
    sides = []
    for i, selector in enumerate((better, than)):
        rows = _matching(exp, selector)
        name = names[i] if names else _label(exp, selector)
        if not rows:
            return f"{head}; not tested by this run: no configuration has {name}."
        kept = [r for r in rows if r["diverged"] == 0]
        if not kept:
            return f"{head}; this run cannot say: {_all_diverged(name, rows)}."
        sides.append((name, kept, [r for r in rows if r["diverged"] > 0]))
    a, b = on_common_seeds(cells_by_seed(exp, sides[0][1]), cells_by_seed(exp, sides[1][1]))
    c = stats.contrast(a, b, s.mode, s.level)
    if c.verdict == "no value":
        return f"{head}; this run cannot say (no seed has a finite {s.ranked_by} for both {sides[0][0]} " \
               f"and {sides[1][0]})."
    verb = "beats" if c.gain > 0 else "trails" if c.gain < 0 else "ties on average with"
    (name_a, kept_a, left_a), (name_b, kept_b, left_b) = sides
    leans = [d > 0 if s.mode == "max" else d < 0 for d in c.seeds if d != 0]
    text = (f"{head}; here {_side(exp, name_a, kept_a, left_a)} {verb} {_side(exp, name_b, kept_b, left_b)}"
            f"{' by' if c.gain else ', a difference of'} {stats.amount(c, stats.unit_phrase(s.ranked_by))}: "
            f"{_verdict(c, c.gain > 0, leans, 0)}")
    return text + _collapse_note(exp, name_a if c.gain > 0 else name_b,
                                 kept_a if c.gain > 0 else kept_b) + "."


def _position(exp: Experiment, selector: dict, threshold: float, good: bool, head: str) -> str:
    m = exp.sweep.ranked_by
    rows = _matching(exp, selector)
    name = _label(exp, selector)
    if not rows:
        return f"{head}; not tested by this run: no configuration has {name}."
    if not any(stats.finite(v) for r in rows for v in _positions(exp, r)):
        return (f"{head}; this run cannot say: its trials report no {m}_position (nor {m}_floor and "
                f"{m}_ceiling) for {name}.")
    kept, left = [r for r in rows if r["diverged"] == 0], [r for r in rows if r["diverged"] > 0]
    if not kept:
        return f"{head}; this run cannot say: {_all_diverged(name, rows)}."
    c = stats.contrast(cells_by_seed(exp, kept, lambda r: _positions(exp, r)), threshold, "min",
                       exp.sweep.level)
    if c.verdict == "no value":
        return (f"{head}; this run cannot say (no seed has a finite position in every configuration with "
                f"{name}).")
    mean = c.difference + threshold
    where = f"of the way from the floor (held-out data, 0) to the ceiling (uniform noise, 1) of {m}"
    if c.verdict == "too few seeds":
        values = ", ".join(fmt(d + threshold, 3) for d in c.seeds)
        at = (f"{fmt(mean, 3)} {where} ({c.n} seed{'s' * (c.n != 1)}: {values}; an interval needs >= "
              f"{stats.MIN_PAIRED_DOF + 1} seeds to call it)")
    else:
        at = f"{fmt(mean, 3)} ± {fmt(c.half, 2)} {where} ({stats.ci_name(c.level)} over {c.n} seeds)"
    side = "below" if c.difference < 0 else "above"
    leans = [(d < 0) == good for d in c.seeds if d != 0]
    verdict = _verdict(c, (c.difference < 0) == good, leans, threshold)
    said = f", {side} {fmt(threshold)}" if c.verdict == "clear" else ""
    note = _collapse_note(exp, name, kept) if good and c.difference < 0 else ""
    return f"{head}; here {_side(exp, name, kept, left)} sits at {at}{said}: {verdict}{note}."


def _verdict(c: stats.Contrast, claimed: bool, leans: list[bool], zero: float) -> str:
    """What the contrast says of the claim: ``claimed`` is whether the mean goes the claim's way, ``leans``
    whether each seed does, ``zero`` the value the interval is tested against (0 for a difference, the
    threshold for a position)."""
    if c.verdict == "clear":
        return "this run agrees" if claimed else "this run DISAGREES"
    if c.verdict == "unclear":
        return f"{UNRESOLVED} (the interval includes {fmt(zero)})"
    if c.verdict == "too few seeds":
        lean = "every seed leans its way" if leans and all(leans) else \
            "every seed leans against it" if leans and not any(leans) else "the seeds split"
        return f"too few seeds ({lean})"
    return f"{UNRESOLVED} (the two sides do not share their seeds, and an unpaired interval is not called)"


def _matching(exp: Experiment, selector: dict) -> list:
    """The rows of ``exp.groups()`` whose trials' config has every value ``selector`` names."""
    out = []
    for _, r in exp.groups().iterrows():
        members = exp.members(r)
        if all(f"config/{k}" in members and (members[f"config/{k}"] == v).all() for k, v in selector.items()):
            out.append(r)
    return out


def _positions(exp: Experiment, row) -> pd.Series:
    """A configuration's ``<metric>_position`` by seed, as its trials reported it, else from their floor and
    ceiling (0 = floor, 1 = ceiling)."""
    m = exp.sweep.ranked_by
    if f"{m}_position" in exp.trials and exp.trials[f"{m}_position"].map(stats.finite).any():
        return exp.by_seed(row, f"{m}_position")
    value, floor, ceiling = (exp.by_seed(row, c).astype(float) for c in (m, f"{m}_floor", f"{m}_ceiling"))
    return (value - floor) / (ceiling - floor)


def _label(exp: Experiment, selector: dict) -> str:
    return stats.label(selector, list(dict.fromkeys([*exp.sweep.space, *selector])))


def _side(exp: Experiment, name: str, kept: list, left: list) -> str:
    """``step_size=10 (mean of 3 cells per seed; step_size=10, noise_std=0.02 left out: a trial
    diverged)``."""
    notes = [f"mean of {len(kept)} cells per seed"] if len(kept) > 1 else []
    if left:
        notes.append(f"{'; '.join(r['group'] for r in left)} left out: a trial diverged")
    return f"{name} ({'; '.join(notes)})" if notes else name


def _all_diverged(name: str, rows: list) -> str:
    if len(rows) == 1:
        return f"{name} had a diverged trial, so its mean covers only the seeds that survived"
    return f"every configuration with {name} had a diverged trial"


def _collapse_note(exp: Experiment, name: str, rows: list) -> str:
    bad = [r["group"] for r in rows if r["collapsed"] > 0]
    if not bad:
        return ""
    return (f"; but {'; '.join(bad)} drew collapsed samples on some seed ({stats.COLLAPSE_COLUMN} < "
            f"{stats.COLLAPSE_BELOW:g}), so {name}'s {exp.sweep.ranked_by} does not mean better samples")
