"""A sweep file's ``literature:``: published claims its report holds the run against, checked when the sweep
loads. No Ray here.

    literature:
      - source: "Du & Mordatch 2019 (IGEBM; openai/ebm_code_release)"
        claim: "Langevin step 10 with noise 0.005 draws realistic samples"
        better: {sampler.step_size: 10.0}    # the cells matching this selector ...
        than: {sampler.step_size: 1.0}       # ... beat those matching this one (paired over seeds)
      - source: "Nijkamp et al. 2019 (short-run MCMC)"
        claim: "non-persistent chains from noise give realistic samples"
        good: {sampler.init: noise}          # the matching cells' mean <metric>_position (0 = held-out data,
        position_below: 0.5                  #   1 = uniform noise) lies below this; bad + position_above:
                                             #   above
      - source: "Salakhutdinov & Murray 2008, Table 2"
        claim: "CD3(500): -105.50 nats"
        at: {sampler.init: data, sampler.k: 3}   # the cells a published figure is for: the report prints it
        value: -105.50                           #   beside this run's mean and holds the published order
                                                 #   against this run's, paired over seeds

A selector maps swept keys to values of their grid (or choice): a key the space lacks, or a value no grid of
the file or of its presets holds, is an error, as is an unknown entry key. A value the chosen preset does not
run leaves the claim untested, and the report says so. The report (``analysis.literature``) judges each claim
on the recorded entries (``Sweep.settings()``). A preset may give its own list, which replaces the file's.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ebm.strict import ConfigError, known

# a selector and its partner
FORMS = {"better": "than", "good": "position_below", "bad": "position_above", "at": "value"}
EXAMPLE = "e.g. {source: ..., claim: ..., better: {sampler.step_size: 10.0}, than: {sampler.step_size: 1.0}}"


@dataclass(frozen=True)
class Claim:
    """One ``literature:`` entry: who reports what, and which cells of the sweep it is about."""

    source: str
    """Who reports it: authors, year and where (paper section, code release)."""
    claim: str
    """What they report, as the report quotes it."""
    better: dict | None = None
    """Selector (swept key -> grid value) of the cells the claim says beat those of ``than``."""
    than: dict | None = None
    """Selector of the cells ``better``'s are said to beat."""
    good: dict | None = None
    """Selector of cells said to draw good samples: mean ``<metric>_position`` below ``position_below``."""
    position_below: float | None = None
    """``good``'s threshold on the position between floor (0, held-out data) and ceiling (1, uniform
    noise)."""
    bad: dict | None = None
    """Selector of cells said to draw poor samples: mean ``<metric>_position`` above ``position_above``."""
    position_above: float | None = None
    """``bad``'s threshold on the position."""
    at: dict | None = None
    """Selector of the cells a published figure is for (``value``, in the sweep's rank metric's units)."""
    value: float | None = None
    """``at``'s published figure: the report prints it beside this run's mean, and holds the order of the
    published figures against this run's, paired over seeds (:func:`analysis.literature.published`)."""

    def to_dict(self) -> dict:
        """As the sweep record stores it: the keys the entry gave."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @property
    def uses_position(self) -> bool:
        return self.good is not None or self.bad is not None


KEYS = tuple(f.name for f in dataclasses.fields(Claim))


def read_claims(raw: Any, grids: dict[str, list | None], where: str) -> list[Claim]:
    """The ``literature`` list of a sweep file. ``grids``: swept key -> every value a grid or choice of the
    file or of one of its presets gives it (None where the key is only sampled)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: literature must be a list of entries, {EXAMPLE}")
    return [_claim(entry, grids, f"{where}: literature[{i}]") for i, entry in enumerate(raw)]


def _claim(entry: Any, grids: dict, where: str) -> Claim:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a mapping, {EXAMPLE}")
    for key in entry:
        known(key, KEYS, where)
    for key in ("source", "claim"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: {key} must be non-empty text (who reports it; what they report)")
    forms = [k for k in FORMS if k in entry]
    partners = [k for k in FORMS.values() if k in entry]
    if len(forms) != 1 or partners != [FORMS[forms[0]]]:
        given = ", ".join(forms + partners) or "none of them"
        raise ConfigError(f"{where}: give exactly one of better + than, good + position_below, bad + "
                          f"position_above, at + value (got {given})")
    selector, partner = forms[0], FORMS[forms[0]]
    values = {"source": " ".join(entry["source"].split()), "claim": " ".join(entry["claim"].split()),
              selector: _selector(entry[selector], grids, f"{where}.{selector}")}
    if partner == "than":
        values["than"] = _selector(entry["than"], grids, f"{where}.than")
        if values["than"] == values["better"]:
            raise ConfigError(f"{where}: better and than select the same cells; make them differ")
    elif partner == "value":
        figure = entry["value"]
        if isinstance(figure, bool) or not isinstance(figure, int | float) or not math.isfinite(figure):
            raise ConfigError(f"{where}: value={figure!r} must be the published figure, a finite number in "
                              "the rank metric's units, e.g. -105.50")
        values["value"] = float(figure)
    else:
        threshold = entry[partner]
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1 \
                or not math.isfinite(threshold):
            raise ConfigError(f"{where}: {partner}={threshold!r} must be a number between 0 (held-out data) "
                              "and 1 (uniform noise), e.g. 0.5")
        values[partner] = float(threshold)
    return Claim(**values)


def _selector(value: Any, grids: dict, where: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where} must map swept keys to grid values, e.g. {{sampler.step_size: 10.0}}")
    for key, v in value.items():
        known(key, list(grids), where, what="swept key")
        grid = grids[key]
        if grid is None:
            raise ConfigError(f"{where}: {key} is sampled, not a grid, so no cell has one value of it; "
                              "select grid or choice keys")
        if not any(v == g and isinstance(v, str) == isinstance(g, str) for g in grid):
            raise ConfigError(f"{where}: {key}={v!r} is not in its grid {grid}; choose one of those values")
    return dict(value)


def grids_of(spaces: list[dict]) -> dict[str, list | None]:
    """Swept key -> the values every grid or choice among ``spaces`` (raw ``space:`` mappings: the file's and
    each preset's) gives it, in order; None for a key that is only ever sampled."""
    out: dict[str, list | None] = {}
    for space in spaces:
        for key, spec in (space or {}).items():
            if not isinstance(spec, dict) or len(spec) != 1:
                continue  # a preset's null drops the key; a malformed domain fails where the space is read
            ((kind, args),) = spec.items()
            if kind in ("grid", "choice") and isinstance(args, list):
                known_values = out.get(key) or []
                out[key] = known_values + [a for a in args if a not in known_values]
            else:
                out.setdefault(key, None)
    return out
