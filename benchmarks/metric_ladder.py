"""Does the sample metric get worse, step by step, as real images are disturbed more? (Heusel et al. 2017,
Sec. 3)

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
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ebm.data import load_images, load_labelled  # noqa: E402
from ebm.metric_names import expand  # noqa: E402
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
NAMES = ["fid_domain", "kid_domain", "is_domain", "prdc_domain"]  # prdc_domain: coverage_domain is ranked by
SEED = 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=500,
                   help="mnist5k images per scored set (<= 500, the held-out size)")
    p.add_argument("--cifar-dir", default=CIFAR_DIR, help="folder of the 20 CIFAR-10 test PNGs")
    p.add_argument("--no-cifar", action="store_true")
    p.add_argument("--kinds-n", type=int, default=100,
                   help="images per set in the cross-kind order (x 4 draws)")
    p.add_argument("--generated", nargs="+", default=[], metavar="ROLE=FILE",
                   help="generated sets for the cross-kind order: readable=FILE broken=FILE (a conv run's "
                        "checkpoint, sampled as its final evaluation is, or a sample-grid PNG or an array "
                        "file)")
    p.add_argument("--pictures", help="folder for one picture per cross-kind set (its first 64 images)")
    p.add_argument("--kinds-only", action="store_true", help="only the cross-kind order")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if not args.kinds_only:
        mnist_ladder(args.n)
    kinds_table(args.kinds_n, _generated(args.generated), args.pictures)
    if not args.no_cifar and not args.kinds_only:
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
    base = baseline_metrics(expand(NAMES), n, test, train, {k: first[k].network for k in first}, score,
                            resamples=5, seed=SEED)
    print(f"mnist5k: N = {n} disturbed training images vs the {len(test)} held-out images; {net.network}")
    for m in ("fid_domain", "kid_domain"):
        print(f"  {m}: floor {base[m + '_floor'].value:.4g} (spread {base[m + '_spread'].value:.2g} over 5 "
              f"draws of N training images), ceiling {base[m + '_ceiling'].value:.4g} (uniform noise)")
    print(f"  is_domain: floor {base['is_domain_floor'].value:.4g} (spread "
          f"{base['is_domain_spread'].value:.2g}), ceiling {base['is_domain_ceiling'].value:.4g} (uniform "
          "noise); higher is better")
    print(f"  coverage_domain: floor {base['coverage_domain_floor'].value:.4g} (spread "
          f"{base['coverage_domain_spread'].value:.2g}), ceiling {base['coverage_domain_ceiling'].value:.4g} "
          f"(uniform noise); higher is better")
    ladders = dict(LADDERS)
    for name, other in mix_sources().items():
        ladders[f"mix in {name} (fraction)"] = (lambda x, f, g, o=other: disturb.mix_in(x, f, g, o),
                                                MIX_LEVELS)
    spread = {"fid": base["fid_domain_spread"].value, "kid": base["kid_domain_spread"].value,
              "coverage": base["coverage_domain_spread"].value}
    rows = {}
    print(_header(["disturbance", "levels", "fid_domain", "kid_domain", "is_domain", "coverage_domain",
                   "monotone?"]))
    for name, (fn, levels) in ladders.items():
        rows[name] = []
        for level in (0, *levels):
            x = fn(clean, level, torch.Generator().manual_seed(SEED + 1))
            m = score(x)
            rows[name].append((level, m["fid_domain"].value, m["kid_domain"].value, m["is_domain"].value,
                               m["coverage_domain"].value))
        print(_row(name, rows[name], spread))
    blob = score(train.mean(0, keepdim=True).expand(n, -1, -1, -1).clone())  # one grey blob, N times
    print(f"\nthe data's mean image repeated N times: fid_domain {blob['fid_domain'].value:.3g}, kid_domain "
          f"{blob['kid_domain'].value:.3g}, is_domain {blob['is_domain'].value:.3g} (collapse that KID "
          "forgives)")
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
    photos = [torch.tensor(im, dtype=torch.float32).permute(2, 0, 1) / 255.0
              for im in load_sample_images().images]
    gen = torch.Generator().manual_seed(SEED)
    patches = []
    for ph in photos:  # (3, 427, 640): 250 random 56 x 56 crops each, downscaled to 28 x 28
        tops = torch.randint(0, ph.shape[1] - 56, (250,), generator=gen)
        lefts = torch.randint(0, ph.shape[2] - 56, (250,), generator=gen)
        patches += [ph[:, t:t + 56, s:s + 56] for t, s in zip(tops.tolist(), lefts.tolist(), strict=True)]
    out["photo patches"] = disturb.resize_to(torch.stack(patches), (1, 28, 28))
    return out


# --------------------------------------------------------------------------------------------------
# Across kinds of defect: sets whose order a person sees, scored by every candidate ranking metric

# name -> what a person sees. Real-derived sets are made from N training digits here; the generated ones come
# from --generated NAME=FILE (a sample-grid PNG or an array file, as `python -m ebm score` reads them).
KIND_SETS = {
    "real": "real digits (N training images)",
    "real, light noise": "the same digits + N(0, 0.05^2) pixel noise",
    "real, plot round trip": "the same digits shown in a matplotlib figure and cut back to 28 px (smoothed)",
    "generated, readable": "--generated readable=FILE: an EBM's digits, rough but readable",
    "generated, broken": "--generated broken=FILE: an EBM's boxy, broken strokes, few of them readable",
    "three classes": "real digits of classes 0, 1 and 7 only",
    "five repeated": "five real digits, each repeated N/5 times",
    "one repeated": "one real digit repeated N times",
    "blobs": "real digits blurred by 2.5 px: grey blobs",
    "noise": "uniform noise U[0, 1]",
}
REAL = ("real", "real, light noise", "real, plot round trip")
# (better, worse): the order a person sees, fixed by looking at the pictures (BENCHMARKS.md, "Across kinds").
# Pairs left out are ones a person would not call: broken strokes of every class vs three classes of clean
# digits, or vs blurred ones; one digit repeated vs noise.
ORDER = (*[(r, "generated, readable") for r in REAL], ("generated, readable", "generated, broken"),
         *[(r, "three classes") for r in REAL], ("three classes", "five repeated"),
         ("five repeated", "one repeated"),
         ("generated, broken", "five repeated"), ("generated, readable", "blobs"), ("three classes", "blobs"),
         ("blobs", "noise"), ("five repeated", "noise"))
# metric -> (higher is better?, column); all through the domain CNN's features or class probabilities
KIND_METRICS = {"fid_domain": False, "kid_domain": False, "is_domain": True, "precision_domain": True,
                "recall_domain": True, "density_domain": True, "coverage_domain": True}
KIND_DRAWS = 4  # disjoint draws of N per set: each metric's spread at N is the std over them


def kind_sets(n: int, draws: int, generated: dict[str, torch.Tensor]) -> dict[str, list[torch.Tensor]]:
    """``draws`` disjoint sets of N images per kind (generated sets: disjoint chunks of the file, as far as
    its images go, then fresh subsets)."""
    x, y = load_labelled("mnist5k", "./data", "train")
    gen = torch.Generator().manual_seed(SEED)
    order = torch.randperm(len(x), generator=gen)
    if n * draws > len(x):
        raise SystemExit(f"--kinds-n {n} x {draws} draws needs {n * draws} training digits; mnist5k has "
                         f"{len(x)}")
    out: dict[str, list[torch.Tensor]] = {k: [] for k in KIND_SETS}
    few = x[(y == 0) | (y == 1) | (y == 7)]
    for d in range(draws):
        clean = x[order[d * n:(d + 1) * n]]  # (N, 1, 28, 28)
        g = torch.Generator().manual_seed(SEED + 10 + d)
        out["real"].append(clean)
        out["real, light noise"].append(disturb.gaussian_noise(clean, 0.05, g))
        out["real, plot round trip"].append(disturb.plot_round_trip(clean))
        out["three classes"].append(few[torch.randperm(len(few), generator=g)[:n]])
        out["five repeated"].append(disturb.collapse(clean, 1 - 5 / n, g))
        out["one repeated"].append(disturb.collapse(clean, 1.0, g))
        out["blobs"].append(disturb.gaussian_blur(clean, 2.5))
        out["noise"].append(torch.rand(clean.shape, generator=g))
    for role, images in generated.items():
        name = f"generated, {role}"
        chunks = [images[i * n:(i + 1) * n] for i in range(len(images) // n)][:draws]
        g = torch.Generator().manual_seed(SEED + 20)
        while len(chunks) < draws:
            chunks.append(images[torch.randperm(len(images), generator=g)[:n]])
        out[name] = chunks
    return {k: v for k, v in out.items() if v}


def kind_scores(sets: dict[str, list[torch.Tensor]]) -> dict[str, dict[str, tuple[float, float]]]:
    """set -> metric -> (mean, std over the draws), against the 500 held-out mnist5k digits."""
    names = ["fid_domain", "kid_domain", "is_domain", "prdc_domain"]
    test = load_images("mnist5k", split="test")
    out = {}
    for name, draws in sets.items():
        per = [image_metrics(names, x, test, "mnist5k", fid_method="nuclear", seed=SEED) for x in draws]
        out[name] = {m: (float(np.mean([p[m].value for p in per])),
                         float(np.std([p[m].value for p in per], ddof=1)))
                     for m in KIND_METRICS}
    return out


def kind_verdicts(scores: dict[str, dict[str, tuple[float, float]]]) -> dict[str, dict]:
    """Per metric: how many of ORDER's pairs (both sets scored) it puts the right way round, how many of those
    by more than twice the pair's spread (sqrt(s_a^2 + s_b^2)), and the pairs it gets wrong (``clearly`` when
    by more than twice the spread)."""
    out = {}
    for m, higher in KIND_METRICS.items():
        right = clear = 0
        wrong = []
        pairs = [(a, b) for a, b in ORDER if a in scores and b in scores]
        for a, b in pairs:
            (va, sa), (vb, sb) = scores[a][m], scores[b][m]
            gap = (va - vb) if higher else (vb - va)  # > 0: a ranks ahead of b, as a person ranks them
            spread = math.sqrt(sa ** 2 + sb ** 2)
            if gap > 0:
                right += 1
                clear += gap > 2 * spread
            else:
                wrong.append(f"{b} ahead of {a}{' (clearly)' if -gap > 2 * spread else ''}")
        out[m] = {"pairs": len(pairs), "right": right, "clear": clear, "wrong": wrong}
    return out


def kinds_table(n: int, generated: dict[str, torch.Tensor], pictures: str | None = None) -> dict[str, dict]:
    sets = kind_sets(n, KIND_DRAWS, generated)
    if pictures:
        save_pictures(sets, pictures)
    scores = kind_scores(sets)
    print(f"\nacross kinds of defect: N = {n} per set vs the 500 held-out mnist5k digits, mean ± std over "
          f"{KIND_DRAWS} disjoint draws; order by looking (best first), the metrics' own order in ORDER")
    print(_header(["set", *KIND_METRICS]))
    for name in sets:
        print("| " + " | ".join([name, *(f"{_num(scores[name][m][0])} ± {scores[name][m][1]:.2g}"
                                          for m in KIND_METRICS)]) + " |")
    verdicts = kind_verdicts(scores)
    print(_header(["metric", "pairs in a person's order", "of them by > 2 spreads", "wrong way round"]))
    for m, v in verdicts.items():
        print(f"| {m} | {v['right']} of {v['pairs']} | {v['clear']} | {'; '.join(v['wrong']) or '-'} |")
    kid_diagnosis(sets)
    return verdicts


def kid_diagnosis(sets: dict[str, list[torch.Tensor]]) -> None:
    """Why domain KID misorders kinds: FID's two terms (the means' squared distance and the covariance term)
    and KID before and after each set's features are shifted onto the reference's mean, on the first draw of
    each."""
    from ebm.metrics.fid import kid_from_features

    net = load_domain_net("mnist5k")
    ref = net.features(load_images("mnist5k", split="test"))  # (500, 128), ReLU features: all >= 0
    print("\nwhy KID misorders them: the domain features are ReLU outputs, all >= 0 with a large common "
          f"mean (norm {np.linalg.norm(ref, axis=1).mean():.3g} per image, "
          f"{np.linalg.norm(ref - ref.mean(0), axis=1).mean():.3g} about the mean)")
    print(_header(["set (first draw)", "squared distance of the means", "FID - that (covariance)", "KID",
                   "KID, means matched"]))
    for name, draws in sets.items():
        f = net.features(draws[0])
        mean_term = float(((f.mean(0) - ref.mean(0)) ** 2).sum())
        fid = fid_from_features(f, ref, method="nuclear")
        kid = kid_from_features(f, ref, seed=SEED)[0]
        matched = kid_from_features(f - f.mean(0) + ref.mean(0), ref, seed=SEED)[0]
        print(f"| {name} | {mean_term:.3g} | {fid - mean_term:.3g} | {kid:.3g} | {matched:.2g} |")


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
    print(f"\nCIFAR-10: the {len(x)} test images of {os.path.normpath(folder)}; N = {n} disturbed vs {n} "
          f"clean, mean ± std over {CIFAR_SPLITS} random {n}/{n} splits; {net.network}")
    clean = net.features(x)  # (20, 2048)
    mnist = disturb.resize_to(load_images("mnist5k", split="test"), (3, 32, 32))
    # no collapse ladder at N = 10: its top three levels all leave the same one image, and FID/KID at N = 10
    # score five images repeated twice better than ten distinct ones (measured: 189 against 310)
    ladders = {**{k: v for k, v in LADDERS.items() if v[0] is not disturb.collapse},
               "mix in MNIST digits (fraction)": (lambda x, f, g: disturb.mix_in(x, f, g, mnist), MIX_LEVELS)}
    splits = [torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + s))
              for s in range(CIFAR_SPLITS)]
    floor = _split_scores(clean, clean, splits, n)
    noise = net.features(torch.rand(x.shape, generator=torch.Generator().manual_seed(SEED)))
    ceiling = _split_scores(noise, clean, splits, n)
    print(f"  fid_inception: floor {floor[0]:.4g} ± {floor[1]:.2g}, ceiling {ceiling[0]:.4g} ± "
          f"{ceiling[1]:.2g}; kid_inception: floor {floor[2]:.3g} ± {floor[3]:.2g}, ceiling {ceiling[2]:.3g} "
          f"± {ceiling[3]:.2g}")
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


def save_pictures(sets: dict[str, list[torch.Tensor]], folder: str) -> str:
    """One 8 x 8 grid per set (its first draw) and ``kinds.png``, every grid under its number and name, in the
    table's order: the pictures the order was fixed by."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid

    os.makedirs(folder, exist_ok=True)
    grids = []
    for name, draws in sets.items():
        grid = make_grid(draws[0][:64], nrow=8, padding=1)[0]  # (H, W) in [0, 1]
        im = Image.fromarray((grid.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        im.save(os.path.join(folder, name.replace(", ", "_").replace(" ", "_") + ".png"))
        grids.append((name, im))
    w, h = grids[0][1].size
    cols, pad, label = 5, 6, 16
    rows = math.ceil(len(grids) / cols)
    sheet = Image.new("L", (cols * (w + pad), rows * (h + label)), 255)
    draw = ImageDraw.Draw(sheet)
    for i, (name, im) in enumerate(grids):
        r, c = divmod(i, cols)
        sheet.paste(im, (c * (w + pad), r * (h + label) + label - 2))
        draw.text((c * (w + pad) + 2, r * (h + label)), f"{i + 1}. {name}", fill=0)
    path = os.path.join(folder, "kinds.png")
    sheet.save(path)
    return path


def _generated(specs: list[str]) -> dict[str, torch.Tensor]:
    from ebm.metrics.sample_files import SampleFileError, load_samples

    out = {}
    for spec in specs:
        role, _, path = spec.partition("=")
        if role not in ("readable", "broken") or not path:
            raise SystemExit(f"--generated {spec!r}: use readable=FILE or broken=FILE")
        try:
            out[role] = (_checkpoint_samples(path) if _is_checkpoint(path)
                         else load_samples(path, (1, 28, 28))[0])
        except SampleFileError as e:
            raise SystemExit(f"--generated {role}: {e}") from None
    return out


def _is_checkpoint(path: str) -> bool:
    if not path.endswith((".pt", ".pth")):
        return False
    from ebm.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    return isinstance(state, dict) and "config" in state


def _checkpoint_samples(path: str, n: int = 1000) -> torch.Tensor:
    """A conv run's checkpoint -> the samples its final evaluation scores (``conv_protocol.final_samples``:
    the run's eval.protocol, from the final evaluation's own stream), as the sweeps would score them."""
    from ebm.conv_protocol import final_generator, final_samples
    from ebm.runs import restore_run

    run = restore_run(path)
    samples, _, how = final_samples(run, n, final_generator(run))
    print(f"  {path}: {len(samples)} samples, {how}")
    return samples.detach().cpu()


def monotone(values: list[float], tolerance: float = 0.0) -> bool:
    """Every value above the one before it, or (``tolerance`` > 0) at most ``tolerance`` below it."""
    return all(b > a - tolerance for a, b in zip(values, values[1:], strict=False))


def verdict(rows: list[tuple], spread: dict[str, float]) -> str:
    """Per metric: ``yes`` (every level worse than the last), ``within spread`` (a step down, but by less than
    the metric's spread at this N: below its resolution), or ``NO`` (a step down larger than the spread)."""
    cols = {"FID": ([r[1] for r in rows], spread["fid"]), "KID": ([r[2] for r in rows], spread["kid"])}
    if len(rows[0]) > 3:
        cols["IS"] = ([-r[3] for r in rows], 0.0)  # a higher IS is better: it must fall
    if len(rows[0]) > 4:
        cols["coverage"] = ([-r[4] for r in rows], spread["coverage"])  # higher is better: it must fall
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
