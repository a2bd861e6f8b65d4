"""The Bernoulli stream behind every Gibbs and AIS draw: right frequencies, exact ends, one seed one stream,
and a state that survives a checkpoint."""

import importlib
import io

import numpy as np
import pytest
import torch
from scipy.stats import chi2, chisquare

from ebm.rbm import RBM, gibbs
from ebm.rng import BernoulliStream, bernoulli_

P = torch.tensor([1e-4, 1e-3, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-3, 1 - 1e-4])


def _counts(stream, n_rows=100_000, rounds=20):
    """Ones per column over rounds x n_rows draws, float64 (len(P),)."""
    counts = torch.zeros(len(P), dtype=torch.float64)
    for _ in range(rounds):
        counts += stream.bernoulli_(P.repeat(n_rows, 1)).sum(0, dtype=torch.float64)
    return counts, n_rows * rounds


def test_frequencies_match_p_near_0_and_1_chi_square():
    counts, n = _counts(BernoulliStream(0))
    ones, zeros = counts, n - counts
    # Pearson's statistic over both cells of every p: chi-square with len(P) degrees of freedom
    stat = (((ones - n * P.double()) ** 2) / (n * P.double()) + ((zeros - n * (1 - P.double())) ** 2)
            / (n * (1 - P.double()))).sum().item()
    assert stat < chi2.ppf(0.999, len(P)), stat
    # the test has power: a generator off by 1% of p at p = 0.3 (as 16-bit draws are off at p = 1e-4) fails it
    biased = counts.clone()
    biased[4] *= 1.01
    biased_stat = (((biased - n * P.double()) ** 2) / (n * P.double() * (1 - P.double()))).sum().item()
    assert biased_stat > chi2.ppf(0.999, len(P))


def test_probability_zero_never_fires_and_one_always_does():
    p = torch.tensor([0.0, 1.0, 2.0 ** -24, 1 - 2.0 ** -24]).repeat(500_000, 1)  # (N, 4)
    draws = BernoulliStream(3).bernoulli_(p)
    assert draws[:, 0].sum() == 0 and draws[:, 1].sum() == len(p)
    assert set(draws.unique().tolist()) <= {0.0, 1.0}
    assert draws[:, 2].sum() < 10 and draws[:, 3].sum() > len(p) - 10  # 2^-24 resolution, as torch's uniforms


def test_gibbs_with_the_stream_samples_the_exact_marginal():
    g = torch.Generator().manual_seed(0)
    rbm = RBM(5, 3)
    with torch.no_grad():
        for t in (rbm.W, rbm.visible_bias, rbm.hidden_bias):
            t.copy_(torch.randn(t.shape, generator=g) * 2.0)
    states = torch.tensor([[(i >> b) & 1 for b in range(4, -1, -1)] for i in range(32)], dtype=torch.float32)
    with torch.no_grad():
        p = torch.softmax(-rbm.free_energy(states).double(), 0)  # (32,) exact
    v, _ = gibbs(rbm, torch.zeros(200_000, 5), 40, BernoulliStream(1))
    counts = torch.bincount((v * 2 ** torch.arange(4, -1, -1.0)).sum(1).long(), minlength=32).double()
    assert chisquare(counts.numpy(), (p * len(v)).numpy()).pvalue > 1e-3


def test_same_seed_same_draws_and_other_seeds_differ():
    p = torch.full((64, 100), 0.5)
    a, b, c = (BernoulliStream(s).bernoulli_(p.clone()) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_state_survives_a_weights_only_checkpoint():
    stream = BernoulliStream(5)
    stream.bernoulli_(torch.rand(3, 333))  # an odd count: the word stream must still line up
    torch.randperm(10, generator=stream.generator)
    buf = io.BytesIO()
    torch.save({"rng": stream.state_dict()}, buf)
    buf.seek(0)
    restored = BernoulliStream(0)
    restored.load_state_dict(torch.load(buf, weights_only=True)["rng"])
    p = torch.rand(50, 50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(stream.bernoulli_(p.clone()), restored.bernoulli_(p.clone()))
    assert torch.equal(torch.randperm(10, generator=stream.generator),
                       torch.randperm(10, generator=restored.generator))


@pytest.mark.parametrize("p", [torch.rand(7, 9, dtype=torch.float64), torch.rand(9, 7).t()])
def test_float64_and_strided_probabilities_fall_back_to_the_torch_generator(p):
    stream = BernoulliStream(2)
    expected = torch.empty_like(p).uniform_(generator=torch.Generator().manual_seed(2)).lt_(p)
    out = stream.bernoulli_(p)
    assert out.dtype == p.dtype and torch.equal(out, expected)


def test_torch_generator_path_is_the_old_stream():
    p = torch.rand(40, 30, generator=torch.Generator().manual_seed(0))
    old = torch.empty_like(p).uniform_(generator=torch.Generator().manual_seed(4)).lt_(p)
    assert torch.equal(bernoulli_(p.clone(), torch.Generator().manual_seed(4)), old)
    assert np.isclose(old.mean().item(), p.mean().item(), atol=0.05)


@pytest.mark.parametrize("n", [1, 2, 7, 4_096, 100 * 784 + 1])
def test_numba_kernel_gives_numpys_sfc64_bits(n):
    """The fused kernel and the reference (numpy's SFC64 ``random_raw``, a shift, a comparison) agree bit for
    bit, and both leave the state where numpy's SFC64 is after ceil(n / 2) outputs."""
    fast, reference = BernoulliStream(11), BernoulliStream(11)
    assert fast.use_numba, "numba is a dependency: pip install -e ."
    reference.use_numba = False
    for _ in range(3):
        p = torch.rand(n, generator=torch.Generator().manual_seed(n))
        assert torch.equal(fast.bernoulli_(p.clone()), reference.bernoulli_(p.clone()))
    numpy_sfc64 = np.random.SFC64(11)
    numpy_sfc64.random_raw(3 * ((n + 1) // 2))
    assert (fast._words == numpy_sfc64.state["state"]["state"]).all()
    assert (reference._words == fast._words).all()


# --- the benchmarks' tiny modes ------------------------------------------------------------------------
def _bench(name):
    # as tests/test_metric_ladder.py imports its benchmark
    return importlib.import_module(f"benchmarks.{name}")


def test_bench_gibbs_smoke_test_runs(capsys):
    _bench("bench_gibbs").main(["--smoke-test"])
    out = capsys.readouterr().out
    assert "ebm.rbm.gibbs" in out and "torch generator" in out and "ratio to matmul" in out


def test_bench_time_to_quality_smoke_test_runs(capsys):
    _bench("bench_time_to_quality").main(["--smoke-test"])
    out = capsys.readouterr().out
    assert "target: scikit-learn's best" in out and "time-to-quality ratio" in out, out
