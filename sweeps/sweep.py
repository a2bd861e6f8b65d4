"""A sweep, typed: what ``sweeps.spec`` reads a sweep file into, and everything downstream takes. No Ray here.

Each field has its default and docstring, as the run configs' do, and is read by the same loader
(:func:`ebm.strict.build`); :class:`Sweep` adds what the file resolves to: the typed base config and the
space.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ebm.config import to_dict
from ebm.strict import ConfigError, check, flatten, replace
from ebm.sweep_record import Settings
from sweeps.literature import Claim
from sweeps.space import Domain


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

    def __post_init__(self):
        check(math.isfinite(self.reduction_factor), "reduction_factor", self.reduction_factor,
              "must be finite")


@dataclass
class SearchSpec:
    type: Literal["none", "grid", "optuna"] = "grid"
    """``grid``: every grid point (ablations); ``none``: Tune's variant generator (grid x ``num_samples``
    random draws); ``optuna``: TPE suggestions (Akiba et al. 2019) behind a ConcurrencyLimiter."""
    max_concurrent: int = 0
    """Optuna: trials in flight at once (0 = as many as the cluster's CPUs fit)."""
    seed: int = 0
    """Seed of the random draws and of Optuna's sampler."""

    def __post_init__(self):
        check(self.max_concurrent >= 0, "search.max_concurrent", self.max_concurrent, "must be >= 0")


@dataclass
class ResourcesSpec:
    cpu: float = 1.0
    """CPU cores per trial; the trial's torch thread count."""
    gpu: float = 0.0
    """GPUs per trial (fractions share a device)."""

    def __post_init__(self):
        if not (math.isfinite(self.cpu) and math.isfinite(self.gpu) and self.cpu > 0 and self.gpu >= 0):
            raise ConfigError(f"resources cpu={self.cpu}, gpu={self.gpu}: need cpu > 0 and gpu >= 0")


@dataclass
class SequentialSpec:
    """Seeds spent where a contrast is still unsettled (:mod:`sweeps.sequential`): after every configuration
    has run ``seeds``, each contrast the report makes is looked at, and only the configurations of those
    neither clear nor within ``resolve`` run the next ``per_round`` of ``more_seeds``; then the next look,
    until all settle or ``more_seeds`` is spent. Every interval of such a sweep's report is at level 1 - 0.05
    / looks, so that what it calls clear stays wrong at most 5% of the time however the looks fall (Bonferroni
    over the looks)."""

    more_seeds: list[int] = field(default_factory=list)
    """Seeds held back for unsettled contrasts, in the order they are spent ([] = no looks: every
    configuration runs ``seeds``)."""
    per_round: int = 2
    """Seeds added per look to each configuration of an unsettled contrast."""
    resolve: float = 0.0
    """The smallest difference in the rank metric that matters: a contrast whose interval lies within
    +-resolve is settled as "no difference larger than resolve" (0 = only a clear difference settles a
    contrast)."""

    def __post_init__(self):
        check(self.per_round >= 1, "sequential.per_round", self.per_round, "must be >= 1")
        check(math.isfinite(self.resolve) and self.resolve >= 0, "sequential.resolve", self.resolve,
              "must be a number >= 0")
        check(len(set(self.more_seeds)) == len(self.more_seeds), "sequential.more_seeds", self.more_seeds,
              "repeats a seed")

    @property
    def rounds(self) -> list[list[int]]:
        """The seeds each later look may add, in order."""
        k = self.per_round
        return [self.more_seeds[i:i + k] for i in range(0, len(self.more_seeds), k)]

    @property
    def looks(self) -> int:
        """Times the contrasts are looked at: after ``seeds``, and after each round but the last, plus the
        report's (the same count: the report reads the sweep after its last round)."""
        return 1 + len(self.rounds)


@dataclass
class SweepSettings:
    """What a sweep file sets besides ``base``, ``set``, ``space`` and ``presets``; a preset may set any of it
    but the description, the metrics and the mode (``FILE_ONLY``)."""

    description: str = ""
    """One line for ``--list``."""
    seeds: list[int] = field(default_factory=lambda: [0])
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
    sequential: SequentialSpec = field(default_factory=SequentialSpec)
    max_failures: int = 2
    """Times a trial whose worker died is retried from its last checkpoint."""
    keep_checkpoints: int = 2
    """Checkpoints kept per trial (the newest)."""
    sample_every: int = 0
    """Write a sample grid every this many epochs (0 = only at the end)."""
    caveat: str = ""
    """Where this preset cannot answer its question at its scale, one sentence saying so and why; the report
    puts it first ("" = none)."""
    cells: list[dict] = field(default_factory=list)
    """Configurations to run instead of the space's grid, each a mapping of dotted config keys to values
    (every cell names the same keys): for rows that a grid would cross, e.g. Salakhutdinov & Murray's CD-1,
    CD-3 and CD-25 beside PCD-1. Each cell runs once per seed; the report contrasts cells, never main effects
    of a cross that was not run. Read by :func:`sweeps.spec.load_sweep`, not by the typed loader."""
    literature: list[Claim] = field(default_factory=list)
    """Published claims the report holds the run against, each with its source: ``better``/``than`` selectors
    of cells (one beats the other, paired over seeds) or ``good``/``bad`` with a threshold on the metric's
    position between floor and ceiling (:mod:`sweeps.literature`). Read and checked against the space by
    ``sweeps.literature.read_claims``, not by the typed loader; file only."""

    def __post_init__(self):
        self.description = self.description.strip()
        self.caveat = " ".join(self.caveat.split())
        for key, low in (("num_samples", 1), ("max_failures", 0), ("keep_checkpoints", 1),
                         ("sample_every", 0)):
            check(getattr(self, key) >= low, key, getattr(self, key), f"must be >= {low}")


@dataclass(kw_only=True)
class Sweep(SweepSettings):
    """A sweep file with one preset and the command line's overrides applied."""

    name: str
    """Sweep name (the file's stem); also the default experiment folder under the storage path."""
    path: str
    """The sweep file."""
    preset: str
    """Preset applied: smoke, cpu, full or paper."""
    base: str | None = None
    """Single-run config every trial starts from (None: the kind's defaults plus ``set``)."""
    base_config: Any = None
    """The typed run config every trial starts from (``base`` + ``set`` + ``--set``), before the space."""
    space: dict[str, Domain] = field(default_factory=dict)
    """Dotted config key -> :class:`Domain`."""

    @property
    def config(self) -> dict:
        """``base_config`` as flat dotted keys, for reading (a fresh dict: change ``base_config``, not
        this)."""
        return flatten(to_dict(self.base_config))

    @property
    def kind(self) -> str:
        return self.base_config.kind

    @property
    def epochs(self) -> int:
        return self.base_config.train.epochs

    @property
    def ranked_by(self) -> str:
        return self.rank_metric or self.metric

    def grid(self) -> list[dict]:
        """Every grid point (without seeds): the ``cells`` where given, else the grid domains crossed; sampled
        domains stay as they are."""
        if self.cells:
            return [dict(c) for c in self.cells]
        keys = [k for k, d in self.space.items() if d.kind == "grid"]
        return [dict(zip(keys, values, strict=True))
                for values in itertools.product(*(self.space[k].args for k in keys))]

    def point_config(self, point: dict):
        """The typed run config at one grid point (its values were checked when the space was read)."""
        cfg = self.base_config
        for key, value in point.items():
            cfg = replace(cfg, key, value, f"{self.name}: {key}")
        return cfg

    def n_trials(self, most: bool = False) -> int:
        """Trials the sweep runs; with sequential seeds, the fewest (``most``: the most, every seed spent)."""
        if self.search.type == "optuna":
            return self.num_samples
        seeds = len(self.seeds) + (len(self.sequential.more_seeds) if most else 0)
        return self.num_samples * len(self.grid()) * seeds

    def settings(self) -> Settings:
        """What the sweep varies and measures, resolved (preset and overrides applied), as plain YAML values:
        recorded beside the results (:mod:`ebm.sweep_record`) so the analysis never depends on a sweep file
        that may change later."""
        s, q = self.scheduler, self.sequential
        return Settings(
            metric=self.metric, rank_metric=self.ranked_by, mode=self.mode, description=self.description,
            kind=self.kind, epochs=self.epochs, seeds=list(self.seeds), num_samples=self.num_samples,
            space={k: {d.kind: list(d.args)} for k, d in self.space.items()},
            cells=[dict(c) for c in self.cells] or None,
            scheduler={"type": s.type,
                       "max_t": (s.max_t or self.epochs) if s.type == "asha" else self.epochs},
            search=self.search.type, resources={"cpu": self.resources.cpu, "gpu": self.resources.gpu},
            caveat=self.caveat, literature=[c.to_dict() for c in self.literature],
            sequential=({"more_seeds": list(q.more_seeds), "per_round": q.per_round, "resolve": q.resolve,
                         "looks": q.looks} if q.more_seeds else None),
        )


SECTIONS = {"scheduler": SchedulerSpec, "search": SearchSpec, "resources": ResourcesSpec,
            "sequential": SequentialSpec}
