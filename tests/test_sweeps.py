"""Sweep files and ``sweeps/run.py`` without Ray: validation, one-line errors, --list, --dry-run.

Everything here fails (or finishes) before Ray would start, so it is fast; the sweeps that run live in
``test_sweeps_ray.py`` (one shared Ray session) and ``test_sweeps_cluster.py`` (slow).
"""

import os

import pytest
from test_sweeps_helpers import run_cli, write_sweep

from ebm.strict import ConfigError
from sweeps.run import main
from sweeps.spec import PRESETS, available, load_sweep


def _shipped():
    return [(name, preset) for name in available() for preset in PRESETS]


@pytest.mark.parametrize("name, preset", _shipped(), ids=lambda v: v)
def test_every_shipped_sweep_validates_in_every_preset(name, preset):
    sweep = load_sweep(name, preset)
    assert sweep.n_trials() >= 1
    assert sweep.description and "\n" not in sweep.description
    assert sweep.config["kind"] in ("rbm", "conv_ebm")


@pytest.mark.parametrize("name", available())
def test_smoke_presets_are_tiny_and_cpu_only(name):
    sweep = load_sweep(name, "smoke")
    assert sweep.n_trials() <= 8 and sweep.epochs <= 3 and sweep.resources.gpu == 0


def test_the_issue_s_sweeps_ship():
    assert {"rbm_cd_k", "tune_rbm", "ablation_langevin", "ablation_buffer", "ablation_noise", "conv_cd_k",
            "tune_conv_ebm"} <= set(available())


CONV_QUESTIONS = ("ablation_langevin", "conv_cd_k", "ablation_buffer", "ablation_noise")


@pytest.mark.parametrize("name", CONV_QUESTIONS)
def test_conv_questions_rank_by_final_coverage_and_answering_presets_have_seeds_for_3_dof(name):
    """Every conv question is ranked by the metric that passed the cross-kind order, on its final evaluation;
    the presets meant to answer (the main job, study, full) run >= 4 seeds (a paired interval with 3 degrees
    of freedom), and every arm of one sweep is scored at one N (coverage grows with N)."""
    from analysis.stats import MIN_PAIRED_DOF

    answering = ("cpu", "study", "full") if name == "ablation_langevin" else ("study", "full")
    for preset in answering:
        sweep = load_sweep(name, preset)
        assert sweep.ranked_by == "final/coverage_domain" and sweep.mode == "max", (preset, sweep.ranked_by)
        assert len(sweep.seeds) >= MIN_PAIRED_DOF + 1, (preset, sweep.seeds)
        assert sweep.literature, preset
        cfg = sweep.base_config
        final_n = cfg.eval.final_n_samples
        if cfg.eval.protocol.init == "buffer":  # a buffer start scores one sample per chain
            sizes = sweep.space["sampler.buffer_size"].args if "sampler.buffer_size" in sweep.space else \
                (cfg.sampler.buffer_size,)
            assert final_n <= min(sizes), (preset, final_n, sizes)


def test_rbm_cd_k_is_set_a():
    sweep = load_sweep("rbm_cd_k", "cpu")
    assert sweep.space["sampler.init"].args == ("data", "persistent")
    assert sweep.space["sampler.k"].args == (1, 5, 20)
    assert len(sweep.seeds) >= 4 and sweep.search.type == "grid"
    assert sweep.n_trials() == 6 * len(sweep.seeds)


def test_the_paper_preset_is_table_2_as_listed_cells_on_4_seeds():
    # Salakhutdinov & Murray's rows and PCD-1, not the 2 x 3 cross of their keys; the slowest cell first
    sweep = load_sweep("rbm_cd_k", "paper")
    assert sweep.grid() == [{"sampler.init": init, "sampler.k": k}
                            for init, k in (("data", 25), ("data", 3), ("data", 1), ("persistent", 1))]
    assert sweep.n_trials() == 16 and len(sweep.seeds) == 4
    assert sweep.config["model.n_hidden"] == 500 and sweep.config["data.name"] == "mnist"
    assert sweep.space["sampler.k"].args == (25, 3, 1)  # what the report's tables and claims name
    published = {(c.at["sampler.k"], c.value) for c in sweep.literature}
    assert published == {(1, -125.53), (3, -105.5), (25, -86.34)}
    record = sweep.settings()
    assert record.cells == sweep.grid() and len(record.literature) == 3
    full = load_sweep("rbm_cd_k", "full")  # the same at length, for GPUs
    assert {"sampler.init": "data", "sampler.k": 100} in full.grid() and len(full.seeds) == 8
    assert full.epochs == 100 and full.resources.gpu > 0 and full.literature == sweep.literature


CELL = {"sampler.init": "data", "sampler.k": 1}


