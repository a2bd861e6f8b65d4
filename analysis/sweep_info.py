"""What a sweep varied and measured, read from its experiment folder's ``sweep.yaml``.

``sweeps/run.py`` writes ``sweep.yaml`` when a sweep starts: the sweep file, its preset and overrides, and the
settings they resolved to (``Sweep.settings()``). The settings are read from there; an experiment without a
usable record gets settings inferred from the trial folders, and says in ``notes`` what it could not read. A
record without settings was written before the driver recorded them, and is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from analysis.stats import split_level
from analysis.tune_files import first_line
from ebm.metric_names import direction

RECORD_FILE = "sweep.yaml"  # sweeps/run.py's RECORD_FILE
INFERRED = "inferred from the trial folders"


@dataclass
class SweepInfo:
    """What the sweep varied and measured."""

    name: str
    """Experiment folder name (the sweep's name unless ``--name`` picked another)."""
    metric: str
    """The result the sweep ranked by, e.g. ``eval/log_likelihood``."""
    mode: str
    """``max`` or ``min``: whether a larger ``metric`` is better."""
    domains: dict = field(default_factory=dict)
    """Swept dotted config key -> its domain (kind, args): grid/choice and their values, uniform/loguniform/
    randint and [low, high]; None where the settings were inferred (the key varied between trials, its domain
    is unknown). Seeds not included."""
    cells: list = field(default_factory=list)
    """The configurations a sweep listed instead of crossing its keys (``cells:``, mappings of dotted keys to
    values); [] for a grid or search. Such a sweep is contrasted cell against cell, never by main effects."""
    seeds: list = field(default_factory=list)
    search: str = "grid"
    """grid, none (random draws) or optuna."""
    scheduler: str = "none"
    """none, fifo or asha."""
    max_t: int | None = None
    """The most training iterations a trial may get (ASHA's max_t, else train.epochs)."""
    cpu: float = 1.0
    """CPU cores per trial (compute used = wall time x cpu)."""
    gpu: float = 0.0
    kind: str = ""
    """rbm or conv_ebm."""
    preset: str = ""
    description: str = ""
    source: str = ""
    """Where these settings came from: the sweep file (with its preset) or 'inferred from the trial
    folders'."""
    sweep_file: str = ""
    """The sweep file as sweeps/run.py recorded it ('' when unknown)."""
    reported_metric: str = ""
    """The metric the trainables carried in every report, repeating it between evaluations (the sweep file's
    ``metric``; ``metric`` above differs when the sweep ranks by a ``rank_metric``). '' = ``metric``."""
    data_requested: str = ""
    """The data set the preset asked for, when the driver fell back to another ('' when it did not)."""
    data_used: str = ""
    """The data set the trials ran on, as the driver recorded it."""
    caveat: str = ""
    """The preset's own sentence on why it cannot answer its question at its scale ('' = none)."""
    literature: list = field(default_factory=list)
    """The sweep file's ``literature:`` entries as recorded (mappings: source, claim, and better/than,
    good/position_below or bad/position_above; checked when the sweep loaded, ``sweeps.literature``); the
    report judges each (:mod:`analysis.literature`). Empty for sweeps without any, and for older records."""
    looks: int = 1
    """Times the sweep looked at its contrasts before spending held-back seeds (sequential seeds), plus one;
    every interval of its report is at :attr:`level`."""
    provenance: dict = field(default_factory=dict)
    """Project version, git commit (and whether the tree was dirty), software versions and machine, as the
    driver recorded them when the sweep started; empty for older sweeps."""

    @property
    def level(self) -> float:
        """Level of every interval the report states: 95%, split over the looks (Bonferroni) when the sweep
        spent seeds where contrasts were unsettled, so its clear calls keep a 5% error rate
        (:mod:`sweeps.sequential`)."""
        return split_level(self.looks)

    @property
    def space(self) -> dict:
        """Swept key -> its domain as a sweep file writes it (``grid[1, 5]``, ``loguniform[0.001, 0.3]``), or
        ``varied`` where it was inferred."""
        return {k: "varied" if d is None else f"{d[0]}{list(d[1])}" for k, d in self.domains.items()}

    def resume_command(self, path: str) -> str:
        """How to continue the sweep in the experiment folder ``path`` (sweeps/run.py --resume)."""
        name = os.path.splitext(os.path.basename(self.sweep_file))[0] if self.sweep_file else self.name
        folder = os.path.basename(path.rstrip(os.sep))
        target = f" --name {folder}" if folder != name else ""
        return (f"python sweeps/run.py {self.sweep_file or name} --storage {os.path.dirname(path)}{target} "
                "--resume")


def read_sweep_info(path: str, states: dict, rows: list[dict], notes: list) -> SweepInfo:
    """The settings of the sweep in the experiment folder ``path``: as ``sweep.yaml`` recorded them, else
    inferred from Tune's ``states`` and the trials' ``rows``. A record without settings raises
    AnalysisError."""
    name = os.path.basename(path.rstrip(os.sep))
    record = _read_record(path, notes)
    if record and not isinstance(record.get("settings"), dict):
        from analysis.frames import AnalysisError  # frames imports this module

        prov = record.get("provenance") or {}
        wrote = (f"ebm-cd-study {prov.get('project', '?')} at commit {prov['git_commit']}"
                 if prov.get("git_commit")
                 else "a sweeps/run.py from before provenance was recorded")
        raise AnalysisError(f"{os.path.join(path, RECORD_FILE)} holds no settings: it was written by "
                            f"{wrote}, before the driver recorded them; rerun the sweep with this version")
    if record:
        try:
            source = (f"{record['sweep']} (preset {record.get('preset', '?')}), as recorded when the sweep "
                      "started")
            return from_settings(name, record["settings"], record, source, sweep_file=str(record["sweep"]),
                                 preset=str(record.get("preset", "")))
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            notes.append(f"{RECORD_FILE}'s settings are incomplete ({first_line(e)}); they are inferred "
                         "instead")
    return from_settings(name, _inferred_settings(states, rows, notes), record, INFERRED)


def from_settings(name: str, st: dict, record: dict | None = None, source: str = "", sweep_file: str = "",
                  preset: str = "") -> SweepInfo:
    """A :class:`SweepInfo` from settings as ``Sweep.settings()`` writes them (``space``: key -> {kind: args},
    or None where inferred) and the rest of the driver's ``record`` (the data set used, provenance)."""
    record = record or {}
    scheduler, resources = st.get("scheduler") or {}, st.get("resources") or {}
    info = SweepInfo(
        name=name, metric=str(st.get("rank_metric") or st["metric"]), reported_metric=str(st["metric"]),
        mode=str(st["mode"]), domains={k: _domain(d) for k, d in (st.get("space") or {}).items()},
        cells=[dict(c) for c in st.get("cells") or [] if isinstance(c, dict)],
        seeds=list(st.get("seeds") or []), search=str(st.get("search", "grid")),
        scheduler=str(scheduler.get("type", "none")), max_t=scheduler.get("max_t", st.get("epochs")),
        cpu=float(resources.get("cpu", 1.0)), gpu=float(resources.get("gpu", 0.0)),
        kind=str(st.get("kind", "")),
        preset=preset, description=str(st.get("description", "")), source=source, sweep_file=sweep_file,
        caveat=str(st.get("caveat") or ""),
        literature=[e for e in st.get("literature") or [] if isinstance(e, dict) and "claim" in e],
        looks=int((st.get("sequential") or {}).get("looks", 1)))
    requested, used = str(record.get("data_requested") or ""), str(record.get("data") or "")
    if requested and used and requested != used:  # the driver fell back to the embedded data set
        info.data_requested, info.data_used = requested, used
    if isinstance(record.get("provenance"), dict):
        info.provenance = record["provenance"]
    return info


def _domain(d: dict | None) -> tuple | None:
    """``{"grid": [1, 5]}`` -> ``("grid", [1, 5])``; None (inferred) stays None."""
    if d is None:
        return None
    kind, args = next(iter(d.items()))
    return kind, list(args)


def _read_record(path: str, notes: list) -> dict | None:
    file = os.path.join(path, RECORD_FILE)
    if not os.path.exists(file):
        notes.append(f"no {RECORD_FILE} (written by sweeps/run.py); the sweep's settings are inferred from "
                     "the trial folders")
        return None
    import yaml

    try:
        with open(file) as f:
            record = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError) as e:  # ValueError: bytes that are not UTF-8
        notes.append(f"{RECORD_FILE} is unreadable ({first_line(e)}); the sweep's settings are inferred")
        return None
    if not isinstance(record, dict) or "sweep" not in record:
        notes.append(f"{RECORD_FILE} is not a sweep record; the sweep's settings are inferred")
        return None
    return record


