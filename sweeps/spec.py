"""Sweep files (``configs/sweeps/NAME.yaml``) -> a typed, validated :class:`Sweep`. No Ray here.

A sweep file::

    description: one line, shown by --list
    base: configs/rbm_mnist_cd1.yaml      # the single-run config every trial starts from
    set: {eval.every: 1}                  # dotted overrides of the base config
    space:                                # dotted keys of the base config -> one domain each
      sampler.k: {grid: [1, 5, 20, 100]}
      train.lr: {loguniform: [1.0e-3, 1.0e-1]}
    seeds: [0, 1, 2]                      # every configuration runs once per seed
    metric: eval/log_likelihood
    mode: max
    scheduler: {type: asha, grace_period: 1, max_t: 0, reduction_factor: 3}
    search: {type: optuna, max_concurrent: 2}
    resources: {cpu: 1, gpu: 0}
    presets:                              # smoke / cpu / full override any of the keys above
      smoke: {set: {train.epochs: 2}, seeds: [0]}

Everything is checked before Ray starts: an unknown key fails with a close match, every space entry must
name a key of the base config, and every grid value must make a valid run config. Errors are one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import itertools
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from ebm.config import (
    KINDS,
    ConfigError,
    flatten,
    from_dict,
    parse_override,
    read_yaml,
    set_dotted,
    to_dict,
    unflatten,
)
from ebm.metric_names import reported

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _configs_dir() -> str:
    """The checkout's configs/, else the copy a non-editable install ships as the package ebm_cd_study_configs."""
    here = os.path.join(REPO_ROOT, "configs")
    if os.path.isdir(os.path.join(here, "sweeps")):
        return here
    import importlib.util

    spec = importlib.util.find_spec("ebm_cd_study_configs")
    return os.path.dirname(spec.origin) if spec and spec.origin else here


CONFIGS_DIR = _configs_dir()
SWEEPS_DIR = os.path.join(CONFIGS_DIR, "sweeps")
PRESETS = ("smoke", "cpu", "full", "paper")
DOMAINS = ("grid", "choice", "uniform", "loguniform", "randint")
METRIC_GROUPS = ("train/", "sampler/", "eval/", "final/")
UNSWEEPABLE = ("kind", "data.name", "data.root")  # one data set and one model kind per sweep


class SweepError(ValueError):
    """A bad sweep name, file or override; the message is one line."""


# --------------------------------------------------------------------------------------------------
# The typed pieces


@dataclass
class SchedulerSpec:
    type: Literal["none", "fifo", "asha"] = "none"
    """``asha`` stops weak trials at rungs (Li et al. 2020, ASHA); ``none``/``fifo`` run all to the end."""
    time_attr: str = "training_iteration"
    """Result field measuring progress; trainables report once per epoch, so training_iteration = epochs."""
    grace_period: int = 1
    """ASHA: reports a trial gets before it can be stopped."""
    max_t: int = 0
    """ASHA: the most reports a trial gets (0 = train.epochs)."""
    reduction_factor: float = 3.0
    """ASHA: about 1/reduction_factor of the trials reaching a rung go on past it."""


@dataclass
class SearchSpec:
    type: Literal["none", "grid", "optuna"] = "grid"
    """``grid``: every grid point (ablations); ``none``: Tune's variant generator (grid x ``num_samples``
    random draws); ``optuna``: TPE suggestions (Akiba et al. 2019) behind a ConcurrencyLimiter."""
    max_concurrent: int = 0
    """Optuna: trials in flight at once (0 = as many as the cluster's CPUs fit)."""
    seed: int = 0
    """Seed of the random draws and of Optuna's sampler."""


@dataclass
class ResourcesSpec:
    cpu: float = 1.0
    """CPU cores per trial; the trial's torch thread count."""
    gpu: float = 0.0
    """GPUs per trial (fractions share a device)."""


@dataclass(frozen=True)
class Domain:
    kind: str
    """One of ``DOMAINS``."""
    args: tuple
    """grid/choice: the values; uniform/loguniform/randint: (low, high), randint's high excluded."""

    def __str__(self) -> str:
        return f"{self.kind}{list(self.args)}"


