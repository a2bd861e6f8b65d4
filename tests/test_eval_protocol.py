"""One evaluation protocol per comparison, the arms' own samplers beside it, and FID/KID floors and
ceilings."""

import glob
import math
import os
import shutil

import numpy as np
import pytest
import torch

from ebm.checkpoint import CheckpointError
from ebm.config import ConfigError, load_config
from ebm.conv_eval import sample_quality
from ebm.conv_protocol import as_trained_samples, chain_starts, eval_generator, protocol_samples
from ebm.conv_train import ConvEBMRun
from ebm.data import load_images
from ebm.metrics import baselines, domain, image_metrics
from ebm.metrics.result import Metric, MetricUnavailable
from sweeps.spec import load_sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = load_images("mnist5k", split="train")[:512]
TEST = load_images("mnist5k", split="test")[:256]
CONV_SWEEPS = ("ablation_langevin", "ablation_buffer", "ablation_noise", "conv_cd_k", "tune_conv_ebm")
PROTOCOL = ("eval.protocol.init", "eval.protocol.steps", "eval.protocol.step_size", "eval.protocol.noise_std",
            "eval.protocol.grad_clip", "eval.protocol.min_chain_steps")


def _cfg(*overrides):
    return load_config(None,
                       ["kind=conv_ebm", "model.width=8", "train.batch_size=32",
                        "train.iterations_per_epoch=3",
                              "sampler.k=5", "sampler.buffer_size=64", "eval.metrics=[]", "eval.n_samples=16",
                              "train.lr=1e-3", *overrides])


@pytest.mark.parametrize("name", CONV_SWEEPS)
@pytest.mark.parametrize("preset", ["smoke", "cpu", "full"])
def test_every_conv_sweep_names_one_protocol_that_no_arm_varies(name, preset):
    sweep = load_sweep(name, preset)
    raw = open(os.path.join(ROOT, "configs", "sweeps", f"{name}.yaml")).read()
    # all-PCD ablations: their chains; else noise
    start = "buffer" if name.startswith("ablation_") else "noise"
    assert f"eval.protocol: {{init: {start}, " in raw  # named in the file, not left to the base config
    assert not [k for k in sweep.space if k.startswith("eval.")], sweep.space
    p = {k: sweep.config[k] for k in PROTOCOL}  # the flat trial config every arm starts from
    assert p["eval.protocol.init"] == start and p["eval.protocol.steps"] >= 1 and None not in p.values(), p
    if start == "buffer":
        assert sweep.config["sampler.init"] == "buffer"
        assert "sampler.init" not in sweep.space and p["eval.protocol.min_chain_steps"] >= (preset != "smoke")
    assert sweep.metric == "eval/coverage_domain" and sweep.ranked_by == "final/coverage_domain"


def test_every_shipped_conv_config_names_its_protocol():
    """PCD configs: their mature buffer chains; CD and short-run configs: noise starts. One fixed sampler."""
    for path in glob.glob(os.path.join(ROOT, "configs", "conv_*.yaml")):
        cfg = load_config(path)
        p = cfg.eval.protocol
        assert p.step_size == 10.0 and p.noise_std == 0.005 and p.grad_clip == 0.0 and p.steps >= 20, path
        if cfg.sampler.init == "buffer":
            assert p.init == "buffer" and p.min_chain_steps >= 3, path
        else:
            assert p.init == "noise", path


def test_protocol_values_are_checked_and_the_superseded_keys_are_refused():
    with pytest.raises(ConfigError, match="eval.protocol.steps=-1 must be >= 0"):
        _cfg("eval.protocol.steps=-1")
    with pytest.raises(ConfigError, match="did you mean eval.protocol.init"):
        _cfg("eval.protocol.inti=noise")
    with pytest.raises(ConfigError, match="unknown config key 'eval.sample_init'"):
        _cfg("eval.sample_init=noise")  # a config saved before eval.protocol


