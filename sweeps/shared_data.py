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
from sweeps.sweep import Sweep

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
            raise ConfigError(refusal(str(e), strict)) from None
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


def refusal(reason: str, strict: bool) -> str:
    """The one line a run that may not fall back ends with (``error: `` and this, exit status 2)."""
    why = "--strict-data refuses the fallback" if strict else "the resumed trials were set up with it"
    return f"{reason} ({why})"


def describe(sweep: Sweep, strict: bool = False, fallback: bool = True) -> str:
    """What :func:`load_shared` will do with the sweep's data set, for ``--dry-run`` (downloads and writes
    nothing):
    use it; or, where it is missing, try to download it (``data.download``), then fall back to FALLBACK or
    refuse with the one line and exit status 2 a real run ends with, as ``strict`` and ``fallback`` decide."""
    c = sweep.base_config.data
    if c.name in EMBEDDED:
        return f"{c.name} (embedded)"
    try:
        for split in ("train", "test"):  # as load_shared reads them
            load_images(c.name, c.root, split, download=False)
    except DataError as e:
        missing = str(e)
    else:
        return f"{c.name} (found under {c.root})"
    first, off = "", "downloads are off (data.download=false)"
    # absent, not unreadable (files that are there are never downloaded over)
    if c.download and off in missing:
        first = f"a real run first tries to download it into {c.root} (data.download=true); if that fails, "
        missing = missing.replace(off, "download failed: <its reason>")  # the line the run then ends with
    if strict or not fallback:
        hint = (f"; --no-strict-data falls back to the embedded {FALLBACK} instead" if strict and fallback
                else "")
        then = ("it stops before Ray starts, exit status 2, with the one line 'error: "
                f"{refusal(missing, strict)}'{hint}")
    else:
        then = (f"it falls back, loudly, to the embedded {FALLBACK} (4,500 real MNIST training digits; every "
                f"trial records data.name={FALLBACK}); --strict-data makes this an error instead")
    return f"{c.name} NOT found under {c.root}: {first or 'a real run '}{then}"


def _shout(*lines: str) -> None:
    bar = "!" * 100
    print("\n".join([bar, *(f"!! {line}" for line in lines), bar]), file=sys.stderr, flush=True)
