"""Domain features: a small CNN classifier trained on the data set itself, for "domain FID/KID".

Inception features are ImageNet features: on 28x28 digits they measure little that matters. A
classifier trained on the data set's own training split gives features that separate its classes;
FID/KID through its penultimate layer is the usual substitute on MNIST (e.g. the "MNIST FID" of
Bińkowski et al. 2018 and of many EBM papers); precision, recall, density and coverage
(:mod:`ebm.metrics.manifold`) are computed in the same features, from the same pass of the samples. It is
trained deterministically (fixed seed, fixed schedule), its test accuracy is reported with every metric it
produces, and it is cached on disk per data set and ``VERSION``; bump ``VERSION`` whenever the architecture
or schedule changes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm.data import DataError, load_labelled
from ebm.metric_names import OPTIONS
from ebm.metrics.fid import KID_SUBSET_SIZE, KID_SUBSETS, Features, features, fid_kid, reference_features
from ebm.metrics.manifold import precision_recall_density_coverage
from ebm.metrics.result import Metric, MetricUnavailable, guarded

VERSION = 2  # 2: features scaled to unit RMS; training on one thread
DEFAULT_CACHE_DIR = "~/.cache/ebm-cd-study"
FEATURE_DIM = 128
SEED = 0
BATCH_SIZE = 64
LR = 3e-3
EPOCHS = {"mnist5k": 12, "digits": 20, "mnist": 2, "cifar10": 10}  # ~30k-500k examples seen
EVAL_BATCH = 500
PRDC_DOMAIN = tuple(n for n in OPTIONS["prdc_domain"] if n != "domain_accuracy")  # precision ... coverage


class DomainCNN(nn.Module):
    """conv16 - pool - conv32 - pool - conv64 - 2x2 avg pool - fc128 (features) - fc(classes).

    Adaptive pooling makes it take any C x H x W with H, W >= 4; 0.1M parameters on 1x28x28.
    """

    def __init__(self, in_channels: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(64 * 2 * 2, FEATURE_DIM), nn.ReLU(),
        )
        self.classifier = nn.Linear(FEATURE_DIM, n_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.body(x))  # (B, classes)

    def embed(self, x: Tensor) -> Tensor:
        return self.body(x)  # (B, 128): the penultimate layer


@dataclass
class DomainNet:
    """A trained :class:`DomainCNN` as a feature network for :func:`ebm.metrics.fid.fid_kid`.

    Features are the penultimate layer times ``feature_scale``, 1 / RMS of that layer over the training
    split: x.y / d is then O(1), the regime KID's cubic kernel (x.y / d + 1)^3 is meant for (as with
    Inception pool features). Unscaled, x.y / d ~ 6 on mnist5k and KID's subset noise grows ~100x.
    """

    model: DomainCNN
    dataset: str
    test_accuracy: float
    device: torch.device
    feature_scale: float = 1.0

    @property
    def network(self) -> str:
        return f"domain CNN v{VERSION} ({self.dataset}, test acc {self.test_accuracy:.4f})"

    @functools.cached_property
    def weights_id(self) -> str:
        h = hashlib.sha1(str(self.feature_scale).encode())
        for v in self.model.state_dict().values():
            h.update(v.detach().cpu().numpy().tobytes())
        return h.hexdigest()

    @torch.inference_mode()
    def probabilities(self, x: Tensor) -> np.ndarray:
        """Class probabilities p(y | x), (N, classes), float64."""
        self.model.eval()
        out = [self.model(b.to(self.device, torch.float32)).double().softmax(1).cpu()
               for b in x.split(EVAL_BATCH)]
        return torch.cat(out).numpy()

    @torch.inference_mode()
    def features(self, x: Tensor) -> np.ndarray:
        self.model.eval()
        out = [self.model.embed(b.to(self.device, torch.float32)).double().cpu() for b in x.split(EVAL_BATCH)]
        return torch.cat(out).numpy() * self.feature_scale  # (N, 128)


def labelled_split(name: str, root: str, split: str, download: bool = False) -> tuple[Tensor, Tensor]:
    """Images (N, C, H, W) as :func:`ebm.data.load_images` gives them, and their class labels (N,)."""
    return load_labelled(name, root, split, download)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, device: torch.device) -> float:
    model.eval()
    pred = torch.cat([model(b.to(device)).argmax(1).cpu() for b in x.split(EVAL_BATCH)])
    return float((pred == y).float().mean())


@contextlib.contextmanager
def _one_thread():
    """One intra-op thread for the block, then back to what it was.

    Batch-64 convolutions this small gain little from a second thread, and on a shared, busy machine
    two threads were 5-15x slower than one (OpenMP threads waiting on each other). One thread also makes
    the trained weights independent of the machine's thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_domain_cnn(x: Tensor, y: Tensor, epochs: int, device: torch.device | str = "cpu",
                     seed: int = SEED) -> DomainCNN:
    """Adam on cross-entropy, fixed seed for init and batch order, cosine-decayed learning rate; on CPU,
    one thread (see :func:`_one_thread`)."""
    device = torch.device(device)
    with _one_thread() if device.type == "cpu" else contextlib.nullcontext():
        return _train(x, y, epochs, device, seed)


