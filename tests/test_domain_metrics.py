"""The domain classifier behind fid_domain / kid_domain: training, the on-disk cache, the metrics."""

import os

import pytest
import torch

from ebm.data import load_images
from ebm.metrics import domain, image_metrics

EPOCHS = 3  # a short schedule for the fast tier: ~80% test accuracy on digits


@pytest.fixture(scope="module")
def digits_cache(tmp_path_factory):
    """A cache dir holding the digits classifier, trained once for this module."""
    cache = tmp_path_factory.mktemp("domain-cache")
    net = domain.load_domain_net("digits", cache_dir=str(cache), epochs=EPOCHS)
    return cache, net


def test_classifier_is_cached_per_dataset_and_version(digits_cache, monkeypatch):
    cache, net = digits_cache
    path = domain.cache_path("digits", str(cache), epochs=EPOCHS)
    assert os.path.basename(path) == f"domain-cnn_digits_v{domain.VERSION}_e{EPOCHS}.pt"
    assert os.listdir(cache) == [os.path.basename(path)]  # no temporary file left behind
    state = torch.load(path, weights_only=True)
    assert float(state["test_accuracy"]) == pytest.approx(net.test_accuracy)
    assert 0.5 < net.test_accuracy <= 1.0  # three short epochs on 1,497 digits: well above chance
    x = load_images("digits", split="test")[:7]
    f = net.features(x)
    assert f.shape == (7, domain.FEATURE_DIM)

    def no_training(*args, **kwargs):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(domain, "train_domain_cnn", no_training)
    again = domain.load_domain_net("digits", cache_dir=str(cache), epochs=EPOCHS)
    assert again.test_accuracy == net.test_accuracy
    assert (again.features(x) == f).all()


def test_a_broken_cache_file_is_a_cache_miss(tmp_path):
    path = tmp_path / "domain-cnn_digits_v1.pt"
    path.write_bytes(b"\x00garbage")  # e.g. truncated by a full disk: retrained over, not fatal
    assert domain._load_cached(str(path), "digits", torch.device("cpu")) is None
    torch.save({"version": torch.tensor(domain.VERSION - 1)}, path)  # an older version: stale
    assert domain._load_cached(str(path), "digits", torch.device("cpu")) is None


def test_training_is_deterministic():
    x, y = domain.labelled_split("digits", "./data", "train")
    a, b = domain.train_domain_cnn(x[:256], y[:256], 1), domain.train_domain_cnn(x[:256], y[:256], 1)
    assert all(torch.equal(p, q) for p,
               q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_domain_fid_kid_names_the_classifier_and_grow_with_noise(digits_cache):
    cache, _ = digits_cache
    test, train = load_images("digits", split="test"), load_images("digits", split="train")
    noise = torch.randn(test.shape, generator=torch.Generator().manual_seed(0))
    runs = [domain.domain_fid_kid((test + s * noise).clamp(0, 1), train[:600], "digits", cache_dir=str(cache),
                                  epochs=EPOCHS, kid_subsets=50, kid_subset_size=300)
            for s in (0.0, 0.3, 0.5)]
    m = runs[0]
    assert set(m) == {"fid_domain", "kid_domain", "domain_accuracy"}
    for metric in m.values():
        assert metric.ok and metric.network.startswith(f"domain CNN v{domain.VERSION} (digits, test acc 0.")
    assert m["kid_domain"].std is not None  # 300 of 600 reference images per subset: subsets differ
    fids = [r["fid_domain"].value for r in runs]
    kids = [r["kid_domain"].value for r in runs]
    assert 0 < fids[0] < fids[1] < fids[2], fids
    assert kids[0] < kids[1] < kids[2], kids


def test_domain_metrics_missing_when_the_data_set_cannot_load(tmp_path):
    m = image_metrics(["fid_domain", "kid_domain"], torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32),
                      "cifar10", root=str(tmp_path / "nothing"), cache_dir=str(tmp_path))
    for name in ("fid_domain", "kid_domain", "domain_accuracy"):
        assert not m[name].ok and "cifar10 not found" in m[name].reason and "(cifar10)" in m[name].network
    with pytest.raises(ValueError, match="unknown image metrics"):
        image_metrics(["fid"], torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8), "digits")


@pytest.mark.slow
def test_mnist5k_classifier_reaches_95_percent(tmp_path):
    net = domain.load_domain_net("mnist5k", cache_dir=str(tmp_path))  # the default schedule, as cached
    assert net.test_accuracy >= 0.95, net.test_accuracy
