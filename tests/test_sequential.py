"""Sequential seeds (sweeps.sequential): which configurations get the held-back seeds, and that the intervals
a sequential sweep states keep their coverage however the looks fall. No Ray here (tests/test_sweeps_ray.py
runs one real sequential sweep)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_sweeps_helpers import write_sweep

from analysis import stats
from ebm.strict import ConfigError
from sweeps.sequential import contrasts, unsettled
from sweeps.spec import load_sweep


def _grid(means: dict, seeds, noise: float, rng) -> dict:
    """(configuration, seed) -> mean + a shared seed effect + noise: what a sweep's final values look like."""
    shared = {s: rng.normal(0, 1.0) for s in seeds}
    return {(p, s): m + shared[s] + noise * rng.normal() for p, m in means.items() for s in seeds}


def test_only_the_configurations_of_unsettled_contrasts_get_more_seeds():
    rng = np.random.default_rng(0)
    # step size {1, 10, 100} x noise {a, b}: step 1 is far worse (settled: clear), step 100 is within its
    # seeds' spread of the best step 10 (unsettled), and noise makes no difference at all (settled: a null
    # within resolve)
    mean = {1: 0.4, 10: 0.8, 100: 0.79}
    # step 100's seeds scatter, alike for both noises
    spread = {(100, s): 0.1 * rng.normal() for s in range(4)}
    values = {((step, noise), s): mean[step] + 0.3 * s + spread.get((step, s), 0.0)
              for step, noise, s in itertools.product(mean, "ab", range(4))}
    todo = unsettled(values, 2, "max", resolve=0.05, at=stats.split_level(2))
    assert todo == {(10, "a"), (10, "b"), (100, "a"), (100, "b")}
    assert unsettled(values, 2, "max", resolve=0.5, at=stats.split_level(2)) == set()  # within 0.5: a null
    # one swept key: every configuration against the best one
    values = _grid({(step,): m for step, m in mean.items()}, range(4), 0.02, rng)
    assert unsettled(values, 1, "max", resolve=0.0, at=0.95) == {(10,), (100,)}
    best = max(mean, key=lambda step: np.mean([values[((step,), s)] for s in range(4)]))  # 10 or 100 here
    assert {what for what, _, _ in contrasts(values, 1, "max", 0.95)} == {
        f"configuration ({step},) vs ({best},)" for step in mean if step != best}


def test_a_missing_value_leaves_its_contrast_unsettled():
    rng = np.random.default_rng(1)
    values = _grid({(1,): 0.0, (2,): 1.0}, range(4), 0.01, rng)
    assert unsettled(values, 1, "max", 0.0, 0.95) == set()
    for s in range(2):
        values[((1,), s)] = math.nan  # two trials diverged: 2 paired seeds, too few to call
    assert unsettled(values, 1, "max", 0.0, 0.95) == {(1,), (2,)}


def _sequential(delta: float, rng, rounds, level: float, resolve: float = 0.3):
    """One sequential run of two configurations whose true difference is ``delta`` (sd of a paired difference
    1): returns the last look's contrast of the worse-looking one against the best, and the true
    difference."""
    means = {(0,): 0.0, (1,): delta}
    values = _grid(means, range(4), 1 / math.sqrt(2), rng)
    for seeds in rounds:
        todo = unsettled(values, 1, "max", resolve, level)
        if not todo:
            break
        values.update(_grid({p: means[p] for p in todo}, seeds, 1 / math.sqrt(2), rng))
    [(_, points, c)] = contrasts(values, 1, "max", level)
    (other,) = points - {max(points, key=lambda p: np.nanmean([v for (q, _), v in values.items() if q == p]))}
    best = ((1,) if other == (0,) else (0,))
    return c, means[other] - means[best]


@pytest.mark.parametrize("delta", [0.0, 0.6])
def test_intervals_split_over_the_looks_keep_their_coverage(delta):
    # Three looks (4 seeds, then 2 more twice), the decision by the real sweeps.sequential code. Split over
    # the looks (98.3% each), the last look's interval covers the true difference at least 95% of the time,
    # and under no difference calls "clear" at most 5% of the time; at 95% per look it does neither (the
    # reason for the split). 400 repeats: the binomial standard error of a 5% rate is 1.1%.
    rounds, reps = [[4, 5], [6, 7]], 400
    split = stats.split_level(1 + len(rounds))
    assert split == pytest.approx(1 - 0.05 / 3)
    rng = np.random.default_rng(7)
    runs = [_sequential(delta, rng, rounds, split) for _ in range(reps)]
    covered = np.mean([abs(c.difference - true) <= c.half for c, true in runs])
    assert covered >= 0.95, covered
    if delta == 0:
        assert np.mean([c.verdict == "clear" for c, _ in runs]) <= 0.05
        rng = np.random.default_rng(7)
        naive = [_sequential(delta, rng, rounds, 0.95) for _ in range(reps)]
        assert np.mean([c.verdict == "clear" for c, _ in naive]) > 0.06  # looking again without the split


def test_a_sweep_file_with_sequential_seeds_is_checked_before_ray(tmp_path):
    space = {"sampler.k": {"grid": [1, 2]}}
    ok = load_sweep(write_sweep(tmp_path, "seq", space=space, seeds=[0, 1, 2, 3],
                                sequential={"more_seeds": [4, 5, 6], "per_round": 2, "resolve": 0.5}))
    assert ok.sequential.rounds == [[4, 5], [6]] and ok.sequential.looks == 3
    assert ok.n_trials() == 8 and ok.n_trials(most=True) == 14
    assert ok.settings().sequential == {"more_seeds": [4, 5, 6], "per_round": 2, "resolve": 0.5,
                                           "looks": 3}
    bad = [({"more_seeds": [3, 4]}, {}, "repeats seed 3"),
           ({"more_seeds": [4]}, {"scheduler": {"type": "asha"}}, "need search.type grid"),
           ({"more_seeds": [4], "per_round": 0}, {}, "sequential.per_round"),
           ({"more_seeds": [4], "resolv": 1}, {}, "did you mean resolve")]
    for i, (seq, extra, message) in enumerate(bad):
        with pytest.raises(ConfigError, match=message):
            load_sweep(write_sweep(tmp_path, f"bad{i}", space=space, seeds=[0, 1, 2, 3], sequential=seq,
                                   **extra))
