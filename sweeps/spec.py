"""Sweep files (``configs/sweeps/NAME.yaml``) -> a typed, validated :class:`Sweep`. No Ray here.

A sweep file::

    description: one line, shown by --list
    base: configs/rbm_mnist_cd1.yaml      # the single-run config every trial starts from
    set: {eval.every: 1}                  # dotted overrides of the base config
    space:                                # dotted keys of the base config -> one domain each
      sampler.k: {grid: [1, 5, 20, 100]}
      train.lr: {loguniform: [1.0e-3, 1.0e-1]}
    literature:                           # claims the report holds the run against (sweeps.literature)
      - {source: ..., claim: ..., better: {sampler.k: 20}, than: {sampler.k: 1}}
    seeds: [0, 1, 2]                      # every configuration runs once per seed
    metric: eval/log_likelihood
    mode: max
    scheduler: {type: asha, grace_period: 1, max_t: 0, reduction_factor: 3}
    search: {type: optuna, max_concurrent: 2}
    resources: {cpu: 1, gpu: 0}
    presets:                              # smoke / cpu / study / full / paper override the keys above
      smoke: {set: {train.epochs: 2}, seeds: [0]}

Everything is checked before Ray starts, by the loader run configs use (:mod:`ebm.strict`), with its one error
type: an unknown key fails with a close match, every space entry must name a key of the base config, and every
grid value must make a valid run config (``sweeps.space``). The base config stays typed
(``Sweep.base_config``) until ``sweeps.tuner.param_space`` flattens it for Tune. Errors are one line.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import os
from typing import Any

from ebm.config import from_dict
from ebm.metric_names import direction, reported
from ebm.strict import ConfigError, build, flatten, known, parse_override, read_yaml, replace
from sweeps.literature import grids_of, read_claims
from sweeps.space import Domain, domain
from sweeps.sweep import SECTIONS, Sweep, SweepSettings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _configs_dir() -> str:
    """The checkout's configs/, else the copy a non-editable install ships as the package
    ebm_cd_study_configs."""
    here = os.path.join(REPO_ROOT, "configs")
    if os.path.isdir(os.path.join(here, "sweeps")):
        return here
    import importlib.util

    spec = importlib.util.find_spec("ebm_cd_study_configs")
    return os.path.dirname(spec.origin) if spec and spec.origin else here


CONFIGS_DIR = _configs_dir()
SWEEPS_DIR = os.path.join(CONFIGS_DIR, "sweeps")
PRESETS = ("smoke", "cpu", "study", "full", "paper")
SETTINGS = tuple(f.name for f in dataclasses.fields(SweepSettings))
FILE_KEYS = ("description", "base", "set", "space", *SETTINGS[1:], "presets")
FILE_ONLY = ("description", "base", "metric", "rank_metric", "mode", "presets")
UNTYPED = ("literature", "cells")  # read by sweeps.literature and _cells, not by ebm.strict.build
PRESET_KEYS = tuple(k for k in FILE_KEYS if k not in FILE_ONLY)


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
            raw = read_yaml(os.path.join(SWEEPS_DIR, f"{name}.yaml"))
            out.append((name, str(raw.get("description", "")).strip()))
        except ConfigError as e:
            out.append((name, f"(unreadable: {e})"))
    return out


def sweep_path(name: str) -> str:
    """A sweep name (``configs/sweeps/NAME.yaml``) or the path of a sweep file."""
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        for path in (name, os.path.join(REPO_ROOT, name)):  # as given, else from the repository root
            if os.path.isfile(path):
                return path
        raise ConfigError(f"sweep file not found: {name}")
    path = os.path.join(SWEEPS_DIR, f"{name}.yaml")
    if not os.path.isfile(path):
        names = available()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown sweep {name!r}; {hint}available: {', '.join(names) or '(none)'}")
    return path


# --------------------------------------------------------------------------------------------------
# Loading


def load_sweep(name: str, preset: str = "cpu", overrides: list[str] | tuple = ()) -> Sweep:
    """Read, check and resolve a sweep: the file, then ``preset``, then ``overrides`` (``key=value``)."""
    path = sweep_path(name)
    where = os.path.relpath(path, REPO_ROOT) if path.startswith(REPO_ROOT) else path
    raw = read_yaml(path)
    _check_keys(raw, FILE_KEYS, where)
    presets = _mapping(raw.get("presets") or {}, f"{where}: presets")
    for pname, praw in presets.items():
        known(pname, PRESETS, f"{where}: presets", what="preset")
        _check_keys(_mapping(praw or {}, f"{where}: presets.{pname}"), PRESET_KEYS, where,
                    f"presets.{pname}.")
    known(preset, PRESETS, "--preset", what="preset")
    merged = _apply_preset(raw, presets.get(preset) or {}, where)
    src = f"{where} (preset {preset})" if presets.get(preset) else where

    cli = [parse_override(item) for item in overrides]
    seeds = _seeds(merged.get("seeds", [0]), src)
    for key, value in cli:
        if key == "seed":  # --set seed=N runs that one seed
            seeds = _seeds([value], "--set seed")
    cli = [(k, v) for k, v in cli if k != "seed"]
    base = _base_path(merged.get("base"), path, where)
    config = _base_config(base, _flat_set(merged.get("set") or {}, src), cli, src)

    space = {key: domain(key, spec, config, src)
             for key, spec in _mapping(merged.get("space") or {}, f"{src}: space").items()}
    cells = _cells(merged.get("cells"), config, f"{src}: cells")
    if cells:
        if space:
            raise ConfigError(f"{src}: cells list every configuration the sweep runs, so it has no space to "
                              f"cross as well (space.{next(iter(space))}); drop one of them (a preset's "
                              "space: {KEY: null} drops a key)")
        space = {key: Domain("grid", tuple(dict.fromkeys(c[key] for c in cells))) for key in cells[0]}
    for key, _ in cli:
        if key in space:
            raise ConfigError(f"--set {key}: {key} is swept by {where} ({space[key]}); drop it from --set "
                              f"or edit the sweep's space")

    settings = build(SweepSettings,
                     {**{k: v for k, v in merged.items() if k in SETTINGS and k not in UNTYPED},
                                     "seeds": seeds}, src, what="key")
    # A claim may name a value only some presets run: it is checked against every grid the file gives its key.
    spaces = [raw.get("space"), *((p or {}).get("space") for p in presets.values())]
    for listed in [raw.get("cells"), *((p or {}).get("cells") for p in presets.values())]:
        if isinstance(listed, list):  # a malformed list failed above if its preset is the one chosen
            spaces.append({k: {"grid": [c[k] for c in listed if isinstance(c, dict) and k in c]}
                           for c in listed if isinstance(c, dict) for k in c})
    settings.literature = read_claims(merged.get("literature"), grids_of(spaces), src)
    settings.cells = cells
    sweep = Sweep(**{k: getattr(settings, k) for k in SETTINGS},
                  name=os.path.splitext(os.path.basename(path))[0],
                  path=path, preset=preset, base=base, base_config=config, space=space)
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
        elif key in SECTIONS:
            out[key] = {**_mapping(raw.get(key) or {}, f"{where}: {key}"), **_mapping(value or {}, where)}
        else:
            out[key] = value
    return out


def _base_path(base: Any, sweep_file: str, where: str) -> str | None:
    if base is None:
        return None
    if not isinstance(base, str):
        raise ConfigError(f"{where}: base must be a single-run config's path, e.g. "
                          "configs/rbm_mnist_cd1.yaml")
    shipped = (os.path.join(CONFIGS_DIR, base.removeprefix("configs/")) if base.startswith("configs/")
               else base)
    for candidate in (os.path.join(REPO_ROOT, base), shipped, os.path.join(os.path.dirname(sweep_file), base),
                      base):
        if os.path.isfile(candidate):
            return os.path.normpath(candidate)
    raise ConfigError(f"{where}: base config {base} not found (paths are relative to the repository root)")


def _base_config(base: str | None, sets: dict, cli: list[tuple[str, Any]], where: str):
    """Base YAML (typed once), then the sweep's ``set`` and ``--set``, each value checked where it comes
    from."""
    raw = read_yaml(base) if base else {}
    assignments = [(k, v, f"{where}: set") for k, v in sets.items()] + [(k, v, "--set") for k, v in cli]
    for key, value, _ in assignments:
        if key == "kind":  # the class every other key belongs to
            raw["kind"] = value
    cfg = from_dict(raw, f"{where} (base {os.path.relpath(base, REPO_ROOT)})" if base else where)
    for key, value, origin in assignments:
        if key != "kind":
            cfg = replace(cfg, key, value, origin)
    return cfg


def _check(s: Sweep, where: str) -> None:
    """What no one section can check alone: the metrics against the run kind, ASHA against the epochs, the
    search against the space."""
    known_metrics = sorted(reported(s.config))
    for key, value in (("metric", s.metric), ("rank_metric", s.ranked_by)):
        if value not in known_metrics:
            close = difflib.get_close_matches(value, known_metrics, n=1, cutoff=0.6)
            examples = ", ".join(m for m in known_metrics if m.startswith(("eval/", "final/")))[:200]
            hint = (f"did you mean {close[0]}?" if close
                    else f"{s.kind} runs with this config report e.g. {examples}")
            raise ConfigError(f"{where}: {key}={value!r} is not a metric {s.kind} runs report; {hint}")
        better = direction(value)
        if better not in (None, s.mode):
            raise ConfigError(f"{where}: mode={s.mode!r}, but a {'lower' if better == 'min' else 'higher'} "
                              f"{value} is better (ebm.metric_names); set mode: {better}")
    position = f"{s.ranked_by}_position"
    for i, claim in enumerate(s.literature):
        if claim.uses_position and position not in known_metrics:
            raise ConfigError(f"{where}: literature[{i}] tests the position between floor and ceiling, but "
                              f"{s.kind} runs with this config report no {position} (FID/KID metrics with "
                              f"eval.baseline_resamples > 0); use better/than instead")
    sch = s.scheduler
    if sch.type == "asha":
        sch.max_t = sch.max_t or s.epochs
        if sch.time_attr in ("training_iteration", "epoch") and sch.max_t > s.epochs:
            raise ConfigError(f"{where}: scheduler.max_t={sch.max_t} exceeds train.epochs={s.epochs}; "
                              f"set max_t <= {s.epochs} (0 = train.epochs)")
        if not 1 <= sch.grace_period <= sch.max_t:
            raise ConfigError(f"{where}: scheduler.grace_period={sch.grace_period} must be in "
                              f"[1, max_t={sch.max_t}]")
        if not sch.reduction_factor > 1:
            raise ConfigError(f"{where}: scheduler.reduction_factor={sch.reduction_factor} must be > 1")
    sampled = [k for k, d in s.space.items() if d.kind != "grid"]
    if s.search.type == "grid" and sampled:
        raise ConfigError(f"{where}: search.type grid runs grid points only, but space.{sampled[0]} is "
                          f"{s.space[sampled[0]].kind}; use search.type none (random draws) or optuna")
    if s.cells and (s.search.type != "grid" or s.sequential.more_seeds):
        raise ConfigError(f"{where}: cells run each listed configuration on every seed, so they need "
                          f"search.type grid and no sequential seeds (got {s.search.type}"
                          f"{', sequential' if s.sequential.more_seeds else ''})")
    q = s.sequential
    if q.more_seeds:
        if s.search.type != "grid" or sch.type == "asha" or s.num_samples != 1:
            raise ConfigError(f"{where}: sequential seeds look at every configuration's final value, so they "
                              f"need search.type grid, num_samples 1 and no scheduler (got {s.search.type}, "
                              f"{s.num_samples}, {sch.type}); drop sequential or those")
        reused = sorted(set(q.more_seeds) & set(s.seeds))
        if reused:
            raise ConfigError(f"{where}: sequential.more_seeds repeats seed {reused[0]} of seeds {s.seeds}; "
                              f"hold back seeds the first look does not run")
    if s.search.type == "optuna":
        grids = [k for k, d in s.space.items() if d.kind == "grid"]
        if grids:
            raise ConfigError(f"{where}: Optuna cannot take grid domains (space.{grids[0]}); use choice")
        if len(s.seeds) > 1:
            raise ConfigError(f"{where}: Optuna suggests one config per trial; give one seed (seeds: [0]) "
                              f"or repeat seeds in a grid sweep")
        if not s.space:
            raise ConfigError(f"{where}: search.type optuna needs a space to search")


# --------------------------------------------------------------------------------------------------
# Raw sweep-file pieces


def _check_keys(raw: dict, allowed: tuple, where: str, path: str = "") -> None:
    """Every key of a sweep file (or preset) and of its scheduler/search/resources sections is known."""
    for key, value in raw.items():
        known(key, allowed, f"{where}: {path.rstrip('.')}" if path else where)
        if key in SECTIONS:
            names = [f.name for f in dataclasses.fields(SECTIONS[key])]
            for k in _mapping(value or {}, f"{where}: {path}{key}"):
                known(k, names, f"{where}: {path}{key}")


def _cells(value: Any, config, where: str) -> list[dict]:
    """A sweep file's ``cells``: a list of mappings of dotted config keys to values, every one naming the same
    keys, none repeated, each value checked against the base config as a grid value is."""
    if value is None or value == []:
        return []
    example = "e.g. [{sampler.init: data, sampler.k: 1}, {sampler.init: persistent, sampler.k: 1}]"
    if not isinstance(value, list) or not all(isinstance(c, dict) and c for c in value):
        raise ConfigError(f"{where} must be a list of mappings from config keys to values, {example}")
    cells = [flatten(c) for c in value]
    first = list(cells[0])
    for i, cell in enumerate(cells):
        if set(cell) != set(first):
            raise ConfigError(f"{where}[{i}] names {sorted(cell)}, cells[0] names {sorted(first)}; give "
                              "every cell the same keys")
        for key, v in cell.items():
            domain(key, {"grid": [v]}, config, f"{where}[{i}]")
        if cell in cells[:i]:
            raise ConfigError(f"{where}[{i}] repeats cells[{cells.index(cell)}]; list each configuration "
                              "once")
    return [{k: c[k] for k in first} for c in cells]


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return value


def _flat_set(value: Any, where: str) -> dict:
    return flatten(_mapping(value, f"{where}: set"))


def _seeds(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value):
        raise ConfigError(f"{where}: seeds={value!r} must be a non-empty list of ints, e.g. [0, 1, 2]")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds={value!r} repeats a seed")
    return list(value)
