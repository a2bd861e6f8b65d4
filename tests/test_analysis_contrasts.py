"""What a report may call a difference (``analysis.stats.contrast``): the 3-degrees-of-freedom rule, seed
points instead of 1-df bars in the plots, main effects of a grid, the best against its runners-up, and
swinging seeds. Synthetic experiment folders (Tune's on-disk format, no Ray, no training)."""

import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer
from scipy import stats as sps
from test_analysis_helpers import (
    CEILING,
    FLOOR,
    KID,
    NAN,
    NOISES,
    SPREAD,
    kid_value,
    langevin_grid,
    write_experiment,
    write_sweep_file,
)

from analysis import effects, load_experiment, plots, stats, swings
from analysis.summary import sentences

# --------------------------------------------------------------------------------------------------
# The rule


def test_two_seeds_are_too_few_and_show_their_differences():
    c = stats.contrast(pd.Series([1.38, 1.44]), pd.Series([1.0, 1.0]), "max")
    assert (c.verdict, c.how, c.n, c.dof) == ("too few seeds", "paired", 2, 1.0)
    assert c.difference == pytest.approx(0.41) and c.seeds == pytest.approx((0.38, 0.44))
    assert (stats.amount(c, "in m") == "0.41 in m (2 seeds: 0.38, 0.44; a paired interval needs >= 4 seeds "
                                       "to call it)")
    three = stats.contrast(pd.Series([1.0, 2.0, 3.0]), pd.Series([0.0, 0.0, 0.0]), "max")
    assert three.verdict == "too few seeds" and three.dof == 2 < stats.MIN_PAIRED_DOF
    one = stats.contrast(pd.Series([1.0]), pd.Series([0.5]), "max")
    assert one.verdict == "too few seeds" and stats.amount(one, "nats").startswith("0.5 nats (1 seed: 0.5;")


def test_four_seeds_with_a_large_consistent_difference_are_clear():
    c = stats.contrast(pd.Series([0.2, 0.21, 0.19, 0.2]), pd.Series([1.0, 1.1, 0.9, 1.0]), "min")
    half = sps.t.ppf(0.975, 3) * pd.Series([-0.8, -0.89, -0.71, -0.8]).std() / 2
    assert (c.verdict, c.n, c.dof) == ("clear", 4, 3.0) and c.half == pytest.approx(half)
    assert c.difference == pytest.approx(-0.8) and c.gain == pytest.approx(0.8)  # lower is better: a wins
    assert stats.amount(c, "in m") == f"0.8 ± {stats.fmt(half, 2)} in m (95% CI, paired over 4 seeds)"


def test_four_seeds_straddling_zero_are_unclear_and_bound_the_difference():
    c = stats.contrast(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1.5, 1.5, 3.5, 3.5]), "max")
    assert c.verdict == "unclear" and c.difference == 0.0
    assert c.bound == pytest.approx(c.half)
    text = stats.amount(c, "nats")
    assert text.endswith(f"(95% CI, paired over 4 seeds; the interval includes 0: no difference larger than "
                         f"{stats.fmt(c.bound, 2)} nats)")


def test_unpaired_intervals_are_never_called_clear():
    a = pd.Series([10.0, 10.1, 10.2, 10.0, 10.1], index=[0, 1, 2, 3, 4])
    b = pd.Series([0.0, 0.1, 0.0, 0.1, 0.0, 0.1], index=[0, 1, 2, 3, 4, 5])
    c = stats.contrast(a, b, "max")
    assert (c.how, c.verdict) == ("unpaired", "unpaired") and c.half < 1 < c.difference
    assert "not called: the two do not share their seeds" in stats.amount(c, "nats")
    missing = stats.contrast(pd.Series([1.0, NAN, 2.0, 3.0]), pd.Series([0.0, 1.0, 1.0, 2.0]), "max")
    assert missing.verdict == "unpaired"  # a seed without a value breaks the pairing: not silently dropped


def test_one_sample_against_a_threshold():
    c = stats.contrast(pd.Series([0.1, 0.12, 0.11, 0.09]), 0.5, "min")
    assert (c.how, c.verdict) == ("one-sample", "clear") and c.difference == pytest.approx(-0.395)
    assert stats.contrast(pd.Series([], dtype=float), 0.5, "min").verdict == "no value"


def test_a_two_seed_sweep_never_calls_a_difference(tmp_path):
    text = sentences(langevin_grid(tmp_path, seeds=(0, 1)))
    assert text[1] == ("Best configuration by eval/kid_domain (lower is better): step_size=10, "
                       "noise_std=0.001, 0.072 (2 seeds: 0.071, 0.073).")
    compared = [s for s in text if " by " in s and ("behind" in s or " vs " in s)]
    assert compared and all("a paired interval needs >= 4 seeds to call it" in s for s in compared)
    assert not any("95% CI" in s for s in text)
    (runner_up,) = [s for s in text if s.startswith("The runner-up")]
    assert runner_up == ("The runner-up, step_size=100, noise_std=0.001 (0.072), ties with the best on "
                         "average, a difference of 0 in eval/kid_domain (2 seeds: 0.01, -0.01; a paired "
                         "interval needs >= 4 seeds to call it).")


