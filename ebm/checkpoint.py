"""Checkpoint I/O shared by every run kind: atomic writes, safe loads, one-line errors."""

from __future__ import annotations

import os
import tempfile

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, corrupt or not ours; the message is one line."""


def save_checkpoint(state: dict, path: str) -> None:
    """Write ``state`` to ``path`` atomically: a crash mid-write leaves the previous file intact."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path: str, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors and plain data only: no pickled code)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path} is not a readable checkpoint ({reason}); "
                              f"point to a checkpoint.pt written by 'python -m ebm train'") from None
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(f"{path} is not a checkpoint of this tool (no config/model inside); "
                              f"point to a checkpoint.pt written by 'python -m ebm train'")
    return state