@dataclass
class Sweep:
    """A sweep file with one preset and the command line's overrides applied."""

    name: str
    """Sweep name (the file's stem); also the default experiment folder under the storage path."""
    path: str
    """The sweep file."""
    preset: str
    """Preset applied: smoke, cpu or full."""
    description: str = ""
    """One line for ``--list``."""
    base: str | None = None
    """Single-run config every trial starts from (None: the kind's defaults plus ``set``)."""
    config: dict = field(default_factory=dict)
    """Flat (dotted-key) resolved base config shared by every trial, before the space is applied."""
    space: dict = field(default_factory=dict)
    """Dotted config key -> :class:`Domain`."""
    seeds: list = field(default_factory=lambda: [0])
    """Every configuration runs once per seed (the ``seed`` config key)."""
    num_samples: int = 1
    """Grid/none: repeats of the whole grid with fresh random draws; optuna: number of trials."""
    metric: str = "eval/log_likelihood"
    """Result the scheduler, the search and the best-configurations table rank by."""
    mode: Literal["max", "min"] = "max"
    """Whether larger or smaller ``metric`` is better."""
    rank_metric: str = ""
    """What the final table and the analysis rank by, in the same ``mode`` ("" = ``metric``): e.g.
    ``final/log_likelihood`` (the last model, evaluated as a paper would) while ASHA and the search steer
    by the per-epoch ``eval/log_likelihood``. Trials ASHA stopped have no final value and rank last."""
    scheduler: SchedulerSpec = field(default_factory=SchedulerSpec)
    search: SearchSpec = field(default_factory=SearchSpec)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    max_failures: int = 2
    """Times a trial whose worker died is retried from its last checkpoint."""
    keep_checkpoints: int = 2
    """Checkpoints kept per trial (the newest)."""
    sample_every: int = 0
    """Write a sample grid every this many epochs (0 = only at the end)."""
    caveat: str = ""
    """Where this preset cannot answer its question at its scale, one sentence saying so and why; the report
    puts it first ("" = none)."""

    @property
    def kind(self) -> str:
        return self.config["kind"]

    @property
    def epochs(self) -> int:
        return int(self.config["train.epochs"])

    @property
    def ranked_by(self) -> str:
        return self.rank_metric or self.metric

    def group_keys(self) -> list[str]:
        """Keys that tell configurations apart; seeds of one configuration form a group."""
        return list(self.space)

    def grid(self) -> list[dict]:
        """Every grid point (without seeds): grid domains only; sampled domains stay as they are."""
        keys = [k for k, d in self.space.items() if d.kind == "grid"]
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*(self.space[k].args for k in keys))]

    def n_trials(self) -> int:
        if self.search.type == "optuna":
            return self.num_samples
        return self.num_samples * len(self.grid()) * len(self.seeds)

    def settings(self) -> dict:
        """What the sweep varies and measures, resolved (preset and overrides applied), as plain YAML values:
        recorded beside the results so the analysis never depends on a sweep file that may change later."""
        s = self.scheduler
        return {
            "description": self.description, "kind": self.kind, "epochs": self.epochs,
            "metric": self.metric, "rank_metric": self.ranked_by, "mode": self.mode, "seeds": list(self.seeds),
            "num_samples": self.num_samples,
            "space": {k: {d.kind: list(d.args)} for k, d in self.space.items()},
            "scheduler": {"type": s.type, "max_t": (s.max_t or self.epochs) if s.type == "asha" else self.epochs},
            "search": self.search.type, "resources": {"cpu": self.resources.cpu, "gpu": self.resources.gpu},
            "caveat": self.caveat,
        }


# File keys that are not Sweep fields, and Sweep fields that are not file keys.
_FILE_KEYS = ("description", "base", "set", "space", "seeds", "num_samples", "metric", "rank_metric", "mode",
              "scheduler",
              "search", "resources", "max_failures", "keep_checkpoints", "sample_every", "caveat", "presets")
_PRESET_KEYS = ("set", "space", "seeds", "num_samples", "scheduler", "search", "resources", "max_failures",
                "keep_checkpoints", "sample_every", "caveat")
_SECTIONS = {"scheduler": SchedulerSpec, "search": SearchSpec, "resources": ResourcesSpec}


# --------------------------------------------------------------------------------------------------
# Finding sweeps


def available() -> list[str]:
    paths = glob.glob(os.path.join(SWEEPS_DIR, "*.yaml"))
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in paths)


def describe_all() -> list[tuple[str, str]]:
    """(name, description) of every shipped sweep; a file that does not read says so instead."""
    out = []
    for name in available():
        try:
            raw = _read(os.path.join(SWEEPS_DIR, f"{name}.yaml"))
            out.append((name, str(raw.get("description", "")).strip()))
        except SweepError as e:
            out.append((name, f"(unreadable: {e})"))
    return out


