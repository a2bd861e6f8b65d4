"""The sweep record: the one contract between the code that runs a sweep (``sweeps``) and the code that reads
its folder (``analysis``). No Ray, no torch.

``sweeps/run.py`` writes :data:`RECORD_FILE` beside Tune's own files when a sweep starts: how it was started
(the sweep file, preset and ``--set`` overrides, for ``--resume``), the data set the trials ran on, the
provenance, and the :class:`Settings` the sweep resolved to, under :class:`sweeps.sweep.Sweep`'s own field
names. Each trial folder holds the trainable's last sample grid as :data:`SAMPLES_FILE`. The analysis reads
both through this module and never imports ``sweeps``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

RECORD_FILE = "sweep.yaml"
"""Beside Tune's files in the experiment folder: the :class:`Record`, as YAML."""
SAMPLES_FILE = "samples.png"
"""In each trial folder: the trial's last sample grid."""
REQUIRED = ("sweep", "preset", "overrides", "data")


class RecordError(ValueError):
    """A record file that does not hold a record; its message is one line naming the file's problem."""


@dataclass
class Settings:
    """What the sweep varied and measured, resolved (preset and overrides applied): ``Sweep.settings()``.
    The names are :class:`~sweeps.sweep.Sweep`'s."""

    metric: str
    """The result every trial reports each epoch, which the scheduler and the search steer by ("" where
    inferred from the trial folders)."""
    rank_metric: str
    """What the final table and the analysis rank by, resolved (the sweep file's ``rank_metric`` or, where it
    gives none, ``metric``)."""
    mode: str = "max"
    """``max`` or ``min``: whether a larger value is better."""
    description: str = ""
    kind: str = ""
    """rbm or conv_ebm."""
    epochs: int | None = None
    """train.epochs of every trial."""
    seeds: list = field(default_factory=list)
    num_samples: int = 1
    space: dict = field(default_factory=dict)
    """Swept dotted key -> its domain as a sweep file writes it (``{"grid": [1, 5]}``); None where the key was
    seen to vary between trials but its domain is unknown (inferred settings)."""
    cells: list | None = None
    """The configurations a sweep listed instead of crossing its keys (None: a grid or search)."""
    scheduler: dict = field(default_factory=dict)
    """``type`` (none, fifo, asha, unknown) and ``max_t`` (the most iterations a trial may get)."""
    search: str = "grid"
    """grid, none (random draws), optuna, or unknown."""
    resources: dict = field(default_factory=dict)
    """``cpu`` and ``gpu`` per trial."""
    caveat: str = ""
    """The preset's sentence on why it cannot answer its question at its scale ("" = none)."""
    literature: list = field(default_factory=list)
    """The ``literature:`` entries (mappings), checked when the sweep loaded (``sweeps.literature``)."""
    sequential: dict | None = None
    """Sequential seeds: ``more_seeds``, ``per_round``, ``resolve`` and ``looks`` (None: off)."""

    @property
    def ranked_by(self) -> str:
        return self.rank_metric or self.metric

    @property
    def looks(self) -> int:
        return int((self.sequential or {}).get("looks", 1))


@dataclass
class Record:
    """The whole of :data:`RECORD_FILE`."""

    sweep: str
    """The sweep file, relative to the repository root where it lies inside it."""
    preset: str
    overrides: list
    """The ``--set`` overrides, as typed."""
    data: str = ""
    """The data set the trials ran on (the driver may have fallen back to the embedded one)."""
    data_requested: str = ""
    """The data set the preset asked for."""
    settings: Settings | None = None
    """None only in a record written before the trials started (a start that never ran)."""
    provenance: dict = field(default_factory=dict)
    """Project version, git commit and whether the tree was dirty, software versions, CPU and GPU."""


SETTINGS_KEYS = tuple(f.name for f in dataclasses.fields(Settings))


def to_plain(record: Record) -> dict:
    """The record as plain YAML values, in field order."""
    return dataclasses.asdict(record)


def from_plain(raw: Any, where: str) -> Record:
    """A :class:`Record` from what ``yaml.safe_load`` read at ``where``; :class:`RecordError` (one line) when
    it is not one. Keys this version does not know are ignored, so a newer record still reads."""
    if not isinstance(raw, dict) or not set(REQUIRED) <= set(raw):
        missing = [k for k in REQUIRED if not isinstance(raw, dict) or k not in raw]
        raise RecordError(f"{where} is not a sweep record written by sweeps/run.py (no {', '.join(missing)})")
    settings = raw.get("settings")
    if settings is not None:
        if not isinstance(settings, dict) or not {"metric", "rank_metric", "mode"} <= set(settings):
            raise RecordError(f"{where}: its settings lack metric, rank_metric or mode")
        settings = Settings(**{k: v for k, v in settings.items() if k in SETTINGS_KEYS})
    fields = {f.name for f in dataclasses.fields(Record)}
    return Record(**{**{k: v for k, v in raw.items() if k in fields}, "settings": settings,
                     "provenance": raw.get("provenance") if isinstance(raw.get("provenance"), dict) else {},
                     "data_requested": str(raw.get("data_requested") or ""),
                     "data": str(raw.get("data") or "")})


def dumps(record: Record) -> str:
    import yaml

    return yaml.safe_dump(to_plain(record), sort_keys=False)


def loads(text: str, where: str) -> Record:
    """The record in ``text`` (the contents of ``where``); :class:`RecordError` when it is not YAML or not a
    record."""
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RecordError(f"{where} is not valid YAML ({str(e).splitlines()[0]})") from None
    return from_plain(raw, where)
