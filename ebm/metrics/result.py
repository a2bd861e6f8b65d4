"""The one result type every metric returns: a value, the network that produced it, or why it is missing.

A metric that cannot be computed (weights not on disk, too few samples, non-finite samples, a data set
that will not load) comes back as ``Metric(None, network, reason)``: never as 0, never as an exception,
and never computed by another network than the one its name promises.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


class MetricUnavailable(RuntimeError):
    """Raised inside the metrics package when a metric cannot be computed; its message is the reason."""


@dataclass(frozen=True)
class Metric:
    """``value`` (finite float) with the ``network`` that produced it; or ``value=None`` and a ``reason``.

    ``std`` is the metric's own spread where it has one (KID over subsets, IS over splits, sample
    energies over samples); None otherwise.
    """

    value: float | None
    network: str
    reason: str | None = None
    std: float | None = None

    def __post_init__(self):
        if (self.value is None) == (self.reason is None):
            raise ValueError(f"Metric needs exactly one of value and reason, got {self.value!r}, "
                             f"{self.reason!r}")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"Metric value must be finite, got {self.value}; use Metric.of or "
                             "Metric.missing")

    @property
    def ok(self) -> bool:
        return self.value is not None

    @classmethod
    def of(cls, value: float, network: str, std: float | None = None, what: str = "value") -> Metric:
        """A computed value; a non-finite one (NaN, inf) becomes missing, saying so."""
        value = float(value)
        if not math.isfinite(value):
            return cls.missing(network, f"{what} is not finite ({value})")
        return cls(value, network, None, float(std) if std is not None and math.isfinite(std) else None)

    @classmethod
    def missing(cls, network: str, reason: str) -> Metric:
        return cls(None, network, reason)

    def to_dict(self, name: str) -> dict[str, float | str | None]:
        """Flat log entries: ``name`` (the value, None when missing), ``name/std``, ``name/network``,
        ``name/missing`` (the reason, only when missing)."""
        out: dict[str, float | str | None] = {name: self.value, f"{name}/network": self.network}
        if self.std is not None:
            out[f"{name}/std"] = self.std
        if self.reason is not None:
            out[f"{name}/missing"] = self.reason
        return out


def flatten(metrics: dict[str, Metric]) -> dict[str, float | str | None]:
    """``{name: Metric}`` -> one flat dict of log entries (see :meth:`Metric.to_dict`)."""
    out: dict[str, float | str | None] = {}
    for name, m in metrics.items():
        out.update(m.to_dict(name))
    return out


def guarded(names: tuple[str, ...], network: str,
            compute: Callable[[], dict[str, Metric]]) -> dict[str, Metric]:
    """Run ``compute``; if it raises, every metric in ``names`` comes back missing with the reason.

    ``MetricUnavailable`` carries an expected reason (no weights, too few samples); any other exception
    is reported with its type, so a bug in one metric cannot end a training run.
    """
    try:
        return compute()
    except MetricUnavailable as e:
        reason = str(e)
    except Exception as e:  # noqa: BLE001 -- a metric must never crash the run that asked for it
        first = (str(e).splitlines() or [""])[0]
        reason = f"{type(e).__name__}: {first}" if first else type(e).__name__
    return {name: Metric.missing(network, reason) for name in names}
