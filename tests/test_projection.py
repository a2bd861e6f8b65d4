"""The dry run (sweeps/dry_run.py) and its projected wall time (sweeps/projection.py): costs measured here,
trials packed onto the slots the Tuner's own concurrency rule allows, and what the run will do about its data
set."""

import ast
import os

import pytest
import torch

from sweeps import projection
from sweeps.dry_run import dry_run
from sweeps.projection import _duration, _makespan, project
from sweeps.run import main
from sweeps.spec import load_sweep
from sweeps.tuner import max_concurrent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# RBM smoke presets on scikit-learn's digits: loaded in ms
DIGITS = ["data.name=digits", "model.n_visible=64"]


@pytest.fixture
def quick(monkeypatch):
    """Time one update per configuration, not half a second of them: the projection's code path, not its
    figures."""
    monkeypatch.setattr(projection, "TIMED_SECONDS", 0.0)
    monkeypatch.setattr(projection, "TIMED_UPDATES", 1)
    monkeypatch.setattr(projection, "DOMAIN_TIMED_BATCHES", 1)


def test_makespan_packs_longest_first_onto_the_least_loaded_slot():
    assert _makespan([10, 10, 10, 10], 2) == 20
    assert _makespan([30, 10, 10, 10], 2) == 30  # the long trial runs alone while the short ones share a slot
    assert _makespan([5, 5, 5], 1) == 15
    assert _duration(90) == "90 s" and _duration(600) == "10.0 min" and _duration(5 * 3600) == "5.0 h"


def test_rbm_projection_prices_every_configuration_of_the_grid(quick):
    sweep = load_sweep("rbm_cd_k", "smoke", DIGITS)
    lines = project(sweep, slots=2)
    assert lines[0].startswith("  projected wall time on cpu: ") and "(4 trials on 2 slot(s)" in lines[0]
    per_trial = {line.split(":")[0].strip(): line for line in lines[1:] if "per trial" in line}
    assert set(per_trial) == {"sampler.init=data, sampler.k=1", "sampler.init=data, sampler.k=5",
                              "sampler.init=persistent, sampler.k=1", "sampler.init=persistent, sampler.k=5"}


