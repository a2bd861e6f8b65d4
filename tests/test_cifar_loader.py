"""The real torchvision CIFAR-10 loader, through ebm.data.load_images, on a 20-image on-disk fixture."""

import pickle

import numpy as np
import pytest
import torch
from cifar_fixture import build_cifar10_fixture, patch_cifar10_md5s, shared_data_note

from ebm.data import DataError, load_images


@pytest.fixture
def cifar_root(tmp_path):
    built = build_cifar10_fixture(tmp_path)
    if built is None:
        pytest.skip(shared_data_note())
    return tmp_path, built


def test_fixture_files_are_in_cifar10_pickle_format(cifar_root):
    root, built = cifar_root
    folder = root / "cifar-10-batches-py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"])
    with open(folder / "data_batch_1", "rb") as f:
        as_bytes = pickle.load(f, encoding="bytes")  # the recipe on the CIFAR-10 page
    assert set(as_bytes) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert as_bytes[b"data"].dtype == np.uint8 and as_bytes[b"data"].shape == (3, 3072)
    assert as_bytes[b"batch_label"] == b"training batch 1 of 5"
    with open(folder / "batches.meta", "rb") as f:
        meta = pickle.load(f, encoding="latin1")  # what torchvision does
    assert meta["label_names"][3] == "cat" and meta["num_vis"] == 3072


def test_real_loader_reads_the_fixture(cifar_root, monkeypatch):
    root, built = cifar_root
    patch_cifar10_md5s(monkeypatch, built["md5"])
    for split in ("train", "test"):
        x = load_images("cifar10", str(root), split, download=False)
        images, labels = built[split]
        assert x.shape == (len(images), 3, 32, 32) and x.dtype == torch.float32
        expected = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # (N, 3, 32, 32)
        assert torch.equal(x, expected)
    from torchvision.datasets import CIFAR10

    ds = CIFAR10(str(root), train=False, download=False)
    assert ds.targets == built["test"][1] and ds.classes[8] == "ship"


def test_integrity_check_still_runs(cifar_root, monkeypatch):
    root, built = cifar_root
    with pytest.raises(DataError, match="cifar-10-batches-py"):  # real md5s: the fixture is refused
        load_images("cifar10", str(root), "train", download=False)
    patch_cifar10_md5s(monkeypatch, built["md5"])
    path = root / "cifar-10-batches-py" / "data_batch_3"
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF  # one corrupted byte: the md5 no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError,
                       match=r"cifar10 files in .*cifar-10-batches-py could not be read .*corrupt"):
        load_images("cifar10", str(root), "train", download=True)  # never downloaded over the user's files
