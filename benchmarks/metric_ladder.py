"""Does the sample metric get worse, step by step, as real images are disturbed more? (Heusel et al. 2017, Sec. 3)

    python benchmarks/metric_ladder.py                 # mnist5k (domain FID/KID) + the 20 CIFAR-10 images
    python benchmarks/metric_ladder.py --no-cifar --n 200

mnist5k: N training images (a fixed draw), disturbed, scored with ``ebm.metrics.image_metrics`` (the code the
sweeps use) against the 500 held-out images, through the data set's domain CNN. Level 0 is the floor; the
floor's spread at N (std over 5 draws of N training images) and the ceiling (uniform noise) are printed
with it. ``is_domain`` is the Inception-Score analogue on the domain CNN's class probabilities,
exp(E_x KL(p(y|x) || p(y))) (``ebm.metrics.domain_inception_score``): it must fall along every ladder.

CIFAR-10: only 20 real images exist offline (``--cifar-dir``), and no CIFAR domain classifier can be trained,
so FID/KID go through TF-Inception (``pip install -e ".[fid]"``), at N = 10 disturbed images against the
other 10 clean ones, averaged over 20 random 10/10 splits (mean ± std over splits).

A disturbance is "monotone" when every level scores worse than the one before it (level 0 = clean).
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.data import load_images  # noqa: E402
from ebm.metrics import disturb, image_metrics  # noqa: E402
from ebm.metrics.baselines import baseline_metrics  # noqa: E402
from ebm.metrics.domain import load_domain_net  # noqa: E402
from ebm.metrics.fid import fid_from_features, kid_from_features  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
CIFAR_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                         "cifar10-test20")
LADDERS = {  # name -> (function, levels); level 0 (clean) is added in front of each
    "gaussian noise (std)": (disturb.gaussian_noise, (0.05, 0.1, 0.2, 0.3, 0.4)),
    "gaussian blur (std, px)": (disturb.gaussian_blur, (0.5, 1.0, 1.5, 2.0, 2.5)),
    "black square (side, px)": (disturb.black_rectangles, (4, 8, 12, 16)),
    "swirl (strength)": (disturb.swirl, (0.5, 1.0, 2.0, 4.0)),
    "salt and pepper (fraction)": (disturb.salt_and_pepper, (0.02, 0.05, 0.1, 0.2)),
    "collapse (fraction of distinct images lost)": (disturb.collapse, (0.5, 0.75, 0.95, 0.99, 1.0)),
}
MIX_LEVELS = (0.1, 0.25, 0.5, 0.75, 1.0)
CIFAR_SPLITS = 20
NAMES = ["fid_domain", "kid_domain", "is_domain"]
SEED = 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500, help="mnist5k images per scored set (<= 500, the held-out size)")
    p.add_argument("--cifar-dir", default=CIFAR_DIR, help="folder of the 20 CIFAR-10 test PNGs")
    p.add_argument("--no-cifar", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    mnist_ladder(args.n)
    if not args.no_cifar:
        cifar_ladder(args.cifar_dir)
    print(f"\n{time.perf_counter() - t0:.0f} s in all (1 thread)")
    return 0


# --------------------------------------------------------------------------------------------------
# mnist5k through the domain CNN


def mnist_ladder(n: int) -> dict[str, list[tuple]]:
    train, test = load_images("mnist5k", split="train"), load_images("mnist5k", split="test")
    gen = torch.Generator().manual_seed(SEED)
    clean = train[torch.randperm(len(train), generator=gen)[:n]]  # (N, 1, 28, 28)
    net = load_domain_net("mnist5k")

    def score(x):
        return image_metrics(NAMES, x, test, "mnist5k", fid_method="nuclear", seed=SEED)

    first = score(clean)
    base = baseline_metrics(NAMES, n, test, train, {k: first[k].network for k in first}, score, resamples=5, seed=SEED)
    print(f"mnist5k: N = {n} disturbed training images vs the {len(test)} held-out images; {net.network}")
    for m in ("fid_domain", "kid_domain"):
        print(f"  {m}: floor {base[m + '_floor'].value:.4g} (spread {base[m + '_spread'].value:.2g} over 5 draws "
              f"of N training images), ceiling {base[m + '_ceiling'].value:.4g} (uniform noise)")
    print(f"  is_domain: floor {base['is_domain_floor'].value:.4g} (spread {base['is_domain_spread'].value:.2g}), "
          f"ceiling {base['is_domain_ceiling'].value:.4g} (uniform noise); higher is better")
    ladders = dict(LADDERS)
    for name, other in mix_sources().items():
        ladders[f"mix in {name} (fraction)"] = (lambda x, f, g, o=other: disturb.mix_in(x, f, g, o), MIX_LEVELS)
    spread = {"fid": base["fid_domain_spread"].value, "kid": base["kid_domain_spread"].value}
    rows = {}
    print(_header(["disturbance", "levels", "fid_domain", "kid_domain", "is_domain", "monotone?"]))
    for name, (fn, levels) in ladders.items():
        rows[name] = []
        for level in (0, *levels):
            x = fn(clean, level, torch.Generator().manual_seed(SEED + 1))
            m = score(x)
            rows[name].append((level, m["fid_domain"].value, m["kid_domain"].value, m["is_domain"].value))
        print(_row(name, rows[name], spread))
    blob = score(train.mean(0, keepdim=True).expand(n, -1, -1, -1).clone())  # one grey blob, N times
    print(f"\nthe data's mean image repeated N times: fid_domain {blob['fid_domain'].value:.3g}, kid_domain "
          f"{blob['kid_domain'].value:.3g}, is_domain {blob['is_domain'].value:.3g} (collapse that KID forgives)")
    return rows


def mix_sources() -> dict[str, torch.Tensor]:
    """Other images at 1 x 28 x 28: Fashion-MNIST when installed (Debian dataset-fashion-mnist), sklearn's
    8 x 8 digits upscaled, and 28 x 28 grey patches of sklearn's two sample photographs."""
    from sklearn.datasets import load_digits, load_sample_images

    out = {}
    path = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
    if os.path.exists(path):
        with gzip.open(path) as f:
            raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        out["Fashion-MNIST"] = torch.from_numpy(raw.astype(np.float32) / 255.0)
    digits = torch.as_tensor(load_digits().data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    out["sklearn digits, 8x8 upscaled"] = disturb.resize_to(digits, (1, 28, 28))
    photos = [torch.tensor(im, dtype=torch.float32).permute(2, 0, 1) / 255.0 for im in load_sample_images().images]
    gen = torch.Generator().manual_seed(SEED)
    patches = []
    for ph in photos:  # (3, 427, 640): 250 random 56 x 56 crops each, downscaled to 28 x 28
        tops = torch.randint(0, ph.shape[1] - 56, (250,), generator=gen)
        lefts = torch.randint(0, ph.shape[2] - 56, (250,), generator=gen)
        patches += [ph[:, t:t + 56, s:s + 56] for t, s in zip(tops.tolist(), lefts.tolist(), strict=True)]
    out["photo patches"] = disturb.resize_to(torch.stack(patches), (1, 28, 28))
    return out


# --------------------------------------------------------------------------------------------------
# The 20 CIFAR-10 test images through TF-Inception


def cifar_ladder(folder: str) -> dict[str, list[tuple]] | None:
    from ebm.metrics.inception import load_inception
    from ebm.metrics.result import MetricUnavailable
    from ebm.metrics.sample_files import load_image_folder

    try:
        net = load_inception("cpu")
    except MetricUnavailable as e:
        print(f"\nCIFAR-10: skipped, no Inception network: {e}")
        return None
    x = load_image_folder(folder, (3, 32, 32))  # (20, 3, 32, 32)
    n = len(x) // 2
    print(f"\nCIFAR-10: the {len(x)} test images of {os.path.normpath(folder)}; N = {n} disturbed vs {n} clean, "
          f"mean ± std over {CIFAR_SPLITS} random {n}/{n} splits; {net.network}")
    clean = net.features(x)  # (20, 2048)
    mnist = disturb.resize_to(load_images("mnist5k", split="test"), (3, 32, 32))
    # no collapse ladder at N = 10: its top three levels all leave the same one image, and FID/KID at N = 10 score
    # five images repeated twice better than ten distinct ones (measured: 189 against 310)
    ladders = {**{k: v for k, v in LADDERS.items() if v[0] is not disturb.collapse},
               "mix in MNIST digits (fraction)": (lambda x, f, g: disturb.mix_in(x, f, g, mnist), MIX_LEVELS)}
    splits = [torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + s)) for s in range(CIFAR_SPLITS)]
    floor = _split_scores(clean, clean, splits, n)
    noise = net.features(torch.rand(x.shape, generator=torch.Generator().manual_seed(SEED)))
    ceiling = _split_scores(noise, clean, splits, n)
    print(f"  fid_inception: floor {floor[0]:.4g} ± {floor[1]:.2g}, ceiling {ceiling[0]:.4g} ± {ceiling[1]:.2g}; "
          f"kid_inception: floor {floor[2]:.3g} ± {floor[3]:.2g}, ceiling {ceiling[2]:.3g} ± {ceiling[3]:.2g}")
    spread = {"fid": floor[1], "kid": floor[3]}
    print(_header(["disturbance", "levels", "fid_inception", "kid_inception", "monotone?"]))
    rows = {}
    for name, (fn, levels) in ladders.items():
        rows[name] = []
        for level in (0, *levels):
            f = clean if level == 0 else net.features(fn(x, level, torch.Generator().manual_seed(SEED + 1)))
            s = _split_scores(f, clean, splits, n)
            rows[name].append((level, s[0], s[2]))
        print(_row(name, rows[name], spread))
    return rows


