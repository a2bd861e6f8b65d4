"""Offline analysis of real smoke sweeps (one Ray session for the module; each sweep runs once, when a test
first needs it).

Covers: the per-trial frame against Ray's own ``ResultGrid.get_dataframe()`` (last results, and best results
with ``filter_metric``), ASHA-stopped trials, and every plot of each shipped sweep's smoke output drawn and
not blank, or skipped with a reason. Three sweeps run in the default tier (Set A, the Langevin ablation, the
RBM tuning sweep); the other conv sweeps are in the slow tier.
"""

import math
import os

import pandas as pd
import pytest
import ray
from test_analysis_helpers import assert_real_plot
from test_sweeps_helpers import write_sweep

from analysis import load_experiment
from analysis.__main__ import main as analyse
from sweeps.run import main as run_sweep
from sweeps.spec import available

DEFAULT_TIER = ("rbm_cd_k", "ablation_langevin", "tune_rbm")
# Plots each sweep's smoke output must have (more may be drawn); the others are skipped with a reason.
REQUIRED = {"rbm_cd_k": {"metric_vs_k", "samples", "mcmc"}, "conv_cd_k": {"metric_vs_k", "mcmc"},
            "ablation_langevin": {"heatmap", "mcmc"},
            "ablation_buffer": {"heatmap"}, "ablation_noise": {"heatmap"},
            "tune_rbm": {"importance", "samples"}}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """name -> the experiment folder of that sweep's smoke preset (run once per module)."""
    ray.init(num_cpus=2, include_dashboard=False)
    storage = tmp_path_factory.mktemp("results")
    done = {}

    def run(name: str) -> str:
        if name not in done:
            if name == "diverge":  # a tiny RBM sweep where one learning rate blows the weights up
                path = write_sweep(storage, "diverge", epochs=3,
                                   space={"train.lr": {"grid": [0.05, 1.0e+30, 0.02]}}, seeds=[0])
                assert run_sweep([path, "--storage", str(storage), "--no-dashboard"]) == 0
            else:
                assert run_sweep([name, "--preset", "smoke", "--storage", str(storage),
                                  "--no-dashboard"]) == 0
            done[name] = str(storage / name)
        return done[name]

    yield run
    ray.shutdown()


def _trainable(path: str):
    from trainables import TRAINABLES

    return TRAINABLES[load_experiment(path).sweep.kind]


@pytest.mark.parametrize("name", ["rbm_cd_k", "tune_rbm", "diverge"])
def test_frames_agree_with_rays_result_grid(name, smoke):
    from ray import tune

    path = smoke(name)
    exp = load_experiment(path)
    grid = tune.Tuner.restore(path, _trainable(path)).get_results()
    last = grid.get_dataframe().set_index("trial_id")
    # Best per trial from Ray's own per-trial frames. (grid.get_dataframe(filter_metric=...) raises on a trial
    # whose metric is NaN throughout, e.g. one that diverged in its first epoch: pandas 3's idxmax on all-NA.)
    m, mode = exp.sweep.ranked_by, exp.sweep.mode
    # ASHA-stopped
    frames = {r.metrics["trial_id"]: r.metrics_dataframe.get(m, pd.Series([math.nan])) for r in grid}
    # trials have no final/
    best = {tid: (f.max() if mode == "max" else f.min()) for tid, f in frames.items()}
    ours = exp.trials.set_index("trial_id")
    assert (sorted(ours.index) == sorted(last.index)
            and len(ours) == len(os.listdir(path)) - len(_non_trials(path)))
    shared = [c for c in last.columns if c in ours.columns and c != "logdir"]
    assert exp.sweep.ranked_by in shared and "training_iteration" in shared and "config/train.lr" in shared
    for tid in last.index:
        for col in shared:
            assert _same(ours.at[tid, col], last.at[tid, col]), (tid, col, ours.at[tid, col],
                                                                 last.at[tid, col])
        assert _same(ours.at[tid, f"best/{m}"], float(best[tid])), (tid, ours.at[tid, f"best/{m}"], best[tid])
        assert ours.at[tid, "iterations"] == last.at[tid, "training_iteration"]
    # Outcomes: a trial that reported fewer iterations than max_t without diverging was stopped by ASHA.
    short = last["training_iteration"] < exp.sweep.max_t
    expected = {tid: ("diverged" if last.at[tid, "status"] == "diverged" else "stopped" if short[tid]
                      else "ok")
                for tid in last.index}
    assert ours["outcome"].to_dict() == expected
    if exp.sweep.scheduler != "asha":  # without ASHA only a diverged trial ends early
        assert not (short & (last["status"] != "diverged")).any()