def test_conv_dry_run_projects_each_configuration_and_the_domain_classifier(quick, tmp_path, capsys):
    """A conv sweep is priced as an RBM one is: per configuration, updates, evaluations and (where the config
    has one) the final evaluation; the domain classifier's one-off training is added while it is not cached,
    and an assumed (not measured) GPU figure is printed for a preset that asks for a GPU where none is
    visible."""
    sweep = load_sweep("ablation_langevin", "smoke", ["data.name=digits", f"eval.feature_cache={tmp_path}"])
    sweep.resources.gpu = 0.25  # as the full presets ask
    assert dry_run(sweep, str(tmp_path / "results"), project=True) == 0
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if line.startswith("  projected wall time on cpu: "))
    assert "(2 trials on " in head and "not measured" not in head
    for label in ("sampler.step_size=1.0, sampler.noise_std=0.005",
                  "sampler.step_size=10.0, sampler.noise_std=0.005"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{label}:"))
        assert "per trial (" in line and "updates" in line and "2 evaluations" in line
        # final_n_samples, at most the buffer's 32 chains
        assert "final evaluation" in line and "at N=32" in line
    assert "before the trials start" in out and "domain classifier" in out and "not cached yet" in out
    from ebm.metrics import domain  # scoring was timed on a stand-in classifier, read as the trained one is

    projection._stand_in_domain_net(sweep.base_config, (1, 8, 8), str(tmp_path))
    assert domain._load_cached(domain.cache_path("digits", str(tmp_path)), "digits", torch.device("cpu"))
    # smoke: min_chain_steps 0, all old enough
    assert "buffer-start protocol was timed on noise states" not in out
    if not torch.cuda.is_available():
        gpu = next(line for line in out.splitlines() if line.startswith("  projected wall time on one GPU: "))
        assumed = projection.GPU_SPEEDUP_ASSUMED["conv_ebm"]
        assert "ASSUMED, not measured" in gpu and f"GPU_SPEEDUP_ASSUMED = {assumed:g}" in gpu
    assert not (tmp_path / "results").exists()


def test_the_dry_run_and_the_tuner_share_one_concurrency_rule(quick, monkeypatch, capsys, tmp_path):
    """search.max_concurrent caps Optuna's limiter only: a grid sweep that sets it still runs as many trials
    as the CPUs fit, and the dry run's plan and projection say the same number the Tuner's rule gives."""
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    grid = load_sweep("rbm_cd_k", "smoke", DIGITS)
    grid.search.max_concurrent = 1
    optuna = load_sweep("tune_rbm", "smoke", DIGITS)  # search.max_concurrent: 2
    assert (max_concurrent(grid, 4), max_concurrent(optuna, 4)) == (4, 2)
    for sweep, n in ((grid, 4), (optuna, 2)):
        assert dry_run(sweep, str(tmp_path / "r"), project=True) == 0
        out = capsys.readouterr().out
        assert f"up to {n} trials at once" in out and f"trials on {n} slot(s)" in out
    grid.resources.gpu = 0.5
    assert max_concurrent(grid, 4, 1) == 2 and max_concurrent(grid, 4, 0) == 0


def test_the_concurrency_rule_imports_without_ray():
    """The dry run reads sweeps.tuner.max_concurrent without importing Ray: Ray is imported only inside the
    functions that build Tune objects."""
    for module in ("tuner", "dry_run", "projection"):
        with open(os.path.join(ROOT, "sweeps", f"{module}.py")) as f:
            tree = ast.parse(f.read())
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
        names += [n.module for n in top if isinstance(n, ast.ImportFrom) and n.module]
        assert not [n for n in names if n.split(".")[0] in ("ray", "trainables")], (module, names)


@pytest.mark.parametrize("preset", ["full", "smoke"])
def test_the_dry_run_says_what_the_run_does_without_its_data(preset, tmp_path, capsys):
    """A study preset refuses a missing data set (exit 2): the dry run quotes the very line the run ends with;
    a cpu/smoke preset falls back to the embedded digits, and the dry run says so."""
    base = ["rbm_cd_k", "--preset", preset, "--storage", str(tmp_path / "results"),
            "--set", "data.name=mnist", f"data.root={tmp_path / 'nowhere'}", "data.download=false"]
    assert main([*base, "--dry-run", "--no-projection"]) == 0
    data = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("  data: "))
    if preset == "full":
        assert "exit status 2" in data and "--no-strict-data falls back" in data
        assert main(base) == 2  # the real run: refused before Ray starts or anything is written
        refused = capsys.readouterr().err.strip()
        assert refused.startswith("error: mnist not found") and f"'{refused}'" in data
    else:
        assert "falls back, loudly, to the embedded mnist5k" in data and "exit status" not in data
    assert not (tmp_path / "results").exists() and not (tmp_path / "nowhere").exists()


def test_with_downloads_on_the_dry_run_says_the_download_comes_first(tmp_path):
    sweep = load_sweep("rbm_cd_k", "full", [f"data.root={tmp_path / 'nowhere'}"])
    from sweeps.shared_data import describe

    text = describe(sweep, strict=True)
    assert "first tries to download it" in text and "download failed: <its reason>" in text
    assert "(--strict-data refuses the fallback)'" in text and not (tmp_path / "nowhere").exists()


def test_gpu_check_runs_its_dry_run_on_the_cpu(capsys):
    """benchmarks/gpu_check.py is meant for a lent GPU; its code path is exercised here on smoke presets."""
    import importlib

    importlib.import_module("benchmarks.gpu_check").main(["--device", "cpu", "--preset", "smoke", "--updates",
                                                          "1", "--sweeps", "rbm_cd_k", "ablation_noise"])
    out = capsys.readouterr().out
    assert "rbm_cd_k (preset smoke, 4 trials" in out and "ablation_noise (preset smoke, 2 trials" in out
    assert "data.noise_std=0.03, sampler.noise_std=0.005" in out  # colliding leaves are spelt out
    assert out.count("updates/s") == 6 and "nan" not in out