def _split_scores(samples: np.ndarray, clean: np.ndarray, splits: list, n: int) -> tuple[float, ...]:
    """FID and KID of samples[first half] against clean[second half], mean and std over the splits: the
    disturbed images are never compared with their own clean versions."""
    fids, kids = [], []
    for order in splits:
        a, b = order[:n].numpy(), order[n:2 * n].numpy()
        fids.append(fid_from_features(samples[a], clean[b], method="nuclear"))
        kids.append(kid_from_features(samples[a], clean[b])[0])
    return float(np.mean(fids)), float(np.std(fids)), float(np.mean(kids)), float(np.std(kids))


# --------------------------------------------------------------------------------------------------


def monotone(values: list[float], tolerance: float = 0.0) -> bool:
    """Every value above the one before it, or (``tolerance`` > 0) at most ``tolerance`` below it."""
    return all(b > a - tolerance for a, b in zip(values, values[1:], strict=False))


def verdict(rows: list[tuple], spread: dict[str, float]) -> str:
    """Per metric: ``yes`` (every level worse than the last), ``within spread`` (a step down, but by less than
    the metric's spread at this N: below its resolution), or ``NO`` (a step down larger than the spread)."""
    cols = {"FID": ([r[1] for r in rows], spread["fid"]), "KID": ([r[2] for r in rows], spread["kid"])}
    if len(rows[0]) > 3:
        cols["IS"] = ([-r[3] for r in rows], 0.0)  # a higher IS is better: it must fall
    out = []
    for k, (v, tol) in cols.items():
        if monotone(v):
            out.append(f"{k} yes")
        else:
            steps = [b - a for a, b in zip(v, v[1:], strict=False)]
            worst = min(steps)
            at = rows[steps.index(worst) + 1][0]
            tag = "within spread" if monotone(v, tol) else "NO"
            out.append(f"{k} {tag} ({abs(worst):.2g} lower at {at:g})")
    return ", ".join(out)


def _header(cols: list[str]) -> str:
    return "\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)


def _row(name: str, rows: list[tuple], spread: dict[str, float]) -> str:
    levels = ", ".join(f"{r[0]:g}" for r in rows)
    cols = [", ".join(_num(r[i]) for r in rows) for i in range(1, len(rows[0]))]
    return "| " + " | ".join([name, levels, *cols, verdict(rows, spread)]) + " |"


def _num(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 0.01 else f"{v:.2g}"


if __name__ == "__main__":
    sys.exit(main())
