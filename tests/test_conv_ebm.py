"""Shapes, options and parameter counts of the conv energy networks."""

import pytest
import torch

from ebm.conv_ebm import ENERGY_NETS, FlatConvEBM, SmallConvEBM, build_energy_net, count_parameters

SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8), (2, 9, 13)]


@pytest.mark.parametrize("name", list(ENERGY_NETS))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation,spectral_norm", [("swish", False), ("leaky_relu", True)])
def test_one_energy_per_image(name, shape, activation, spectral_norm):
    net = build_energy_net(name, shape, width=8, activation=activation, spectral_norm=spectral_norm)
    e = net(torch.rand(3, *shape))
    assert e.shape == (3,)
    assert torch.isfinite(e).all()


def test_small_net_size_and_cpu_default_shape():
    net = build_energy_net("small", (1, 28, 28))
    assert isinstance(net, SmallConvEBM)
    assert 50_000 <= count_parameters(net) <= 100_000


def test_flat_net_size_and_map_sides():
    net = build_energy_net("flat", (1, 28, 28))
    assert isinstance(net, FlatConvEBM)
    assert count_parameters(net) == 76_993  # the figure in its docstring
    assert net.head[0].in_features == 64 * 2 * 2  # 28 -> 16 -> 8 -> 4 -> 2
    # 32 -> 18 -> 9 -> 5 -> 3
    assert build_energy_net("flat", (3, 32, 32), width=8).head[0].in_features == 16 * 3 * 3


@pytest.mark.parametrize("name,sees", [("flat", True), ("small", False)])
def test_only_the_flat_net_energy_sees_position(name, sees):
    # moving a blob changes the flattened read-out's energy by a fair part of what the blob itself adds; the
    # pooled network's energy does not move (away from the borders its features are shift-equivariant, then
    # averaged)
    torch.manual_seed(0)
    net = build_energy_net(name, (1, 28, 28)).eval()
    blank = torch.zeros(1, 1, 28, 28)
    x = blank.clone()
    x[..., 6:10, 6:10] = 1.0
    moved = torch.roll(x, shifts=(12, 12), dims=(2, 3))
    ratio = ((net(x) - net(moved)).abs() / (net(x) - net(blank)).abs()).item()
    assert (ratio > 0.05) == sees


@pytest.mark.parametrize("name", ["resnet", "flat"])
def test_energy_is_per_sample_independent(name):
    # Langevin takes grad of E.sum(): only valid if sample i's energy does not depend on sample j
    net = build_energy_net(name, (3, 32, 32), width=8, spectral_norm=True).eval()
    x = torch.rand(4, 3, 32, 32)
    assert torch.allclose(net(x)[:2], net(x[:2]), atol=1e-5)


def test_channels_last_changes_layout_not_values():
    a = build_energy_net("small", (3, 32, 32), channels_last=False)
    b = build_energy_net("small", (3, 32, 32), channels_last=True)
    b.load_state_dict(a.state_dict())
    assert b.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(5, 3, 32, 32)
    assert torch.allclose(a(x), b(x), atol=1e-5)


def test_spectral_norm_bounds_layer_norm():
    net = build_energy_net("small", (1, 28, 28), spectral_norm=True)
    for _ in range(20):  # power iteration converges over forward passes in train mode
        net(torch.rand(2, 1, 28, 28))
    w = net.head.weight.detach()
    assert torch.linalg.matrix_norm(w, ord=2) <= 1.0 + 1e-3


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="unet"), "unknown energy network"),
    (dict(activation="relu6"), "unknown activation"),
    (dict(in_shape=(1, 4, 28)), "must be >= 8"),
    (dict(in_shape=(28, 28)), r"\(C, H, W\)"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, match):
    args = dict(name="small", in_shape=(1, 28, 28)) | kwargs
    with pytest.raises(ValueError, match=match):
        build_energy_net(**args)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (2, 9, 13)])
@pytest.mark.parametrize("activation", ["swish", "leaky_relu"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_flat_input_gradient_is_autograds(shape, activation, channels_last):
    # the hand-written backward Langevin uses: the same E and dE/dx as autograd, up to float rounding
    torch.manual_seed(0)
    net = build_energy_net("flat", shape, width=8, activation=activation, channels_last=channels_last)
    x = torch.rand(5, *shape)
    xr = x.clone().requires_grad_(True)
    e_ref = net(xr)
    (g_ref,) = torch.autograd.grad(e_ref.sum(), xr)
    e, g = net.input_gradient()(x)
    assert torch.allclose(e, e_ref, atol=1e-6, rtol=1e-5)
    assert g.shape == x.shape and torch.allclose(g, g_ref, atol=1e-6 * g_ref.abs().max().item(), rtol=1e-4)
    assert all(p.grad is None for p in net.parameters()) and not e.requires_grad and not g.requires_grad


def test_flat_input_gradient_leaves_spectral_norm_to_autograd():
    assert build_energy_net("flat", (1, 28, 28), width=8, spectral_norm=True).input_gradient() is None
