"""Floor, ceiling and spread of a sample metric at the N it is computed at, and where a value sits between
them.

FID and KID have no absolute scale: the same model scores differently at another N, through another network
or against another reference set, and two runs' values differ by the metric's own sampling noise (so do
precision, recall, density and coverage, whose k-NN balls shrink as the sets grow). Each value
is therefore reported with three numbers computed the same way (same N, same reference, same network, same
code: :func:`ebm.metrics.image_metrics`):

- floor: N training images scored against the held-out reference; what a model that reproduced the data
  distribution would score at this N (Heusel et al. 2017, Sec. 3, validate FID the same way, from clean
  data upwards). The mean over ``resamples`` draws of N training images;
- spread: the standard deviation of those draws: the metric's own noise at N, from which N images happen to
  be drawn. Two values closer than about twice the spread are not told apart by the metric;
- ceiling: N images of uniform noise U[0, 1] (the Langevin chains' starting point), mean over the draws.

``position = (value - floor) / (ceiling - floor)``: 0 = as good as held-out data, 1 = as bad as noise.

Floors and ceilings are cached on disk per (data set, N, network, reference set, training set, settings), so
a sweep computes them once, not at every evaluation of every trial; a cached entry whose network differs from
the one the samples were scored with is recomputed, never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile

import numpy as np
import torch
from torch import Tensor

from ebm.metric_names import PLACED
from ebm.metrics.result import Metric

CACHE_VERSION = 1  # bump when what a cached floor/ceiling means changes
DEFAULT_CACHE_DIR = "~/.cache/ebm-cd-study"
SEED_OFFSET = 7919  # the baselines' draws never coincide with the samples' seed
_MEMO: dict[str, dict] = {}  # per process: a trial evaluating every epoch reads the disk once


def baseline_metrics(names: list[str] | tuple[str, ...], n: int, reference: Tensor, train_images: Tensor,
                     networks: dict[str, str], score, resamples: int, seed: int = 0,
                     cache_dir: str | None = None, settings: str = "") -> dict[str, Metric]:
    """``<name>_floor``, ``<name>_ceiling`` and ``<name>_spread`` for each of ``names`` in
    :data:`ebm.metric_names.PLACED` at N = ``n``.

    ``score(images) -> {name: Metric}`` must be the very function the samples were scored with (same
    reference, network, settings); ``networks`` maps each name to the network the samples' value came from,
    so a floor is only ever reported for the network its value used. ``settings`` enters the cache key
    (e.g. KID subset sizes, FID method).
    """
    names = [m for m in names if m in PLACED]
    if not names or resamples < 1:
        return {}
    if n > len(train_images):
        reason = (f"the floor needs {n} training images (N of the samples), the training split has "
                  f"{len(train_images)}")
        return {f"{m}{s}": Metric.missing(networks.get(m, "none"), reason)
                for m in names for s in ("_floor", "_ceiling", "_spread")}
    key = _cache_key(names, n, reference, train_images, resamples, seed, settings)
    cached = _read(key, cache_dir)
    if cached is None or any(cached.get(m, {}).get("network") != networks.get(m) for m in names):
        cached = _compute(names, n, train_images, score, resamples, seed)
        _write(key, cached, cache_dir)
    return _as_metrics(names, cached, networks, n, resamples)


def position(value: Metric, floor: Metric, ceiling: Metric) -> Metric:
    """(value - floor) / (ceiling - floor): 0 = held-out data, 1 = uniform noise, whichever way the metric
    points (an IS's ceiling lies below its floor); missing, with the reason, when any of the three is missing
    or floor and ceiling coincide."""
    for what, m in (("value", value), ("floor", floor), ("ceiling", ceiling)):
        if not m.ok:
            return Metric.missing(value.network, f"no {what}: {m.reason}")
    if ceiling.value == floor.value:
        return Metric.missing(value.network, f"ceiling and floor are both {floor.value:.4g}: no scale")
    return Metric.of((value.value - floor.value) / (ceiling.value - floor.value), value.network,
                     what="position")


# --------------------------------------------------------------------------------------------------


def _compute(names: list[str], n: int, train_images: Tensor, score, resamples: int, seed: int) -> dict:
    """Each metric over ``resamples`` draws of N training images (floor) and of N noise images (ceiling)."""
    gen = torch.Generator().manual_seed(seed + SEED_OFFSET)
    floors: dict[str, list] = {m: [] for m in names}
    ceilings: dict[str, list] = {m: [] for m in names}
    reasons: dict[str, str] = {}
    networks: dict[str, str] = {}
    for _ in range(resamples):
        idx = torch.randperm(len(train_images), generator=gen)[:n]
        data = train_images[idx.to(train_images.device)]  # (N, C, H, W): a fresh draw of the training split
        noise = torch.rand(data.shape, generator=gen).to(data.device)  # (N, C, H, W) ~ U[0, 1]
        for store, images in ((floors, data), (ceilings, noise)):
            for m, metric in score(images).items():
                if m not in store:
                    continue
                networks[m] = metric.network
                if metric.ok:
                    store[m].append(metric.value)
                else:
                    reasons[m] = metric.reason
    out = {}
    for m in names:
        f, c = np.asarray(floors[m]), np.asarray(ceilings[m])
        complete = len(f) == len(c) == resamples
        out[m] = {"network": networks.get(m), "reason": None if complete else reasons.get(m, "not computed"),
                  "floor": float(f.mean()) if complete else None,
                  "spread": float(f.std(ddof=1)) if complete and resamples > 1 else None,
                  "ceiling": float(c.mean()) if complete else None,
                  "ceiling_std": float(c.std(ddof=1)) if complete and resamples > 1 else None}
    return out


def _as_metrics(names: list[str], cached: dict, networks: dict[str, str], n: int, resamples: int) -> dict:
    out: dict[str, Metric] = {}
    for m in names:
        c = cached[m]
        network = c.get("network") or networks.get(m, "none")
        if c["floor"] is None:
            reason = f"floor/ceiling not computed: {c['reason']}"
            out.update({f"{m}{s}": Metric.missing(network, reason)
                        for s in ("_floor", "_ceiling", "_spread")})
            continue
        out[f"{m}_floor"] = Metric.of(c["floor"], network, what="floor")  # its std is _spread
        out[f"{m}_ceiling"] = Metric.of(c["ceiling"], network, std=c["ceiling_std"], what="ceiling")
        out[f"{m}_spread"] = (Metric.of(c["spread"], network, what="spread") if c["spread"] is not None else
                              Metric.missing(network, f"one draw of {n} images leaves no spread to estimate "
                                                      f"(eval.baseline_resamples={resamples}; use >= 2)"))
    return out


def _sha1(x: Tensor) -> str:
    xc = x.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha1(xc.numpy().tobytes()).hexdigest()


def _cache_key(names: list[str], n: int, reference: Tensor, train_images: Tensor, resamples: int, seed: int,
               settings: str) -> str:
    parts = [f"v{CACHE_VERSION}", ",".join(sorted(names)), f"n={n}", f"r={resamples}", f"seed={seed}",
             settings, f"ref={tuple(reference.shape)}:{_sha1(reference)}",
             f"train={tuple(train_images.shape)}:{_sha1(train_images)}"]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()


def _path(key: str, cache_dir: str | None) -> str:
    return os.path.join(os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR), "baselines", f"{key}.json")


def _read(key: str, cache_dir: str | None) -> dict | None:
    if key in _MEMO:
        return _MEMO[key]
    try:
        with open(_path(key, cache_dir)) as f:
            entry = json.load(f)
    except (OSError, ValueError):  # absent, or half-written by a process that died: recomputed
        return None
    _MEMO[key] = entry
    return entry


def _write(key: str, entry: dict, cache_dir: str | None) -> None:
    """Atomically (temporary file, then rename): trials of one sweep may write the same entry at once."""
    _MEMO[key] = entry
    path = _path(key, cache_dir)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path))
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache costs recomputation, never the metric