def test_arms_with_different_samplers_draw_identical_protocol_samples():
    """Same seed and weights, different chain starts in training: the protocol's chains are the same
    chains."""
    runs = {init: ConvEBMRun(_cfg(f"sampler.init={init}", "eval.protocol.init=noise", "eval.protocol.steps=4",
                                  "eval.protocol.step_size=10", "eval.protocol.noise_std=0.005"), TRAIN, TEST)
            for init in ("data", "buffer", "noise")}
    common = [protocol_samples(r, 8, eval_generator(r))[0] for r in runs.values()]
    own = [as_trained_samples(r, 8, eval_generator(r))[0] for r in runs.values()]
    assert all(torch.equal(common[0], c) for c in common[1:])
    assert not torch.allclose(own[0], own[2])  # CD starts at training images, short-run at noise


def test_as_trained_buffer_starts_include_restarts_the_protocol_s_do_not():
    run = ConvEBMRun(_cfg("sampler.init=buffer", "sampler.reinit_prob=0.5", "eval.protocol.init=buffer"),
                     TRAIN, TEST)
    run.buffer.push(torch.full((64, 1, 28, 28), 0.5))  # full, every state constant 0.5
    gen = eval_generator(run)
    own = torch.cat([chain_starts(run, "buffer", 64, gen, as_trained=True) for _ in range(6)])
    common = chain_starts(run, "buffer", 64, gen)  # distinct stored states, none restarted
    restarted = (own != 0.5).flatten(1).any(1).float().mean().item()
    assert 0.4 < restarted < 0.6, restarted
    assert (common == 0.5).all()
    never = ConvEBMRun(_cfg("sampler.init=buffer", "sampler.reinit_prob=0.0", "eval.protocol.init=buffer",
                            # ablation_buffer's reinit 0 arm
                            "eval.protocol.min_chain_steps=1000"), TRAIN, TEST)
    never.buffer.push(torch.full((64, 1, 28, 28), 0.5))
    # its own draws: stored states
    assert (chain_starts(never, "buffer", 64, gen, as_trained=True) == 0.5).all()


def test_evaluation_never_moves_the_training_run_s_random_stream():
    a = ConvEBMRun(_cfg("sampler.init=buffer", "eval.metrics=[energy_gap, ess]"), TRAIN, TEST)
    b = ConvEBMRun(_cfg("sampler.init=buffer"), TRAIN, TEST)  # never evaluates
    for _ in range(2):
        ma, mb = a.train_epoch(), b.train_epoch()
    assert "eval/energy_gap" in ma and "eval/energy_gap" not in mb
    assert ma["train/loss"] == mb["train/loss"]
    assert all(torch.equal(p, q) for p, q in zip(a.net.parameters(), b.net.parameters(), strict=True))


def test_evaluate_reports_both_sample_sets_and_floor_ceiling_spread_position(tmp_path):
    cached = domain.cache_path("mnist5k")
    if os.path.exists(cached):  # the classifier other tests trained: only the floors' cache starts empty here
        shutil.copy(cached, domain.cache_path("mnist5k", str(tmp_path)))
    run = ConvEBMRun(_cfg("sampler.init=data", "eval.metrics=[energy_gap, ess, kid_domain, fid_domain]",
                          "eval.n_samples=32", "eval.protocol.init=noise", "eval.protocol.steps=3",
                          "eval.baseline_resamples=3", f"eval.feature_cache={tmp_path}"), TRAIN, TEST)
    m = run.evaluate()
    assert (m["protocol"].startswith("noise start, 3 steps")
            and m["as_trained"].startswith("data start, 5 steps"))
    for name in ("kid_domain", "fid_domain", "energy_gap", "tau"):
        assert math.isfinite(m[name]) and math.isfinite(m[f"as_trained/{name}"]), name
    # CD-5 from training images scores near the data; 3 steps from noise with an untrained net near noise
    assert m["as_trained/kid_domain"] < m["kid_domain"]
    for name in ("kid_domain", "fid_domain"):
        floor, ceiling, spread = m[f"{name}_floor"], m[f"{name}_ceiling"], m[f"{name}_spread"]
        assert floor < ceiling and spread > 0 and m[f"{name}_floor/network"] == m[f"{name}/network"]
        assert m[f"{name}_position"] == pytest.approx((m[name] - floor) / (ceiling - floor))
        assert m[f"as_trained/{name}_position"] < m[f"{name}_position"]
        assert f"as_trained/{name}_floor" not in m  # one floor per N and network, not per sample set
    assert os.listdir(tmp_path / "baselines")  # cached for the next evaluation and the next trial


