"""Offline analysis on synthetic experiment folders with known values (Tune's on-disk format; no Ray).

Covers: the per-trial and tidy frames, outcomes (ok / diverged / errored / stopped by ASHA / unfinished),
group means and 95% t-intervals, the summary sentences, every plot drawn or skipped with a reason, the
report files and the command line's errors (exit 2, one line).
"""

import dataclasses
import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from scipy import stats as sps
from test_analysis_helpers import NAN, assert_real_plot, write_experiment, write_sweep_file

from analysis import AnalysisError, load_experiment, stats
from analysis.__main__ import main
from analysis.stats import contrast, t_interval
from analysis.summary import sentences
from sweeps.spec import load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LL = "eval/log_likelihood"
T3 = sps.t.ppf(0.975, 2)  # 4.303: the 95% t quantile for 3 seeds


def _cd_k_trials():
    """Set A in miniature: CD/PCD x k in {1, 5} x seeds {0, 1, 2}, 3 epochs; values chosen by hand.

    CD-1 ends at -100, -102, -104; PCD-1 at -90, -91, -95 (10, 11, 9 nats better, seed by seed). CD-5 seed 2
    diverges at epoch 2; PCD-5 seed 1 errors in epoch 2 and seed 2 runs but its likelihood is NaN.
    """
    final = {("data", 1): [-100, -102, -104], ("persistent", 1): [-90, -91, -95],
             ("data", 5): [-95, -97, None], ("persistent", 5): [-88, None, None]}
    trials = []
    for (init, k), values in final.items():
        for seed, v in enumerate(values):
            t = {"params": {"sampler.init": init, "sampler.k": k, "seed": seed},
                 "extra": {"eval/ess": [10.0 * k + seed] * 3, "eval/tau": [2.0 + k + seed] * 3}}
            if v is not None:
                t["values"] = [v - 20, v - 5, v]
            elif init == "data":
                t.update(values=[-130, NAN], diverged=True)
            elif seed == 1:
                t.update(values=[-120], status="ERROR", error="ValueError: boom in epoch 2")
            else:
                t["values"] = [NAN, NAN, NAN]
            trials.append(t)
    return trials


@pytest.fixture(scope="module")
def cd_k(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cdk")
    sweep = write_sweep_file(folder, "cd_k", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]},
                              "sampler.k": {"grid": [1, 5]}},
                             [0, 1, 2], LL, "max", search={"type": "grid"})
    return write_experiment(folder, "cd_k", sweep, _cd_k_trials(), LL)


def _group(groups: pd.DataFrame, init: str, k: int) -> pd.Series:
    return groups[(groups["sampler.init"] == init) & (groups["sampler.k"] == k)].iloc[0]


# --------------------------------------------------------------------------------------------------
# Frames


def test_frames_read_every_trial_with_its_outcome(cd_k):
    exp = load_experiment(cd_k)
    t = exp.trials.set_index(["config/sampler.init", "config/sampler.k", "config/seed"])
    assert len(exp.trials) == 12 and exp.sweep.ranked_by == LL and exp.sweep.mode == "max"
    assert exp.sweep.space.keys() == {"sampler.init", "sampler.k"} and exp.sweep.seeds == [0, 1, 2]
    assert exp.trials["outcome"].value_counts().to_dict() == {"ok": 10, "diverged": 1, "errored": 1}
    assert t.loc[("data", 5, 2), "outcome"] == "diverged" and math.isnan(t.loc[("data", 5, 2), LL])
    assert t.loc[("data", 5, 2), "iterations"] == 2
    errored = t.loc[("persistent", 5, 1)]
    assert errored["outcome"] == "errored" and errored["error"] == "ValueError: boom in epoch 2"
    nan_ok = t.loc[("persistent", 5, 2)]
    assert nan_ok["outcome"] == "ok" and math.isnan(nan_ok[LL]) and math.isnan(nan_ok[f"best/{LL}"])
    assert t.loc[("data", 1, 0), LL] == -100 and t.loc[("data", 1, 0), f"best/{LL}"] == -100
    assert t.loc[("data", 1, 0), "best_iteration"] == 3
    assert t.loc[("data", 1, 0), "time_total_s"] == pytest.approx(4.5)
    assert t.loc[("data", 1, 0), "cpu_s"] == 4.5
    assert t.loc[("data", 1, 0), "samples"].endswith("samples.png")
    assert not isinstance(t.loc[("data", 5, 2), "samples"], str)  # a diverged run writes no samples
    assert not exp.notes