# --------------------------------------------------------------------------------------------------
# Main effects and runners-up


def test_main_effects_of_a_3x3x4_grid(tmp_path):
    text = sentences(langevin_grid(tmp_path))
    d1 = [kid_value(1.0, n, s) - kid_value(10.0, n, s) for s in range(4) for n in NOISES]
    per_seed = [sum(d1[3 * s:3 * s + 3]) / 3 for s in range(4)]  # averaged over the noise levels, per seed
    half = sps.t.ppf(0.975, 3) * pd.Series(per_seed).std() / 2
    assert (f"step_size=1 vs step_size=10, averaged over the 3 noise_std values: worse by "
            f"{stats.fmt(sum(per_seed) / 4, 3)} ± {stats.fmt(half, 2)} in eval/kid_domain (95% CI, paired "
            "over 4 seeds).") in text
    (null,) = [s for s in text if s.startswith("step_size=100 vs step_size=10")]
    assert null.startswith("step_size=100 vs step_size=10, averaged over the 3 noise_std values: no "
                           "difference larger than ") and "(95% CI, paired over 4 seeds: " in null
    noise = [s for s in text if s.startswith("noise_std=")]
    assert [s.split(",")[0] for s in noise] == ["noise_std=0.005 vs noise_std=0.001",
                                                "noise_std=0.02 vs noise_std=0.001"]
    assert all("averaged over the 3 step_size values: worse by" in s for s in noise)


def test_cells_with_a_diverged_trial_are_left_out_and_said_so(tmp_path):
    exp = langevin_grid(tmp_path, diverged={(100.0, 0.02, 3)})
    text = sentences(exp)
    (line,) = [s for s in text if s.startswith("step_size=100 vs step_size=10")]
    assert line.startswith("step_size=100 vs step_size=10, averaged over the 2 noise_std values where "
                           "neither diverged (left out: noise_std=0.02, where a trial diverged): ")
    (line,) = [s for s in text if s.startswith("noise_std=0.02 vs")]
    assert ("averaged over the 2 step_size values where neither diverged (left out: step_size=100, where a "
            "trial diverged)") in line
    (line,) = [s for s in text if s.startswith("step_size=1 vs")]
    assert "averaged over the 3 noise_std values: worse by" in line  # step 1 and 10 never diverged


def test_the_best_is_contrasted_with_each_runner_up(tmp_path):
    text = sentences(langevin_grid(tmp_path))
    ups = [s for s in text if s.startswith(("The runner-up, ", "Third, ", "Fourth, ", "Fifth, "))]
    assert len(ups) == 4
    assert ups[0] == ("The runner-up, step_size=100, noise_std=0.001 (0.07525), is behind the best by "
                      "0.00125 ± 0.016 in eval/kid_domain (95% CI, paired over 4 seeds; the interval "
                      "includes 0: no difference larger than 0.018 in eval/kid_domain).")
    assert all("paired over 4 seeds" in s for s in ups)
    assert text.index(ups[0]) > text.index(next(s for s in text if s.startswith("Best configuration")))


def test_main_effects_only_for_grids_over_two_keys(tmp_path):
    sweep = write_sweep_file(tmp_path, "one", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.step_size": {"grid": [1.0, 10.0]}}, [0, 1, 2, 3], KID, "min", epochs=1)
    trials = [{"params": {"sampler.step_size": step, "seed": s}, "values": [kid_value(step, 0.0, s)]}
              for step in (1.0, 10.0) for s in range(4)]
    exp = load_experiment(write_experiment(tmp_path, "one", sweep, trials, KID, samples=False,
                                           config={"kind": "conv_ebm", "train.epochs": 1}))
    assert effects.grid_keys(exp) == [] and effects.main_effects(exp) == []
    (up,) = [s for s in sentences(exp) if s.startswith("The runner-up")]
    assert up.startswith("The runner-up, step_size=1 (1.05), is behind the best by 0.977 ± 0.2 in "
                         "eval/kid_domain (95% CI, paired over 4 seeds).")


# --------------------------------------------------------------------------------------------------
# Plots: seed points, and intervals only with the seeds for one


def _bars(ax) -> int:
    return sum(len(c.lines[2][0].get_segments()) for c in ax.containers if isinstance(c, ErrorbarContainer))


def _points(ax) -> int:
    return sum(len(c.get_offsets()) for c in ax.collections if c.get_label() == "each seed")


def test_two_seeds_are_drawn_as_points_without_bars(tmp_path):
    exp = langevin_grid(tmp_path, seeds=(0, 1))
    fig = plots.plot_groups(exp)
    ax = fig.axes[0]
    assert _points(ax) == 9 * 2 and _bars(ax) == 0
    plt.close(fig)
    fig = plots.plot_heatmap(exp)
    assert not any("±" in t.get_text() for t in fig.axes[0].texts)
    assert any(t.get_text().endswith("2 seeds") for t in fig.axes[0].texts)
    plt.close(fig)


def test_four_seeds_get_bars_and_a_cell_with_three_does_not(tmp_path):
    exp = langevin_grid(tmp_path, diverged={(100.0, 0.02, 3)})
    fig = plots.plot_groups(exp)
    ax = fig.axes[0]
    assert _points(ax) == 9 * 4 - 1 and _bars(ax) == 8  # the cell with a diverged seed has 3 values: no bar
    plt.close(fig)
    fig = plots.plot_heatmap(exp)
    assert sum("±" in t.get_text() for t in fig.axes[0].texts) == 8
    plt.close(fig)


def test_metric_vs_k_draws_seed_points_and_bars_only_for_four_seeds(tmp_path):
    sweep = write_sweep_file(tmp_path, "cdk", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.init": {"grid": ["data", "noise"]}, "sampler.k": {"grid": [1, 5]}},
                             [0, 1, 2, 3], KID, "min", epochs=1)
    trials = [{"params": {"sampler.init": init, "sampler.k": k, "seed": s}, "values": [1.0 + k + 0.1 * s]}
              for init in ("data", "noise") for k in (1, 5) for s in range(4 if init == "noise" else 2)]
    exp = load_experiment(write_experiment(tmp_path, "cdk", sweep, trials, KID, samples=False,
                                           config={"kind": "conv_ebm", "train.epochs": 1}))
    fig = plots.plot_metric_vs_k(exp)
    ax = fig.axes[0]
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in points) == 2 * 2 + 2 * 4  # every seed of every point
    assert _bars(ax) == 2  # the noise arm's two points have 4 seeds; the data arm's 2 seeds get none
    assert sum(type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")
               for c in ax.collections) == 1
    plt.close(fig)