def sweep_path(name: str) -> str:
    """A sweep name (``configs/sweeps/NAME.yaml``) or the path of a sweep file."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        for path in (name, os.path.join(REPO_ROOT, name)):  # as given, else from the repository root
            if os.path.isfile(path):
                return path
        raise SweepError(f"sweep file not found: {name}")
    path = os.path.join(SWEEPS_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        names = available()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SweepError(f"unknown sweep {name!r}; {hint}available: {', '.join(names) or '(none)'}")
    return path


# --------------------------------------------------------------------------------------------------
# Loading


def load_sweep(name: str, preset: str = "cpu", overrides: list[str] | tuple = ()) -> Sweep:
    """Read, check and resolve a sweep: the file, then ``preset``, then ``overrides`` (``key=value``)."""
    path = sweep_path(name)
    where = os.path.relpath(path, REPO_ROOT) if path.startswith(REPO_ROOT) else path
    raw = _read(path)
    _known_keys(raw, _FILE_KEYS, where)
    presets = _mapping(raw.get("presets") or {}, f"{where}: presets")
    for pname, praw in presets.items():
        _known(pname, PRESETS, f"{where}: presets", what="preset")
        praw = _mapping(praw or {}, f"{where}: presets.{pname}")
        _known_keys(praw, _PRESET_KEYS, f"{where}: presets.{pname}")
        for section, cls in _SECTIONS.items():
            if section in praw:
                _known_keys(_mapping(praw[section], f"{where}: presets.{pname}.{section}"),
                            [f.name for f in dataclasses.fields(cls)], f"{where}: presets.{pname}.{section}")
    if preset not in PRESETS:
        _known(preset, PRESETS, "--preset", what="preset")
    merged = _apply_preset(raw, presets.get(preset) or {}, where)
    src = f"{where} (preset {preset})" if presets.get(preset) else where

    cli = [parse_override(item) for item in overrides]
    seeds = _seeds(merged.get("seeds", [0]), src)
    for key, value in cli:
        if key == "seed":  # --set seed=N runs that one seed
            seeds = _seeds([value], "--set seed")
    cli = [(k, v) for k, v in cli if k != "seed"]
    base = _base_path(merged.get("base"), path, where)
    config = _resolve_config(base, _flat_set(merged.get("set") or {}, src), cli, src)

    space = {}
    for key, spec in _mapping(merged.get("space") or {}, f"{src}: space").items():
        space[key] = _domain(key, spec, config, src)
    for key, _ in cli:
        if key in space:
            raise SweepError(f"--set {key}: {key} is swept by {where} ({space[key]}); drop it from --set "
                             f"or edit the sweep's space")

    sweep = Sweep(name=os.path.splitext(os.path.basename(path))[0], path=path, preset=preset,
                  description=str(merged.get("description", "")).strip(), base=base, config=config,
                  space=space, seeds=seeds)
    for key in ("num_samples", "max_failures", "keep_checkpoints", "sample_every"):
        if key in merged:
            setattr(sweep, key, _scalar(int, merged[key], f"{src}: {key}"))
    if "metric" in merged:
        sweep.metric = _scalar(str, merged["metric"], f"{src}: metric")
    if "rank_metric" in merged:
        sweep.rank_metric = _scalar(str, merged["rank_metric"], f"{src}: rank_metric")
    if "mode" in merged:
        sweep.mode = _scalar(Literal["max", "min"], merged["mode"], f"{src}: mode")
    if "caveat" in merged:
        sweep.caveat = " ".join(_scalar(str, merged["caveat"], f"{src}: caveat").split())
    for section, cls in _SECTIONS.items():
        if section in merged:
            setattr(sweep, section, _parse(cls, merged[section], f"{src}: {section}"))
    _check(sweep, src)
    return sweep


def _apply_preset(raw: dict, preset: dict, where: str) -> dict:
    out = {k: v for k, v in raw.items() if k != "presets"}
    for key, value in preset.items():
        if key == "set":
            out["set"] = {**_flat_set(raw.get("set") or {}, where), **_flat_set(value or {}, where)}
        elif key == "space":  # per key: replace the domain, or null to drop the key from the space
            space = dict(_mapping(raw.get("space") or {}, f"{where}: space"))
            for k, v in _mapping(value or {}, f"{where}: preset space").items():
                if v is None:
                    space.pop(k, None)
                else:
                    space[k] = v
            out["space"] = space
        elif key in _SECTIONS:
            out[key] = {**_mapping(raw.get(key) or {}, f"{where}: {key}"), **_mapping(value or {}, where)}
        else:
            out[key] = value
    return out


def _base_path(base: Any, sweep_file: str, where: str) -> str | None:
    if base is None:
        return None
    if not isinstance(base, str):
        raise SweepError(f"{where}: base must be a single-run config's path, e.g. configs/rbm_mnist_cd1.yaml")
    shipped = os.path.join(CONFIGS_DIR, base.removeprefix("configs/")) if base.startswith("configs/") else base
    for candidate in (os.path.join(REPO_ROOT, base), shipped, os.path.join(os.path.dirname(sweep_file), base), base):
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    raise SweepError(f"{where}: base config {base} not found (paths are relative to the repository root)")


def _resolve_config(base: str | None, sets: dict, cli: list[tuple[str, Any]], where: str) -> dict:
    """Base YAML + the sweep's ``set`` + ``--set`` -> flat, validated config dict."""
    try:
        raw = read_yaml(base) if base else {}
    except ConfigError as e:
        raise SweepError(str(e)) from None
    assignments = [(k, v, f"{where}: set") for k, v in sets.items()] + [(k, v, "--set") for k, v in cli]
    kind = raw.get("kind", "rbm")
    for key, value, _ in assignments:
        if key == "kind":
            kind = value
    if kind not in KINDS:
        raise SweepError(f"{where}: unknown kind {kind!r}; choose one of {', '.join(sorted(KINDS))}")
    keys = list(flatten(to_dict(KINDS[kind]())))
    for key, value, origin in assignments:
        _known(key, keys, origin, what="config key")
        set_dotted(raw, key, value)
    try:
        cfg = from_dict(raw, source=f"{where} (base {os.path.relpath(base, REPO_ROOT)})" if base else where)
    except ConfigError as e:
        raise SweepError(str(e)) from None
    return flatten(to_dict(cfg))