def test_history_is_tidy_and_keeps_nan(cd_k):
    exp = load_experiment(cd_k)
    h = exp.history
    assert list(h.columns) == ["trial_id", "iteration", "epoch", "eval_epoch", "metric", "value"]
    assert {LL, "train/recon_error", "eval/ess", "time_total_s"} <= set(h["metric"])
    assert not {"epoch", "training_iteration", "pid", "done"} & set(h["metric"])
    reports = h[h["metric"] == LL].groupby("trial_id").size()
    assert reports.sum() == 3 * 10 + 2 + 1  # every report of every trial, the diverged and errored ones too
    assert h[h["metric"] == LL]["value"].isna().sum() == 1 + 3  # the diverged report and the NaN trial's


def test_group_means_and_t_intervals(cd_k):
    g = load_experiment(cd_k).groups()
    cd1, pcd1, cd5, pcd5 = (_group(g, i, k) for i, k in [("data", 1), ("persistent", 1), ("data", 5),
                                                          ("persistent", 5)])
    assert cd1["mean"] == pytest.approx(-102) and cd1["std"] == pytest.approx(2.0) and cd1["n"] == 3
    assert (cd1["ci"] == pytest.approx(T3 * 2 / math.sqrt(3))
            and cd1["ci_low"] == pytest.approx(-102 - cd1["ci"]))
    assert (pcd1["mean"] == pytest.approx(-92)
            and pcd1["ci"] == pytest.approx(T3 * math.sqrt(7) / math.sqrt(3)))
    assert cd5["mean"] == pytest.approx(-96) and cd5["n"] == 2 and cd5["trials"] == 3
    assert cd5["ci"] == pytest.approx(sps.t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2))
    assert cd5["diverged"] == 1 and cd5["diverged_fraction"] == pytest.approx(1 / 3) and cd5["no_value"] == 1
    assert pcd5["mean"] == -88 and pcd5["n"] == 1 and math.isnan(pcd5["ci"]) and math.isnan(pcd5["std"])
    assert pcd5["errored"] == 1 and pcd5["ok"] == 2 and pcd5["no_value"] == 2
    # best mean first; CD-5, which diverged on a seed, after every configuration that never did
    assert list(g["group"]) == ["init=persistent, k=5", "init=persistent, k=1", "init=data, k=1",
                                "init=data, k=5"]


def test_t_interval_and_paired_contrast():
    mean, std, half, n = t_interval([1.0, 2.0, 3.0, NAN])
    assert (mean, std, n) == (2.0, 1.0, 3) and half == pytest.approx(T3 / math.sqrt(3))
    assert t_interval([5.0])[0] == 5.0 and math.isnan(t_interval([5.0])[2])
    assert t_interval([])[3] == 0
    c = contrast(pd.Series([-90, -91, -95]), pd.Series([-100, -102, -104]), "max")
    assert (c.difference, c.n, c.how) == (10, 3, "paired") and c.half == pytest.approx(T3 / math.sqrt(3))
    c = contrast(pd.Series([1.0, 2.0], index=[0, 1]), pd.Series([0.0, 0.0, 1.0], index=[0, 1, 2]), "max")
    assert c.how == "unpaired" and c.difference == pytest.approx(1.5 - 1 / 3) and c.half > 0


# --------------------------------------------------------------------------------------------------
# Summary sentences


def test_summary_sentences_carry_the_frames_numbers(cd_k):
    text = sentences(load_experiment(cd_k))
    assert (text[0] == "12 trials (4 configurations x 3 seeds): 10 ran to the end, 1 diverged, 1 ended with "
                       "an error.")
    assert text[1].startswith("Best configuration by eval/log_likelihood (higher is better): "
                              "init=persistent, k=5, -88 (1 seed, so no interval).")
    # paired by seed: differences 10, 11, 9; 2 degrees of freedom are too few to call it, so the seeds are
    # shown
    assert ("PCD-1 beats CD-1 by 10 nats (3 seeds: 10, 11, 9; a paired interval needs >= 4 seeds to call "
            "it)." in text)
    assert "PCD-5 beats CD-5 by 8 nats (unpaired, 1 and 2 seeds: no interval)." in text
    assert ("1 of 12 trials diverged; 1 of 4 init/k cells had a diverged trial, all with k ≥ 5 (1 of the 2 "
            "cells with k ≥ 5).") in text
    assert any(s.startswith("1 trial ended with an error - a000000a: ValueError: boom in epoch 2. Retry with "
                            "python sweeps/run.py ") and s.endswith(" --resume.") for s in text)
    assert ("1 trial ran without diverging but reported no finite eval/log_likelihood (shown as nan in the "
            "tables).") in text


