"""Langevin sampler on a known distribution, the replay buffer's reinit rate, and chain inits."""

import io
import math

import pytest
import torch
from torch import nn

from ebm.langevin import DEFAULT_REINIT_PROB, ReplayBuffer, init_chains, langevin


class GaussianEnergy(nn.Module):
    """E(x) = sum_d (x_d - mu_d)^2 / (2 sigma_d^2): exp(-E) is N(mu, diag(sigma^2)) exactly."""

    def __init__(self, mu, sigma):
        super().__init__()
        self.mu = nn.Parameter(torch.as_tensor(mu, dtype=torch.float32))  # (D,)
        self.log_sigma = nn.Parameter(torch.as_tensor(sigma, dtype=torch.float32).log())  # (D,)

    def forward(self, x):
        return ((x - self.mu) ** 2 / (2 * self.log_sigma.exp() ** 2)).sum(1)  # (B,)


def test_proper_langevin_reproduces_gaussian_mean_and_variance():
    mu, sigma = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.5, 0.3, 1.0])
    energy = GaussianEnergy(mu, sigma)
    eta = 0.01 * 0.3**2  # small against the narrowest scale: ULA variance bias ~ eta / (2 sigma^2) = 0.5%
    steps = int(6 * 1.0**2 / eta)  # ~6 relaxation times of the widest dimension (tau = sigma^2 / eta)
    n = 4000
    x0 = torch.zeros(n, 3)
    x = langevin(energy, x0, steps, step_size=eta, noise_std=math.sqrt(2 * eta), clamp=None,
                 generator=torch.Generator().manual_seed(0))
    se_mean = sigma / math.sqrt(n)
    assert ((x.mean(0) - mu).abs() < 4 * se_mean).all(), (x.mean(0), mu)
    rel_var = x.var(0) / sigma**2
    assert ((rel_var - 1).abs() < 4 * math.sqrt(2 / n) + 0.01).all(), rel_var
    assert energy.mu.grad is None and energy.log_sigma.grad is None
    assert energy.mu.requires_grad and energy.log_sigma.requires_grad


def test_parameters_flags_and_mode_are_restored():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.LazyLinear(1))
    net(torch.rand(1, 1, 8, 8))
    net[0].bias.requires_grad_(False)
    net.eval()
    x0 = torch.rand(5, 1, 8, 8)
    x0_copy = x0.clone()

    def energy(x):
        return net(x).squeeze(1)  # a plain callable: no parameters to freeze, still no .grad
    langevin(energy, x0, 3, 0.1, 0.01)
    langevin(net_e := _Squeeze(net), x0, 3, 0.1, 0.01)
    assert all(p.grad is None for p in net_e.parameters())
    assert [p.requires_grad for p in net.parameters()] == [True, False, True, True]
    assert not net.training
    assert torch.equal(x0, x0_copy)


class _Squeeze(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).squeeze(1)


def test_clamp_record_and_reproducibility():
    energy = GaussianEnergy(torch.full((4,), 0.5), torch.full((4,), 0.1))
    x0 = torch.rand(6, 4) * 3 - 1
    x, e = langevin(energy, x0, 7, 0.001, 0.5, record_energy=True, generator=torch.Generator().manual_seed(3))
    assert x.min() >= 0 and x.max() <= 1 and not x.requires_grad
    assert e.shape == (7, 6)
    assert torch.allclose(e[0], energy(x0.clamp(0, 1)).detach())  # E at the (clamped) start state
    x2 = langevin(energy, x0, 7, 0.001, 0.5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, x2)


def test_noise_free_steps_descend_the_energy():
    energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    _, e = langevin(energy, torch.full((3, 2), 4.0), 20, 0.1, 0.0, clamp=None, record_energy=True)
    assert (e[1:] < e[:-1]).all()


def test_grad_clip_is_per_sample():
    energy = GaussianEnergy(torch.zeros(2), torch.tensor([0.1, 0.1]))  # grad = x / 0.01
    x0 = torch.tensor([[10.0, 0.0], [0.0, 1e-4]])  # |grad| = 1000 and 0.01
    x = langevin(energy, x0, 1, step_size=1.0, noise_std=0.0, grad_clip=0.5, clamp=None)
    step = (x - x0).norm(dim=1)
    assert step[0] == pytest.approx(0.5)  # clipped to grad_clip * step_size
    assert step[1] == pytest.approx(0.01)  # below the cap: untouched by the other sample's clipping


