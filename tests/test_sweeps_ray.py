"""Sweeps that run, on real Ray (CPU): one Ray session shared by the module, smoke-sized trials.

Covers: smoke runs of the shipped sweeps (RBM with the data-set fallback; one conv sweep here, the others
in the slow tier), ASHA stopping trials early, diverging trials (RBM and conv EBM) ending ``diverged`` while
the others finish, and a trial whose worker is killed resuming from its last checkpoint (FailureConfig).
"""

import importlib.util
import os
import re
import signal
import threading
import time

import pytest
import ray
import yaml
from test_sweeps_helpers import epochs, last_result, params, progress, trial_dirs, write_sweep

from sweeps.run import main
from sweeps.spec import available, load_sweep

CONV_SWEEPS = [name for name in available() if load_sweep(name, "smoke").kind == "conv_ebm"]


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_smoke_rbm_cd_k_falls_back_to_embedded_digits_and_writes_tune_outputs(tmp_path, capsys):
    storage = tmp_path / "results"
    rc = main(["rbm_cd_k", "--preset", "smoke", "--storage", str(storage), "--set", "data.name=mnist",
               "--set", f"data.root={tmp_path / 'no-data'}", "--set", "data.download=false"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "FALLING BACK to the embedded 'mnist5k'" in err
    assert "data set: mnist5k" in out and "best 4 of 4 configurations" in out
    experiment = storage / "rbm_cd_k"
    trials = trial_dirs(str(experiment))
    assert len(trials) == 4
    for trial in trials:
        assert params(trial)["data.name"] == "mnist5k"  # the data set used, in every trial's config
        files = os.listdir(trial)
        assert {"params.json", "result.json", "progress.csv", "samples.png"} <= set(files)
        assert any(f.startswith("events.out.tfevents") for f in files)
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        tb = EventAccumulator(os.path.join(trial, "tensorboard_samples"))  # the sample grid, as an image
        assert "samples" in tb.Reload().Tags()["images"]
        assert any(f.startswith("checkpoint_") for f in files)
        result = last_result(trial)
        assert result["status"] == "ok" and result["epoch"] == 2 and result["training_iteration"] == 2
        # the last report carries the final evaluation the sweep ranks by: exact at 16 hidden units
        assert result["final/method"] == "exact" and result["final/epoch"] == 2
        assert result["final/log_likelihood"] == result["final/log_likelihood"]  # finite, not NaN
    record = yaml.safe_load((experiment / "sweep.yaml").read_text())  # how it started, resolved, for analysis
    assert record["data"] == "mnist5k" and record["settings"]["metric"] == "final/log_likelihood"
    assert record["data_requested"] == "mnist"  # so the report can say it fell back, in its first sentence
    import torch

    prov = record["provenance"]  # what produced these results
    assert prov["torch"] == torch.__version__ and prov["ray"] == ray.__version__ and prov["cpus"] >= 1
    assert len(prov["git_commit"]) == 40 and prov["git_dirty"] in (True, False)
    from analysis import load_experiment
    from analysis.summary import sentences

    assert sentences(load_experiment(str(experiment)))[0].startswith("This run cannot answer its question")
    assert record["settings"]["space"] == {k: {d.kind: list(d.args)}
                                           for k, d in load_sweep("rbm_cd_k", "smoke").space.items()}

    from ray import tune

    from trainables import train_rbm

    grid = tune.Tuner.restore(str(experiment), train_rbm).get_results()  # Ray's own reader still works
    assert len(grid) == 4 and not grid.errors


def test_smoke_tune_rbm_optuna_with_asha_completes(tmp_path, capsys):
    rc = main(["tune_rbm", "--preset", "smoke", "--storage", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    trials = trial_dirs(str(tmp_path / "tune_rbm"))
    assert len(trials) == 4
    assert len({params(t)["train.lr"] for t in trials}) == 4  # Optuna suggested four configurations
    # ASHA and Optuna steer by the per-epoch estimate; the table ranks by the final evaluation
    assert "best 4 of 4 configurations by final/log_likelihood (max)" in out


def test_asha_stops_weak_trials_early(tmp_path, capsys):
    # The two strong learning rates run first (grid order, two at a time) and set the rung-1 bar; the two
    # runs that barely move their weights reach rung 1 later, below the median, and are stopped.
    path = write_sweep(tmp_path, "asha", epochs=4, space={"train.lr": {"grid": [0.1, 0.05, 1.0e-6, 1.0e-7]}},
                       scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 2})
    assert main([path, "--storage", str(tmp_path / "results")]) == 0, capsys.readouterr().err
    reached = {params(t)["train.lr"]: last_result(t)["training_iteration"] for t in
               trial_dirs(str(tmp_path / "results" / "asha"))}
    assert min(reached.values()) < 4 and max(reached.values()) == 4, reached
    assert reached[1.0e-6] < 4 or reached[1.0e-7] < 4


def test_a_diverging_trial_ends_diverged_while_the_others_finish(tmp_path, capsys):
    path = write_sweep(tmp_path, "diverge", epochs=3, space={"train.lr": {"grid": [0.05, 1.0e+30, 0.02]}})
    assert main([path, "--storage", str(tmp_path / "results")]) == 0, capsys.readouterr().err
    by_lr = {params(t)["train.lr"]: last_result(t) for t in trial_dirs(str(tmp_path / "results" / "diverge"))}
    assert by_lr[1.0e+30]["status"] == "diverged" and by_lr[1.0e+30]["epoch"] < 3
    for lr in (0.05, 0.02):
        assert by_lr[lr]["status"] == "ok" and by_lr[lr]["epoch"] == 3


def test_sequential_seeds_go_only_to_the_configurations_of_unsettled_contrasts(tmp_path, capsys):
    # Two learning rates 1% apart: after four seeds their paired interval neither excludes 0 nor lies within
    # resolve, so both run the held-back seeds 4 and 5, in the same Tuner and folder; the report states its
    # intervals at 97.5% (95% split over the two looks).
    from analysis.__main__ import main as analyse
    from analysis.stats import split_level
    from sweeps.sequential import unsettled

    path = write_sweep(tmp_path, "seq", epochs=2, space={"train.lr": {"grid": [0.05, 0.0505]}},
                       seeds=[0, 1, 2, 3],
                       sequential={"more_seeds": [4, 5, 6, 7], "per_round": 2, "resolve": 0.01})
    assert main([path, "--storage", str(tmp_path / "results")]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    ran = {(params(t)["train.lr"], params(t)["seed"]): last_result(t)["eval/log_likelihood"]
           for t in trial_dirs(str(tmp_path / "results" / "seq"))}
    first = {((lr,), s): v for (lr, s), v in ran.items() if s < 4}
    assert len(first) == 8
    todo = unsettled(first, 1, "max", 0.01, split_level(3))
    assert todo, first  # the point of the test: the first look leaves the contrast open
    second = {((lr,), s): v for (lr, s), v in ran.items() if s in (4, 5)}
    assert set(second) == {(p, s) for p in todo for s in (4, 5)}
    assert "sequential seeds, look 1: 2 of 2 configurations in unsettled contrasts run seeds [4, 5]" in out
    later = {(lr, s) for lr, s in ran if s in (6, 7)}
    assert not later or "look 2" in out
    assert analyse([str(tmp_path / "results" / "seq")]) == 0
    with open(tmp_path / "results" / "seq" / "report" / "report.md") as f:
        report = f.read()
    assert "98.3% CI" in report and "95% CI" not in report


def test_listed_cells_run_each_on_every_seed_in_folders_named_by_their_keys(tmp_path, capsys):
    # Table 2's shape in miniature: CD-1, CD-3 and PCD-1, not the 2 x 2 cross of sampler.init and sampler.k
    from analysis.__main__ import main as analyse

    cells = [{"sampler.init": "data", "sampler.k": 3}, {"sampler.init": "data", "sampler.k": 1},
             {"sampler.init": "persistent", "sampler.k": 1}]
    path = write_sweep(tmp_path, "cells", epochs=1, cells=cells, seeds=[0, 1])
    assert main([path, "--storage", str(tmp_path / "results")]) == 0, capsys.readouterr().err
    trials = trial_dirs(str(tmp_path / "results" / "cells"))
    ran = sorted((params(t)["sampler.init"], params(t)["sampler.k"], params(t)["seed"]) for t in trials)
    assert ran == sorted((c["sampler.init"], c["sampler.k"], s) for c in cells for s in (0, 1))
    for t in trials:
        p = params(t)
        assert os.path.basename(t).endswith(f"_init={p['sampler.init']},k={p['sampler.k']},seed={p['seed']}")
    assert analyse([str(tmp_path / "results" / "cells")]) == 0
    with open(tmp_path / "results" / "cells" / "report" / "report.md") as f:
        report = f.read()
    assert "The sweep ran 3 listed configurations (cells), not a cross of its keys" in report
    assert "averaged over" not in report  # no main effects of a cross that was not run


def test_a_trial_whose_worker_is_killed_resumes_from_its_last_checkpoint(tmp_path, capsys):
    n_epochs = 8
    path = write_sweep(tmp_path, "killed", epochs=n_epochs, max_failures=2,
                       set={"data.limit": 1000, "sampler.k": 20})
    experiment = str(tmp_path / "results" / "killed")
    killed = []

    def kill_the_worker_mid_run():
        deadline = time.time() + 300
        while time.time() < deadline and not killed:
            for trial in trial_dirs(experiment):
                rows = progress(trial)
                if len(rows) >= 2 and int(rows[-1]["epoch"]) < n_epochs:
                    pid = int(rows[-1]["pid"])
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, int(rows[-1]["epoch"])))
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_the_worker_mid_run, daemon=True)
    killer.start()
    rc = main([path, "--storage", str(tmp_path / "results")])
    killer.join()
    assert rc == 0, capsys.readouterr().err
    assert killed, "the trial finished before its worker could be killed"
    (trial,) = trial_dirs(experiment)
    result = last_result(trial)
    assert result["status"] == "ok"
    assert result["epoch"] == n_epochs and result["training_iteration"] == n_epochs
    assert result["iterations_since_restore"] < n_epochs  # it went on from a checkpoint ...
    assert epochs(trial).count(1) == 1  # ... and never started again from scratch
    assert sorted(set(epochs(trial))) == list(range(1, n_epochs + 1))
    assert len({row["pid"] for row in progress(trial)}) == 2  # two workers: the killed one and the retry


@pytest.mark.parametrize("name",
                         [pytest.param(n, marks=[] if n == "ablation_langevin" else [pytest.mark.slow])
                                  for n in CONV_SWEEPS])
def test_smoke_conv_sweep_completes(name, tmp_path, capsys):
    rc = main([name, "--preset", "smoke", "--storage", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    sweep = load_sweep(name, "smoke")
    trials = trial_dirs(str(tmp_path / name))
    assert len(trials) == sweep.n_trials()
    for trial in trials:
        result = last_result(trial)
        assert result["status"] in ("ok", "diverged")
        if result["status"] == "ok":
            # ASHA may stop a trial at a rung: it ends early, without a grid
            if sweep.scheduler.type == "asha":
                assert 1 <= result["epoch"] <= sweep.epochs
            else:
                assert result["epoch"] == sweep.epochs
            assert os.path.exists(os.path.join(trial, "samples.png")) == (result["epoch"] == sweep.epochs)
            assert sweep.metric in result
    assert "configurations by " + sweep.ranked_by in out  # the final table ranks by the rank metric


@pytest.mark.slow
def test_a_diverging_conv_ebm_ends_diverged_while_the_others_finish(tmp_path, capsys):
    conv = {"kind": "conv_ebm", "data.limit": 512, "train.epochs": 2, "train.iterations_per_epoch": 3,
            "train.batch_size": 16, "sampler.k": 3, "sampler.buffer_size": 128,
            "eval.metrics": ["energy_gap"], "eval.n_samples": 16, "train.energy_bound": 50.0}
    path = write_sweep(tmp_path, "conv_diverge", epochs=2, metric="eval/energy_gap", mode="max",
                       space={"train.lr": {"grid": [1.0e-3, 50.0]}, "train.alpha": {"grid": [0.0]}})
    with open(path) as f:
        spec = yaml.safe_load(f)
    spec["base"], spec["set"] = "configs/conv_mnist_pcd1.yaml", conv  # no alpha: energies free to explode
    with open(path, "w") as f:
        yaml.safe_dump(spec, f)
    assert main([path, "--storage", str(tmp_path / "results")]) == 0, capsys.readouterr().err
    by_lr = {params(t)["train.lr"]: last_result(t)
             for t in trial_dirs(str(tmp_path / "results" / "conv_diverge"))}
    assert by_lr[50.0]["status"] == "diverged"
    assert by_lr[1.0e-3]["status"] == "ok" and by_lr[1.0e-3]["epoch"] == 2


def test_smoke_sweep_logs_every_trial_to_an_mlflow_file_store(tmp_path, capsys, monkeypatch):
    """--callback mlflow wires Tune's MLflowLoggerCallback: offline, into a local file store."""
    from mlflow.tracking import MlflowClient

    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps file stores behind this switch
    rc = main(["rbm_cd_k", "--preset", "smoke", "--storage", str(tmp_path / "results"), "--callback",
               "mlflow", "--no-dashboard"])
    assert rc == 0, capsys.readouterr().err
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("rbm_cd_k")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 4
    for run in runs:
        assert run.data.params["sampler.init"] in ("data", "persistent") and "sampler.k" in run.data.params
        assert "final/log_likelihood" in run.data.metrics and "train/recon_error" in run.data.metrics


def test_a_tracker_that_is_not_installed_is_one_line_before_anything_runs(tmp_path, capsys):
    # wandb is not a test dependency, so it is missing here and in CI
    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    rc = main(["rbm_cd_k", "--preset", "smoke", "--storage", str(tmp_path / "results"), "--callback",
               "wandb"])
    assert rc == 2 and _own_lines(capsys.readouterr().err) == [
        'error: --callback wandb needs the wandb package: pip install -e ".[wandb]"']
    assert not (tmp_path / "results").exists()


# Ray's log monitor forwards a worker's last words ("(train_rbm pid=...) ...") to the driver's stderr, and a
# worker of the previous test may speak after its sweep returned: those lines are not this process's output.
_RAY_WORKER_LINE = re.compile(r"^(\x1b\[[0-9;]*m)*\(\S+ pid=\d+")


def _own_lines(err: str) -> list[str]:
    return [line for line in err.strip().splitlines() if line and not _RAY_WORKER_LINE.match(line)]