def test_a_protocol_that_does_not_apply_is_missing_with_its_reason():
    run = ConvEBMRun(_cfg("sampler.init=noise", "eval.metrics=[energy_gap, kid_domain]",
                          "eval.protocol.init=buffer", "eval.baseline_resamples=0"), TRAIN, TEST)
    m = run.evaluate()
    assert m["kid_domain"] is None and "needs a replay buffer" in m["kid_domain/missing"]
    assert m["energy_gap"] is None and "needs a replay buffer" in m["energy_gap/missing"]
    assert math.isfinite(m["as_trained/energy_gap"])  # the arm's own samples are still scored
    assert run.sample(4).shape == (4, 1, 28, 28)  # sample grids fall back to the arm's own sampler


def test_floor_and_ceiling_are_cached_per_n_and_recomputed_for_another_network(tmp_path):
    ref, train = load_images("digits", split="test"), load_images("digits", split="train")
    calls = []

    def score(images):
        calls.append(len(images))
        return image_metrics(["kid_domain"], images, ref, "digits", cache_dir=str(tmp_path))

    net = score(train[:40])["kid_domain"].network
    calls.clear()
    first = baselines.baseline_metrics(["kid_domain"], 40, ref, train, {"kid_domain": net}, score, 4, 0,
                                       str(tmp_path))
    assert calls == [40] * 8  # 4 draws of training images and 4 of noise
    assert first["kid_domain_floor"].value < 0.1 * first["kid_domain_ceiling"].value
    assert first["kid_domain_spread"].value > 0
    baselines._MEMO.clear()  # a new process: read from disk, not recomputed
    again = baselines.baseline_metrics(["kid_domain"], 40, ref, train, {"kid_domain": net}, score, 4, 0,
                                       str(tmp_path))
    assert len(calls) == 8 and again == first
    baselines.baseline_metrics(["kid_domain"], 41, ref, train, {"kid_domain": net}, score, 4, 0,
                               str(tmp_path))
    assert len(calls) == 16  # another N: another entry
    other = baselines.baseline_metrics(["kid_domain"], 40, ref, train, {"kid_domain": "another net"}, score,
                                       4, 0, str(tmp_path))
    assert len(calls) == 24 and other["kid_domain_floor"].network == net  # recomputed; it says what it used
    too_many = baselines.baseline_metrics(["kid_domain"], 5000, ref, train, {"kid_domain": net}, score, 4, 0,
                                          str(tmp_path))
    assert (not too_many["kid_domain_floor"].ok
            and "training split has 1497" in too_many["kid_domain_floor"].reason)


def test_position_is_missing_rather_than_made_up():
    net = "n"
    assert baselines.position(Metric(0.5, net), Metric(0.0, net), Metric(2.0, net)).value == 0.25
    assert "no value" in baselines.position(Metric.missing(net, "x"), Metric(0.0, net),
                                            Metric(2.0, net)).reason
    assert "no scale" in baselines.position(Metric(1.0, net), Metric(2.0, net), Metric(2.0, net)).reason
    is_position = baselines.position(Metric(6.0, net), Metric(8.0, net), Metric(1.0, net))  # an IS points up
    assert is_position.value == pytest.approx(2 / 7)


def test_sample_quality_scores_held_out_digits_near_the_floor(tmp_path):
    ref, train = load_images("digits", split="test"), load_images("digits", split="train")
    held_out = sample_quality(["kid_domain"], ref[:100], ref, train, "digits", cache_dir=str(tmp_path),
                              resamples=3)
    noise = sample_quality(["kid_domain"], torch.rand(100, 1, 8, 8), ref, train, "digits",
                           cache_dir=str(tmp_path), resamples=3)
    # the held-out images are part of the reference: even closer than the floor's training images
    assert held_out["kid_domain_position"].value < 0.05 < 0.8 < noise["kid_domain_position"].value


