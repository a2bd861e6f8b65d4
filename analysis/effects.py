"""Main effects of a grid sweep's keys, and the per-seed averages over cells that they and the literature's
claims rest on.

For a grid over two or more keys (ablation_langevin: step size x noise), each key's effect averaged over the
other keys' grid values: every level against the key's best level, each side the per-seed mean over the cells
(combinations of the other keys' values) both levels share, paired over seeds by
:func:`analysis.stats.contrast` and called only as it allows:

    step_size=1 vs step_size=10, averaged over the 3 noise_std values: worse by 0.8 ± 0.1 in eval/kid_domain
    (95% CI, paired over 4 seeds).

A cell with a diverged trial is left out on both sides (its mean covers only the seeds that survived), and the
sentence says which.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from analysis import stats
from analysis.frames import Experiment
from analysis.stats import fmt


def is_grid(domains: dict) -> bool:
    """Whether a sweep with these domains (``SweepInfo.domains``) ran a grid: every domain a grid, or, where
    the settings were inferred, a space of up to three keys."""
    if any(d is None for d in domains.values()):
        return len(domains) <= 3
    return all(d[0] == "grid" for d in domains.values())


def grid_keys(exp: Experiment) -> list[str]:
    """The swept keys when the sweep is a grid over two or more of them, else [] (also for listed cells,
    which do not cross their keys)."""
    if exp.sweep.cells:
        return []
    keys = [k for k in exp.sweep.domains if f"config/{k}" in exp.trials]
    return keys if is_grid(exp.sweep.domains) and len(keys) >= 2 else []


def cells_by_seed(exp: Experiment, rows: list, of: str | Callable | None = None) -> pd.Series:
    """Per seed, the mean over the configurations ``rows`` (rows of ``exp.groups()``) of ``of``: a column (the
    sweep's metric by default) or a function of a row giving its values by seed (as ``exp.by_seed`` does); NaN
    for a seed without a value in every one of them. Repeats of one seed (a grid run ``num_samples`` times)
    are averaged first."""
    if not rows:
        return pd.Series(dtype=float)
    values = of if callable(of) else lambda r: exp.by_seed(r, of)
    per_cell = [values(r).astype(float).groupby(level=0).mean() for r in rows]
    return pd.concat(per_cell, axis=1).mean(axis=1, skipna=False)


def on_common_seeds(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``a`` and ``b`` on the seeds where both have a finite value: two averages over the same cells pair only
    over seeds that have every cell."""
    both = a.index.intersection(b.index)
    both = [s for s in both if stats.finite(a[s]) and stats.finite(b[s])]
    return a[both], b[both]


def main_effects(exp: Experiment) -> list[str]:
    """One sentence per level of every grid key that is not the key's best level (see the module
    docstring)."""
    keys = grid_keys(exp)
    if not keys:
        return []
    g = exp.groups()
    out = []
    for key in keys:
        out += _effect(exp, g, key, keys)
    return out


def _effect(exp: Experiment, g: pd.DataFrame, key: str, keys: list[str]) -> list[str]:
    s = exp.sweep
    names = stats.key_names(keys)
    others = [k for k in keys if k != key]
    cells: dict = {}  # level -> {values of the other keys: group row}
    for _, r in g.iterrows():
        cells.setdefault(r[key], {})[tuple(r[o] for o in others)] = r
    levels = _levels(s.domains.get(key), cells)
    if len(levels) < 2:
        return []
    means = _level_means(cells, levels)
    if not means:
        return [f"{names[key]}: every cell had a diverged trial or no value, so no main effect."]
    best = (max if s.mode == "max" else min)(means, key=means.get)
    unit = stats.unit_phrase(s.ranked_by)
    out = []
    for level in levels:
        if level == best:
            continue
        head = f"{names[key]}={fmt(level)} vs {names[key]}={fmt(best)}"
        shared = [c for c in cells[best] if c in cells[level]]
        kept = [c for c in shared if not _diverged(cells[level][c]) and not _diverged(cells[best][c])]
        if not kept:
            out.append(f"{head}: every cell of {'/'.join(names[o] for o in others)} they share had a "
                       "diverged trial, so no comparison.")
            continue
        a, b = on_common_seeds(cells_by_seed(exp, [cells[level][c] for c in kept]),
                               cells_by_seed(exp, [cells[best][c] for c in kept]))
        c = stats.contrast(a, b, s.mode, s.level)
        over = _over(kept, shared, others, names)
        if c.verdict == "no value":
            out.append(f"{head}, {over}: no seed has a finite {s.ranked_by} in every cell, so no comparison.")
            continue
        out.append(f"{head}, {over}: {phrase(c, unit)}.")
    return out


def phrase(c: stats.Contrast, unit: str) -> str:
    """``worse by 0.8 ± 0.1 in M (95% CI, paired over 4 seeds)``; a resolved null result as an answer: ``no
    difference larger than 0.05 in M (95% CI, paired over 4 seeds: better by 0.01 ± 0.04)``."""
    side = "worse" if c.gain < 0 else "better"
    if c.verdict == "unclear":
        return (f"no difference larger than {fmt(c.bound, 2)} {unit} ({stats.ci_name(c.level)}, paired over "
                f"{c.n} seeds: {side} by "
                f"{fmt(abs(c.difference), 3)} ± {fmt(c.half, 2)})")
    if c.difference == 0:
        return f"the same on average, a difference of {stats.amount(c, unit)}"
    return f"{side} by {stats.amount(c, unit)}"


def _over(kept: list, shared: list, others: list[str], names: dict) -> str:
    """``averaged over the 3 noise_std values`` (``the 4 noise_std/buffer_size cells``), or ``at
    noise_std=0.02 only``, naming the cells left out for a diverged trial."""
    def cell(c):
        return stats.label(dict(zip(others, c, strict=True)), list(names))

    what = f"{names[others[0]]} values" if len(others) == 1 else f"{'/'.join(names[o] for o in others)} cells"
    left = [c for c in shared if c not in kept]
    if len(kept) == 1:
        text = f"at {cell(kept[0])} only"
    else:
        text = f"averaged over the {len(kept)} {what}" + (" where neither diverged" if left else "")
    if left:
        text += f" (left out: {'; '.join(cell(c) for c in left)}, where a trial diverged)"
    return text


def _level_means(cells: dict, levels: list) -> dict:
    """Level -> mean of its cells' means, over the cells (other keys' values) where no level diverged or lacks
    a value, so that every level is averaged over the same cells; where there are none, over each level's
    own."""
    def usable(level):
        return {c for c, r in cells[level].items() if not _diverged(r) and stats.finite(r["mean"])}

    common = set.intersection(*(usable(level) for level in levels))
    means = {}
    for level in levels:
        values = [cells[level][c]["mean"] for c in (common or usable(level))]
        if values:
            means[level] = sum(values) / len(values)
    return means


def _diverged(row) -> bool:
    return row["diverged"] > 0


def _levels(domain: tuple | None, cells: dict) -> list:
    """The key's levels present in the frame, in the grid's order (sorted where the domain is unknown)."""
    if domain is not None and domain[0] in ("grid", "choice"):
        ordered = [v for v in domain[1] if v in cells]
        return ordered + [v for v in cells if v not in ordered]
    try:
        return sorted(cells)
    except TypeError:
        return list(cells)