def test_a_difference_whose_interval_includes_zero_says_so(tmp_path):
    sweep = write_sweep_file(tmp_path, "close", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]}, "sampler.k": {"grid": [1]}},
                             [0, 1, 2, 3], LL, "max", epochs=1)
    trials = [{"params": {"sampler.init": i, "sampler.k": 1, "seed": s}, "values": [v]}
              for i, vs in (("data", [-100, -101, -99, -100]), ("persistent", [-99, -102, -100, -101]))
              for s, v in enumerate(vs)]
    text = sentences(load_experiment(write_experiment(tmp_path, "close", sweep, trials, LL, samples=False,
                                                      config={"kind": "rbm", "train.epochs": 1})))
    lit, line = [s for s in text if "CD-1" in s]
    # differences 1, -1, -1, -1: -0.5 ± t(0.975, 3) * 1 / 2 = 1.59; the largest difference it allows is 2.09
    assert line == ("PCD-1 trails CD-1 by 0.5 ± 1.6 nats (95% CI, paired over 4 seeds; the interval includes "
                    "0: no difference larger than 2.1 nats).")
    assert lit.startswith("Tieleman (2008") and lit.endswith("not resolved at this scale (the interval "
                                                             "includes 0).")
    assert "No trial diverged." in text


@pytest.mark.parametrize("pcd, verdict", [([-95, -96, -94, -95], "this run agrees."),
                                          ([-110, -112, -111, -110], "this run DISAGREES.")])
def test_set_a_is_held_against_the_literature(tmp_path, pcd, verdict):
    """CD-1 vs CD-20 (Salakhutdinov & Murray 2008) and CD-1 vs PCD-1 (Tieleman 2008): each sentence gives the
    paired interval and whether the run agrees with the direction the paper reports."""
    sweep = write_sweep_file(tmp_path, "lit", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]},
                              "sampler.k": {"grid": [1, 20]}},
                             [0, 1, 2, 3], LL, "max", epochs=1)
    values = {("data", 1): [-100, -101, -99, -100], ("data", 20): [-97, -98, -95, -96],
              ("persistent", 1): pcd, ("persistent", 20): [-96, -97, -95, -96]}
    trials = [{"params": {"sampler.init": i, "sampler.k": k, "seed": s}, "values": [v]}
              for (i, k), vs in values.items() for s, v in enumerate(vs)]
    text = sentences(load_experiment(write_experiment(tmp_path, "lit", sweep, trials, LL, samples=False,
                                                      config={"kind": "rbm", "train.epochs": 1})))
    (sm,) = [s for s in text if s.startswith("Salakhutdinov & Murray")]
    assert "here CD-20 beats CD-1 by 3.5 ± 0.92 nats (95% CI, paired over 4 seeds): this run agrees." in sm
    (tieleman,) = [s for s in text if s.startswith("Tieleman")]
    assert "here PCD-1 " in tieleman and tieleman.endswith(verdict)


