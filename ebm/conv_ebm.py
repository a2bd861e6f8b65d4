"""Convolutional energy networks E_theta(x) for images, one scalar per image.

p_theta(x) = exp(-E_theta(x)) / Z(theta): lower energy = more likely (LeCun et al. 2006).

- :class:`SmallConvEBM`: three 3x3 convolutions (two strided) and a linear read-out, 55,809 parameters
  at the default width on 1x28x28 and ~5.6M multiply-adds per image: the CPU default (a Langevin step on
  a batch of 100 is one forward and one input-gradient backward, ~1.1 GMAC).
- :class:`FlatConvEBM`: four stride-2 convolutions and an MLP read-out of the flattened map, after the MNIST
  energy of the UvA deep-learning tutorial 8 (Lippe 2022). Unlike the two pooled networks its energy sees
  where things are in the image (the flattened map keeps position; SmallConvEBM's receptive field is 9x9
  before the pool), which is what lets a CPU-sized model draw whole digits rather than strokes. 76,993
  parameters at the default width 32 on 1x28x28, ~0.9M multiply-adds per image.
- :class:`ResNetEBM`: residual blocks with average-pool downsampling, after IGEBM's CIFAR-10 model
  (Du & Mordatch 2019, "Implicit Generation and Generalization in Energy-Based Models", App. A), for GPU runs.

Both take any C x H x W input with H, W >= 8 (global average pooling at the end), and can wrap every
convolution and linear layer in spectral normalisation (Miyato et al. 2018), which IGEBM uses to keep
the energy Lipschitz so that Langevin steps stay stable.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ACTIVATIONS = ("swish", "leaky_relu")
LEAKY_RELU_SLOPE = 0.2  # IGEBM and JEM use leaky ReLU with slope 0.2
MIN_SIDE = 8  # smallest H or W: SmallConvEBM halves twice and still needs a 2x2 map to pool


def make_activation(name: str) -> nn.Module:
    """``swish`` (x * sigmoid(x); smooth, so the energy's input gradient is continuous) or ``leaky_relu``."""
    if name == "swish":
        return nn.SiLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_RELU_SLOPE)
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def _layer(module: nn.Module, spectral_norm: bool) -> nn.Module:
    return nn.utils.parametrizations.spectral_norm(module) if spectral_norm else module


def _check_shape(in_shape: tuple[int, ...]) -> tuple[int, int, int]:
    if len(in_shape) != 3 or min(in_shape) < 1:
        raise ValueError(f"in_shape must be (C, H, W), got {tuple(in_shape)}")
    c, h, w = (int(s) for s in in_shape)
    if h < MIN_SIDE or w < MIN_SIDE:
        raise ValueError(f"in_shape {tuple(in_shape)}: H and W must be >= {MIN_SIDE}")
    return c, h, w


