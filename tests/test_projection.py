"""The dry run's projected wall time (sweeps/projection.py): costs measured here, trials packed onto slots."""

import pytest

from sweeps.projection import _duration, _makespan, project
from sweeps.spec import load_sweep


def test_makespan_packs_longest_first_onto_the_least_loaded_slot():
    assert _makespan([10, 10, 10, 10], 2) == 20
    assert _makespan([30, 10, 10, 10], 2) == 30  # the long trial runs alone while the short ones share a slot
    assert _makespan([5, 5, 5], 1) == 15
    assert _duration(90) == "90 s" and _duration(600) == "10.0 min" and _duration(5 * 3600) == "5.0 h"


def test_rbm_projection_prices_every_configuration_of_the_grid():
    sweep = load_sweep("rbm_cd_k", "smoke")
    lines = project(sweep, slots=2)
    assert lines[0].startswith("  projected wall time on cpu: ") and "(4 trials on 2 slot(s)" in lines[0]
    per_trial = {line.split(":")[0].strip(): line for line in lines[1:]}
    assert set(per_trial) == {"sampler.init=data, sampler.k=1", "sampler.init=data, sampler.k=5",
                              "sampler.init=persistent, sampler.k=1", "sampler.init=persistent, sampler.k=5"}


@pytest.mark.parametrize("name", ["ablation_langevin"])
def test_other_kinds_say_not_measured(name):
    (line,) = project(load_sweep(name, "smoke"), slots=2)
    assert "not measured" in line


def test_gpu_check_runs_its_dry_run_on_the_cpu(capsys):
    """benchmarks/gpu_check.py is meant for a lent GPU; its code path is exercised here on smoke presets."""
    import importlib

    importlib.import_module("benchmarks.gpu_check").main(["--device", "cpu", "--preset", "smoke", "--updates", "1",
                                                          "--sweeps", "rbm_cd_k", "ablation_noise"])
    out = capsys.readouterr().out
    assert "rbm_cd_k (preset smoke, 4 trials" in out and "ablation_noise (preset smoke, 2 trials" in out
    assert "data.noise_std=0.03, sampler.noise_std=0.005" in out  # colliding leaves are spelt out
    assert out.count("updates/s") == 6 and "nan" not in out
