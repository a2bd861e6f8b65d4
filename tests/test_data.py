import os

import pytest
import torch

from ebm.data import DataError, binarize, load_images

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
HAS_MNIST = os.path.isfile(os.path.join(SHARED, "MNIST", "raw", "train-images-idx3-ubyte"))


def test_embedded_sets_are_real_split_and_deterministic():
    tr, te = load_images("mnist5k", split="train"), load_images("mnist5k", split="test")
    assert tr.shape == (4500, 1, 28, 28) and te.shape == (500, 1, 28, 28)
    assert tr.dtype == torch.float32 and 0.0 <= tr.min() and tr.max() <= 1.0
    assert 0.10 < tr.mean() < 0.16  # MNIST's pixel mean is 0.1307
    assert torch.equal(tr, load_images("mnist5k", split="train"))
    # the two splits are disjoint
    assert not (tr.flatten(1)[:, None, :] == te.flatten(1)[None, :50, :]).all(-1).any()
    d_tr, d_te = load_images("digits", split="train"), load_images("digits", split="test")
    assert d_tr.shape == (1497, 1, 8, 8) and d_te.shape == (300, 1, 8, 8) and d_tr.max() == 1.0


@pytest.mark.skipif(not HAS_MNIST, reason="full MNIST not found in ../shared/data")
def test_full_mnist_through_torchvision():
    x = load_images("mnist", SHARED, "test", download=False)
    assert x.shape == (10000, 1, 28, 28)
    assert abs(float(load_images("mnist", SHARED, "train", download=False).mean()) - 0.1307) < 1e-3


def test_missing_torchvision_set_is_one_line_naming_path_and_alternative(tmp_path):
    with pytest.raises(DataError) as e:
        load_images("mnist", str(tmp_path / "nowhere"), "train", download=False)
    msg = str(e.value)
    assert "nowhere" in msg and "data.name=mnist5k" in msg and "\n" not in msg
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(not HAS_MNIST, reason="needs ../shared/data MNIST")
def test_corrupt_torchvision_file_is_named_and_never_downloaded_over(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with open(os.path.join(SHARED, "MNIST", "raw", name), "rb") as f:
            (raw / name).write_bytes(f.read()[:1000])  # a truncated copy of the real file
    with pytest.raises(DataError) as e:
        load_images("mnist", str(tmp_path), "test", download=True)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte could not be read" in msg and "corrupt" in msg and "\n" not in msg
    # left as it was: nothing downloaded over it
    assert (raw / "t10k-images-idx3-ubyte").stat().st_size == 1000


def test_binarize_modes():
    x = torch.rand(2000, 30, generator=torch.Generator().manual_seed(0))
    s = binarize(x, "stochastic", torch.Generator().manual_seed(1))
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(s.mean() - x.mean())) < 0.01
    assert torch.equal(binarize(x, "threshold"), (x > 0.5).float())
    assert binarize(x, "none") is x
    with pytest.raises(DataError):
        binarize(x, "otsu")