def _train(x: Tensor, y: Tensor, epochs: int, device: torch.device, seed: int) -> DomainCNN:
    with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's global RNG
        torch.manual_seed(seed)
        model = DomainCNN(x.shape[1], int(y.max()) + 1).to(device)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * (len(x) // BATCH_SIZE)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(len(x) // BATCH_SIZE):  # drop the last partial batch: equal-size steps
            idx = order[i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
            loss = F.cross_entropy(model(x[idx].to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def cache_path(dataset: str, cache_dir: str | None = None, epochs: int | None = None) -> str:
    """``<cache_dir>/domain-cnn_<dataset>_v<VERSION>.pt``; a non-default ``epochs`` gets its own file."""
    tag = f"_e{epochs}" if epochs is not None and epochs != EPOCHS.get(dataset) else ""
    return os.path.join(os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR),
                        f"domain-cnn_{dataset}_v{VERSION}{tag}.pt")


def load_domain_net(dataset: str, root: str = "./data", cache_dir: str | None = None,
                    device: torch.device | str = "cpu", download: bool = False,
                    epochs: int | None = None) -> DomainNet:
    """The data set's domain classifier: from the cache if there, else trained and cached (atomically).

    ``epochs`` overrides the data set's training schedule (the fast tests use 3). Raises
    :class:`MetricUnavailable` if the data set cannot be loaded.
    """
    device = torch.device(device)
    path = cache_path(dataset, cache_dir, epochs)
    net = _load_cached(path, dataset, device)
    if net is not None:
        return net
    try:
        x_train, y_train = labelled_split(dataset, root, "train", download)
        x_test, y_test = labelled_split(dataset, root, "test", download)
    except DataError as e:
        raise MetricUnavailable(f"domain classifier cannot be trained: {e}") from None
    t0 = time.perf_counter()
    model = train_domain_cnn(x_train, y_train, epochs or EPOCHS.get(dataset, EPOCHS["mnist5k"]), device)
    acc = accuracy(model, x_test, y_test, device)
    net = DomainNet(model, dataset, acc, device)
    net.feature_scale = float(1.0 / np.sqrt(np.mean(net.features(x_train) ** 2)))
    state = {"model": {k: v.cpu() for k, v in model.state_dict().items()},
             "feature_scale": torch.tensor(net.feature_scale, dtype=torch.float64),
             "test_accuracy": torch.tensor(acc, dtype=torch.float64), "version": torch.tensor(VERSION),
             "in_channels": torch.tensor(x_train.shape[1]),
             "n_classes": torch.tensor(model.classifier.out_features),
             "train_seconds": torch.tensor(time.perf_counter() - t0, dtype=torch.float64)}
    _atomic_save(state, path)
    return net


def _load_cached(path: str, dataset: str, device: torch.device) -> DomainNet | None:
    if not os.path.exists(path):
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if int(state["version"]) != VERSION:
            return None
        model = DomainCNN(int(state["in_channels"]), int(state["n_classes"]))
        model.load_state_dict(state["model"])
        float(state["feature_scale"])
    except Exception:  # noqa: BLE001 -- a truncated or stale cache file is retrained over, not fatal
        return None
    return DomainNet(model.to(device).eval(), dataset, float(state["test_accuracy"]), device,
                     float(state["feature_scale"]))


def _atomic_save(obj: dict, path: str) -> None:
    """Write to a temporary file in the target folder, then rename: readers never see half a file, and two
    runs training the same classifier at once both end with a complete one."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def domain_fid_kid(samples: Tensor | Features, reference: Tensor | Features, dataset: str,
                   root: str = "./data",
                   cache_dir: str | None = None, device: torch.device | str = "cpu", download: bool = False,
                   kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE,
                   seed: int = 0, epochs: int | None = None) -> dict[str, Metric]:
    """``fid_domain``, ``kid_domain`` and ``domain_accuracy`` (the classifier's test accuracy)."""
    return domain_metrics(("fid_domain", "kid_domain"), samples, reference, dataset, root, cache_dir, device,
                          download, kid_subsets, kid_subset_size, seed, epochs)


def domain_metrics(names: tuple[str, ...] | list[str], samples: Tensor | Features,
                   reference: Tensor | Features,
                   dataset: str, root: str = "./data", cache_dir: str | None = None,
                   device: torch.device | str = "cpu", download: bool = False, kid_subsets: int = KID_SUBSETS,
                   kid_subset_size: int = KID_SUBSET_SIZE, seed: int = 0,
                   epochs: int | None = None) -> dict[str, Metric]:
    """The metrics of ``names`` computed in the domain features (``fid_domain`` and ``kid_domain``, which come
    together, and ``prdc_domain``: ``precision_domain``, ``recall_domain``, ``density_domain``,
    ``coverage_domain``, see :mod:`ebm.metrics.manifold`), from one pass of the samples through the classifier
    (the reference's features are remembered per process), and ``domain_accuracy``."""
    fk = ("fid_domain", "kid_domain") if {"fid_domain", "kid_domain"} & set(names) else ()
    prdc = PRDC_DOMAIN if "prdc_domain" in names else ()
    network = f"domain CNN v{VERSION} ({dataset})"

    def compute() -> dict[str, Metric]:
        net = load_domain_net(dataset, root, cache_dir, device, download, epochs)

        def embedded() -> dict[str, Metric]:
            fs = samples if isinstance(samples, Features) else features(net, samples)
            fr = reference if isinstance(reference, Features) else reference_features(net, reference)
            out = fid_kid(fs, fr, net, fk, kid_subsets, kid_subset_size, seed=seed) if fk else {}
            if prdc:
                out.update(guarded(prdc, net.network, lambda: _prdc(fr, fs, net)))
            return out

        out = guarded(fk + prdc, net.network, embedded)  # a failed embedding: these missing, the accuracy not
        out["domain_accuracy"] = Metric.of(net.test_accuracy, net.network)
        return out

    return guarded((*fk, *prdc, "domain_accuracy"), network, compute)


def _prdc(real: Features, fake: Features, net: DomainNet) -> dict[str, Metric]:
    for f in (real, fake):
        if f.network != net.network:
            raise MetricUnavailable(f"features from {f.network!r} cannot be compared with {net.network!r}")
    return precision_recall_density_coverage(real.values, fake.values, net.network, PRDC_DOMAIN)


def inception_score_from_probs(p: np.ndarray) -> float:
    """exp(E_x KL(p(y|x) || p(y))) for class probabilities p (N, classes), p(y) their mean over the N samples
    (Salimans et al. 2016, Sec. 4, on the whole set at once: no splits, so it is comparable with the floor
    and ceiling computed at the same N)."""
    py = p.mean(0, keepdims=True)  # (1, classes)
    kl = (p * (np.log(np.clip(p, 1e-12, None)) - np.log(np.clip(py, 1e-12, None)))).sum(1)  # (N,)
    return float(np.exp(kl.mean()))


def domain_inception_score(samples: Tensor, dataset: str, root: str = "./data", cache_dir: str | None = None,
                           device: torch.device | str = "cpu", download: bool = False,
                           epochs: int | None = None) -> dict[str, Metric]:
    """``is_domain``: the Inception Score computed on the domain classifier's class probabilities, as MNIST
    papers report one with a LeNet; higher is better, 1 at worst, at most the number of classes.

    It does not compare with the data: it rewards confident, class-balanced predictions, so a model drawing
    one clean digit per class can score above the held-out images, and (the domain CNN being ~certain of
    one class on uniform noise) noise scores 1, its minimum. benchmarks/metric_ladder.py checks that it falls
    along every disturbance ladder; read it beside its floor (training images) and ceiling (noise) at N.
    """
    network = f"domain CNN v{VERSION} ({dataset})"

    def compute() -> dict[str, Metric]:
        if len(samples) < 2:
            raise MetricUnavailable(f"is_domain needs >= 2 samples, got {len(samples)}")
        if not torch.isfinite(samples).all():
            raise MetricUnavailable("samples contain non-finite values")
        net = load_domain_net(dataset, root, cache_dir, device, download, epochs)
        return {"is_domain": Metric.of(inception_score_from_probs(net.probabilities(samples)), net.network,
                                       what="IS")}

    return guarded(("is_domain",), network, compute)