def _domain(key: str, spec: Any, config: dict, where: str) -> Domain:
    _known(key, list(config), f"{where}: space", what="config key")
    if key == "seed":
        raise SweepError(f"{where}: space.seed: list repeated seeds under seeds: [...] instead")
    if key in UNSWEEPABLE:
        raise SweepError(f"{where}: space.{key} cannot be swept; run the sweep once per value (--set {key}=)")
    shape = "one of {grid: [...]}, {choice: [...]}, {uniform: [low, high]}, {loguniform: [low, high]}, " \
            "{randint: [low, high]}"
    if not isinstance(spec, dict) or len(spec) != 1:
        raise SweepError(f"{where}: space.{key}={spec!r} must be {shape}")
    ((kind, args),) = spec.items()
    _known(str(kind), DOMAINS, f"{where}: space.{key}", what="domain")
    if not isinstance(args, list) or not args:
        raise SweepError(f"{where}: space.{key}.{kind} must be a non-empty list, e.g. {kind}: [1, 2]")
    here = f"{where}: space.{key}"
    if kind in ("grid", "choice"):
        return Domain(kind, tuple(_valid_value(config, key, v, here) for v in args))
    if len(args) != 2 or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        raise SweepError(f"{here}.{kind}={args!r} must be [low, high] numbers")
    low, high = args
    if not low < high:
        raise SweepError(f"{here}.{kind}={args!r}: low must be below high")
    base_value = config[key]
    if kind == "randint":
        if not (isinstance(base_value, int) and not isinstance(base_value, bool)
                and isinstance(low, int) and isinstance(high, int)):
            raise SweepError(f"{here}: randint needs an int key and int bounds (high excluded); use uniform")
        _valid_value(config, key, low, here)
        _valid_value(config, key, high - 1, here)
        return Domain(kind, (low, high))
    if not isinstance(base_value, float):
        raise SweepError(f"{here}: {kind} draws floats but {key} is {type(base_value).__name__}; "
                         f"use grid or choice (or randint for ints)")
    if kind == "loguniform" and low <= 0:
        raise SweepError(f"{here}.loguniform={args!r}: low must be > 0")
    return Domain(kind, tuple(_valid_value(config, key, float(v), here) for v in (low, high)))


def _valid_value(config: dict, key: str, value: Any, where: str) -> Any:
    """``value`` checked (and typed) by building the run config with it."""
    try:
        cfg = from_dict(unflatten({**config, key: value}), source=where)
    except ConfigError as e:
        raise SweepError(str(e)) from None
    return flatten(to_dict(cfg))[key]


