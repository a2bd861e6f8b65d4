"""Sequential seeds: spend the seeds a sweep holds back only where a contrast is still unsettled.

A grid sweep with ``sequential: {more_seeds: [...], per_round: k, resolve: r}`` runs every configuration on
``seeds``, then looks at the contrasts its report will make, on the rank metric, paired over seeds
(:func:`analysis.stats.contrast`):

- two or more swept keys: each key's main effect, every level against the key's best level, each side the
  per-seed mean over the cells with that level (:mod:`analysis.effects`);
- one swept key: every configuration against the best one.

A contrast is settled when it is clear (its interval excludes 0) or a resolved null (the interval lies within
+-``resolve``). The configurations of every unsettled contrast, and only those, run the next ``k`` held-back
seeds; then the next look, until every contrast settles or the held-back seeds are spent. Both sides of a
contrast get the same new seeds, so it stays paired.

Looking again after seeing the data makes a 95% interval call too many differences clear (a clear call is
kept, an unclear one gets another chance). So every look, and the report after the last one, use intervals at
level 1 - 0.05 / looks: each look's interval misses with probability at most 0.05 / looks whatever the data
did before, so the interval the report ends on misses at most 5% of the time (Bonferroni over the looks;
tests/test_sequential.py checks the coverage against a known difference).

:class:`sweeps.seed_searcher.SeedSearcher` is the Tune search algorithm that does this within one Tuner and
one experiment folder; this module imports no Ray.
"""

from __future__ import annotations

from collections.abc import Hashable

import pandas as pd

from analysis import stats
from analysis.effects import on_common_seeds

Point = tuple  # a configuration: its swept keys' values, in the sweep's key order


def contrasts(values: dict[tuple[Point, Hashable], float], n_keys: int, mode: str, at: float
              ) -> list[tuple[str, set[Point], stats.Contrast]]:
    """The contrasts the report makes, on ``values`` ((configuration, seed) -> rank metric; NaN where a trial
    has none): (what is compared, the configurations on its two sides, the paired contrast at level
    ``at``)."""
    points = sorted({p for p, _ in values}, key=repr)
    by_point = {p: pd.Series({s: v for (q, s), v in values.items() if q == p}, dtype=float) for p in points}
    out = []
    if n_keys >= 2:
        for i in range(n_keys):
            cells = {}
            for p in points:
                cells.setdefault(p[i], []).append(p)
            sides = {lv: pd.concat([by_point[p] for p in ps], axis=1).mean(axis=1, skipna=False)
                     for lv, ps in cells.items()}
            out += _against_best(sides, cells, mode, at, f"key {i}")
    else:
        out += _against_best(by_point, {p: [p] for p in points}, mode, at, "configuration")
    return out


def unsettled(values: dict[tuple[Point, Hashable], float], n_keys: int, mode: str, resolve: float, at: float
              ) -> set[Point]:
    """Configurations on either side of a contrast that is neither clear nor within +-``resolve`` at
    ``at``."""
    out: set[Point] = set()
    for _, points, c in contrasts(values, n_keys, mode, at):
        if not settled(c, resolve):
            out |= points
    return out


def settled(c: stats.Contrast, resolve: float) -> bool:
    """Clear, or a null the interval resolves: no difference larger than ``resolve``."""
    return c.verdict == "clear" or (c.verdict == "unclear" and c.bound <= resolve)


def _against_best(sides: dict, members: dict, mode: str, at: float, what: str) -> list:
    means = {k: v.mean() for k, v in sides.items() if v.notna().any()}
    if len(means) < 2:
        return []
    best = (max if mode == "max" else min)(means, key=means.get)
    out = []
    for k, side in sides.items():
        if k == best:
            continue
        c = stats.contrast(*on_common_seeds(side, sides[best]), mode, level=at)
        out.append((f"{what} {k!r} vs {best!r}", set(members[k]) | set(members[best]), c))
    return out
