"""LPIPS diversity: mean LPIPS distance between random pairs of samples (Zhang et al. 2018, "The
Unreasonable Effectiveness of Deep Features as a Perceptual Metric"; used as a diversity score by e.g.
BicycleGAN, Zhu et al. 2017). Higher = more diverse; a collapsed sampler scores near 0.

Computed only with the ``lpips`` package's AlexNet variant (v0.1) and only when torchvision's ImageNet
AlexNet weights are already in the torch hub cache: ``lpips`` would otherwise download them, which
offline fails or hangs. Otherwise the metric is missing, with the reason.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ebm.metrics.result import Metric, MetricUnavailable, guarded

LPIPS_NET = "LPIPS v0.1 (AlexNet)"
N_PAIRS = 1000
MIN_SIDE = 32  # AlexNet's stride-4 stem and three max-pools leave nothing of a smaller image
BATCH = 100


def alexnet_weights() -> str:
    """Path of torchvision's AlexNet weights in the torch hub cache; MetricUnavailable if absent."""
    try:
        import lpips
        from torchvision.models import AlexNet_Weights
    except ImportError as e:
        raise MetricUnavailable(f"lpips is not installed ({e})") from None
    name = os.path.basename(AlexNet_Weights.IMAGENET1K_V1.url)
    path = os.path.join(torch.hub.get_dir(), "checkpoints", name)
    if not os.path.isfile(path):
        raise MetricUnavailable(f"lpips needs torchvision's AlexNet weights {name} in "
                                f"{os.path.dirname(path)} (never downloaded here: copy the file there from a "
                                "machine with internet)")
    linear = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", "alex.pth")
    if not os.path.isfile(linear):
        raise MetricUnavailable(f"lpips' own linear-layer weights {linear} are missing")
    return path


@functools.lru_cache(maxsize=2)
def _load_lpips(device: str) -> nn.Module:
    import lpips

    alexnet_weights()  # raises before lpips could try a download
    with warnings.catch_warnings():  # lpips calls torchvision's deprecated ``pretrained=True``
        warnings.simplefilter("ignore", UserWarning)
        net = lpips.LPIPS(net="alex", version="0.1", pretrained=True, verbose=False)
    return net.to(device).eval()


def lpips_diversity(samples: Tensor, n_pairs: int = N_PAIRS, device: torch.device | str = "cpu",
                    seed: int = 0, loader: Callable[[str], nn.Module] | None = None) -> dict[str, Metric]:
    """``{"lpips": mean LPIPS over n_pairs random pairs (i != j), std over pairs}`` of samples in [0, 1]."""
    load = loader or _load_lpips

    def compute() -> dict[str, Metric]:
        net = load(str(torch.device(device)))
        x = samples
        n = len(x)
        if n < 2:
            raise MetricUnavailable(f"LPIPS diversity needs >= 2 samples, got {n}")
        if not torch.isfinite(x).all():
            raise MetricUnavailable("samples contain non-finite values")
        g = torch.Generator().manual_seed(seed)
        i = torch.randint(n, (n_pairs,), generator=g)
        j = (i + torch.randint(1, n, (n_pairs,), generator=g)) % n  # uniform over j != i
        d = torch.cat([_distance(net, x[a], x[b], device) for a, b in zip(i.split(BATCH), j.split(BATCH),
                                                                         strict=True)])  # (n_pairs,)
        return {"lpips": Metric.of(d.mean().item(), LPIPS_NET, std=d.std().item(), what="LPIPS")}

    return guarded(("lpips",), LPIPS_NET, compute)


@torch.inference_mode()
def _distance(net: nn.Module, a: Tensor, b: Tensor, device: torch.device | str) -> Tensor:
    x = torch.cat([a, b]).to(device, torch.float32)  # (2P, C, H, W)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if min(x.shape[-2:]) < MIN_SIDE:
        scale = MIN_SIDE / min(x.shape[-2:])  # keep the aspect ratio; the short side becomes MIN_SIDE
        size = tuple(math.ceil(s * scale) for s in x.shape[-2:])
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    a, b = x.chunk(2)
    return net(a, b, normalize=True).flatten().cpu()  # normalize: [0, 1] -> [-1, 1]