def test_layout_in_layout_out():
    from ebm.conv_ebm import build_energy_net

    net = build_energy_net("small", (3, 8, 8), width=4)  # NHWC weights
    x0 = torch.rand(2, 3, 8, 8)
    x = langevin(net, x0, 2, 0.1, 0.0)
    assert x.is_contiguous()  # NCHW in, NCHW out, whatever the sampler used inside
    x_nhwc = langevin(net, x0.contiguous(memory_format=torch.channels_last), 2, 0.1, 0.0)
    assert torch.allclose(x, x_nhwc, atol=1e-6)


def test_works_inside_no_grad():
    energy = GaussianEnergy(torch.zeros(2), torch.ones(2))
    with torch.no_grad():
        x = langevin(energy, torch.ones(3, 2), 2, 0.1, 0.0, clamp=None)
    assert (x < 1).all()


# --- replay buffer -----------------------------------------------------------------------------

def _full_buffer(capacity, reinit_prob, value=2.0, seed=0):
    buf = ReplayBuffer(capacity, reinit_prob, (1, 2, 2), generator=torch.Generator().manual_seed(seed))
    buf.push(torch.full((capacity, 1, 2, 2), value))
    assert buf.full
    return buf


def test_buffer_starts_are_noise_until_full():
    buf = ReplayBuffer(10, 0.0, (1, 2, 2))
    x0, idx = buf.sample(4)
    assert idx is None and x0.shape == (4, 1, 2, 2) and 0 <= x0.min() and x0.max() <= 1
    buf.push(torch.full((9, 1, 2, 2), 2.0))
    assert len(buf) == 9 and buf.sample(3)[1] is None
    buf.push(torch.full((1, 1, 2, 2), 2.0))
    x0, idx = buf.sample(3)
    assert idx is not None and (x0 == 2.0).all()


@pytest.mark.parametrize("p", [DEFAULT_REINIT_PROB, 0.3])
def test_buffer_reinitialises_at_the_configured_rate(p):
    buf = _full_buffer(1000, p)  # stored samples are 2.0, outside U[0, 1]: a reinit is recognisable
    n, draws = 100, 200
    reinit = sum(int((buf.sample(n)[0].flatten(1) <= 1).all(1).sum()) for _ in range(draws))
    total = n * draws
    assert abs(reinit - p * total) < 4 * math.sqrt(total * p * (1 - p)), reinit


@pytest.mark.parametrize("p,expected", [(0.0, 0), (1.0, 50)])
def test_buffer_reinit_extremes(p, expected):
    x0, _ = _full_buffer(100, p).sample(50)
    assert int((x0.flatten(1) <= 1).all(1).sum()) == expected


def test_buffer_push_writes_back_to_drawn_slots_and_ring_overwrites_oldest():
    buf = ReplayBuffer(4, 0.0, (1,), generator=torch.Generator().manual_seed(0))
    buf.push(torch.arange(6.0).view(6, 1))  # ring: 6 into 4 slots keeps the newest 4
    assert sorted(buf.samples.flatten().tolist()) == [2.0, 3.0, 4.0, 5.0]
    buf.push(torch.tensor([[9.0]]))  # overwrites the oldest (2.0)
    assert sorted(buf.samples.flatten().tolist()) == [3.0, 4.0, 5.0, 9.0]
    x0, idx = buf.sample(2)
    assert len(set(idx.tolist())) == 2  # drawn without replacement
    buf.push(x0 + 100, idx)
    assert torch.equal(buf.samples[idx], x0 + 100)


def test_buffer_state_dict_round_trip_through_weights_only_load():
    buf = _full_buffer(50, 0.2, seed=1)
    buf.push(torch.rand(7, 1, 2, 2), steps=3)
    f = io.BytesIO()
    torch.save(buf.state_dict(), f)
    f.seek(0)
    state = torch.load(f, weights_only=True)
    other = ReplayBuffer(50, 0.9, (1, 2, 2), generator=torch.Generator().manual_seed(99))
    other.load_state_dict(state)
    assert torch.equal(other.samples, buf.samples) and other.next == buf.next and other.reinit_prob == 0.2
    assert torch.equal(other.ages, buf.ages) and int(buf.ages.sum()) == 7 * 3
    assert other.generator.initial_seed() == 99  # the caller's generator is the caller's to checkpoint
    other.generator.set_state(buf.generator.get_state())
    a, ia = buf.sample(10)
    b, ib = other.sample(10)  # same contents, same generator state: same draws
    assert torch.equal(a, b) and torch.equal(ia, ib)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(10, 0.1, (1, 2, 2)).load_state_dict(state)


