"""Device selection: ``auto`` picks CUDA when present, so one config runs on a laptop and on a GPU node."""

from __future__ import annotations

import torch

from ebm.config import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device={name!r} is not a torch device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name!r} asked for but no CUDA device is visible; use device=auto or cpu")
    return device
