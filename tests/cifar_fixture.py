"""A tiny CIFAR-10 in CIFAR-10's own on-disk format, built from the 20 real test images in
``../shared/data/cifar10-test20`` (PNG, named ``cifar10_INDEX_LABEL.png``), so the real torchvision
loader can be tested without the 170 MB archive.

Layout and format as in the "CIFAR-10 python version" (https://www.cs.toronto.edu/~kriz/cifar.html):
``cifar-10-batches-py/`` holding ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``,
each a protocol-2 pickle written by Python 2. A batch is a dict with ``batch_label`` (str), ``labels``
(list of int), ``data`` (numpy uint8, N x 3072: the 1024 red, then green, then blue values of each image,
row-major) and ``filenames`` (list of str). Python 2 ``str`` keys and texts are written as such (pickle
opcodes SHORT_BINSTRING/BINSTRING), so the files load like the originals both with
``encoding="latin1"`` (torchvision: str keys) and ``encoding="bytes"`` (the CIFAR page's recipe: bytes keys).

Split: the first 15 images go to the five training batches (3 each), the last 5 to ``test_batch``.

torchvision checks every file against the md5 of the real CIFAR-10 files, which a 20-image fixture can
never match. :func:`patch_cifar10_md5s` therefore swaps the expected md5s in ``CIFAR10.train_list``,
``test_list`` and ``meta`` for the fixture's own, through pytest's ``monkeypatch`` (restored after the
test). The loader under test is unchanged: it still runs its integrity check, now against the
fixture's true checksums, and still unpickles and reshapes the files itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import struct
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "cifar10-test20"
LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
N_TRAIN_BATCHES = 5
PER_TRAIN_BATCH = 3
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, N_TRAIN_BATCHES + 1)]
_NAME = re.compile(r"cifar10_(\d+)_(\d)\.png$")


def source_images(source: Path = SOURCE) -> tuple[np.ndarray, list[int], list[str]] | None:
    """The PNGs as uint8 (N, 32, 32, 3), their labels and file names, in index order; None if absent."""
    if not source.is_dir():
        return None
    from PIL import Image

    found = sorted((int(m[1]), int(m[2]), p.name) for p in source.iterdir() if (m := _NAME.match(p.name)))
    if not found:
        return None
    images = np.stack([np.asarray(Image.open(source / name).convert("RGB")) for _, _, name in found])
    return images, [label for _, label, _ in found], [name for _, _, name in found]


class _Py2Str(bytes):
    """Bytes that pickle as a Python 2 ``str``, as every key and text in the original files does."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler: its dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + struct.pack("<B", n) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2_str


def _py2(obj):
    """Python 3 str -> Python 2 str, through dicts and lists."""
    if isinstance(obj, str):
        return _Py2Str(obj.encode("latin1"))
    if isinstance(obj, dict):
        return {_py2(k): _py2(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_py2(v) for v in obj]
    return obj


def _dump(obj, path: Path) -> str:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(_py2(obj))
    path.write_bytes(buf.getvalue())
    return hashlib.md5(buf.getvalue()).hexdigest()


def _batch(label: str, images: np.ndarray, labels: list[int], names: list[str]) -> dict:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3 * 32 * 32)  # (N, 3072): R plane, G, B
    return {"batch_label": label, "labels": [int(v) for v in labels], "data": np.ascontiguousarray(data),
            "filenames": list(names)}


def build_cifar10_fixture(root: Path, source: Path = SOURCE) -> dict | None:
    """Write ``root/cifar-10-batches-py``; return ``{"md5": {file: md5}, "train": (x, y), "test": (x, y)}``
    with x uint8 (N, 32, 32, 3) in the order torchvision reads them, or None if the PNGs are absent."""
    src = source_images(source)
    if src is None:
        return None
    images, labels, names = src
    n_train = N_TRAIN_BATCHES * PER_TRAIN_BATCH
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    md5 = {}
    for b, fname in enumerate(TRAIN_FILES):
        sl = slice(b * PER_TRAIN_BATCH, (b + 1) * PER_TRAIN_BATCH)
        md5[fname] = _dump(_batch(f"training batch {b + 1} of {N_TRAIN_BATCHES}", images[sl], labels[sl],
                                  names[sl]), folder / fname)
    md5["test_batch"] = _dump(_batch("testing batch 1 of 1", images[n_train:], labels[n_train:],
                                     names[n_train:]), folder / "test_batch")
    md5["batches.meta"] = _dump({"num_cases_per_batch": PER_TRAIN_BATCH, "label_names": LABEL_NAMES,
                                 "num_vis": 3 * 32 * 32}, folder / "batches.meta")
    return {"md5": md5, "train": (images[:n_train], labels[:n_train]),
            "test": (images[n_train:], labels[n_train:])}


def patch_cifar10_md5s(monkeypatch, md5: dict[str, str]) -> None:
    """Point torchvision's CIFAR10 checksum table at the fixture's files (see module docstring)."""
    from torchvision.datasets import CIFAR10

    monkeypatch.setattr(CIFAR10, "train_list", [[f, md5[f]] for f, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, "test_list", [[f, md5[f]] for f, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5[CIFAR10.meta["filename"]]})


def shared_data_note() -> str:
    return f"CIFAR-10 test PNGs not found at {os.path.normpath(SOURCE)}"
