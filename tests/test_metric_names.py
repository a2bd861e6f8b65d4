"""ebm.metric_names is what each kind reports: one tiny run of each kind with every metric on reports exactly
the names the registry gives for its config; sweeps refuse a misspelt metric, or a mode against its direction,
before Ray starts."""

import pytest
import torch
from test_sweeps_helpers import run_cli

from ebm import metric_names
from ebm.config import load_config, to_dict
from ebm.metric_names import OPTIONS, reported
from ebm.metrics import inception
from ebm.metrics.result import MetricUnavailable
from ebm.runs import build_run
from ebm.strict import ConfigError, flatten

NOT_NAMES = ("/std", "/network", "/missing")  # what accompanies a metric's value


def _names(metrics: dict) -> set[str]:
    """The metric names a report holds: a number (an AIS interval it cannot trust is infinite), or None with
    the reason it is missing."""
    return {k for k, v in metrics.items() if "/" in k and not k.endswith(NOT_NAMES)
            and (v is None and f"{k}/missing" in metrics or isinstance(v, int | float)
                 and not isinstance(v, bool))}


@pytest.mark.parametrize("method", ["ais", "exact"])
def test_a_tiny_rbm_run_reports_exactly_the_registry_s_names(method):
    cfg = load_config(None, ["data.name=digits", "model.n_visible=64", "model.n_hidden=8", "train.epochs=1",
                             "eval.ess_steps=5", "eval.sample_steps=5", f"eval.log_likelihood={method}",
                             f"eval.final={method}", "eval.ais_betas=10", "eval.ais_chains=2",
                             "eval.final_ais_betas=10", "eval.final_ais_chains=2"])
    got, listed = _names(build_run(cfg).train_epoch()), reported(flatten(to_dict(cfg)))
    assert got == listed, (got - listed, listed - got)
    assert ("final/raise_log_likelihood" in got) == (method == "ais")
    assert {"eval/ess", "final/log_likelihood"} <= got


def _no_inception():
    raise MetricUnavailable("no Inception network (test)")


def test_a_tiny_conv_run_with_every_metric_reports_exactly_the_registry_s_names(tmp_path, monkeypatch):
    """Inception and LPIPS need weights these machines lack (tests/test_metrics.py): here they are missing,
    with the reason, under the very names they report when present; the domain metrics are computed."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # no pytorch-fid or AlexNet weights
    monkeypatch.setattr(inception, "fid_helper_model", _no_inception)
    every = f"[{','.join(OPTIONS)}]"
    cfg = load_config("configs/conv_mnist_pcd20.yaml", [
        "data.limit=256", "train.epochs=1", "train.iterations_per_epoch=2", "train.batch_size=16",
        "sampler.k=3",
        "sampler.buffer_size=32", "eval.n_samples=32", f"eval.metrics={every}", f"eval.final_metrics={every}",
        "eval.protocol.min_chain_steps=0", "eval.protocol.steps=3", "eval.final_n_samples=16",
        "eval.baseline_resamples=2"])
    metrics = build_run(cfg).train_epoch()
    got, listed = _names(metrics), reported(flatten(to_dict(cfg)))
    assert got == listed, (got - listed, listed - got)
    for name in ("eval/kid_domain", "eval/as_trained/coverage_domain_position", "final/kid_domain_floor",
                 "final/is_domain", "eval/ess", "train/loss"):
        assert metrics[name] is not None, (name, metrics.get(f"{name}/missing"))
    assert metrics["final/kid_inception_floor"] is None and "final/kid_inception_floor/missing" in metrics
    assert not any(k.startswith("final/") for k in reported(flatten(to_dict(cfg)) | {"eval.final": "none"}))


def test_every_entry_says_what_computes_it_and_which_way_is_better():
    for m in metric_names.METRICS:
        assert m.network in metric_names.NETWORKS and m.mode in ("min", "max", None), m
        assert m.kinds and set(m.kinds) <= {"rbm", "conv_ebm"}, m
        assert not m.twins or m.mode, f"{m.name}: a position needs a direction"
    assert metric_names.direction("eval/kid_inception_position") == "min"
    assert metric_names.direction("final/as_trained/coverage_domain") == "max"
    assert metric_names.direction("final/seconds") is None


def test_a_misspelt_sweep_metric_is_refused_before_ray_starts(tmp_path):
    sweep = tmp_path / "typo.yaml"
    sweep.write_text("description: typo\nbase: configs/rbm_mnist_pcd1.yaml\nspace: {sampler.k: {grid: [1, "
                     "5]}}\nmetric: eval/log_likelihod\nmode: max\n")
    proc = run_cli(str(sweep), "--dry-run", "--storage", str(tmp_path / "results"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "metric='eval/log_likelihod' is not a metric rbm runs report; did you mean eval/log_likelihood?" \
        in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "results").exists()


def test_a_sweep_may_steer_by_any_twin_and_not_against_the_metric_s_direction(tmp_path):
    from sweeps.spec import load_sweep

    sweep = tmp_path / "twin.yaml"
    base = "description: t\nbase: configs/conv_mnist_pcd20.yaml\nset: {eval.metrics: [kid_inception]}\n"
    sweep.write_text(base + "metric: eval/kid_inception_floor\nmode: min\n")
    assert load_sweep(str(sweep)).metric == "eval/kid_inception_floor"  # the floors baselines.py computes
    sweep.write_text(base + "metric: eval/kid_inception_position\nmode: max\n")
    with pytest.raises(ConfigError, match="mode='max', but a lower eval/kid_inception_position is better"):
        load_sweep(str(sweep))