def _inferred_settings(states: dict, rows: list[dict], notes: list) -> dict:
    """Settings as far as the trial folders tell: Tune's metric (else a reported eval/ one), its direction by
    name, the config keys that differ between trials (domains unknown), seeds, epochs and model kind."""
    metric = next((s["metric"] for s in states.values() if s.get("metric")), None)
    if not metric:
        reported = {k for r in rows for k in r if k.startswith("eval/") and isinstance(r[k], int | float)}
        metric = next((m for m in ("eval/log_likelihood", "eval/kid_domain", "eval/fid_domain")
                       if m in reported),
                      min(reported) if reported else "eval/log_likelihood")
    mode = direction(metric)  # when no sweep file says it
    if mode is None:
        mode = "max"
        notes.append(f"the direction of {metric} is unknown; assumed larger is better (pass --mode min if "
                     "not)")
    config_keys = sorted({k for r in rows for k in r if k.startswith("config/")})
    varied = []
    for col in config_keys:
        values = {json.dumps(r.get(col), sort_keys=True, default=str) for r in rows if r.get("_readable")}
        if len(values) > 1 and col != "config/seed":
            varied.append(col.removeprefix("config/"))
    seeds = sorted({r.get("config/seed") for r in rows if r.get("config/seed") is not None})
    epochs = [r.get("config/train.epochs") for r in rows if isinstance(r.get("config/train.epochs"), int)]
    kind = next((r.get("config/kind") for r in rows if r.get("config/kind")), "")
    max_t = max(epochs) if epochs else None
    # Ranked by the metric found; which one the trainables carried in every report ("metric") is unknown.
    return {"rank_metric": metric, "metric": "", "mode": mode, "space": dict.fromkeys(varied), "seeds": seeds,
            "kind": kind, "search": "unknown", "scheduler": {"type": "unknown", "max_t": max_t}}