@pytest.mark.parametrize("cells, extra, message", [
    ([CELL], {"space": {"sampler.k": {"grid": [1, 5]}}},
     "cells list every configuration the sweep runs, so it has no space to cross as well (space.sampler.k)"),
    ([CELL, {"sampler.k": 3}], {},
     "cells[1] names ['sampler.k'], cells[0] names ['sampler.init', 'sampler.k']"),
    ([CELL, dict(CELL)], {}, "cells[1] repeats cells[0]"),
    ([{"sampler.k": 0}], {}, "sampler.k=0 must be >= 1"),
    ([{"sampler.kk": 1}], {}, "did you mean sampler.k?"),
    ({"sampler.k": 1}, {}, "cells must be a list of mappings from config keys to values"),
    ([CELL], {"sequential": {"more_seeds": [9]}}, "cells run each listed configuration on every seed"),
])
def test_bad_cells_fail_with_one_line(tmp_path, cells, extra, message):
    path = write_sweep(tmp_path, "bad", cells=cells, **extra)
    with pytest.raises(ConfigError) as e:
        load_sweep(path, "cpu")
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_set_of_a_key_the_cells_name_is_refused(tmp_path):
    path = write_sweep(tmp_path, "cells", cells=[CELL, {"sampler.init": "persistent", "sampler.k": 1}])
    with pytest.raises(ConfigError, match="--set sampler.k: sampler.k is swept"):
        load_sweep(path, "cpu", ["sampler.k=5"])


def test_presets_override_config_space_seeds_scheduler_and_resources():
    full, smoke = load_sweep("tune_rbm", "full"), load_sweep("tune_rbm", "smoke")
    assert full.config["data.name"] == "mnist" and smoke.config["data.name"] == "mnist5k"
    assert smoke.num_samples < full.num_samples
    assert smoke.scheduler.max_t == smoke.epochs < full.scheduler.max_t == full.epochs
    assert full.resources.gpu > 0 == smoke.resources.gpu
    assert load_sweep("rbm_cd_k", "smoke").space["sampler.k"].args == (1, 5)


@pytest.mark.parametrize("change, message", [
    ({"metirc": "eval/log_likelihood"}, "unknown key 'metirc'; did you mean metric?"),
    ({"space": {"sampler.kk": {"grid": [1, 2]}}}, "unknown config key 'sampler.kk'; did you mean sampler.k?"),
    ({"space": {"sampler.k": {"grdi": [1, 2]}}}, "unknown domain 'grdi'; did you mean grid?"),
    ({"space": {"sampler.init": {"grid": ["data", "persistant"]}}}, "did you mean 'persistent'"),
    ({"space": {"sampler.k": {"grid": [1, 0]}}}, "sampler.k=0 must be >= 1"),
    ({"space": {"sampler.k": {"loguniform": [1, 100]}}}, "loguniform draws floats but sampler.k is int"),
    ({"space": {"train.lr": {"loguniform": [0, 1]}}}, "low must be > 0"),
    ({"space": {"seed": {"grid": [0, 1]}}}, "seeds: [...]"),
    ({"space": {"data.name": {"grid": ["mnist", "digits"]}}}, "cannot be swept"),
    ({"set": {"train.lr": -1}}, "train.lr=-1.0 must be > 0"),
    ({"set": {"trian.lr": 0.1}}, "did you mean train.lr?"),
    ({"seeds": [0, 0]}, "repeats a seed"),
    ({"seeds": "0"}, "must be a non-empty list of ints"),
    ({"mode": "maximum"}, "unknown value 'maximum'"),
    ({"metric": "log_likelihood"}, "is not a metric rbm runs report; did you mean eval/log_likelihood?"),
    ({"scheduler": {"type": "asha", "max_t": 50}}, "exceeds train.epochs=3"),
    ({"scheduler": {"type": "asha", "grace_perod": 1}}, "did you mean grace_period?"),
    ({"search": {"type": "optuna"}, "space": {"sampler.k": {"grid": [1, 5]}}}, "Optuna cannot take grid"),
    ({"search": {"type": "optuna"}, "space": {"sampler.k": {"choice": [1, 5]}}, "seeds": [0, 1]},
     "give one seed"),
    ({"search": {"type": "grid"}, "space": {"train.lr": {"uniform": [0.01, 0.1]}}}, "use search.type none"),
    ({"resources": {"cpu": 0}}, "need cpu > 0"),
    ({"presets": {"smok": {}}}, "unknown preset 'smok'; did you mean smoke?"),
    ({"presets": {"smoke": {"sett": {}}}}, "did you mean set?"),
    ({"presets": {"smoke": {"scheduler": {"max": 3}}}}, "presets.smoke.scheduler: unknown key 'max'"),
    ({"base": "configs/nope.yaml"}, "base config configs/nope.yaml not found"),
])
def test_bad_sweep_files_fail_with_one_line_naming_the_problem(tmp_path, change, message):
    path = write_sweep(tmp_path, "bad", **change)
    with pytest.raises(ConfigError) as e:
        load_sweep(path, "cpu")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_malformed_yaml_is_one_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("space:\n  sampler.k: {grid: [1, 5\n")
    with pytest.raises(ConfigError, match="not valid YAML") as e:
        load_sweep(str(path))
    assert "\n" not in str(e.value)


