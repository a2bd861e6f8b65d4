"""What a sweep varied and measured, read from its experiment folder's ``sweep.yaml``.

``sweeps/run.py`` writes ``sweep.yaml`` when a sweep starts (:mod:`ebm.sweep_record`, the contract between
the two): the sweep file, its preset and overrides, and the settings they resolved to (``Sweep.settings()``).
The settings are read from there; an experiment without a usable record gets settings inferred from the trial
folders, and says in ``notes`` what it could not read. A record without settings was written before the
driver recorded them, and is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from analysis.stats import split_level
from analysis.tune_files import first_line
from ebm.metric_names import direction
from ebm.sweep_record import RECORD_FILE, Record, RecordError, Settings, loads

INFERRED = "inferred from the trial folders"


@dataclass
class SweepInfo:
    """What the sweep varied and measured."""

    name: str
    """Experiment folder name (the sweep's name unless ``--name`` picked another)."""
    metric: str
    """The result the trainables carried in every report, repeating it between evaluations, which the
    scheduler and the search steered by (the sweep file's ``metric``; '' where inferred)."""
    rank_metric: str
    """The result the sweep ranks by, e.g. ``final/log_likelihood`` (the sweep file's ``rank_metric``, else
    its ``metric``; ``python -m analysis --metric`` picks another)."""
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
    def ranked_by(self) -> str:
        """What every table, contrast and plot of the report ranks by."""
        return self.rank_metric or self.metric

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
    if record and record.settings is None:
        from analysis.frames import AnalysisError  # frames imports this module

        prov = record.provenance
        wrote = (f"ebm-cd-study {prov.get('project', '?')} at commit {prov['git_commit']}"
                 if prov.get("git_commit")
                 else "a sweeps/run.py from before provenance was recorded")
        raise AnalysisError(f"{os.path.join(path, RECORD_FILE)} holds no settings: it was written by "
                            f"{wrote}, before the driver recorded them; rerun the sweep with this version")
    if record:
        try:
            source = f"{record.sweep} (preset {record.preset}), as recorded when the sweep started"
            return from_settings(name, record.settings, record, source)
        except (KeyError, TypeError, ValueError, StopIteration) as e:
            notes.append(f"{RECORD_FILE}'s settings are incomplete ({first_line(e)}); they are inferred "
                         "instead")
    return from_settings(name, _inferred_settings(states, rows, notes), None, INFERRED)


def from_settings(name: str, st: Settings, record: Record | None = None, source: str = "") -> SweepInfo:
    """A :class:`SweepInfo` from the recorded settings (``space``: key -> {kind: args}, or None where
    inferred) and the rest of the driver's ``record`` (the sweep file and preset, the data set used,
    provenance)."""
    scheduler, resources = st.scheduler or {}, st.resources or {}
    info = SweepInfo(
        name=name, metric=str(st.metric or ""), rank_metric=str(st.ranked_by), mode=str(st.mode),
        domains={k: _domain(d) for k, d in (st.space or {}).items()},
        cells=[dict(c) for c in st.cells or [] if isinstance(c, dict)],
        seeds=list(st.seeds or []), search=str(st.search),
        scheduler=str(scheduler.get("type", "none")), max_t=scheduler.get("max_t", st.epochs),
        cpu=float(resources.get("cpu", 1.0)), gpu=float(resources.get("gpu", 0.0)), kind=str(st.kind or ""),
        preset=record.preset if record else "", description=str(st.description or ""), source=source,
        sweep_file=record.sweep if record else "", caveat=str(st.caveat or ""),
        literature=[e for e in st.literature or [] if isinstance(e, dict) and "claim" in e], looks=st.looks)
    if record:
        if record.data_requested and record.data and record.data_requested != record.data:
            info.data_requested, info.data_used = record.data_requested, record.data  # the driver fell back
        info.provenance = record.provenance
    return info


def _domain(d: dict | None) -> tuple | None:
    """``{"grid": [1, 5]}`` -> ``("grid", [1, 5])``; None (inferred) stays None."""
    if d is None:
        return None
    kind, args = next(iter(d.items()))
    return kind, list(args)


def _read_record(path: str, notes: list) -> Record | None:
    file = os.path.join(path, RECORD_FILE)
    if not os.path.exists(file):
        notes.append(f"no {RECORD_FILE} (written by sweeps/run.py); the sweep's settings are inferred from "
                     "the trial folders")
        return None
    try:
        with open(file, errors="replace") as f:
            return loads(f.read(), RECORD_FILE)
    except OSError as e:
        notes.append(f"{RECORD_FILE} is unreadable ({first_line(e)}); the sweep's settings are inferred")
    except RecordError as e:
        notes.append(f"{first_line(e)}; the sweep's settings are inferred")
    return None


def _inferred_settings(states: dict, rows: list[dict], notes: list) -> Settings:
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
    return Settings(metric="", rank_metric=metric, mode=mode, space=dict.fromkeys(varied), seeds=seeds,
                    kind=kind, search="unknown", scheduler={"type": "unknown", "max_t": max_t})