def test_collapsed_samples_rank_after_the_others_whatever_their_kid(tmp_path):
    """conv_cd_k's failure, in small: short-run k=1 draws one pattern repeated (is_domain ~1.15), which KID
    scores better than arms that draw digits of every class. It ranks after every configuration whose samples
    never collapsed, before one with a diverged seed; the summary names it, and its win over CD says what it
    means."""
    kid, is_domain = "eval/kid_domain", "eval/is_domain"
    sweep = write_sweep_file(tmp_path, "cdk", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.init": {"grid": ["data", "buffer", "noise"]},
                              "sampler.k": {"grid": [1, 5]}},
                             [0, 1], kid, "min", epochs=1)
    cells = {("data", 1): (10.4, 1.0), ("data", 5): (10.6, 1.0), ("buffer", 1): (6.9, 2.5),
             ("buffer", 5): (1.6, 4.1),
             ("noise", 1): (1.0, 1.15), ("noise", 5): (2.0, 3.0)}  # (KID, is_domain)
    trials = []
    for (init, k), (value, score) in cells.items():
        for seed in (0, 1):
            t = {"params": {"sampler.init": init, "sampler.k": k, "seed": seed},
                 "values": [value + 0.01 * seed], "extra": {is_domain: [score]}}
            if (init, k) == ("noise", 5) and seed == 1:
                t.update(values=[NAN], diverged=True)
            trials.append(t)
    exp = load_experiment(write_experiment(tmp_path, "cdk", sweep, trials, kid,
                                           config={"kind": "conv_ebm", "train.epochs": 1}))
    g = exp.groups()
    assert list(g["group"]) == ["init=buffer, k=5", "init=buffer, k=1", "init=noise, k=1", "init=data, k=1",
                                "init=data, k=5", "init=noise, k=5"]
    assert list(g["collapsed"]) == [0, 0, 2, 2, 2, 0]
    text = sentences(exp)
    assert text[1].startswith("Best configuration by eval/kid_domain (lower is better): init=buffer, k=5, "
                              "1.605")
    (line,) = [s for s in text if s.startswith("3 of 6 configurations drew collapsed samples on some seed")]
    assert "init=noise, k=1; init=data, k=1; init=data, k=5." in line
    (short_run,) = [s for s in text if s.startswith("short-run-1 beats CD-1")]
    assert short_run.endswith("but short-run-1's samples collapsed on some seed (eval/is_domain < 2), so its "
                              "eval/kid_domain does not mean better samples.")
    (pcd,) = [s for s in text if s.startswith("PCD-5 beats CD-5")]
    assert "collapsed" not in pcd  # the loser's collapse does not undermine the win
    from sweeps.report import table  # the driver's final table: the same order, and the count shown

    lines = table(g, ["sampler.init", "sampler.k"], kid, "min", 3).splitlines()
    assert ("with collapsed samples (eval/is_domain < 2) before them" in lines[0]
            and lines[1].endswith("collapsed"))
    assert lines[4].split()[:2] == ["3", "noise"] and lines[4].split()[-1] == "2"


def test_an_unreliable_likelihood_is_marked_and_ranks_after_the_reliable_ones(tmp_path):
    """Issue 19: an RBM sweep steered by eval/reliable_log_likelihood, ranked by final/log_likelihood. k=1's
    AIS is unreliable on its last epoch (eval/weight_ess reported, eval/reliable_log_likelihood NaN) and in
    its final evaluation (final/reliable false): its optimistic -100 would win, yet it ranks after k=5's
    reliable -110, the tables and the summary say why, and the training curve marks the points."""
    steer, rank = "eval/reliable_log_likelihood", "final/log_likelihood"
    sweep = write_sweep_file(tmp_path, "rbm", "configs/rbm_mnist_pcd1.yaml", {"sampler.k": {"grid": [1, 5]}},
                             [0, 1], steer, "max", epochs=2, rank_metric=rank)
    trials = []
    for k, final, reliable in ((1, -100.0, False), (5, -110.0, True)):
        for seed in (0, 1):
            trials.append({"params": {"sampler.k": k, "seed": seed},
                           "values": [-130.0, final if reliable else NAN],
                           "extra": {LL: [-130.0, final],
                                     "eval/weight_ess": [50.0, 40.0 if reliable else 3.0],
                                     rank: [None, final + seed], "final/reliable": [None, reliable]}})
    exp = load_experiment(write_experiment(tmp_path, "rbm", sweep, trials, steer))
    g = exp.groups()
    assert list(g["group"]) == ["k=5", "k=1"] and list(g["unreliable"]) == [0, 2]
    flagged = stats.unreliable_points(exp.history)
    assert len(flagged) == 2 and all(it == 2 for _, it in flagged)
    (line,) = [s for s in sentences(exp) if "called unreliable" in s]
    assert line.startswith("1 of 2 configurations have a final/log_likelihood") and line.count("k=1") == 1
    from sweeps.report import table

    lines = table(g, ["sampler.k"], rank, "max", 2).splitlines()
    assert ("with a value its run called unreliable before them" in lines[0]
            and lines[1].endswith("unreliable"))
    assert lines[3].split()[:2] == ["2", "1"] and lines[3].split()[-1] == "2"
    out = tmp_path / "report"
    assert main([exp.path, "--out", str(out)]) == 0
    assert "(2 unreliable)" in (out / "report.md").read_text()
    assert_real_plot(str(out / "training_curves.png"))


