"""ebm.metric_names lists what each kind reports: checked against one real epoch of each, and used by sweeps to
refuse a misspelt metric before Ray starts."""

import math

import pytest
from test_sweeps_helpers import run_cli

from ebm.config import flatten, load_config, to_dict
from ebm.metric_names import reported
from ebm.runs import build_run


def _numeric_metrics(metrics: dict) -> set[str]:
    return {k for k, v in metrics.items() if "/" in k and isinstance(v, int | float) and not isinstance(v, bool)
            and math.isfinite(v) and not k.endswith(("/std", "/network")) and k != "eval/epoch"}


@pytest.mark.parametrize("overrides", [
    ["data.name=digits", "model.n_visible=64", "model.n_hidden=8", "train.epochs=1", "eval.ess_steps=5",
     "eval.sample_steps=5"],
])
def test_every_numeric_rbm_metric_is_listed(overrides):
    cfg = load_config(None, overrides)
    got = _numeric_metrics(build_run(cfg).train_epoch())
    assert got and got <= reported(flatten(to_dict(cfg))), got - reported(flatten(to_dict(cfg)))
    assert "final/log_likelihood" in got


def test_every_numeric_conv_metric_is_listed():
    cfg = load_config("configs/conv_mnist_pcd20.yaml", [
        "data.limit=256", "train.epochs=1", "train.iterations_per_epoch=2", "train.batch_size=16", "sampler.k=3",
        "sampler.buffer_size=32", "eval.n_samples=32", "eval.metrics=[energy_gap,ess]",
        "eval.protocol.min_chain_steps=0", "eval.protocol.steps=3", "eval.final_n_samples=16",
        "eval.baseline_resamples=2"])
    got = _numeric_metrics(build_run(cfg).train_epoch())
    listed = reported(flatten(to_dict(cfg)))
    assert {"train/loss", "eval/energy_gap", "eval/ess"} <= got and got <= listed, got - listed
    final = {"final/fid_domain", "final/kid_domain_position", "final/is_domain", "final/precision_domain",
             "final/coverage_domain_floor", "final/energy_gap", "final/n_samples", "final/seconds"}
    assert final <= got, final - got
    assert not any(k.startswith("final/") for k in reported(flatten(to_dict(cfg)) | {"eval.final": "none"}))


def test_a_misspelt_sweep_metric_is_refused_before_ray_starts(tmp_path):
    sweep = tmp_path / "typo.yaml"
    sweep.write_text("description: typo\nbase: configs/rbm_mnist_pcd1.yaml\nspace: {sampler.k: {grid: [1, 5]}}\n"
                     "metric: eval/log_likelihod\nmode: max\n")
    proc = run_cli(str(sweep), "--dry-run", "--storage", str(tmp_path / "results"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "metric='eval/log_likelihod' is not a metric rbm runs report; did you mean eval/log_likelihood?" \
        in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()