class SmallConvEBM(nn.Module):
    """Three 3x3 convolutions (stride 1, 2, 2), global average pool, linear read-out to one energy.

    Parameters at width w and C input channels: 9Cw + 54w^2 + 7w + 1 (55,809 for w=32, C=1).
    """

    default_width = 32

    def __init__(self, in_shape: tuple[int, int, int], width: int | None = None, activation: str = "swish",
                 spectral_norm: bool = False):
        super().__init__()
        c, _, _ = _check_shape(in_shape)
        w = width or self.default_width
        self.in_shape = (c, *in_shape[1:])
        sn = functools.partial(_layer, spectral_norm=spectral_norm)
        self.features = nn.Sequential(
            sn(nn.Conv2d(c, w, 3, stride=1, padding=1)), make_activation(activation),
            sn(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1)), make_activation(activation),
            sn(nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)), make_activation(activation),
        )
        self.head = sn(nn.Linear(2 * w, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, 2w, H/4, W/4)
        h = h.mean(dim=(2, 3))  # (B, 2w)
        return self.head(h).squeeze(1)  # (B,)


def _conv_side(side: int, kernel: int, stride: int, padding: int) -> int:
    return (side + 2 * padding - kernel) // stride + 1


class FlatConvEBM(nn.Module):
    """Convolutions 5x5 (padding 4) then three 3x3, all stride 2, at widths w/2, w, 2w, 2w; flatten; linear to
    2w; linear to one energy (the UvA DL tutorial 8's CNNModel, whose output is -E; 28x28 -> 16, 8, 4, 2).

    76,993 parameters at w=32 on 1x28x28 (a 2x2 final map: the read-out's 256 x 64 is a fifth of them).
    """

    default_width = 32
    layers = ((5, 4), (3, 1), (3, 1), (3, 1))  # (kernel, padding) of each stride-2 convolution

    def __init__(self, in_shape: tuple[int, int, int], width: int | None = None, activation: str = "swish",
                 spectral_norm: bool = False):
        super().__init__()
        c, h, w_side = _check_shape(in_shape)
        w = width or self.default_width
        self.in_shape = (c, h, w_side)
        sn = functools.partial(_layer, spectral_norm=spectral_norm)
        chans = (c, max(1, w // 2), w, 2 * w, 2 * w)
        convs = []
        for i, (kernel, pad) in enumerate(self.layers):
            convs += [sn(nn.Conv2d(chans[i], chans[i + 1], kernel, stride=2, padding=pad)),
                      make_activation(activation)]
            h, w_side = _conv_side(h, kernel, 2, pad), _conv_side(w_side, kernel, 2, pad)
        self.features = nn.Sequential(*convs)
        self.head = nn.Sequential(sn(nn.Linear(chans[-1] * h * w_side, 2 * w)), make_activation(activation),
                                  sn(nn.Linear(2 * w, 1)))

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, 2w, s, s)
        return self.head(h.flatten(1)).squeeze(1)  # (B,)

    def input_gradient(self) -> Callable[[Tensor], tuple[Tensor, Tensor]] | None:
        """``f(x) -> (E(x), dE/dx)`` for the current weights, the backward written out by hand; None with
        spectral norm (its weights are recomputed at every forward in train mode, so autograd's path stays).

        For Langevin sampling (``ebm.langevin.langevin`` uses it when present): the same derivative as
        ``autograd.grad(E(x).sum(), x)``, up to float rounding, without recording a graph, and cheaper on CPU,
        where an update of the ablation_langevin cpu trial spent ~25% of its time in the input-gradient of the
        first convolution: oneDNN's backward-data for one input channel at stride 2 ran at a seventh to a
        tenth of its forward's rate. Here that convolution's input-gradient is one product with a sparse
        matrix built from its weights (each input pixel's taps; ~3% dense; ~0.26 ms against ~1 ms at batch 32,
        one thread), and the others go to oneDNN's backward-data directly. The whole sampler gained 1.2-1.4x
        at batch 32 (benchmarks/bench_conv_train.py): the remaining time is oneDNN's convolutions, whose
        forward already runs near the core's peak. The weights are read once, when ``f`` is made: make a new
        one after they change.
        """
        if any(nn.utils.parametrize.is_parametrized(m) for m in self.modules()):
            return None
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        acts = [m for m in self.features if not isinstance(m, nn.Conv2d)] + [self.head[1]]
        lin1, lin2 = self.head[0], self.head[2]
        w = [(c.weight.detach(), c.bias.detach(), list(c.stride), list(c.padding)) for c in convs]
        w0, _, stride0, pad0 = w[0]
        first_grad = None
        if w0.device.type == "cpu":
            rows, cols, taps, size = _first_conv_taps(tuple(w0.shape), self.in_shape[1:], stride0[0], pad0[0])
            # "sparse CSR support is in beta": used here for one plain product
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                first_grad = torch.sparse_csr_tensor(rows, cols, w0.reshape(-1)[taps], size)  # (H*W*C, h*w*c)
        c_in, h_in, w_in = self.in_shape

        @torch.no_grad()
        def energy_and_grad(x: Tensor) -> tuple[Tensor, Tensor]:
            hs, zs = [x], []
            for (wt, b, stride, pad), act in zip(w, acts[:-1], strict=True):
                zs.append(F.conv2d(hs[-1], wt, b, stride, pad))  # (B, c, h, w) pre-activation
                hs.append(act(zs[-1]))
            a = F.linear(hs[-1].flatten(1), lin1.weight, lin1.bias)  # (B, 2w)
            e = F.linear(acts[-1](a), lin2.weight, lin2.bias).squeeze(1)  # (B,)
            g = _act_backward(acts[-1], lin2.weight.expand(len(x), -1), a)  # dE/da (B, 2w)
            g = (g @ lin1.weight).view(hs[-1].shape)  # dE/dh (B, 2w, s, s), NCHW order as flattened
            for i in range(len(w) - 1, -1, -1):
                g = _act_backward(acts[i], _as_layout(g, zs[i]), zs[i])  # dE/dz_i
                wt, _, stride, pad = w[i]
                if i == 0 and first_grad is not None:
                    go = g.permute(0, 2, 3, 1).reshape(len(x), -1)  # (B, h*w*c) in NHWC order
                    g = (first_grad @ go.t()).t()  # (B, H*W*C)
                    g = g.reshape(len(x), h_in, w_in, c_in).permute(0, 3, 1, 2)  # (B, C, H, W)
                else:
                    g = torch.ops.aten.convolution_backward(g, hs[i], wt, None, stride, pad, [1, 1], False,
                                                            [0, 0], 1, [True, False, False])[0]
            return e, g

        return energy_and_grad


class ResBlock(nn.Module):
    """IGEBM residual block: act(skip(x) + conv(act(conv(x)))), then 2x2 average pool if ``down``."""

    def __init__(self, c_in: int, c_out: int, act: str, spectral_norm: bool, down: bool):
        super().__init__()
        sn = functools.partial(_layer, spectral_norm=spectral_norm)
        self.conv1 = sn(nn.Conv2d(c_in, c_out, 3, padding=1))
        self.conv2 = sn(nn.Conv2d(c_out, c_out, 3, padding=1))
        # a 1x1 projection only where the channel count changes, as in IGEBM's ResBlock
        self.skip = sn(nn.Conv2d(c_in, c_out, 1)) if c_in != c_out else nn.Identity()
        self.act = make_activation(act)
        self.down = down

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(self.act(self.conv1(x)))  # (B, c_out, H, W)
        h = self.act(self.skip(x) + h)
        return F.avg_pool2d(h, 2) if self.down else h  # (B, c_out, H/2, W/2) when down


class ResNetEBM(nn.Module):
    """IGEBM-style ResNet energy (Du & Mordatch 2019): conv stem, four residual blocks at widths
    w, 2w, 2w, 4w with three 2x downsamplings, global average pool, linear read-out.

    ~1.5M parameters at the default width 64 on 3x32x32; meant for GPU runs.
    """

    default_width = 64

    def __init__(self, in_shape: tuple[int, int, int], width: int | None = None, activation: str = "swish",
                 spectral_norm: bool = False):
        super().__init__()
        c, _, _ = _check_shape(in_shape)
        w = width or self.default_width
        self.in_shape = (c, *in_shape[1:])
        sn = functools.partial(_layer, spectral_norm=spectral_norm)
        self.stem = sn(nn.Conv2d(c, w, 3, padding=1))
        self.blocks = nn.Sequential(
            ResBlock(w, w, activation, spectral_norm, down=True),
            ResBlock(w, 2 * w, activation, spectral_norm, down=True),
            ResBlock(2 * w, 2 * w, activation, spectral_norm, down=False),
            ResBlock(2 * w, 4 * w, activation, spectral_norm, down=True),
        )
        self.head = sn(nn.Linear(4 * w, 1))

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))  # (B, 4w, H/8, W/8)
        h = h.mean(dim=(2, 3))  # (B, 4w)
        return self.head(h).squeeze(1)  # (B,)


