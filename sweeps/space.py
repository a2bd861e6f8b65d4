"""A sweep file's ``space`` entries -> :class:`Domain` objects whose values were each checked once. No Ray
here.

Every grid or choice value, and both bounds of a sampled range, is read against the base config's field for
its key (:func:`ebm.strict.replace`: its type, its section's checks), so a value that would make a bad run
fails here, in the driver, with one line; ``sweeps.tuner`` then only turns domains into Tune's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ebm.strict import ConfigError, get, keys, known, plain, replace

DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
UNSWEEPABLE = ("kind", "data.name", "data.root")  # one data set and one model kind per sweep
SHAPE = ("one of {grid: [...]}, {choice: [...]}, {uniform: [low, high]}, {loguniform: [low, high]}, "
         "{randint: [low, high]}")


@dataclass(frozen=True)
class Domain:
    kind: str
    """One of ``DOMAINS``."""
    args: tuple
    """grid/choice: the values; uniform/loguniform/randint: (low, high), randint's high excluded."""

    def __str__(self) -> str:
        return f"{self.kind}{list(self.args)}"


def domain(key: str, spec: Any, config, where: str) -> Domain:
    """The space entry ``key: spec`` of a sweep whose typed base config is ``config``."""
    known(key, keys(type(config)), f"{where}: space", what="config key")
    if key == "seed":
        raise ConfigError(f"{where}: space.seed: list repeated seeds under seeds: [...] instead")
    if key in UNSWEEPABLE:
        raise ConfigError(f"{where}: space.{key} cannot be swept; run the sweep once per value (--set "
                          f"{key}=)")
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ConfigError(f"{where}: space.{key}={spec!r} must be {SHAPE}")
    ((kind, args),) = spec.items()
    known(str(kind), DOMAINS, f"{where}: space.{key}", what="domain")
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: space.{key}.{kind} must be a non-empty list, e.g. {kind}: [1, 2]")
    here = f"{where}: space.{key}"
    if kind in ("grid", "choice"):
        return Domain(kind, tuple(_value(config, key, v, here) for v in args))
    if len(args) != 2 or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        raise ConfigError(f"{here}.{kind}={args!r} must be [low, high] numbers")
    low, high = args
    if not low < high:
        raise ConfigError(f"{here}.{kind}={args!r}: low must be below high")
    base_value = get(config, key)
    if kind == "randint":
        if not (isinstance(base_value, int) and not isinstance(base_value, bool)
                and isinstance(low, int) and isinstance(high, int)):
            raise ConfigError(f"{here}: randint needs an int key and int bounds (high excluded); use uniform")
        _value(config, key, low, here)
        _value(config, key, high - 1, here)
        return Domain(kind, (low, high))
    if not isinstance(base_value, float):
        raise ConfigError(f"{here}: {kind} draws floats but {key} is {type(base_value).__name__}; "
                          f"use grid or choice (or randint for ints)")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{here}.loguniform={args!r}: low must be > 0")
    return Domain(kind, tuple(_value(config, key, float(v), here) for v in (low, high)))


def _value(config, key: str, value: Any, where: str) -> Any:
    """``value`` read as ``key``'s field reads it (e.g. 1 -> 1.0 for a float) and checked by its section."""
    return plain(get(replace(config, key, value, where), key))