def test_is_domain_is_the_inception_score_of_the_domain_classifier_s_probabilities(tmp_path):
    from ebm.metrics.domain import inception_score_from_probs

    eye = np.eye(10)  # ten confident predictions, one per class: IS = number of classes
    assert inception_score_from_probs(eye) == pytest.approx(10.0)
    assert inception_score_from_probs(np.tile(eye[3], (10, 1))) == pytest.approx(1.0)  # one class only
    assert inception_score_from_probs(np.full((5, 10), 0.1)) == pytest.approx(1.0)  # no confidence
    ref, train = load_images("digits", split="test"), load_images("digits", split="train")
    m = sample_quality(["is_domain"], ref[:100], ref, train, "digits", cache_dir=str(tmp_path), resamples=3)
    assert m["is_domain"].network.startswith("domain CNN") and 5 < m["is_domain"].value <= 10
    # higher is better: noise lies below data
    assert m["is_domain_ceiling"].value < m["is_domain_floor"].value
    assert abs(m["is_domain_position"].value) < 0.1
    one = image_metrics(["is_domain"], ref[:1], ref, "digits", cache_dir=str(tmp_path))["is_domain"]
    assert not one.ok and "needs >= 2 samples" in one.reason


@pytest.mark.parametrize("reinit", [0.0, 1.0])
def test_chain_ages_count_langevin_steps_since_each_chain_s_start_from_noise(reinit):
    run = ConvEBMRun(_cfg("sampler.init=buffer", f"sampler.reinit_prob={reinit}"), TRAIN, TEST)
    run.train_epoch()  # 3 updates of 32 chains, k=5: two fill the 64 slots, the third draws 32 of them
    run.train_epoch()  # 3 more draws of 32
    if reinit == 0.0:  # no restarts: every draw adds k to one slot's chain
        assert int(run.buffer.ages.sum()) == 64 * 5 + 4 * 32 * 5 and int(run.buffer.ages.min()) >= 5
    else:  # every draw restarts: no chain is ever older than one visit
        assert (run.buffer.ages == 5).all()


def test_the_protocol_s_buffer_start_scores_only_chains_old_enough(tmp_path):
    run = ConvEBMRun(_cfg("sampler.init=buffer", "sampler.reinit_prob=0.0", "eval.protocol.init=buffer",
                          "eval.protocol.min_chain_steps=15", "train.epochs=3"), TRAIN, TEST)
    run.train_epoch()
    run.train_epoch()
    old = run.buffer.ages >= 15
    assert 0 < int(old.sum()) < 64, run.buffer.ages
    starts = chain_starts(run, "buffer", int(old.sum()), eval_generator(run))
    matches = (starts[:, None] == run.buffer.samples[None]).flatten(2).all(2)  # (n, 64): which slot each is
    assert matches.any(1).all() and old[matches.float().argmax(1)].all()
    with pytest.raises(MetricUnavailable, match=r"have run >= 15 Langevin steps .* fewer than"):
        chain_starts(run, "buffer", int(old.sum()) + 1, eval_generator(run))
    path = str(tmp_path / "c.pt")
    torch.save(run.state_dict(), path)
    again = ConvEBMRun(run.cfg, TRAIN, TEST)
    again.load_state_dict(torch.load(path, weights_only=True))
    assert torch.equal(again.buffer.ages, run.buffer.ages)
    state = run.state_dict()
    state["buffer"].pop("ages")  # written before the buffer kept its ages: refused, naming the version
    with pytest.raises(CheckpointError, match="without its chain ages: it was written before 49d4f56"):
        again.load_state_dict(state)
    with pytest.raises(CheckpointError, match="without its chain ages"):
        ConvEBMRun.sample_checkpoint(state, 2, 1)


def test_sample_command_starts_from_old_chains_only():
    run = ConvEBMRun(_cfg("sampler.init=buffer", "sampler.step_size=1e-9", "sampler.noise_std=0",
                          "eval.protocol.min_chain_steps=50"), TRAIN, TEST)
    # slot i = i/64
    run.buffer.push(torch.arange(64.0).div(64).view(64, 1, 1, 1).expand(64, 1, 28, 28).clone())
    run.buffer.ages[:] = 5
    run.buffer.ages[5] = 60  # the one chain old enough
    x = ConvEBMRun.sample_checkpoint(run.state_dict(), 8, 1)
    assert torch.allclose(x, torch.full_like(x, 5 / 64), atol=1e-4)
