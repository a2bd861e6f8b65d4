"""Time and peak memory of one exact log Z (``ebm.likelihood.exact_log_z``) at V = 784, by hidden units.

    python benchmarks/bench_exact.py                    # H = 16, 20: the figures quoted in BENCHMARKS.md
    python benchmarks/bench_exact.py --hidden 16 20 22  # any widths
    python benchmarks/bench_exact.py --smoke-test       # a second

Each width runs in a fresh process, so its peak resident set (``ru_maxrss``) is that one call's, on top of
the process's own baseline after importing torch (printed beside it). Enumerating 2^H hidden states costs
2^H x 784 softplus evaluations in float64; the matmuls are a small part of it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
sys.path.insert(0, {root!r})
from ebm.likelihood import exact_log_z
from ebm.rbm import RBM
torch.set_num_threads({threads})
g = torch.Generator().manual_seed(0)
rbm = RBM(784, {hidden}, init_std=0.05, generator=g)
with torch.no_grad():
    rbm.hidden_bias.normal_(0, 1, generator=g)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
log_z = exact_log_z(rbm)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"hidden": {hidden}, "log_z": log_z, "seconds": seconds,
                  "base_mb": base / 1024, "peak_mb": peak / 1024}}))
"""


def measure(hidden: int, threads: int) -> dict:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = CHILD.format(root=root, hidden=hidden, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[16, 20])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--smoke-test", action="store_true", help="H = 8 only")
    args = p.parse_args(argv)
    widths = [8] if args.smoke_test else args.hidden
    print(f"exact log Z at V = 784, {args.threads} thread(s), one fresh process per width")
    print(f"{'H':>4} {'seconds':>9} {'peak RSS MB':>12} {'baseline MB':>12} {'log Z':>12}")
    for h in widths:
        r = measure(h, args.threads)
        print(f"{h:>4} {r['seconds']:>9.2f} {r['peak_mb']:>12.0f} {r['base_mb']:>12.0f} {r['log_z']:>12.4f}")


if __name__ == "__main__":
    main()