def test_ablation_heatmap_and_divergence_threshold(tmp_path):
    kid = "eval/kid_domain"
    sweep = write_sweep_file(tmp_path, "langevin", "configs/conv_mnist_pcd20.yaml",
                             {"sampler.step_size": {"grid": [1.0, 10.0, 100.0]},
                              "sampler.noise_std": {"grid": [0.001, 0.01]}}, [0, 1], kid, "min", epochs=2)
    trials = []
    for step in (1.0, 10.0, 100.0):
        for noise in (0.001, 0.01):
            for seed in (0, 1):
                t = {"params": {"sampler.step_size": step, "sampler.noise_std": noise, "seed": seed},
                     "values": [0.2, 10 * noise + 0.01 * seed + 0.001 * step]}
                if step == 100.0 and (noise == 0.01 or seed == 1):
                    t.update(values=[0.3, NAN], diverged=True)
                trials.append(t)
    path = write_experiment(tmp_path, "langevin", sweep, trials, kid,
                            config={"kind": "conv_ebm", "train.epochs": 2})
    exp = load_experiment(path)
    text = sentences(exp)
    assert ("3 of 12 trials diverged; 2 of 6 step_size/noise_std cells had a diverged trial, all with "
            "step_size ≥ 100 (every cell with step_size ≥ 100 had one).") in text
    assert text[1].startswith("Best configuration by eval/kid_domain (lower is better): step_size=1, "
                              "noise_std=0.001, 0.016 (2 seeds: 0.011, 0.021).")
    out = tmp_path / "report"
    assert main([path, "--out", str(out)]) == 0
    assert_real_plot(str(out / "heatmap.png"))
    md = (out / "report.md").read_text()
    assert "Not drawn: sampler.k is not swept." in md


def test_asha_stopped_and_unfinished_trials(tmp_path):
    sweep = write_sweep_file(tmp_path, "asha", "configs/rbm_mnist_pcd1.yaml",
                             {"train.lr": {"loguniform": [1.0e-3, 0.3]}, "sampler.k": {"choice": [1, 5]}},
                             [0], LL, "max", epochs=9, num_samples=5,
                             scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3},
                             search={"type": "optuna"})
    trials = [{"params": {"train.lr": 0.1, "sampler.k": 1, "seed": 0}, "values": list(range(-109, -100))},
              {"params": {"train.lr": 0.001, "sampler.k": 5, "seed": 0}, "values": [-150]},
              {"params": {"train.lr": 0.002, "sampler.k": 1, "seed": 0}, "values": [-140, -139, -138]},
              {"params": {"train.lr": 0.05, "sampler.k": 5, "seed": 0}, "values": [-120, -118],
               "status": "RUNNING"},
              {"params": {"train.lr": 0.03, "sampler.k": 1, "seed": 0}, "values": [], "status": "PENDING"}]
    path = write_experiment(tmp_path, "asha", sweep, trials, LL, config={"kind": "rbm", "train.epochs": 9})
    exp = load_experiment(path)
    assert list(exp.trials["outcome"]) == ["ok", "stopped", "stopped", "unfinished", "unfinished"]
    assert exp.sweep.scheduler == "asha" and exp.sweep.max_t == 9
    assert exp.trials["iterations"].tolist() == [9, 1, 3, 2, 0]
    assert pd.isna(exp.trials.loc[4, "path"])  # pending: Tune knows it, it never wrote a folder
    text = sentences(exp)
    assert ("ASHA stopped 2 of 5 trials early, after a median of 2 of 9 iterations; they count with their "
            "last reported value.") in text
    assert text[0] == ("5 trials (5 configurations x 1 seed): 1 ran to the end, 2 were stopped early by "
                       "ASHA, 2 were unfinished when the sweep stopped.")
    assert f"2 trials (1 started) had not finished when the sweep stopped; their values are not averaged. " \
           f"Continue with python sweeps/run.py {sweep} --storage {tmp_path} --resume." in text


