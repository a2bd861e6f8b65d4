"""The conv-EBM's final evaluation: final/<metric> after the last epoch, from a stream and chains of its
own."""

import math

import pytest
import torch

from ebm import conv_protocol
from ebm.config import ConfigError, load_config
from ebm.conv_protocol import EVAL_SEED, eval_generator, final_generator, final_samples, final_starts
from ebm.conv_train import ConvEBMRun
from ebm.data import load_images

TRAIN = load_images("mnist5k", split="train")[:256]
TEST = load_images("mnist5k", split="test")
PLACED = ("fid_domain", "kid_domain", "is_domain", "precision_domain", "recall_domain", "density_domain",
          "coverage_domain")


def _cfg(*overrides):
    return load_config(None,
                       ["kind=conv_ebm", "model.width=8", "train.batch_size=32",
                        "train.iterations_per_epoch=3",
                              "train.epochs=1", "train.lr=1e-3", "sampler.init=buffer", "sampler.k=5",
                              "sampler.buffer_size=64", "eval.metrics=[energy_gap]", "eval.n_samples=16",
                              "eval.protocol.init=buffer", "eval.protocol.steps=3",
                        "eval.protocol.min_chain_steps=10",
                              "eval.final_n_samples=48", "eval.baseline_resamples=2", *overrides])


def test_the_last_epoch_reports_final_metrics_placed_between_floor_and_ceiling():
    run = ConvEBMRun(_cfg(), TRAIN, TEST)
    m = run.train_epoch()
    assert m["final/n_samples"] == 48 and m["final/epoch"] == 1 and m["final/seconds"] > 0
    assert m["final/reference"] == "mnist5k held-out split, 500 of its 500 images"  # the whole split
    assert m["final/protocol"].startswith("buffer start (48 distinct chains of the buffer's 64")
    for name in (*PLACED, "energy_gap", "energy_data"):
        assert math.isfinite(m[f"final/{name}"]), name
    for name in PLACED:
        for suffix in ("_floor", "_ceiling", "_spread", "_position"):
            assert math.isfinite(m[f"final/{name}{suffix}"]), name + suffix
        assert m[f"final/{name}/network"] == m[f"final/{name}_floor/network"]
    assert m["final/precision_domain_floor"] > 0.5 > m["final/precision_domain_ceiling"]
    # the sample grid shows the samples that were scored
    assert len(run.final_images) == 48 and torch.equal(run.sample(16), run.final_images[:16])


def test_the_final_evaluation_changes_no_per_epoch_result_and_no_random_state():
    on = ConvEBMRun(_cfg("eval.final_metrics=[energy_gap]"), TRAIN, TEST)
    off = ConvEBMRun(_cfg("eval.final=none"), TRAIN, TEST)
    m_on, m_off = on.train_epoch(), off.train_epoch()
    assert "final/energy_gap" in m_on and not any(k.startswith("final/") for k in m_off)
    timing = ("train/epoch_seconds", "train/images_per_second")
    assert {k: v for k, v in m_on.items() if not k.startswith("final/") and k not in timing} == \
        {k: v for k, v in m_off.items() if k not in timing}
    s_on, s_off = on.state_dict(), off.state_dict()  # what a resumed run would continue from
    assert torch.equal(s_on["generator"], s_off["generator"]) and torch.equal(s_on["torch_rng"],
                                                                              s_off["torch_rng"])
    assert torch.equal(s_on["buffer"]["samples"], s_off["buffer"]["samples"])
    assert torch.equal(s_on["buffer"]["ages"], s_off["buffer"]["ages"])
    assert off.final_images is None and torch.equal(off.sample(4), off.sample(4))  # the protocol's, as before


def test_the_final_stream_is_no_per_epoch_stream_and_every_arm_shares_it():
    runs = [ConvEBMRun(_cfg(f"sampler.init={init}", "eval.protocol.init=noise"), TRAIN, TEST)
            for init in ("buffer", "data")]
    final = final_generator(runs[0])
    per_epoch = {EVAL_SEED + 1_000_003 * 0 + epoch for epoch in range(10_000)}
    assert (final.initial_seed() not in per_epoch
            and final.initial_seed() == final_generator(runs[1]).initial_seed())
    assert final_generator(ConvEBMRun(_cfg("seed=1"), TRAIN, TEST)).initial_seed() != final.initial_seed()
    first = torch.rand(1000, generator=final)
    for epoch in (0, 1, 2):
        runs[0].epoch = epoch
        assert not torch.equal(first, torch.rand(1000, generator=eval_generator(runs[0])))
    a, _, _ = final_samples(runs[0], 8, final_generator(runs[0]))  # arms' protocol chains: the same noise
    b, _, _ = final_samples(runs[1], 8, final_generator(runs[1]))
    assert torch.equal(a, b)


def test_young_chains_are_topped_up_to_min_chain_steps_and_the_buffer_is_never_written(monkeypatch):
    run = ConvEBMRun(_cfg(), TRAIN, TEST)
    run.buffer.push(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
    # ages 0..19: 20 of the 64 chains have run >= 10 steps (32 slots)
    run.buffer.ages[:] = torch.arange(64) % 20
    mature = int((run.buffer.ages >= 10).sum())
    stored, ages = run.buffer.samples.clone(), run.buffer.ages.clone()
    calls = []
    chains = conv_protocol._chains

    def counted(run, x0, steps, *rest):
        calls.append((len(x0), steps))
        return chains(run, x0, steps, *rest)

    monkeypatch.setattr(conv_protocol, "_chains", counted)
    x0, age, how = final_starts(run, 48, final_generator(run))
    assert len(x0) == 48 and (age >= 10).all() and calls == [(48 - mature, 10)]  # one top-up of 10 steps
    is_stored = (x0[:, None] == stored[None]).flatten(2).all(2).any(1)  # (48,): an exact copy of a slot
    assert int(is_stored.sum()) == mature and (age[is_stored] >= 10).all()  # the mature ones, untouched
    assert (age[~is_stored] < 20).all()  # the young ones, 10 steps older than their stored ages (< 10)
    assert (f"{mature} had run >= 10 steps since their start from noise, {48 - mature} younger ones first "
            "ran 10" in how)
    assert torch.equal(run.buffer.samples, stored) and torch.equal(run.buffer.ages, ages)
    everything, age, how = final_starts(run, 1000, final_generator(run))  # more than the buffer holds
    assert len(everything) == 64 and (age >= 10).all() and how.startswith("buffer start (all 64 chains of "
                                                                          "the buffer")


def test_a_buffer_smaller_than_final_n_samples_reports_the_n_it_used():
    run = ConvEBMRun(_cfg("eval.final_n_samples=500", "eval.final_metrics=[energy_gap]"), TRAIN, TEST)
    m = run.train_epoch()
    assert m["final/n_samples"] == 64 and "fewer than the 500 asked for" in m["final/protocol"]


def test_final_none_reports_nothing_and_bad_values_are_one_line():
    m = ConvEBMRun(_cfg("eval.final=none"), TRAIN, TEST).train_epoch()
    assert not any(k.startswith("final/") for k in m)
    with pytest.raises(ConfigError) as e:
        _cfg("eval.final_n_samples=1")
    assert str(e.value) == "config: eval.final_n_samples=1 must be >= 2"
    with pytest.raises(ConfigError,
                       match=r"eval.final_metrics=\['kid'\] has unknown names; choose from energy_gap"):
        _cfg("eval.final_metrics=[kid]")
