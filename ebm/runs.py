"""What a training run is, and model kind -> run class, so the CLI and the Ray trainables drive every kind
the same way."""

from __future__ import annotations

import importlib
import math
from typing import Protocol

import torch
from torch import Tensor, nn

from ebm.checkpoint import CheckpointError, load_checkpoint
from ebm.config import KINDS, ConfigError, load_config
from ebm.strict import parse_override, replace


class Run(Protocol):
    """A training run as its drivers see it; ``RBMRun`` and ``ConvEBMRun`` implement it.

    ``status`` is ``ok`` or ``diverged``. A run decides divergence itself, in ``train_epoch``: parameters or
    training signals that stopped being finite, or an error raised because they did. A diverged run
    reports that epoch with ``status: diverged`` and trains no further.
    """

    cfg: object
    epoch: int
    status: str

    def train_epoch(self) -> dict: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...

    def sample(self, n: int) -> Tensor: ...

    def is_finite(self) -> bool: ...


def finite_parameters(model: nn.Module) -> bool:
    """Whether every floating-point parameter of ``model`` is finite (its weights only, not its buffers)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters() if p.is_floating_point())


def finite_signals(metrics: dict) -> bool:
    """Whether every numeric ``train/`` metric is finite."""
    return all(math.isfinite(v) for k,
               v in metrics.items() if k.startswith("train/") and isinstance(v, int | float))


def run_class(kind: str):
    """The run class of a model kind, named by its config class (``ebm.config.KINDS``)."""
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}; choose {' or '.join(sorted(KINDS))}")
    module, name = KINDS[kind].RUN.split(":")
    return getattr(importlib.import_module(module), name)


def build_run(cfg):
    return run_class(cfg.kind)(cfg)


def restore_run(path: str, overrides: list[str] | None = None):
    """Rebuild a run from a checkpoint: its saved config (plus ``overrides``, e.g. data.root), then its
    state."""
    state = load_checkpoint(path)
    try:
        cfg = load_config(None, None, base=state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: saved config does not load ({e})") from None
    for item in overrides or []:  # a bad override is the command line's, not the checkpoint's
        key, value = parse_override(item)
        cfg = replace(cfg, key, value, "--set")
    run = build_run(cfg)
    try:
        run.load_state_dict(state)
    except CheckpointError as e:  # one this version refuses, e.g. written by an older one
        raise CheckpointError(f"{path}: {e}") from None
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path} does not match its own config ({reason}); it is corrupt") from None
    return run
