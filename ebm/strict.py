"""The one strict loader behind every config: YAML (or ``key=value``) -> typed dataclass, or a one-line error.

Run configs (:mod:`ebm.config`) and sweep files (:mod:`sweeps.spec`) are both dataclasses whose fields carry
their default and docstring (cleanrl's ``Args``); :func:`build` reads a mapping into one. A field's type says
how its value is read: ``bool``, ``int``, ``float`` (also YAML 1.1's ``1e-3`` string), ``str``,
``Literal[...]``, ``X | None``, ``list[X]``, ``tuple[X, Y]`` or a nested dataclass (a section, whose keys
are dotted: ``sampler.k``). Range checks live in each class's ``__post_init__``
(:func:`check`). Unknown keys, wrong types and bad values raise :class:`ConfigError`, whose message is one
line naming the file, the key, the value and what to do instead, with a close match when there is one
(nanoGPT's ``configurator.py``, made strict).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import os
import types
import typing
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """Bad user input in a config file, sweep file or override; the message is one line."""


# --------------------------------------------------------------------------------------------------
# Mappings: YAML files, overrides, dotted keys


def read_yaml(path: str) -> dict:
    """The mapping a YAML file holds ({} for an empty file)."""
    if not os.path.isfile(path):
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{where} is not valid YAML ({problem}); fix the syntax") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must hold a mapping of config keys, got {type(raw).__name__}")
    return raw


def parse_override(item: str) -> tuple[str, Any]:
    """``train.lr=0.01`` -> ("train.lr", 0.01); the value is read as YAML (numbers, booleans, lists)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} must look like key=value, e.g. train.lr=0.01")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    return key.strip(), value


def set_dotted(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    for p in parts[:-1]:
        nxt = d.setdefault(p, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"cannot set {key!r}: {p!r} is not a section")
        d = nxt
    d[parts[-1]] = value


def deep_merge(a: dict, b: dict) -> dict:
    """``a`` with ``b``'s values on top, section by section."""
    out = dict(a)
    for k, v in b.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def flatten(d: dict, prefix: str = "") -> dict:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1} (the keys sweeps and ``--set`` use)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def unflatten(flat: dict) -> dict:
    out: dict = {}
    for k, v in flat.items():
        set_dotted(out, k, v)
    return out


def plain(value: Any) -> Any:
    """A typed value as YAML writes it: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


# --------------------------------------------------------------------------------------------------
# Typed dataclasses


def build(cls: type, raw: Any, source: str, prefix: str = "", what: str = "config key"):
    """``raw`` read into the dataclass ``cls``: every key known, every value of its field's type, every check
    passed. ``source`` starts each message (the file); ``prefix`` is the section's dotted path."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names and isinstance(value, dict):  # name the leaf a typo'd section was meant to hold
            leaves = [f"{prefix}{key}.{k}" for k in flatten(value)]
            known(leaves[0] if leaves else f"{prefix}{key}", keys(cls, prefix), source, what)
        known(key, names, source, what, prefix)
        typ = hints[key]
        if dataclasses.is_dataclass(typ):
            kwargs[key] = build(typ, value, source, f"{prefix}{key}.", what)
        else:
            kwargs[key] = _coerce(typ, value, f"{prefix}{key}", source)
    try:
        return cls(**kwargs)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def replace(obj, key: str, value: Any, source: str):
    """A copy of the typed ``obj`` with the dotted leaf ``key`` set to ``value``, read and checked as
    :func:`build` reads a value (the checks of every section on the way run again)."""
    known(key, keys(type(obj)), source, what="config key")
    *path, leaf = key.split(".")
    chain = [copy.deepcopy(obj)]  # a section's __post_init__ may adjust its subsections: never the caller's
    for name in path:
        chain.append(getattr(chain[-1], name))
    new = _coerce(typing.get_type_hints(type(chain[-1]))[leaf], value, key, source)
    try:
        for section, name in zip(reversed(chain), reversed([*path, leaf]), strict=True):
            new = dataclasses.replace(section, **{name: new})
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return new


def get(obj, key: str) -> Any:
    """The value of the dotted ``key`` of a typed config."""
    for name in key.split("."):
        obj = getattr(obj, name)
    return obj


def keys(cls: type, prefix: str = "") -> list[str]:
    """The dotted leaf keys of a dataclass, sections expanded: ``["seed", ..., "sampler.k", ...]``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        typ = hints[f.name]
        out += keys(typ, f"{prefix}{f.name}.") if dataclasses.is_dataclass(typ) else [f"{prefix}{f.name}"]
    return out


def check(ok: bool, key: str, value: Any, what: str) -> None:
    """For ``__post_init__``: fail with ``key=value what`` (e.g. ``sampler.k=0 must be >= 1``) unless
    ``ok``."""
    if not ok:
        raise ConfigError(f"{key}={value!r} {what}")


def known(name: Any, names: list | tuple, where: str, what: str = "key", prefix: str = "") -> None:
    """Fail unless ``name`` is one of ``names``, offering the closest one (else the list) as the fix;
    ``prefix`` (a section's dotted path) is shown before the names, not matched."""
    if name not in names:
        raise ConfigError(f"{where}: unknown {what} '{prefix}{name}'; {_hint(name, names, prefix=prefix)}")


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> docstring, read from the class source (the docstring under each field)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:], strict=False):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    return docs


# --------------------------------------------------------------------------------------------------
# Internals


def _hint(name: Any, names: list | tuple, quote: bool = False, prefix: str = "") -> str:
    show = repr if quote else str
    close = difflib.get_close_matches(str(name), [str(n) for n in names], n=1)
    if close:
        return f"did you mean {prefix}{show(close[0])}?"
    return f"choose from {', '.join(show(n) for n in names)}"


def _coerce(typ: Any, value: Any, key: str, source: str):
    origin = typing.get_origin(typ)
    if origin is Literal:
        choices = typing.get_args(typ)
        if value not in choices:
            raise ConfigError(f"{source}: {key}: unknown value {value!r}; "
                              f"{_hint(value, choices, quote=True)}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, source)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if origin in (tuple, list):
        args = [a for a in typing.get_args(typ) if a is not Ellipsis]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{source}: {key}={value!r} must be a list, e.g. "
                              f"[{', '.join('…' for _ in args)}]")
        if origin is tuple and Ellipsis not in typing.get_args(typ) and len(value) != len(args):
            raise ConfigError(f"{source}: {key}={value!r} must have {len(args)} entries")
        item_types = args if origin is tuple and len(args) == len(value) else [args[0]] * len(value)
        pairs = enumerate(zip(item_types, value, strict=True))
        return origin(_coerce(t, v, f"{key}[{i}]", source) for i, (t, v) in pairs)
    if typ is bool:
        if isinstance(value, bool):
            return value
    elif typ is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif typ is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif typ is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"unsupported config field type {typ!r} for {key}")
    raise ConfigError(f"{source}: {key}={value!r} must be of type {typ.__name__}")
