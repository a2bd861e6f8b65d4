"""Model kind -> run class, so the CLI and the Ray trainables build every kind the same way."""

from __future__ import annotations

from ebm.checkpoint import CheckpointError, load_checkpoint
from ebm.config import ConfigError, from_dict, load_config


def run_class(kind: str):
    if kind == "rbm":
        from ebm.rbm_train import RBMRun

        return RBMRun
    if kind == "conv_ebm":
        from ebm.conv_train import ConvEBMRun

        return ConvEBMRun
    raise ConfigError(f"unknown kind {kind!r}; choose rbm or conv_ebm")


def build_run(cfg):
    return run_class(cfg.kind)(cfg)


def restore_run(path: str, overrides: list[str] | None = None):
    """Rebuild a run from a checkpoint: its saved config (plus ``overrides``, e.g. data.root), then its state."""
    state = load_checkpoint(path)
    try:
        cfg = load_config(None, overrides, base=state["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path}: saved config does not load ({e})") from None
    run = build_run(cfg)
    try:
        run.load_state_dict(state)
    except (KeyError, RuntimeError, ValueError, TypeError) as e:
        reason = (str(e).splitlines() or [type(e).__name__])[0][:160]
        raise CheckpointError(f"{path} does not match its own config ({reason}); it is corrupt") from None
    return run


def config_from_checkpoint(path: str):
    return from_dict(load_checkpoint(path)["config"], source=path)
