"""Image disturbances of increasing strength, to check that a sample metric grows with them.

Heusel et al. (2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
Sec. 3 and App. A.1) validate FID by disturbing real images with Gaussian noise, Gaussian blur, implanted
black rectangles, swirl, salt-and-pepper noise and by mixing in images of another data set, each at rising
levels: a metric worth ranking models by must get monotonically worse along every such ladder.
``benchmarks/metric_ladder.py`` prints that table for this project's metrics.

Every function takes images x (N, C, H, W) in [0, 1], a level, and a torch Generator, and returns new
images (N, C, H, W) in [0, 1]; level 0 returns x unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_noise(x: Tensor, sigma: float, gen: torch.Generator) -> Tensor:
    """x + sigma * eps, eps ~ N(0, I), clipped to [0, 1] (pixel units)."""
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)


def gaussian_blur(x: Tensor, sigma: float, gen: torch.Generator | None = None) -> Tensor:
    """Separable Gaussian blur with std ``sigma`` pixels, kernel +-3 sigma, reflected borders."""
    if sigma <= 0:
        return x.clone()
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()  # (2r + 1,)
    c = x.shape[1]
    pad = F.pad(x, (radius, radius, radius, radius), mode="reflect")  # (N, C, H + 2r, W + 2r)
    out = F.conv2d(pad, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along W
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along H: (N, C, H, W)


def black_rectangles(x: Tensor, size: int, gen: torch.Generator) -> Tensor:
    """One black ``size`` x ``size`` square per image at a uniformly drawn position (Heusel et al.'s implanted
    rectangles, one per image)."""
    out = x.clone()
    if size <= 0:
        return out
    n, _, h, w = x.shape
    size = min(size, h, w)
    top = torch.randint(0, h - size + 1, (n,), generator=gen)
    left = torch.randint(0, w - size + 1, (n,), generator=gen)
    for i in range(n):
        out[i, :, top[i]:top[i] + size, left[i]:left[i] + size] = 0.0
    return out


def swirl(x: Tensor, strength: float, gen: torch.Generator | None = None,
          radius: float | None = None) -> Tensor:
    """scikit-image's swirl about the image centre: the pixel at distance rho and angle phi is read from
    angle phi + strength * exp(-rho / (radius * ln 2 / 5)); ``radius`` defaults to the image width.
    Bilinear resampling, zeros outside the image."""
    if strength == 0:
        return x.clone()
    n, _, h, w = x.shape
    radius = float(radius or w)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    cy, cx = (h - 1) / 2, (w - 1) / 2
    rho = torch.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)  # (H, W)
    theta = strength * torch.exp(-rho / (radius / 5 * math.log(2))) + torch.atan2(ys - cy, xs - cx)
    src_x, src_y = cx + rho * torch.cos(theta), cy + rho * torch.sin(theta)
    grid = torch.stack([2 * src_x / (w - 1) - 1, 2 * src_y / (h - 1) - 1], dim=-1)  # (H, W, 2) in [-1, 1]
    return F.grid_sample(x, grid.expand(n, h, w, 2), mode="bilinear", padding_mode="zeros",
                         align_corners=True)


def salt_and_pepper(x: Tensor, p: float, gen: torch.Generator) -> Tensor:
    """A fraction ``p`` of pixel positions set to 0 or 1 (half each), the same in every channel."""
    n, _, h, w = x.shape
    u = torch.rand(n, 1, h, w, generator=gen)  # (N, 1, H, W)
    salt = torch.rand(n, 1, h, w, generator=gen) < 0.5
    hit = u < p
    out = torch.where(hit & salt, torch.ones_like(x), x)
    return torch.where(hit & ~salt, torch.zeros_like(x), out)


def mix_in(x: Tensor, fraction: float, gen: torch.Generator, other: Tensor) -> Tensor:
    """A fraction of the images replaced by images of another data set ``other`` (M, C, H, W), the same
    shape (Heusel et al.'s ImageNet images mixed into CelebA)."""
    n = len(x)
    k = int(round(fraction * n))
    out = x.clone()
    if k == 0:
        return out
    where = torch.randperm(n, generator=gen)[:k]
    pick = torch.randint(len(other), (k,), generator=gen)
    out[where] = other[pick].to(x.dtype)
    return out


def collapse(x: Tensor, fraction: float, gen: torch.Generator) -> Tensor:
    """Mode collapse: a ``fraction`` of the N images' diversity lost, i.e. max(1, round((1 - fraction) N)) of
    them (drawn at random) repeated in turn to fill N; 1.0 is one image N times. Not in Heusel et al.'s list:
    it is what a sampler stuck on a few patterns draws, which a metric of sample quality must also see."""
    n = len(x)
    keep = max(1, round((1 - fraction) * n))
    if keep >= n:
        return x.clone()
    pick = torch.randperm(n, generator=gen)[:keep]
    return x[pick[torch.arange(n) % keep]].clone()


def resize_to(x: Tensor, shape: tuple[int, int, int]) -> Tensor:
    """Images (N, C', H', W') as (N, C, H, W): bilinear resize, channels averaged or repeated."""
    c, h, w = shape
    if x.shape[1] != c:
        x = x.mean(1, keepdim=True) if c == 1 else x.mean(1, keepdim=True).expand(-1, c, -1, -1)
    if tuple(x.shape[2:]) != (h, w):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=x.shape[2] > h)
    return x.clamp(0.0, 1.0).contiguous()


def plot_round_trip(x: Tensor, scale: float = 2.6, per_figure: int = 100) -> Tensor:
    """Images shown in a matplotlib figure and cut back to their size: a grid of ``per_figure`` images drawn
    with ``imshow`` (bilinear) at ``scale`` screen pixels per image pixel, rendered, resampled to the grid's
    size with an antialiased filter and cut into cells. A person sees the same digits; the strokes come back
    slightly smoothed, as in a sample grid copied out of a paper's figure (the cross-kind order of
    ``benchmarks/metric_ladder.py``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, c, h, w = x.shape
    cols = max(1, math.isqrt(per_figure))
    out = []
    for chunk in x.split(per_figure):
        rows = math.ceil(len(chunk) / cols)
        grid = torch.zeros(c, rows * h, cols * w)
        for i, im in enumerate(chunk):
            r, q = divmod(i, cols)
            grid[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = im
        hw = (rows * h * scale, cols * w * scale)  # screen pixels
        fig = plt.figure(figsize=(hw[1] / 100, hw[0] / 100), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
        ax.axis("off")
        shown = grid.permute(1, 2, 0).numpy() if c == 3 else grid[0].numpy()
        ax.imshow(shown, cmap="gray", vmin=0, vmax=1, interpolation="bilinear", aspect="auto")
        fig.canvas.draw()
        rgba = torch.from_numpy(np.asarray(fig.canvas.buffer_rgba()).copy()).float() / 255  # (H', W', 4)
        plt.close(fig)
        screen = rgba[..., :3].permute(2, 0, 1)  # (3, H', W')
        screen = screen.mean(0, keepdim=True) if c == 1 else screen
        back = F.interpolate(screen[None], size=(rows * h, cols * w), mode="bilinear", align_corners=False,
                             antialias=True)[0]  # (C, rows*h, cols*w)
        for i in range(len(chunk)):
            r, q = divmod(i, cols)
            out.append(back[:, r * h:(r + 1) * h, q * w:(q + 1) * w])
    return torch.stack(out).clamp(0.0, 1.0).contiguous()