# --------------------------------------------------------------------------------------------------
# Swinging seeds


def _short_run(tmp_path, spread: bool):
    sweep = write_sweep_file(tmp_path, "sr", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.init": {"grid": ["buffer", "noise"]}, "sampler.k": {"grid": [20]}},
                             [0, 1, 2, 3], KID, "min", epochs=4)
    trials = []
    for init in ("buffer", "noise"):
        for s in range(4):
            values = [0.3, 0.2, 0.15, 3.4] if (init, s) == ("noise", 0) else [0.4, 0.3, 0.2, 0.18 + 0.01 * s]
            extra = {f"{KID}_floor": [FLOOR] * 4, f"{KID}_ceiling": [CEILING] * 4}
            if spread:
                extra[f"{KID}_spread"] = [SPREAD] * 4
            trials.append({"params": {"sampler.init": init, "sampler.k": 20, "seed": s}, "values": values,
                           "extra": extra})
    return load_experiment(write_experiment(tmp_path, "sr", sweep, trials, KID, samples=False,
                                            config={"kind": "conv_ebm", "train.epochs": 4}))


def test_a_seed_that_ends_far_worse_than_its_best_epoch_is_named(tmp_path):
    exp = _short_run(tmp_path, spread=True)
    table = swings.swings(exp)
    assert len(table) == 8 and table["swung"].sum() == 1
    line = swings.sentence(exp)
    assert line == ("Seeds that ended much worse than their own best epoch (eval/kid_domain worse than there "
                    "by more than 3 x eval/kid_domain_spread): short-run k=20 swung on 1 of 4 seeds (seed 0: "
                    "0.15 at epoch 3 -> 3.4 at the end).")
    assert line in sentences(exp)


def test_without_a_spread_half_the_floor_to_ceiling_range_is_the_bar(tmp_path):
    line = swings.sentence(_short_run(tmp_path, spread=False))
    assert line == ("No seed ended much worse than its own best epoch (eval/kid_domain worse than there by "
                    "more than 0.5 of the floor-to-ceiling range).")  # 3.4 - 0.15 is less than half of 10


def test_metrics_without_a_scale_get_no_swing_sentence(tmp_path):
    sweep = write_sweep_file(tmp_path, "ll", "configs/rbm_mnist_pcd1.yaml", {"sampler.k": {"grid": [1, 5]}},
                             [0, 1], "eval/log_likelihood", "max", epochs=3)
    trials = [{"params": {"sampler.k": k, "seed": s}, "values": [-100.0, -90.0, -150.0]}
              for k in (1, 5) for s in (0, 1)]
    exp = load_experiment(write_experiment(tmp_path, "ll", sweep, trials, "eval/log_likelihood",
                                           samples=False))
    assert swings.sentence(exp) == ""


def test_tied_configurations_rank_in_label_order_whatever_order_their_trials_ended():
    import pandas as pd

    from analysis.stats import group_table

    rows = [{"config/sampler.k": k, "config/seed": s, "m": v, "outcome": "ok"}
            for k, v in ((5, 1.0), (1, 1.0), (3, 2.0)) for s in (0, 1)]
    for order in (rows, rows[::-1]):
        g = group_table(pd.DataFrame(order), "m", "max", ["config/sampler.k"])
        assert list(g["group"]) == ["k=3", "k=1", "k=5"]