def _check(s: Sweep, where: str) -> None:
    known = sorted(reported(s.config))
    for key, value in (("metric", s.metric), ("rank_metric", s.ranked_by)):
        if value not in known:
            close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)
            examples = ", ".join(m for m in known if m.startswith(("eval/", "final/")))[:200]
            hint = f"did you mean {close[0]}?" if close else f"{s.kind} runs with this config report e.g. {examples}"
            raise SweepError(f"{where}: {key}={value!r} is not a metric {s.kind} runs report; {hint}")
    for key, low in (("num_samples", 1), ("max_failures", 0), ("keep_checkpoints", 1), ("sample_every", 0)):
        if getattr(s, key) < low:
            raise SweepError(f"{where}: {key}={getattr(s, key)} must be >= {low}")
    r = s.resources
    if not (r.cpu > 0 and r.gpu >= 0):
        raise SweepError(f"{where}: resources cpu={r.cpu}, gpu={r.gpu}: need cpu > 0 and gpu >= 0")
    sch = s.scheduler
    if sch.type == "asha":
        sch.max_t = sch.max_t or s.epochs
        if sch.time_attr in ("training_iteration", "epoch") and sch.max_t > s.epochs:
            raise SweepError(f"{where}: scheduler.max_t={sch.max_t} exceeds train.epochs={s.epochs}; "
                             f"set max_t <= {s.epochs} (0 = train.epochs)")
        if not 1 <= sch.grace_period <= sch.max_t:
            raise SweepError(f"{where}: scheduler.grace_period={sch.grace_period} must be in "
                             f"[1, max_t={sch.max_t}]")
        if not sch.reduction_factor > 1:
            raise SweepError(f"{where}: scheduler.reduction_factor={sch.reduction_factor} must be > 1")
    sampled = [k for k, d in s.space.items() if d.kind != "grid"]
    if s.search.type == "grid" and sampled:
        raise SweepError(f"{where}: search.type grid runs grid points only, but space.{sampled[0]} is "
                         f"{s.space[sampled[0]].kind}; use search.type none (random draws) or optuna")
    if s.search.type == "optuna":
        grids = [k for k, d in s.space.items() if d.kind == "grid"]
        if grids:
            raise SweepError(f"{where}: Optuna cannot take grid domains (space.{grids[0]}); use choice")
        if len(s.seeds) > 1:
            raise SweepError(f"{where}: Optuna suggests one config per trial; give one seed (seeds: [0]) "
                             f"or repeat seeds in a grid sweep")
        if not s.space:
            raise SweepError(f"{where}: search.type optuna needs a space to search")
    if s.search.max_concurrent < 0:
        raise SweepError(f"{where}: search.max_concurrent={s.search.max_concurrent} must be >= 0")


# --------------------------------------------------------------------------------------------------
# Strict parsing helpers


def _read(path: str) -> dict:
    try:
        return read_yaml(path)
    except ConfigError as e:
        raise SweepError(str(e)) from None


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SweepError(f"{where} must be a mapping, got {value!r}")
    return value


def _flat_set(value: Any, where: str) -> dict:
    return flatten(_mapping(value, f"{where}: set"))


def _known(key: str, names: list[str] | tuple, where: str, what: str = "key") -> None:
    if key not in names:
        close = difflib.get_close_matches(str(key), [str(n) for n in names], n=1)
        hint = f"did you mean {close[0]}?" if close else f"choose from {', '.join(map(str, names))}"
        raise SweepError(f"{where}: unknown {what} {key!r}; {hint}")


def _known_keys(raw: dict, names: list[str] | tuple, where: str) -> None:
    for key in raw:
        _known(key, names, where)


def _seeds(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
        raise SweepError(f"{where}: seeds={value!r} must be a non-empty list of ints, e.g. [0, 1, 2]")
    if len(set(value)) != len(value):
        raise SweepError(f"{where}: seeds={value!r} repeats a seed")
    return list(value)


def _parse(cls: type, raw: Any, where: str):
    raw = _mapping(raw, where)
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        _known(key, names, where)
        kwargs[key] = _scalar(hints[key], value, f"{where}.{key}")
    return cls(**kwargs)


def _scalar(typ: Any, value: Any, where: str):
    if typing.get_origin(typ) is Literal:
        choices = typing.get_args(typ)
        if value not in choices:
            _known(str(value), choices, where, what="value")
        return value
    if typ is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if typ is float and isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value):
            return float(value)
    if typ is str and isinstance(value, str):
        return value
    raise SweepError(f"{where}={value!r} must be of type {getattr(typ, '__name__', typ)}")