def test_buffer_ages_count_langevin_steps_since_each_chain_s_start_from_noise():
    buf = ReplayBuffer(4, 0.0, (1,), generator=torch.Generator().manual_seed(0))
    buf.push(torch.zeros(4, 1), steps=5)  # ring pushes: new chains
    assert buf.ages.tolist() == [5, 5, 5, 5]
    x0, idx = buf.sample(2)
    buf.push(x0, idx, steps=3)  # drawn chains grow older
    assert sorted(buf.ages.tolist()) == [5, 5, 8, 8]
    buf.reinit_prob = 1.0
    x0, idx = buf.sample(4)  # every start restarted from noise: new chains
    buf.push(x0, idx, steps=3)
    assert buf.ages.tolist() == [3, 3, 3, 3]


def test_buffer_draws_for_evaluation_write_nothing_and_leave_its_generator_alone():
    buf = _full_buffer(10, 0.5)
    buf.ages[:] = torch.arange(10)
    samples, ages, state = buf.samples.clone(), buf.ages.clone(), buf.generator.get_state()
    gen = torch.Generator().manual_seed(1)
    x0, age = buf.draw(10, gen)  # as sample(10) would start them: half restarted from noise, as new chains
    restarted = (x0 <= 1).flatten(1).all(1)  # (10,)
    assert restarted.any() and not restarted.all() and (age[restarted] == 0).all()
    chains, age, old = buf.draw_chains(3, gen, min_age=7)  # no restarts: stored chains that old
    assert old == 3 and sorted(age.tolist()) == [7, 8, 9] and (chains == 2.0).all()
    with pytest.raises(ValueError, match="3 of the buffer's 10 chains are >= 7 steps old"):
        buf.draw_chains(4, gen, min_age=7)
    chains, age, old = buf.draw_chains(5, gen, min_age=7, top_up=True)  # the old first, then younger ones
    assert old == 3 and sorted(age[:3].tolist()) == [7, 8, 9] and (age[3:] < 7).all() and len(chains) == 5
    assert torch.equal(buf.samples, samples) and torch.equal(buf.ages, ages)
    assert torch.equal(buf.generator.get_state(), state)


# --- chain initialisation ----------------------------------------------------------------------

def test_init_chains_behave_as_named():
    batch = torch.rand(8, 1, 4, 4) * 0.1 + 0.9
    x0, idx = init_chains("data", batch)
    assert torch.equal(x0, batch) and x0.data_ptr() != batch.data_ptr() and idx is None  # CD: the data

    g = torch.Generator().manual_seed(0)
    x0, idx = init_chains("noise", batch, generator=g)
    assert idx is None and x0.shape == batch.shape and x0.min() >= 0 and x0.max() <= 1
    assert x0.mean() < 0.8  # U[0, 1], not the data

    buf = ReplayBuffer(16, 0.0, (1, 4, 4), generator=g)
    x0, idx = init_chains("buffer", batch, buf)
    assert idx is None and not torch.equal(x0, batch)  # buffer not full yet: fresh noise
    buf.push(torch.full((16, 1, 4, 4), 0.25))
    x0, idx = init_chains("buffer", batch, buf)
    assert idx.shape == (8,) and (x0 == 0.25).all()  # PCD: persistent chains

    with pytest.raises(ValueError, match="needs a ReplayBuffer"):
        init_chains("buffer", batch)
    with pytest.raises(ValueError, match="unknown chain init"):
        init_chains("langevin", batch)


# --- the benchmark's tiny mode ------------------------------------------------------------------

def test_bench_langevin_smoke_test_runs(capsys, tmp_path):
    import importlib

    importlib.import_module("benchmarks.bench_langevin").main(["--smoke-test", "--cache-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "langevin / eager" in out and "fid_domain" in out


def test_hand_written_gradient_samples_as_autograd_does():
    # FlatConvEBM's own input gradient against autograd's (a wrapper hides it): same chain up to float
    # rounding, and a seed gives one chain
    from ebm.conv_ebm import build_energy_net

    torch.manual_seed(0)
    net = build_energy_net("flat", (1, 28, 28), width=8)
    x0 = torch.rand(6, 1, 28, 28)
    kw = dict(steps=5, step_size=10.0, noise_std=0.005, grad_clip=0.01, record_energy=True)
    x, e = langevin(net, x0, generator=torch.Generator().manual_seed(1), **kw)
    x_ref, e_ref = langevin(_Squeeze(lambda v: net(v).unsqueeze(1)), x0,
                            generator=torch.Generator().manual_seed(1), **kw)
    assert torch.allclose(x, x_ref, atol=1e-5) and torch.allclose(e, e_ref, atol=1e-5)
    x2, e2 = langevin(net, x0, generator=torch.Generator().manual_seed(1), **kw)
    assert torch.equal(x, x2) and torch.equal(e, e2)
    assert all(p.grad is None and p.requires_grad for p in net.parameters())