def test_a_sweep_interrupted_before_any_report_still_gets_a_report(tmp_path):
    sweep = write_sweep_file(tmp_path, "early", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.k": {"grid": [1, 5]}}, [0], LL, "max")
    trials = [{"params": {"sampler.k": 1, "seed": 0}, "values": [], "status": "RUNNING"},
              {"params": {"sampler.k": 5, "seed": 0}, "values": [], "status": "PENDING"}]
    path = write_experiment(tmp_path, "early", sweep, trials, LL)
    assert main([path, "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "report.md").read_text()
    assert "- 2 trials (2 configurations x 1 seed): 2 were unfinished when the sweep stopped." in md
    assert "No trial reported a finite eval/log_likelihood, so no configuration can be ranked." in md
    assert "Not drawn: no trial reported a finite eval/log_likelihood." in md
    assert not list((tmp_path / "out").glob("*.png"))


def test_parameter_importance_for_a_tuning_sweep(tmp_path):
    sweep = write_sweep_file(tmp_path, "tune", "configs/rbm_mnist_pcd1.yaml",
                             {"train.lr": {"loguniform": [1.0e-3, 0.3]},
                              "train.momentum": {"uniform": [0.0, 0.9]},
                              "sampler.k": {"choice": [1, 5, 20]}}, [0], LL, "max", num_samples=12,
                             search={"type": "optuna"})
    lrs = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.003, 0.03, 0.15, 0.008]
    trials = [{"params": {"train.lr": lr, "train.momentum": 0.1 * (i % 9), "sampler.k": [1, 5, 20][i % 3],
                          "seed": 0},
               "values": [-200, -150 + 40 * math.log10(lr) + 0.1 * (i % 3)]} for i, lr in enumerate(lrs)]
    exp = load_experiment(write_experiment(tmp_path, "tune", sweep, trials, LL,
                                           config={"kind": "rbm", "train.epochs": 2}))
    (line,) = [s for s in sentences(exp) if s.startswith("By fANOVA")]
    assert line.startswith("By fANOVA importance over 12 trials with a value, train.lr (")
    from analysis.plots import importance

    imp = importance(exp)
    assert imp.index[0] == "train.lr" and imp["train.lr"] > 0.5 and imp.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# Files that are missing, inferred or broken


def test_settings_recorded_by_the_driver_outlive_the_sweep_file(tmp_path):
    from sweeps.spec import load_sweep

    sweep = write_sweep_file(tmp_path, "rec", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]},
                              "sampler.k": {"grid": [1, 5]}},
                             [0, 1, 2], LL, "max", epochs=3)
    path = write_experiment(tmp_path, "rec", sweep, _cd_k_trials(), LL)
    record_file = os.path.join(path, "sweep.yaml")
    with open(record_file) as f:
        record = yaml.safe_load(f)
    record["settings"] = dataclasses.asdict(load_sweep(sweep, "cpu", []).settings())  # as sweeps/run.py
    with open(record_file, "w") as f:
        yaml.safe_dump(record, f)
    with open(sweep, "w") as f:  # the sweep file is edited after the run: the record still says what ran
        f.write("metric: eval/other\n")
    exp = load_experiment(path)
    assert exp.sweep.ranked_by == LL and exp.sweep.mode == "max" and exp.sweep.seeds == [0, 1, 2]
    assert exp.sweep.domains == {"sampler.init": ("grid", ["data", "persistent"]),
                                 "sampler.k": ("grid", [1, 5])}
    assert exp.sweep.max_t == 3 and exp.sweep.kind == "rbm" and "as recorded" in exp.sweep.source
    assert not any("inferred" in n or "no longer loads" in n for n in exp.notes)


