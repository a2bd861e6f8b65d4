import json
import os
import subprocess
import sys

import pytest

from ebm.cli import finite_json, main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "data.name=digits", "--set", "model.n_visible=64", "--set", "model.n_hidden=10",
        "--set", "train.epochs=2", "--set", "eval.sample_steps=20", "--set", "eval.n_samples=16"]
CONFIG = os.path.join(ROOT, "configs", "rbm_mnist_cd1.yaml")


def _cli(*args):
    """Run the real entry point in a subprocess: exit status and stderr as a user sees them."""
    return subprocess.run([sys.executable, "-m", "ebm", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "--config", CONFIG, *TINY, "--out", str(out), "--no-progress"]) == 0
    return out


def test_train_writes_the_run_folder(trained):
    names = set(os.listdir(trained))
    assert {"config.yaml", "metrics.csv", "checkpoint.pt", "best.pt", "samples.png", "tensorboard"} <= names
    import pandas as pd
    import yaml

    rows = pd.read_csv(trained / "metrics.csv")
    assert list(rows["epoch"]) == [1, 2]
    assert {"train/recon_error", "train/pseudo_log_likelihood", "train/free_energy_gap", "train/weight_norm",
            "eval/log_likelihood"} <= set(rows.columns)
    cfg = yaml.safe_load((trained / "config.yaml").read_text())
    assert cfg["data"]["name"] == "digits" and cfg["model"]["n_hidden"] == 10
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(trained / "tensorboard"))


def test_train_refuses_a_non_empty_folder_unless_overwrite(trained):
    before = (trained / "metrics.csv").read_bytes()
    r = _cli("train", "--config", CONFIG, *TINY, "--out", str(trained))
    assert r.returncode == 2 and "not empty" in r.stderr and "Traceback" not in r.stderr
    assert (trained / "metrics.csv").read_bytes() == before


def test_sample_and_evaluate(trained, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(trained / "checkpoint.pt"), "--num-samples", "9", "--steps",
                 "5", "--output", str(out)]) == 0
    from PIL import Image

    assert Image.open(out).size[0] > 8
    r = _cli("evaluate", "--checkpoint", str(trained / "checkpoint.pt"), "--metrics", "exact", "recon", "pll",
             "ess")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["exact/log_likelihood"] < 0 and res["exact/log_z"] > 0
    assert res["ess/free_energy"] > 0 and res["recon_error"] > 0


def test_evaluate_seed_gives_each_repeat_its_own_draws(trained, capsys):
    """Issue 19: ``--set seed=11`` and ``=12`` gave bit-identical AIS, as both replayed the checkpoint's
    stream. Now AIS and RAISE draw from a stream of the seed's own: --seed N, or else the run's seed."""
    def evaluate(*extra):
        assert main(["evaluate", "--checkpoint", str(trained / "checkpoint.pt"), "--metrics", "ais", "--set",
                     "eval.final_ais_betas=50", "eval.final_raise_betas=50", "eval.final_raise_images=20",
                     *extra]) == 0
        return {k: v for k, v in json.loads(capsys.readouterr().out).items() if "seconds" not in k}

    a, b = evaluate("--seed", "11"), evaluate("--seed", "12")
    assert a == evaluate("--seed", "11") and evaluate() == evaluate()
    assert evaluate("--set", "seed=11") == a and evaluate("--set", "seed=12") == b
    assert a["ais/log_z"] != b["ais/log_z"] and a["raise/log_likelihood"] != b["raise/log_likelihood"]
    assert a["ais/rounds"] >= 1 and a["raise/images"] == 20


def test_evaluate_json_is_strict_non_finite_values_become_null_with_a_note():
    out = finite_json({"ais/log_z": 3.5, "ais/log_z_low": float("-inf"), "x": float("nan"), "data": "digits"})
    text = json.dumps(out, allow_nan=False)  # raises if anything non-finite were left
    assert json.loads(text) == {"ais/log_z": 3.5, "ais/log_z_low": None,
                                "ais/log_z_low_note": "-inf: unbounded",
                                "x": None, "x_note": "not a number", "data": "digits"}


@pytest.mark.parametrize("args, message", [
    (["train", "--config", CONFIG, "--set", "sampler.kk=2"], "did you mean sampler.k"),
    (["train", "--config", CONFIG, "--set", "train.lr=0"], "train.lr=0.0 must be > 0"),
    (["train", "--config", "configs/nope.yaml"], "config file not found"),
    (["train", "--config", CONFIG, "--set", "data.root=/nonexistent", "--set", "data.download=false"],
     "data.name=mnist5k"),
    (["evaluate", "--checkpoint", "/nonexistent.pt"], "checkpoint not found"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    r = _cli(*args, *(["--out", str(out)] if args[0] == "train" else []))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not out.exists()


def test_a_bad_set_on_evaluate_is_named_as_the_command_line_s_not_the_checkpoint_s(trained, capsys):
    for value, message in (("eval.ais_betas=3", "error: --set: eval.ais_betas=3 must be >= 10"),
                           ("eval.ais_betaz=30", "error: --set: unknown config key 'eval.ais_betaz'; did you "
                                                 "mean eval.ais_betas?")):
        rc = main(["evaluate", "--checkpoint", str(trained / "checkpoint.pt"), "--metrics", "recon", "--set",
                   value])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and err == message, err


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"\x80\x04garbage" * 10)
    for cmd in (["evaluate", "--checkpoint", str(bad)],
                ["sample", "--checkpoint", str(bad), "--output", str(tmp_path / "x.png")]):
        r = _cli(*cmd)
        assert r.returncode == 2 and "not a readable checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()