def _first_conv_taps(weight_shape: tuple[int, ...], in_hw: tuple[int, int], stride: int, padding: int):
    """The CSR structure of the first convolution's input-gradient as a matrix T (H*W*C, h*w*c), NHWC order on
    both sides: dE/dx = T @ dE/dz. Returns row pointers, column indices, and which weight (index into the
    flattened (c, C, k, k) weight) each stored entry holds. Cached per shape: it depends on shapes only."""
    return _taps_cached(weight_shape, tuple(in_hw), stride, padding)


@functools.lru_cache(maxsize=8)
def _taps_cached(weight_shape, in_hw, stride, padding):
    c_out, c_in, kh, kw = weight_shape
    (H, W), (h, w) = in_hw, (_conv_side(in_hw[0], kh, stride, padding),
                             _conv_side(in_hw[1], kw, stride, padding))
    p, q, ky, kx, co, ci = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(kh),
                                          torch.arange(kw),
                                          torch.arange(c_out), torch.arange(c_in), indexing="ij")
    y, x = stride * p + ky - padding, stride * q + kx - padding  # the input pixel each tap reads
    inside = (y >= 0) & (y < H) & (x >= 0) & (x < W)  # taps on the zero padding contribute nothing
    row = ((y * W + x) * c_in + ci)[inside]
    col = ((p * w + q) * c_out + co)[inside]
    tap = (((co * c_in + ci) * kh + ky) * kw + kx)[inside]
    order = torch.argsort(row * (h * w * c_out) + col)
    row, col, tap = row[order], col[order], tap[order]
    crow = torch.zeros(H * W * c_in + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(row, minlength=H * W * c_in).cumsum(0)
    # int32 indices: what MKL's sparse product takes, so the product does not convert them at every call
    return crow.int(), col.int(), tap, (H * W * c_in, h * w * c_out)


def _act_backward(act: nn.Module, grad: Tensor, z: Tensor) -> Tensor:
    """dE/dz from dE/d act(z), for the two activations of :func:`make_activation`."""
    if isinstance(act, nn.SiLU):
        return torch.ops.aten.silu_backward(grad, z)
    return torch.ops.aten.leaky_relu_backward(grad, z, act.negative_slope, False)


def _as_layout(t: Tensor, like: Tensor) -> Tensor:
    """``t`` in ``like``'s memory format: an elementwise op on two layouts falls off its vectorised path
    (silu_backward on NCHW and NHWC tensors of the first layer's size ran 6x slower than on one layout)."""
    if like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last) and not like.is_contiguous():
        return t.contiguous(memory_format=torch.channels_last)
    return t.contiguous()


ENERGY_NETS = {"small": SmallConvEBM, "flat": FlatConvEBM, "resnet": ResNetEBM}


def build_energy_net(name: str, in_shape: tuple[int, int, int], width: int | None = None,
                     activation: str = "swish", spectral_norm: bool = False,
                     channels_last: bool = True) -> nn.Module:
    """Energy network by name (``small`` | ``resnet``); ``width=None`` takes the network's default.

    ``channels_last`` stores the convolution weights as NHWC: oneDNN (CPU) then runs every convolution
    and its backward without the NCHW<->NHWC reorders it otherwise does per call, which made Langevin
    sampling ~1.5x faster on CPU in benchmarks/bench_langevin.py. Values are unchanged; inputs in
    either memory format work, and ``.to(device)`` / ``load_state_dict`` keep the format.
    """
    if name not in ENERGY_NETS:
        raise ValueError(f"unknown energy network {name!r}; choose one of {', '.join(ENERGY_NETS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if width is not None and width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    net = ENERGY_NETS[name](tuple(in_shape), width=width, activation=activation, spectral_norm=spectral_norm)
    return net.to(memory_format=torch.channels_last) if channels_last else net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
