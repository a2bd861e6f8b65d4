"""Why the ablation_langevin cpu trial stays short of 2x the updates/s of the path before issue #11: the
arithmetic an update needs against the core's sgemm rate, and three ways to a faster step, each timed against
what it would replace (all three lose or fall short; BENCHMARKS.md, "Conv-EBM engine").

    python benchmarks/bench_conv_alternatives.py                 # 1 thread, as the sweep's trials run
    python benchmarks/bench_conv_alternatives.py --threads 2
    python benchmarks/bench_conv_alternatives.py --smoke-test    # seconds

1. FLOPs of one update (``torch.utils.flop_counter``: 10 Langevin steps at batch 32, the loss at batch 64) and
   the GFLOP/s that 2x the baseline's updates/s would need, beside sgemm's own rate here.
2. Stride-2 backward-data of layers 2-4 as four stride-1 "phase" convolutions (each parity of the input grid
   gets the taps that reach it: 1x1, 1x2, 2x1, 2x2), against oneDNN's backward-data.
3. The first layer's input-gradient (one channel, 5x5, stride 2) as a GEMM and col2im (``F.fold``, or a numba
   loop), against the sparse product ``FlatConvEBM.input_gradient`` uses.
4. bfloat16 forward and backward-data, against float32 (on CPUs with AVX512-BF16 or AMX; elsewhere slower).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F

try:
    import ebm  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.config import load_config
from ebm.conv_ebm import _first_conv_taps, build_energy_net
from ebm.rng import jit

BASE, BATCH, STEPS = "configs/conv_mnist_pcd20.yaml", 32, 10  # the trial of bench_conv_train.py
BASELINE_UPDATES_PER_S = 19.9  # bench_conv_train.py's baseline at 1 thread, 2026-11-30
# (c_in, c_out, input side) of FlatConvEBM w32's 3x3 stride-2 convs
LAYERS = ((16, 32, 16), (32, 64, 8), (64, 64, 4))
CL = torch.channels_last


def _us(fn, n: int) -> float:
    for _ in range(max(2, n // 20)):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _backward_data(g, x, w, stride, pad):
    return torch.ops.aten.convolution_backward(g, x, w, None, [stride] * 2, [pad] * 2, [1, 1], False, [0, 0],
                                               1, [True, False, False])[0]


def arithmetic(n: int) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    m = load_config(BASE).model
    net = build_energy_net(m.net, (1, 28, 28), m.width, m.activation, m.spectral_norm)
    net.requires_grad_(False)
    x = torch.rand(BATCH, 1, 28, 28, requires_grad=True)
    with FlopCounterMode(display=False) as fc:
        net(x).sum().backward()
    step = fc.get_total_flops()
    net.requires_grad_(True)
    with FlopCounterMode(display=False) as fc:
        e = net(torch.rand(2 * BATCH, 1, 28, 28))
        (e.mean() + e.pow(2).mean()).backward()
    update = STEPS * step + fc.get_total_flops()
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the target is for the trial at 1 thread, as the sweep runs it
    sgemm = 2 * 512 ** 3 / _us(lambda: a @ b, n) / 1e3
    torch.set_num_threads(threads)
    need = 2 * BASELINE_UPDATES_PER_S * update / 1e9
    print(f"one update: {update / 1e9:.2f} GFLOP ({STEPS} Langevin steps of {step / 1e6:.1f} MFLOP at batch "
          f"{BATCH}, the loss {fc.get_total_flops() / 1e6:.0f} MFLOP at batch {2 * BATCH})")
    print(f"2x the baseline's {BASELINE_UPDATES_PER_S} updates/s (1 thread) needs {need:.0f} GFLOP/s "
          f"sustained; sgemm 512^3 at 1 thread here: {sgemm:.0f} GFLOP/s ({need / sgemm:.0%} of it)")


def phases(n: int) -> None:
    print("\nbackward-data of a 3x3 stride-2 convolution, batch 32, NHWC:  oneDNN vs four phase convolutions "
          "(us)")
    for c_in, c_out, side in LAYERS:
        x = torch.rand(BATCH, c_in, side, side).contiguous(memory_format=CL)
        w = (torch.randn(c_out, c_in, 3, 3) * 0.1).contiguous(memory_format=CL)
        g = torch.randn_like(F.conv2d(x, w, None, 2, 1))  # (B, c_out, side / 2, side / 2)
        phase_convs = _phase_convolutions(g, w, side)
        onednn = _us(lambda: _backward_data(g, x, w, 2, 1), n)  # noqa: B023 (called before the loop moves on)
        err = (phase_convs() - _backward_data(g, x, w, 2, 1)).abs().max().item()
        phased = _us(phase_convs, n)
        print(f"  {c_in:>2}->{c_out:<2} on {side:>2}x{side:<2}: oneDNN {onednn:6.0f}   phases {phased:6.0f}"
              f"   (max difference {err:.1e})")


def _phase_convolutions(g, w, side):
    """dE/dx of a 3x3, stride-2, padding-1 convolution from dE/dz = ``g`` as four stride-1 convolutions: even
    rows of the input grid are reached by tap 1 only, odd rows by taps 2 and 0 (the same for columns)."""
    h = g.shape[2]
    wt = w.transpose(0, 1)  # (c_in, c_out, 3, 3)
    kernels = [wt[:, :, r][:, :, :, s].contiguous(memory_format=CL) for r in ([1], [2, 0])
               for s in ([1], [2, 0])]
    out = torch.empty(g.shape[0], w.shape[1], side, side).contiguous(memory_format=CL)

    def run():
        gp = F.pad(g, (0, 1, 0, 1))  # the odd phases read one row / column past the edge
        out[:, :, 0::2, 0::2] = F.conv2d(g, kernels[0])
        out[:, :, 0::2, 1::2] = F.conv2d(gp[:, :, :h, :], kernels[1])[:, :, :, :h]
        out[:, :, 1::2, 0::2] = F.conv2d(gp[:, :, :, :h], kernels[2])[:, :, :h]
        out[:, :, 1::2, 1::2] = F.conv2d(gp, kernels[3])[:, :, :h, :h]
        return out

    return run


@jit
def _col2im(cols, out, k, stride, h, w):
    """out (B, H + 2 pad, W + 2 pad) += the columns (B, k * k, h * w) of a one-channel stride-``stride``
    conv."""
    for b in range(cols.shape[0]):
        for ky in range(k):
            for kx in range(k):
                src = cols[b, ky * k + kx]
                for p in range(h):
                    row = out[b, stride * p + ky]
                    for q in range(w):
                        row[stride * q + kx] += src[p * w + q]


def first_layer(n: int) -> None:
    w0 = torch.randn(16, 1, 5, 5)
    x = torch.rand(BATCH, 1, 28, 28)
    g = torch.randn_like(F.conv2d(x, w0, None, 2, 4)).contiguous(memory_format=CL)  # (B, 16, 16, 16)
    rows, cols, taps, size = _first_conv_taps(tuple(w0.shape), (28, 28), 2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sparse_t = torch.sparse_csr_tensor(rows, cols, w0.reshape(-1)[taps], size)
    w_cols = w0.reshape(16, 25).t().contiguous()  # (25, 16)
    padded = torch.zeros(BATCH, 36, 36)

    def sparse():  # as FlatConvEBM.input_gradient
        go = g.permute(0, 2, 3, 1).reshape(BATCH, -1)
        return (sparse_t @ go.t()).t().reshape(BATCH, 28, 28, 1).permute(0, 3, 1, 2)

    def gemm():
        # (B, 25, 256)
        return torch.matmul(w_cols, g.permute(0, 2, 3, 1).reshape(BATCH, 256, 16).transpose(1, 2))

    def fold():
        return F.fold(gemm(), (28, 28), 5, stride=2, padding=4)

    def numba_col2im():
        padded.zero_()
        _col2im(gemm().numpy(), padded.numpy(), 5, 2, 16, 16)
        return padded[:, 4:32, 4:32].unsqueeze(1)

    ref = _backward_data(g, x, w0, 2, 4)
    print("\nfirst layer's input-gradient (1 -> 16 channels, 5x5, stride 2), batch 32 (us):")
    variants = {"oneDNN backward-data": lambda: _backward_data(g, x, w0, 2, 4),
                "sparse product (used)": sparse, "GEMM + F.fold": fold, "GEMM + numba col2im": numba_col2im}
    for name, fn in variants.items():
        print(f"  {name:<22}{_us(fn, n):7.0f}   (max difference {(fn() - ref).abs().max().item():.1e})")


def bfloat16(n: int) -> None:
    print("\nbfloat16 against float32, batch 32, NHWC (us):   forward         backward-data")
    for c_in, c_out, side, k, pad in ((1, 16, 28, 5, 4), *((a, b, s, 3, 1) for a, b, s in LAYERS)):
        (f32, b32), (f16, b16) = (_forward_and_backward_data(c_in, c_out, side, k, pad, dtype, n)
                                  for dtype in (torch.float32, torch.bfloat16))
        print(f"  {c_in:>2}->{c_out:<2} on {side:>2}x{side:<2}  fp32 {f32:5.0f}  bf16 {f16:5.0f}   fp32 "
              f"{b32:5.0f}  bf16 {b16:5.0f}")


def _forward_and_backward_data(c_in, c_out, side, k, pad, dtype, n) -> tuple[float, float]:
    x = torch.rand(BATCH, c_in, side, side).contiguous(memory_format=CL).to(dtype)
    w = (torch.randn(c_out, c_in, k, k) * 0.1).contiguous(memory_format=CL).to(dtype)
    g = torch.randn_like(F.conv2d(x, w, None, 2, pad))
    return _us(lambda: F.conv2d(x, w, None, 2, pad), n), _us(lambda: _backward_data(g, x, w, 2, pad), n)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=300, help="timed calls of each variant")
    p.add_argument("--smoke-test", action="store_true")
    args = p.parse_args(argv)
    if args.smoke_test:
        args.n = 3
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        print(f"torch {torch.__version__}, {args.threads} thread(s)")
        arithmetic(args.n)
        phases(args.n)
        first_layer(args.n)
        bfloat16(args.n)
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    main()