def test_a_record_without_settings_is_refused_naming_what_wrote_it(tmp_path, capsys):
    sweep = write_sweep_file(tmp_path, "old", "configs/rbm_mnist_pcd1.yaml", {"sampler.k": {"grid": [1, 5]}},
                             [0], LL, "max")
    path = write_experiment(tmp_path, "old", sweep, _cd_k_trials(), LL)
    # what sweeps/run.py wrote before it recorded settings
    with open(os.path.join(path, "sweep.yaml"), "w") as f:
        yaml.safe_dump({"sweep": sweep, "preset": "cpu", "overrides": [], "data": "mnist5k",
                        "provenance": {"project": "0.1.0", "git_commit": "abc1234"}}, f)
    assert main([path, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (err.count("\n") == 1
            and "holds no settings: it was written by ebm-cd-study 0.1.0 at commit abc1234" in err)


def test_without_the_driver_record_settings_are_inferred_and_said_so(tmp_path):
    path = write_experiment(tmp_path, "norecord", None, _cd_k_trials(), LL)
    exp = load_experiment(path)
    assert exp.sweep.ranked_by == LL and exp.sweep.mode == "max"  # Tune's runner state names the metric
    assert set(exp.sweep.space) == {"sampler.init", "sampler.k"} and exp.sweep.seeds == [0, 1, 2]
    assert any("no sweep.yaml" in n for n in exp.notes)
    assert exp.trials["outcome"].value_counts().to_dict() == {"ok": 10, "diverged": 1, "errored": 1}
    assert _group(exp.groups(), "data", 1)["mean"] == pytest.approx(-102)


def test_without_tunes_experiment_state_the_trial_folders_suffice(cd_k, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    for f in copy.glob("experiment_state-*.json"):
        f.write_text("{ not json")
    exp = load_experiment(str(copy))
    assert any("experiment_state" in n and "unreadable" in n for n in exp.notes)
    assert len(exp.trials) == 12
    assert exp.trials["outcome"].value_counts().to_dict() == {"ok": 10, "diverged": 1, "errored": 1}
    errored = exp.trials[exp.trials["outcome"] == "errored"].iloc[0]
    assert errored["error"] == "ValueError: boom in epoch 2"


def test_a_cut_short_result_line_is_skipped_and_noted(cd_k, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    trial = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    with open(trial / "result.json", "a") as f:
        f.write('{"epoch": 4, "eval/log_lik')
    exp = load_experiment(str(copy))
    assert any("1 unreadable line(s) in result.json skipped" in n for n in exp.notes)
    assert exp.trials["iterations"].max() == 3


def test_a_result_json_of_binary_garbage_is_counted_and_named_and_the_report_is_written(cd_k, tmp_path):
    # a disk fault: bytes that are not UTF-8 where the reports were; the trial is counted, the file named
    import shutil

    from analysis.__main__ import main as analyse

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    trial = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    (trial / "result.json").write_bytes(bytes(range(128, 256)) * 4 + b"\n\xff\xfe{\x00garbage\n")
    (trial / "progress.csv").write_bytes(b"\xff\xfe\x00\x81")
    assert analyse([str(copy)]) == 0
    report = (copy / "report" / "report.md").read_text()
    assert f"{trial.name}: 2 unreadable line(s) in result.json skipped" in report
    exp = load_experiment(str(copy))
    assert len(exp.trials) == 12


def test_progress_csv_stands_in_for_a_missing_result_json(cd_k, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    trial = sorted(p for p in copy.iterdir() if p.is_dir())[0]
    (trial / "result.json").unlink()
    ours = load_experiment(str(copy)).trials.set_index("trial_id")
    theirs = load_experiment(cd_k).trials.set_index("trial_id")
    tid = trial.name.split("_")[2]  # train_rbm_<trial id>_<n>_<tag>
    for col in (LL, f"best/{LL}", "iterations", "time_total_s", "outcome"):
        assert ours.at[tid, col] == theirs.at[tid, col], col


def test_a_trial_folder_newer_than_tunes_state_is_read_too(cd_k, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    (state_file,) = copy.glob("experiment_state-*.json")
    state = json.loads(state_file.read_text())
    dropped = json.loads(state["trial_data"].pop(0)[0])["trial_id"]  # the state was saved before it started
    state_file.write_text(json.dumps(state))
    t = load_experiment(str(copy)).trials.set_index("trial_id")
    assert len(t) == 12 and t.at[dropped, LL] == -100
    assert t.at[dropped, "outcome"] == "ok" and pd.isna(t.at[dropped, "tune_status"])


@pytest.mark.parametrize("make", ["missing", "empty", "corrupt", "not_an_experiment"])
def test_bad_folders_exit_2_with_one_line(make, tmp_path, capsys):
    path = tmp_path / "exp"
    if make != "missing":
        path.mkdir()
    if make == "corrupt":
        (path / f"experiment_state-{'2026-01-01_00-00-00'}.json").write_text('{"trial_data": [[')
    if make == "not_an_experiment":
        (path / "notes.txt").write_text("hello")
    with pytest.raises(AnalysisError):
        load_experiment(str(path))
    assert main([str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_the_report_is_never_written_over_without_overwrite(cd_k, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([cd_k, "--out", str(out)]) == 0
    before = (out / "report.md").read_text()
    assert main([cd_k, "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "report.md").read_text() == before
    assert main([cd_k, "--out", str(out), "--overwrite"]) == 0


# --------------------------------------------------------------------------------------------------
# The report


def test_report_files_plots_and_frames(cd_k, tmp_path):
    out = tmp_path / "report"
    assert main([cd_k, "--out", str(out)]) == 0
    for name in ("groups", "metric_vs_k", "training_curves", "samples", "mcmc"):
        assert_real_plot(str(out / f"{name}.png"))
    assert not (out / "heatmap.png").exists() and not (out / "importance.png").exists()
    md = (out / "report.md").read_text()
    assert "Not drawn: a heatmap needs two numeric grid keys; sampler.init is categorical." in md
    assert "Not drawn: only grid keys are swept" in md
    assert "PCD-1 beats CD-1 by 10 nats (3 seeds: 10, 11, 9;" in md
    assert "![Metric vs k (CD, PCD, short-run)](metric_vs_k.png)" in md
    assert "| a000000a | errored | 1 |" in md  # shown, with its error
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "src=\"metric_vs_k.png\"" not in page
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 12 and trials["outcome"].value_counts()["diverged"] == 1
    groups = pd.read_csv(out / "groups.csv")
    assert groups["mean"].iloc[0] == -88
    assert len(pd.read_csv(out / "history.csv")) == len(load_experiment(cd_k).history)
    pytest.importorskip("pyarrow")
    assert len(pd.read_parquet(out / "trials.parquet")) == 12


def test_default_output_folder_is_inside_the_experiment(cd_k, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(cd_k, copy)
    assert main([str(copy)]) == 0
    assert (copy / "report" / "report.html").exists()
    assert len(load_experiment(str(copy)).trials) == 12  # the report folder is not mistaken for a trial


def test_runs_as_a_module_without_ray_or_the_trainables(cd_k, tmp_path):
    code = ("import sys; from analysis.__main__ import main; rc = main(sys.argv[1:]); "
            "bad = [m for m in ('ray', 'trainables', 'torch') if m in sys.modules]; "
            "print('imported:', bad); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, cd_k, "--out", str(tmp_path / "r")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "imported: []" in out.stdout
    cli = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "nothing")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 2 and cli.stderr.startswith("error: ") and cli.stderr.count("\n") == 1


def test_metric_override_and_unknown_metric(cd_k, tmp_path, capsys):
    exp = load_experiment(cd_k, metric="eval/ess", mode="max")
    # k=5: 50, 51, 52 over the seeds (ESS = 10k + seed)
    assert exp.groups().iloc[0]["mean"] == pytest.approx(51.0)
    assert main([cd_k, "--out", str(tmp_path / "o"), "--metric", "eval/nope"]) == 2
    assert "eval/nope" in capsys.readouterr().err


def test_params_json_is_the_config_source(cd_k):
    exp = load_experiment(cd_k)
    row = exp.trials.iloc[0]
    with open(os.path.join(row["path"], "params.json")) as f:
        params = json.load(f)
    assert {f"config/{k}" for k in params} <= set(exp.trials.columns)


def test_a_preset_that_cannot_answer_its_question_says_so_first(tmp_path):
    why = "its arms' final values swing more than they differ."
    sweep = write_sweep_file(tmp_path, "cv", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]}, "sampler.k": {"grid": [1]}},
                             [0], LL, "max", epochs=1, presets={"cpu": {"caveat": why}, "smoke": {}})
    trials = [{"params": {"sampler.init": i, "sampler.k": 1, "seed": 0}, "values": [-100.0]}
              for i in ("data", "persistent")]
    path = write_experiment(tmp_path, "cv", sweep, trials, LL, samples=False,
                            config={"kind": "rbm", "train.epochs": 1})
    assert (sentences(load_experiment(path))[0] == "This preset cannot answer its question at its scale: "
                                                   f"{why}")
    record = yaml.safe_load(open(os.path.join(path, "sweep.yaml")))
    # as sweeps/run.py records it: the settings, not the file
    with open(os.path.join(path, "sweep.yaml"), "w") as f:
        settings = dataclasses.asdict(load_sweep(sweep, "cpu").settings())
        yaml.safe_dump({**record, "preset": "smoke", "settings": settings}, f)
    assert sentences(load_experiment(path))[0].endswith(why)
    assert not load_sweep(sweep, "smoke").caveat  # one preset's caveat is not another's


def test_a_sweep_that_fell_back_to_the_embedded_data_says_so_first(tmp_path):
    sweep = write_sweep_file(tmp_path, "fb", "configs/rbm_mnist_pcd1.yaml",
                             {"sampler.init": {"grid": ["data", "persistent"]}, "sampler.k": {"grid": [1]}},
                             [0, 1], LL, "max", epochs=1)
    trials = [{"params": {"sampler.init": i, "sampler.k": 1, "seed": s}, "values": [-100.0 - s]}
              for i in ("data", "persistent") for s in (0, 1)]
    path = write_experiment(tmp_path, "fb", sweep, trials, LL, samples=False,
                            config={"kind": "rbm", "train.epochs": 1})
    assert not sentences(load_experiment(path))[0].startswith("This run cannot answer")
    record = yaml.safe_load(open(os.path.join(path, "sweep.yaml")))
    with open(os.path.join(path, "sweep.yaml"), "w") as f:
        yaml.safe_dump({**record, "data_requested": "mnist"}, f)  # the driver asked for mnist, ran on mnist5k
    first = sentences(load_experiment(path))[0]
    assert first.startswith("This run cannot answer its question at the scale its preset was chosen for") \
        and "embedded mnist5k because mnist was not available" in first
