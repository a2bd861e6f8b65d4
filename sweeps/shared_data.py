"""The driver's data set: checked before Ray starts, loaded once, shared with every trial.

A sweep asking for a data set that is absent and cannot be downloaded falls back, loudly, to the embedded
real MNIST digits (``mnist5k``), and the data set actually used goes into every trial's config; with
``strict`` that is an error instead. The loaded arrays travel to the trials through ``tune.with_parameters``:
one copy in each node's object store, read in place by every trial on that node.
"""

from __future__ import annotations

import os
import sys
import time

from ebm.data import EMBEDDED, DataError, load_images
from ebm.strict import ConfigError
from sweeps.spec import Sweep

FALLBACK = "mnist5k"


def load_shared(sweep: Sweep, strict: bool = False, fallback: bool = True) -> dict:
    """Load the sweep's data set as numpy arrays ``{"name", "train", "test"}``; may switch ``data.name``."""
    c = sweep.base_config.data
    c.root = root = os.path.abspath(os.path.expanduser(c.root))  # trials run in their folders
    name = c.name
    try:
        train, test = (load_images(name, root, split, c.download) for split in ("train", "test"))
    except DataError as e:
        if strict or not fallback:
            why = "--strict-data refuses the fallback" if strict else "the resumed trials were set up with it"
            raise ConfigError(f"{e} ({why})") from None
        _shout(f"data set {name!r} is not available: {e}",
               f"FALLING BACK to the embedded {FALLBACK!r} (4,500 real MNIST training digits); every trial's "
               f"config records data.name={FALLBACK}. Pass --strict-data to make this an error.")
        c.name = name = FALLBACK
        train, test = (load_images(name, root, split, False) for split in ("train", "test"))  # embedded
    return {"name": name, "train": train.numpy(), "test": test.numpy()}


def warm_caches(sweep: Sweep) -> None:
    """Train (or load) the classifier behind fid_domain/kid_domain here, once, before the trials start: they
    then load it from its cache instead of each training it at its first evaluation."""
    c = sweep.base_config
    if sweep.kind != "conv_ebm" or not {"fid_domain", "kid_domain"} & set(c.eval.metrics):
        return
    from ebm.metrics import MetricUnavailable, load_domain_net

    t0 = time.perf_counter()
    try:
        net = load_domain_net(c.data.name, c.data.root, cache_dir=c.eval.feature_cache or None)
    except MetricUnavailable as e:
        print(f"warning: {e}; the trials will report fid_domain/kid_domain as missing", file=sys.stderr)
        return
    print(f"{net.network} ready for FID/KID in {time.perf_counter() - t0:.0f} s", flush=True)


def describe(sweep: Sweep) -> str:
    """Whether the sweep's data set is present (for ``--dry-run``; downloads and writes nothing)."""
    name, root = sweep.base_config.data.name, sweep.base_config.data.root
    if name in EMBEDDED:
        return f"{name} (embedded)"
    try:
        load_images(name, root, "test", download=False)
    except DataError:
        then = "would download it or else fall back to" if sweep.base_config.data.download else "falls back to"
        return f"{name} NOT found under {root}; the sweep {then} {FALLBACK}"
    return f"{name} (found under {root})"


def _shout(*lines: str) -> None:
    bar = "!" * 100
    print("\n".join([bar, *(f"!! {line}" for line in lines), bar]), file=sys.stderr, flush=True)
