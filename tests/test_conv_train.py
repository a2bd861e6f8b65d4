import math

import pandas as pd
import pytest
import torch

from ebm.checkpoint import load_checkpoint, save_checkpoint
from ebm.cli import train_loop
from ebm.config import load_config
from ebm.conv_train import ConvEBMRun
from ebm.data import load_images

TRAIN = load_images("mnist5k", split="train")[:512]
TEST = load_images("mnist5k", split="test")[:256]


def _cfg(*overrides):
    return load_config(None,
                       ["kind=conv_ebm", "model.width=8", "train.batch_size=32",
                        "train.iterations_per_epoch=3",
                              "sampler.k=5", "sampler.buffer_size=64", "eval.metrics=[]", "eval.n_samples=16",
                              "train.lr=1e-3", *overrides])


@pytest.mark.parametrize("init", ["data", "buffer", "noise"])
def test_each_chain_init_trains_and_reports(init):
    run = ConvEBMRun(_cfg(f"sampler.init={init}", "eval.metrics=[energy_gap, ess]"), TRAIN, TEST)
    m = run.train_epoch()
    assert m["status"] == "ok" and m["iteration"] == 3
    assert all(math.isfinite(m[k]) for k in ("train/loss", "train/energy_gap", "eval/energy_gap", "eval/ess"))
    assert (run.buffer is not None) == (init == "buffer")
    if init == "buffer":
        assert len(run.buffer) == 64  # 3 pushes of 32 fill the 64 slots


def test_resume_continues_the_same_chains(tmp_path):
    cfg = _cfg("sampler.init=buffer", "train.epochs=2")
    a = ConvEBMRun(cfg, TRAIN, TEST)
    a.train_epoch()
    save_checkpoint(a.state_dict(), str(tmp_path / "checkpoint.pt"))
    b = ConvEBMRun(cfg, TRAIN, TEST)
    b.load_state_dict(load_checkpoint(str(tmp_path / "checkpoint.pt")))
    ma, mb = a.train_epoch(), b.train_epoch()
    assert torch.equal(a.buffer.samples, b.buffer.samples)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True))
    assert ma["train/loss"] == mb["train/loss"]


def test_divergence_guard_ends_the_run_with_a_usable_checkpoint(tmp_path):
    cfg = _cfg("train.lr=5.0", "train.energy_bound=20", "train.epochs=20", "train.iterations_per_epoch=5")
    run = ConvEBMRun(cfg, TRAIN, TEST)
    rows = train_loop(run, str(tmp_path), progress=False)
    assert rows[-1]["status"] == "diverged" and len(rows) < 20  # stopped early, not crashed
    assert pd.read_csv(tmp_path / "metrics.csv")["status"].iloc[-1] == "diverged"
    state = load_checkpoint(str(tmp_path / "checkpoint.pt"))
    assert state["status"] == "diverged"
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    restored = ConvEBMRun(cfg, TRAIN, TEST)
    restored.load_state_dict(state)
    with torch.no_grad():
        energies = restored.net(TEST[:8])
    assert torch.isfinite(energies).all() and energies.abs().max() <= cfg.train.energy_bound
    assert (tmp_path / "samples.png").exists()


def test_short_run_lowers_domain_fid_against_its_initial_samples():
    """A short noise-initialised run on mnist5k moves its samples towards the digits."""
    cfg = load_config("configs/conv_mnist_sgld.yaml", ["train.iterations_per_epoch=12", "train.epochs=1",
                                                        "eval.metrics=[fid_domain, kid_domain]",
                                                       "eval.n_samples=64",
                                                        "sampler.k=10", "train.batch_size=32",
                                                        "eval.protocol.steps=10"])  # scored on its own k
    run = ConvEBMRun(cfg, load_images("mnist5k", split="train"), TEST)
    before = run.evaluate()
    after = run.train_epoch()
    assert before["fid_domain/network"].startswith("domain CNN")
    assert after["eval/fid_domain"] < 0.8 * before["fid_domain"], (before["fid_domain"],
                                                                   after["eval/fid_domain"])


def test_same_seed_same_run():
    # the hand-written Langevin gradient and the joint positive/negative forward keep a run a function of its
    # seed
    a, b = (ConvEBMRun(_cfg("sampler.init=buffer"), TRAIN, TEST) for _ in range(2))
    ma, mb = a.train_epoch(), b.train_epoch()
    assert all(ma[k] == mb[k] for k in ma if k.startswith(("train/loss", "train/energy", "sampler/")))
    assert torch.equal(a.buffer.samples, b.buffer.samples)
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True))


def _bench_conv_train(name="bench_conv_train"):
    import importlib

    return importlib.import_module(f"benchmarks.{name}")


def test_bench_conv_train_smoke_test_runs(capsys):
    _bench_conv_train().main(["--smoke-test"])
    out = capsys.readouterr().out
    assert "now / baseline at 1 thread" in out and "langevin / eager at 2 threads" in out


def test_bench_conv_alternatives_computes_the_same_gradients(capsys):
    """The alternatives BENCHMARKS.md rejects on speed give the input-gradient oneDNN gives (to float
    rounding)."""
    import re

    _bench_conv_train("bench_conv_alternatives").main(["--smoke-test"])
    out = capsys.readouterr().out
    assert "one update: 1.41 GFLOP" in out
    diffs = [float(d) for d in re.findall(r"max difference ([0-9.e+-]+)", out)]
    assert len(diffs) == 7 and max(diffs) < 1e-4, out


def test_bench_conv_train_times_the_ablation_langevin_cpu_trial():
    import yaml

    bench = _bench_conv_train()
    sweep = yaml.safe_load(open("configs/sweeps/ablation_langevin.yaml"))
    assert sweep["base"] == bench.BASE
    trial = dict(o.split("=", 1) for o in bench.TRIAL)
    for key, value in sweep["presets"]["cpu"]["set"].items():
        if key == "train.batch_size" or key.startswith("sampler."):  # what an update's cost depends on
            assert float(trial[key]) == float(value), key
    assert float(trial["sampler.step_size"]) in sweep["space"]["sampler.step_size"]["grid"]
    assert float(trial["sampler.noise_std"]) in sweep["space"]["sampler.noise_std"]["grid"]
