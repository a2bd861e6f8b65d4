"""The report's floor / ceiling section: each configuration's position between held-out data and noise
(analysis.stats.placement), its sentences (analysis.summary) and its plot (analysis.plots)."""

import math

import pytest

from analysis import load_experiment, stats
from analysis.__main__ import main
from analysis.plots import Skip
from analysis.summary import placement_sentences
from tests.test_analysis_helpers import assert_real_plot, write_experiment, write_sweep_file

KID = "eval/kid_domain"


def _langevin(tmp_path, floors=True):
    sweep = write_sweep_file(tmp_path, "langevin", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.step_size": {"grid": [1.0, 10.0]},
                              "sampler.noise_std": {"grid": [0.001, 0.01]}},
                             [0, 1], KID, "min", epochs=2)
    trials = []
    for step in (1.0, 10.0):
        for noise in (0.001, 0.01):
            for seed in (0, 1):
                value = 1.0 + 4.0 * (step == 1.0) + 100 * noise + 0.01 * seed  # 1.1 ... 6.01
                extra = {f"{KID}_floor": [0.02] * 2, f"{KID}_ceiling": [10.02] * 2,
                         f"{KID}_spread": [0.05] * 2,
                         f"{KID}_ceiling/std": [0.3] * 2, "eval/as_trained/kid_domain": [9.0, 0.5 + seed],
                         "eval/as_trained/kid_domain_position": [0.9, 0.05]} if floors else {}
                trials.append({"params": {"sampler.step_size": step, "sampler.noise_std": noise,
                                          "seed": seed},
                               "values": [8.0, value], "extra": extra})
    path = write_experiment(tmp_path, "langevin", sweep, trials, KID,
                            config={"kind": "conv_ebm", "train.epochs": 2})
    return load_experiment(path), path


def test_positions_between_floor_and_ceiling_per_configuration(tmp_path):
    exp, _ = _langevin(tmp_path)
    p = stats.placement(exp)
    best = p.iloc[0]
    assert best["group"] == "step_size=10, noise_std=0.001"
    assert best["position"] == pytest.approx((1.105 - 0.02) / 10.0)  # mean over the seeds' own positions
    got = (best["floor"], best["ceiling"], best["spread"], best["ceiling_spread"])
    assert got == (0.02, 10.02, 0.05, 0.3)
    assert (best["as_trained"], best["as_trained_position"]) == (1.0, 0.05)  # final values, mean over seeds
    assert list(p["position"]) == sorted(p["position"])  # a lower KID sits closer to the floor
    text = placement_sentences(p, KID)
    assert text[0].startswith("The best configuration, step_size=10, noise_std=0.001, sits at 0.11 of the "
                              "way")
    # 0.3 is the larger spread: 1.105 and 1.905 are 0.8 apart (> 0.6), so only the best is within two spreads
    assert text[1] == ("The metric's spread at this N is up to 0.3: 1 of 4 configurations lie within 2 "
                       "spreads of the best, which the metric does not tell apart.")


def test_report_has_the_section_and_heatmap_before_the_plots(tmp_path):
    _, path = _langevin(tmp_path)
    out = tmp_path / "report"
    assert main([path, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert md.index("## Between floor and ceiling") < md.index("## Plots")
    assert ("| 1 | step_size=10, noise_std=0.001 | 1.105 | 0.109 | 0.02 | 10.02 | 0.05 | 0.3 | 1 | 0.05 | 2 "
            "|" in md)
    assert_real_plot(str(out / "placement.png"))


def test_no_floor_no_section(tmp_path):
    exp, path = _langevin(tmp_path, floors=False)
    with pytest.raises(Skip, match="no eval/kid_domain_floor"):
        stats.placement(exp)
    out = tmp_path / "report"
    assert main([path, "--out", str(out)]) == 0
    assert "Between floor and ceiling" not in (out / "report.md").read_text()
    assert not math.isnan(exp.groups()["mean"].iloc[0])