def test_set_of_a_swept_key_is_refused_and_seed_pins_one_seed():
    with pytest.raises(ConfigError, match="sampler.k is swept by"):
        load_sweep("rbm_cd_k", "smoke", ["sampler.k=3"])
    assert load_sweep("rbm_cd_k", "cpu", ["seed=7"]).seeds == [7]
    assert load_sweep("rbm_cd_k", "smoke", ["train.lr=0.02"]).config["train.lr"] == 0.02


# --- the command line: one line on stderr, exit status 2, nothing written ----------------------------


def _one_line_error(proc):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_unknown_sweep_name_lists_the_sweeps(tmp_path):
    line = _one_line_error(run_cli("rbm_cdk", "--storage", str(tmp_path / "results")))
    assert "unknown sweep 'rbm_cdk'; did you mean rbm_cd_k?" in line
    assert all(name in line for name in available())
    assert not (tmp_path / "results").exists()


def test_bad_override_and_bad_file_exit_2_and_write_nothing(tmp_path):
    storage = tmp_path / "results"
    line = _one_line_error(run_cli("rbm_cd_k", "--preset", "smoke", "--set", "sampler.kk=3",
                                   "--storage", str(storage)))
    assert "unknown config key 'sampler.kk'; did you mean sampler.k?" in line
    bad = write_sweep(tmp_path, "bad", space={"train.lr": {"grid": ["fast"]}})
    line = _one_line_error(run_cli(bad, "--preset", "smoke", "--storage", str(storage)))
    assert "train.lr='fast' must be of type float" in line
    assert not storage.exists()


def test_list_prints_one_line_per_sweep():
    proc = run_cli("--list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == available()
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_dry_run_prints_trials_and_resource_plan_and_writes_nothing(tmp_path):
    storage = tmp_path / "results"
    proc = run_cli("rbm_cd_k", "--preset", "cpu", "--dry-run", "--storage", str(storage))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "48 trials = 6 configurations x 8 seeds" in out
    assert "sampler.init=persistent, sampler.k=20" in out
    assert "1 CPU + 0 GPU per trial" in out and "at once" in out
    assert "metric: final/log_likelihood (max)" in out
    assert not storage.exists()


def test_default_preset_is_printed(tmp_path):
    proc = run_cli("tune_rbm", "--dry-run", "--storage", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("preset: cpu (the default")  # the same on every machine, CUDA or not


def test_an_existing_experiment_is_never_written_into(tmp_path, capsys):
    experiment = tmp_path / "rbm_cd_k"
    experiment.mkdir()
    (experiment / "experiment_state-old.json").write_text("{}")
    assert main(["rbm_cd_k", "--preset", "smoke", "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "already holds a sweep; continue it with --resume" in err and "--name rbm_cd_k-2" in err
    assert os.listdir(experiment) == ["experiment_state-old.json"]


def test_resume_needs_an_interrupted_sweep(tmp_path, capsys):
    assert main(["rbm_cd_k", "--resume", "--storage", str(tmp_path)]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["rbm_cd_k", "--resume", "--preset", "smoke", "--storage", str(tmp_path)]) == 2
    assert "drop --set/--preset/--callback" in capsys.readouterr().err
    # the run config Tune saved (tuner.pkl) holds the trackers the sweep began with, and a restore re-attaches
    # them
    assert main(["rbm_cd_k", "--resume", "--callback", "mlflow", "--storage", str(tmp_path)]) == 2
    assert "trackers included; drop --set/--preset/--callback" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_strict_data_refuses_the_fallback(tmp_path, capsys):
    args = ["rbm_cd_k", "--preset", "smoke", "--storage", str(tmp_path / "results"), "--strict-data",
            "--set", "data.name=mnist", "--set", f"data.root={tmp_path / 'no-data'}", "--set",
            "data.download=false"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mnist not found") and "--strict-data refuses the fallback" in err
    assert "\n" not in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("preset", ["full", "paper"])
def test_study_presets_refuse_the_fallback_by_default(tmp_path, capsys, preset):
    """The full and paper presets are the study: running them on 4,500 embedded digits would answer nothing,
    so a missing data set is an error unless --no-strict-data; several KEY=VALUE share one --set."""
    args = ["rbm_cd_k", "--preset", preset, "--storage", str(tmp_path / "results"),
            "--set", f"data.root={tmp_path / 'no-data'}", "data.download=false"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: mnist not found") and "--strict-data refuses the fallback" in err
    assert not (tmp_path / "results").exists()
