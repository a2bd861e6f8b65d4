"""``python -m ebm train | sample | evaluate | score``: single runs without Ray.

Bad input (a config typo, a missing data set, a corrupt checkpoint, an unreadable image set) ends with one
line on stderr and exit status 2, before anything is written.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time

from ebm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ebm.config import ConfigError, load_config, to_dict
from ebm.data import DataError
from ebm.metrics.sample_files import SampleFileError

USER_ERRORS = (ConfigError, DataError, CheckpointError, SampleFileError)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.overrides = [item for group in getattr(args, "overrides", []) for item in group]  # --set a=1 b=2
    try:
        return args.func(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ebm", description=__doc__.splitlines()[0].replace("``", ""))
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model from a YAML config")
    t.add_argument("--config", required=True, help="YAML file, e.g. configs/rbm_mnist_cd1.yaml")
    _add_overrides(t)
    t.add_argument("--out", help="run folder (default runs/<config>-<time>); refused if not empty")
    t.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    t.add_argument("--no-progress", action="store_true", help="no tqdm progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint into an image grid")
    s.add_argument("--checkpoint", required=True)
    s.add_argument("--num-samples", type=int, default=100)
    s.add_argument("--steps", type=int, default=1000, help="MCMC steps (Gibbs sweeps or Langevin steps)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--output", required=True, help="PNG file to write")
    s.set_defaults(func=cmd_sample)

    e = sub.add_parser("evaluate", help="print metrics of a checkpoint as one JSON object")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--metrics", nargs="+", default=None,
                   help="RBM: exact ais recon pll fe_gap ess; conv-EBM: energy_gap ess fid_domain kid_domain "
                        "is_domain prdc_domain fid_inception kid_inception is lpips")
    e.add_argument("--data-root", help="data.root to use instead of the one saved in the checkpoint")
    e.add_argument("--seed", type=int,
                   help="RBM: seed of the AIS, RAISE and chain-diagnostic draws (default: the "
                                            "run's seed), so repeats can differ")
    _add_overrides(e)
    e.set_defaults(func=cmd_evaluate)

    c = sub.add_parser("score",
                       help="score any image set against a data set's held-out images (one JSON object)")
    c.add_argument("images", help="a folder of PNGs, a sample-grid PNG, or a .npy/.npz/.pt array "
                                  "(N, C, H, W) in [0, 1]")
    c.add_argument("--data", required=True,
                   help="the data set whose held-out split is the reference and whose "
                                                 "classifier gives the domain features: mnist5k, digits, "
                                                 "mnist, cifar10")
    c.add_argument("--data-root", default="./data",
                   help="folder holding mnist/cifar10 in torchvision's layout")
    c.add_argument("--metrics", nargs="+", default=["fid_domain", "kid_domain"],
                   help="any of fid_domain kid_domain is_domain prdc_domain fid_inception kid_inception is "
                        "lpips (default: domain FID/KID)")
    c.add_argument("--cell", type=int, nargs=2, metavar=("H", "W"),
                   help="grid cell size (default: the data set's)")
    c.add_argument("--padding", type=int, help="grid padding in px (default: inferred; save_image writes 2)")
    c.add_argument("--key", help="which array of an .npz/.pt file holding several")
    c.add_argument("--count", type=int,
                   help="a grid's number of images: its first N cells (default: every cell)")
    c.add_argument("--limit", type=int, default=0, help="score only the first N images (0 = all)")
    c.add_argument("--resamples", type=int, default=10,
                   help="draws of N training / noise images for the floor, ceiling and spread (0 = off)")
    c.add_argument("--feature-cache", default="",
                   help="classifier and floor cache (default ~/.cache/ebm-cd-study)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    c.set_defaults(func=cmd_score)
    return p


def _add_overrides(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", "--override", dest="overrides", action="append", nargs="+", default=[],
                   metavar="KEY=VALUE",
                   help="override a config value, e.g. --set sampler.k=5 (dotted keys; applied last)")


# --------------------------------------------------------------------------------------------------


def cmd_train(args) -> int:
    from ebm.runs import build_run

    cfg = load_config(args.config, args.overrides)
    out = args.out or os.path.join(
        "runs", f"{os.path.splitext(os.path.basename(args.config))[0]}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
        raise ConfigError(f"output folder {out} is not empty; pick another --out or pass --overwrite")
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out} is a file; pick a folder")
    run = build_run(cfg)  # loads the data: a missing data set fails here, before anything is written
    if os.path.isdir(out) and args.overwrite:
        shutil.rmtree(out)
    os.makedirs(out)
    print(f"training {cfg.kind} on {cfg.data.name} ({run.device}) -> {out}", file=sys.stderr)
    _write_yaml(to_dict(cfg), os.path.join(out, "config.yaml"))
    train_loop(run, out, progress=not args.no_progress)
    return 0


def train_loop(run, out: str, progress: bool = True) -> list[dict]:
    """Train ``run`` to its configured epochs, writing metrics.csv, TensorBoard, checkpoints and samples."""
    from torch.utils.tensorboard import SummaryWriter
    from torchvision.utils import make_grid, save_image
    from tqdm import tqdm

    metric, mode = run.best_metric
    best = -math.inf if mode == "max" else math.inf
    rows: list[dict] = []
    writer = SummaryWriter(os.path.join(out, "tensorboard"))
    try:
        bar = tqdm(range(run.epoch, run.cfg.train.epochs), disable=not progress, desc="epochs")
        for _ in bar:
            m = run.train_epoch()
            rows.append(m)
            _write_csv(rows, os.path.join(out, "metrics.csv"))
            for k, v in m.items():
                if isinstance(v, int | float) and k != "epoch":
                    writer.add_scalar(k, v, run.epoch)
            state = run.state_dict()
            save_checkpoint(state, os.path.join(out, "checkpoint.pt"))
            value = m.get(metric)
            if isinstance(value, float) and math.isfinite(value) and (value > best if mode == "max"
                                                                      else value < best):
                best = value
                save_checkpoint(state, os.path.join(out, "best.pt"))
            bar.set_postfix({k.split("/")[-1]: f"{v:.4g}" for k, v in m.items()
                             if k in (metric, "train/recon_error") and isinstance(v, float)})
            if m.get("status") == "diverged":
                break
        images = run.sample(run.cfg.eval.n_samples)
        nrow = max(1, int(math.sqrt(len(images))))
        save_image(images, os.path.join(out, "samples.png"), nrow=nrow)
        writer.add_image("samples", make_grid(images, nrow=nrow), run.epoch)
    finally:
        writer.close()
    return rows


def cmd_sample(args) -> int:
    from torchvision.utils import save_image

    from ebm.runs import run_class

    if args.num_samples < 1 or args.steps < 1:
        raise ConfigError("--num-samples and --steps must be >= 1")
    state = load_checkpoint(args.checkpoint)
    images = run_class(state["config"].get("kind", "rbm")).sample_checkpoint(
        state, args.num_samples, args.steps, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    save_image(images, args.output, nrow=max(1, int(math.sqrt(len(images)))))
    print(f"wrote {len(images)} samples to {args.output}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from ebm.runs import restore_run

    overrides = list(args.overrides) + ([f"data.root={args.data_root}"] if args.data_root else [])
    run = restore_run(args.checkpoint, overrides)
    if args.seed is not None and run.cfg.kind != "rbm":
        raise ConfigError(f"--seed applies to RBM checkpoints; {args.checkpoint} holds a {run.cfg.kind} run, "
                          "whose evaluation draws from its own saved streams")
    result = run.evaluate(args.metrics) if args.seed is None else run.evaluate(args.metrics, seed=args.seed)
    print(json.dumps(finite_json(result), indent=2, sort_keys=False, allow_nan=False, default=_json_default))
    return 0


def cmd_score(args) -> int:
    """The metrics the sweeps compute (:func:`ebm.conv_eval.sample_quality`: the same reference, networks,
    floors and ceilings) for images from anywhere, e.g. samples published with a paper."""
    from ebm.conv_eval import MAX_REFERENCE, sample_quality
    from ebm.data import DATASETS, image_shape, load_images
    from ebm.devices import resolve_device
    from ebm.metrics import IMAGE_METRICS, flatten
    from ebm.metrics.sample_files import load_samples

    if args.data not in DATASETS:
        raise ConfigError(f"--data {args.data!r} is not a data set; choose one of {', '.join(DATASETS)}")
    bad = [m for m in args.metrics if m not in IMAGE_METRICS]
    if bad:
        raise ConfigError(f"unknown image metric(s) {', '.join(bad)}; choose from {', '.join(IMAGE_METRICS)}")
    if args.limit < 0 or args.resamples < 0 or (args.padding is not None and args.padding < 0):
        raise ConfigError("--limit, --resamples and --padding must be >= 0")
    samples, how = load_samples(args.images, image_shape(args.data), tuple(args.cell) if args.cell else None,
                                args.padding, args.key, args.count)
    samples = samples[: args.limit] if args.limit else samples  # (N, C, H, W) in [0, 1]
    reference = load_images(args.data, args.data_root, "test", download=False)[:MAX_REFERENCE]
    train = load_images(args.data, args.data_root, "train", download=False)
    metrics = sample_quality(args.metrics, samples, reference, train, args.data, args.data_root,
                             args.feature_cache or None, resolve_device(args.device), args.seed,
                             args.resamples)
    out = {"images": args.images, "read_as": how, "n": len(samples), "data": args.data,
           "reference": f"{args.data} test split, {len(reference)} images", **flatten(metrics)}
    print(json.dumps(finite_json(out), indent=2, allow_nan=False, default=_json_default))
    return 0


# --------------------------------------------------------------------------------------------------


def finite_json(result: dict) -> dict:
    """``result`` as strict JSON can hold it: JSON has no infinities or NaN, so such a value becomes null
    with a ``<key>_note`` beside it (e.g. an AIS interval whose low end is unbounded: -inf)."""
    out = {}
    for k, v in result.items():
        if isinstance(v, float) and not math.isfinite(v):
            out[k] = None
            out[f"{k}_note"] = "not a number" if math.isnan(v) else f"{'-' if v < 0 else '+'}inf: unbounded"
        else:
            out[k] = v
    return out


def _json_default(o):
    return str(o)


def _write_yaml(d: dict, path: str) -> None:
    import yaml

    with open(path, "w") as f:
        yaml.safe_dump(d, f, sort_keys=False)


def _write_csv(rows: list[dict], path: str) -> None:
    """Rewrite the whole file each epoch: columns can appear later (e.g. log-likelihood every N epochs)."""
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
