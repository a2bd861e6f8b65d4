"""Image sets from files, as (N, C, H, W) float32 in [0, 1], for ``python -m ebm score``.

Accepted: a folder of PNGs (one image each, sorted by name), one PNG holding a sample grid (cells of the data
set's image size or ``cell``, separated by ``padding`` pixels; inferred when not given, trying torchvision's
``save_image`` default of 2 first), one PNG of exactly one image, and arrays of shape (N, C, H, W) with values
in [0, 1] in ``.npy``, ``.npz`` (one array, or the one named by ``key``) or ``.pt`` (a tensor, or a dict
holding one) files. Anything else raises :class:`SampleFileError`, whose message is one line saying what is
wrong and what to do instead.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

PNG = (".png",)
ARRAY_KEYS = ("samples", "images", "x", "arr_0")  # tried in order when an .npz/.pt holds several arrays
PADDINGS = (2, 0, 1, 3, 4, 5, 6, 8, 10)  # torchvision's save_image default first


class SampleFileError(ValueError):
    """An image set that cannot be read as (N, C, H, W) in [0, 1]; the message is one line."""


def load_samples(path: str, shape: tuple[int, int, int], cell: tuple[int, int] | None = None,
                 padding: int | None = None, key: str | None = None,
                 count: int | None = None) -> tuple[Tensor, str]:
    """The images at ``path`` as (N, C, H, W) in [0, 1], checked against the data set's ``shape`` (C, H, W),
    and one line saying how they were read."""
    if not os.path.exists(path):
        raise SampleFileError(f"{path} not found; pass a folder of PNGs, a sample-grid PNG or a "
                              ".npy/.npz/.pt file")
    if os.path.isdir(path):
        x = load_image_folder(path, shape)
        return x, f"folder of {len(x)} PNGs"
    ext = os.path.splitext(path)[1].lower()
    if ext in PNG:
        return load_png(path, shape, cell, padding, count)
    if ext in (".npy", ".npz", ".pt", ".pth"):
        x = _check_array(_read_array(path, ext, key), path, shape)
        return x, f"{ext} array of {len(x)} images"
    raise SampleFileError(f"{path}: cannot read {ext or 'a file without extension'}; pass a folder of PNGs, "
                          "a sample-grid .png, or (N, C, H, W) arrays in [0, 1] as .npy, .npz or .pt")


def load_image_folder(folder: str, shape: tuple[int, int, int]) -> Tensor:
    """Every ``*.png`` in ``folder`` (sorted by name) as (N, C, H, W) in [0, 1]; all must be H x W."""
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(PNG))
    if not names:
        raise SampleFileError(f"{folder} holds no .png files; put the images there as PNGs, one per file")
    images = []
    c, h, w = shape
    for n in names:
        im = _read_png(os.path.join(folder, n), c)  # (C, H', W')
        if tuple(im.shape[1:]) != (h, w):
            raise SampleFileError(f"{os.path.join(folder, n)} is {im.shape[2]}x{im.shape[1]} pixels, the "
                                  f"data set's images are {w}x{h}; resize them, or pick the --data whose "
                                  "images are that size")
        images.append(im)
    return torch.stack(images)


def load_png(path: str, shape: tuple[int, int, int], cell: tuple[int, int] | None = None,
             padding: int | None = None, count: int | None = None) -> tuple[Tensor, str]:
    """One PNG: a single image when it is the data set's size (and no ``cell`` is given), else a grid, whose
    first ``count`` cells are the images (default: every cell).

    make_grid leaves the cells after the last image at the padding colour, but a collapsed EBM sample can be
    all black too, and dropping it would flatter the model: so cells are never dropped unless ``count`` says
    so, and trailing cells of the padding colour are reported."""
    c, h, w = shape
    im = _read_png(path, c)  # (C, H', W')
    if cell is None and padding is None and tuple(im.shape[1:]) == (h, w):
        return im[None], "one image"
    ch, cw = cell or (h, w)
    if cell is not None and (ch, cw) != (h, w):
        raise SampleFileError(f"--cell {ch} {cw} differs from the data set's {h}x{w} images; score them "
                              "against a data set of that size, or resize the samples")
    p = padding if padding is not None else infer_padding(im, ch, cw, path)
    cells, rows, cols = split_grid(im, ch, cw, p, path)
    what = f"grid of {rows}x{cols} cells of {ch}x{cw} px, padding {p}"
    if count is not None:
        if not 1 <= count <= len(cells):
            raise SampleFileError(f"--count {count}: {path} holds {len(cells)} cells ({rows}x{cols}); "
                                  f"pass 1..{len(cells)}")
        return cells[:count], f"{what}: the first {count} images"
    blank = _trailing_blank(cells, im, p)
    note = (f" ({blank} trailing cell{'s' * (blank != 1)} entirely the padding colour, kept: empty cells or "
            "black samples; --count N scores only the first N)") if blank else ""
    return cells, f"{what}: {len(cells)} images{note}"


def infer_padding(im: Tensor, ch: int, cw: int, path: str = "grid") -> int:
    """The padding p for which the grid divides into ch x cw cells and every padding strip is one flat colour;
    the first of :data:`PADDINGS` that fits."""
    H, W = im.shape[1:]
    fits = [p for p in PADDINGS if (H - p) % (ch + p) == 0 and (W - p) % (cw + p) == 0 and H > p and W > p]
    flat = [p for p in fits if _flat_strips(im, ch, cw, p)]
    if not flat:
        raise SampleFileError(f"{path} ({W}x{H} px) does not divide into {cw}x{ch} cells with any padding of "
                              f"{', '.join(map(str, PADDINGS))} px; pass --cell H W and --padding P")
    return flat[0]


def split_grid(im: Tensor, ch: int, cw: int, p: int, path: str = "grid") -> tuple[Tensor, int, int]:
    """Cells (rows * cols, C, ch, cw) of a grid image (C, H, W) laid out as torchvision's make_grid does."""
    H, W = im.shape[1:]
    if (H - p) % (ch + p) or (W - p) % (cw + p) or H <= p or W <= p:
        raise SampleFileError(f"{path} ({W}x{H} px) does not divide into {cw}x{ch} cells with padding {p}; "
                              f"check --cell and --padding")
    rows, cols = (H - p) // (ch + p), (W - p) // (cw + p)
    cells = [im[:, p + r * (ch + p): p + r * (ch + p) + ch, p + k * (cw + p): p + k * (cw + p) + cw]
             for r in range(rows) for k in range(cols)]
    return torch.stack(cells), rows, cols