@pytest.mark.parametrize("name", [pytest.param(n, marks=[] if n in DEFAULT_TIER else [pytest.mark.slow])
                                  for n in available()])
def test_every_plot_of_a_smoke_sweep_is_drawn_or_skipped_with_a_reason(name, smoke, tmp_path):
    out = tmp_path / "report"
    assert analyse([smoke(name), "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "Produced by ebm-cd-study 0.1.0 at commit " in md  # the sweep's provenance
    drawn = {p.stem for p in out.glob("*.png")}
    assert {"groups", "training_curves"} | REQUIRED.get(name, set()) <= drawn, drawn
    for png in out.glob("*.png"):
        assert_real_plot(str(png))
        assert f"]({png.name})" in md
    from analysis.plots import PLOTS

    for stem, title, _ in PLOTS:
        if stem not in drawn:
            assert f"### {title}\n\nNot drawn: " in md, stem
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(drawn)
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == load_sweep_trials(name)
    summary = md.split("## Summary\n\n", 1)[1].split("\n\n", 1)[0]
    assert summary.startswith(f"- {len(trials)} trial")


def test_a_real_diverged_trial_is_counted_and_shown(smoke, tmp_path):
    path = smoke("diverge")
    exp = load_experiment(path)
    t = exp.trials.set_index("config/train.lr")
    assert t.at[1.0e+30, "outcome"] == "diverged" and math.isnan(t.at[1.0e+30, exp.sweep.ranked_by])
    assert t.at[1.0e+30, "iterations"] < 3 and (t.drop(index=1.0e+30)["outcome"] == "ok").all()
    g = exp.groups().set_index("train.lr")
    assert g.at[1.0e+30, "diverged"] == 1 and g.at[1.0e+30, "n"] == 0 and g.index[-1] == 1.0e+30
    out = tmp_path / "report"
    assert analyse([path, "--out", str(out)]) == 0
    md = (out / "report.md").read_text()
    assert "- 3 trials (3 configurations x 1 seed): 2 ran to the end, 1 diverged." in md
    assert "1 of 3 trials diverged; 1 of 3 lr cells had a diverged trial, all with lr ≥ 1e+30 (every cell " \
           "with lr ≥ 1e+30 had one)." in md
    assert f"| {t.at[1.0e+30, 'trial_id']} | diverged |" in md
    assert_real_plot(str(out / "training_curves.png"))


def test_mcmc_diagnostics_of_a_real_sweep(smoke, tmp_path):
    path = smoke("rbm_cd_k")  # Set A records ESS and tau of F(v) at every evaluation
    exp = load_experiment(path)
    assert exp.trials["eval/ess"].notna().any() and exp.trials["eval/tau"].notna().any()
    out = tmp_path / "report"
    assert analyse([path, "--out", str(out)]) == 0
    assert_real_plot(str(out / "mcmc.png"))
    assert "![MCMC diagnostics](mcmc.png)" in (out / "report.md").read_text()


def _non_trials(path: str) -> list:
    return [e for e in os.listdir(path) if not os.path.isfile(os.path.join(path, e, "params.json"))]


def load_sweep_trials(name: str) -> int:
    from sweeps.spec import load_sweep

    return load_sweep(name, "smoke").n_trials()


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) or isinstance(b, list):
        return list(a) == list(b)
    if pd.isna(a) is True and pd.isna(b) is True:
        return True
    return a == b or (isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b))