# --------------------------------------------------------------------------------------------------


def _read_png(path: str, channels: int) -> Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0]
        raise SampleFileError(f"{path} is not a readable PNG ({reason}); re-save it as PNG") from None
    return torch.from_numpy(a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy())  # (C, H, W)


def _flat_strips(im: Tensor, ch: int, cw: int, p: int) -> bool:
    if p == 0:
        return True
    H, W = im.shape[1:]
    rows = torch.zeros(H, dtype=torch.bool)
    cols = torch.zeros(W, dtype=torch.bool)
    for y in range(0, H, ch + p):
        rows[y:y + p] = True
    for x in range(0, W, cw + p):
        cols[x:x + p] = True
    strip = torch.cat([im[:, rows, :].flatten(), im[:, :, cols].flatten()])
    return bool((strip == strip[0]).all())


def _trailing_blank(cells: Tensor, im: Tensor, p: int) -> int:
    """How many cells at the end are entirely the padding colour (0 without padding: no colour to compare)."""
    if p == 0:
        return 0
    pad = im[:, 0, 0].view(-1, 1, 1)  # (C, 1, 1) the padding colour
    n = len(cells)
    while n > 0 and bool((cells[n - 1] == pad).all()):
        n -= 1
    return len(cells) - n


def _read_array(path: str, ext: str, key: str | None):
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return _pick({k: z[k] for k in z.files}, path, key)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, ValueError, RuntimeError, EOFError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise SampleFileError(f"{path} could not be read ({reason}); save the array with np.save or "
                              "torch.save"
                              ) from None
    if isinstance(obj, dict):
        obj = _pick({k: v for k, v in obj.items() if isinstance(v, Tensor | np.ndarray)}, path, key)
    if not isinstance(obj, Tensor | np.ndarray):
        raise SampleFileError(f"{path} holds a {type(obj).__name__}, not a tensor; save an (N, C, H, W) "
                              "tensor")
    return obj


def _pick(arrays: dict, path: str, key: str | None):
    if key is not None:
        if key not in arrays:
            raise SampleFileError(f"{path} has no array {key!r}; it holds {', '.join(arrays) or 'none'}")
        return arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    for k in ARRAY_KEYS:
        if k in arrays:
            return arrays[k]
    raise SampleFileError(f"{path} holds several arrays ({', '.join(arrays) or 'none'}); name one with --key")


def _check_array(a, path: str, shape: tuple[int, int, int]) -> Tensor:
    x = torch.as_tensor(np.asarray(a) if isinstance(a, np.ndarray) else a)
    c, h, w = shape
    if x.ndim != 4:
        raise SampleFileError(f"{path} holds an array of shape {tuple(x.shape)}; save (N, C, H, W) = "
                              f"(N, {c}, {h}, {w})")
    if x.shape[1] != c and x.shape[-1] == c and tuple(x.shape[1:3]) == (h, w):
        raise SampleFileError(f"{path} is channels-last {tuple(x.shape)}; permute it to (N, C, H, W), e.g. "
                              f"x.transpose(0, 3, 1, 2)")
    if tuple(x.shape[1:]) != shape:
        raise SampleFileError(f"{path} holds images of shape {tuple(x.shape[1:])}; the data set's are "
                              f"{shape}: pick the --data of that shape or resize the samples")
    if x.is_complex() or x.dtype == torch.bool:
        raise SampleFileError(f"{path} holds {x.dtype} values; save real numbers in [0, 1]")
    x = x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise SampleFileError(f"{path} holds non-finite values; drop or fix those images")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise SampleFileError(f"{path} has values in [{lo:.4g}, {hi:.4g}], not [0, 1]; scale them (e.g. "
                              "uint8 / 255, or (x + 1) / 2 for [-1, 1])")
    return x.contiguous()
