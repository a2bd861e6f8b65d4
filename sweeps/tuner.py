"""A validated :class:`~sweeps.spec.Sweep` -> ``tune.Tuner``: search space, scheduler, search algorithm.

The one place a Tuner is built. Trials get the flat run config (dotted keys) as their Tune config, so
``params.json``, ``progress.csv`` and ``config/...`` columns name the same keys as the YAML and ``--set``;
:func:`param_space` is where the sweep's typed base config is flattened, once. :func:`max_concurrent` decides
how many trials run at once, for the Tuner and for the dry run alike; Ray is imported only by the functions
that build Tune objects, so the dry run reads it without importing Ray.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ebm.config import to_dict
from ebm.strict import ConfigError, flatten
from sweeps.space import Domain
from sweeps.sweep import Sweep

if TYPE_CHECKING:
    from ray import tune


def param_space(sweep: Sweep) -> dict:
    """Every trial's config: the resolved base config, the space's domains, and the seeds as a grid. With
    listed cells or sequential seeds the search algorithm hands out the swept keys and the seed, so only the
    base config is here."""
    from ray import tune

    space = flatten(to_dict(sweep.base_config))
    if _listed(sweep):
        return space
    space.update({key: _tune_domain(d) for key, d in sweep.space.items()})
    space["seed"] = tune.grid_search(sweep.seeds) if len(sweep.seeds) > 1 else sweep.seeds[0]
    return space


def make_trainable(kind: str, data: dict | None, metric: str, sample_every: int, cpu: float, gpu: float):
    """The kind's trainable with the shared data set bound (object store) and its resources per trial."""
    from ray import tune

    from trainables import TRAINABLES

    fn = tune.with_parameters(TRAINABLES[kind], data=data, metric=metric, sample_every=sample_every)
    return tune.with_resources(fn, {"cpu": cpu, "gpu": gpu})


def make_tuner(sweep: Sweep, trainable, storage: str, name: str, cluster_cpus: float,
               callbacks: list | None = None) -> tune.Tuner:
    from ray import tune

    return tune.Tuner(
        trainable,
        param_space=param_space(sweep),
        tune_config=tune.TuneConfig(
            metric=sweep.metric, mode=sweep.mode,
            # -1: until the search ends it
            num_samples=-1 if _listed(sweep) else sweep.num_samples,
            scheduler=_scheduler(sweep), search_alg=_search_alg(sweep, cluster_cpus),
            reuse_actors=True,  # a trial after another on the same worker skips the torch import
            trial_dirname_creator=TrialName(list(sweep.space)),
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, verbose=1,
            sync_config=tune.SyncConfig(sync_artifacts=True),  # sample grids from the trial folders
            failure_config=tune.FailureConfig(max_failures=sweep.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=sweep.keep_checkpoints),
            callbacks=callbacks or None,
        ),
    )


class TrialName:
    """A trial's folder (and TensorBoard run) name: ``train_rbm_2c205b55_00003_init=data,k=25,seed=0``, the
    swept keys' short names and the seed. Tune's own names every config key a search algorithm hands out, the
    whole base config for listed cells. A class, not a closure, so that a restored Tuner unpickles it."""

    def __init__(self, keys: list[str]):
        self.keys = keys

    def __call__(self, trial) -> str:
        config = trial.config
        names = {k: k.rsplit(".", 1)[-1] for k in self.keys}
        tag = ",".join(f"{names[k]}={_short(config.get(k))}" for k in self.keys if k in config)
        tag += f"{',' if tag else ''}seed={config.get('seed')}"
        return f"{trial.trainable_name}_{trial.trial_id}_{tag}"[:120]


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v).replace("/", "-")


CALLBACKS = ("mlflow", "wandb")


def tracking_callbacks(names: list[str], experiment: str) -> list:
    """Tune's own logger callbacks for experiment trackers (``ray.tune.logger``), one per ``--callback`` name.
    A missing package is a ConfigError whose one line names the extra to install. MLflow logs to
    $MLFLOW_TRACKING_URI (default ./mlruns); W&B to $WANDB_PROJECT, offline when WANDB_MODE=offline."""
    out = []
    for name in names:
        try:
            if name == "mlflow":
                import mlflow  # noqa: F401
                from ray.tune.logger.mlflow import MLflowLoggerCallback

                out.append(MLflowLoggerCallback(tracking_uri=os.environ.get("MLFLOW_TRACKING_URI"),
                                                experiment_name=experiment, save_artifact=False))
            elif name == "wandb":
                import wandb  # noqa: F401
                from ray.tune.logger.wandb import WandbLoggerCallback

                out.append(WandbLoggerCallback(project=os.environ.get("WANDB_PROJECT", experiment)))
            else:
                raise ConfigError(f"unknown --callback {name!r}; choose from {', '.join(CALLBACKS)}")
        except ImportError:
            raise ConfigError(f"--callback {name} needs the {name} package: pip install -e "
                              f"\".[{name}]\"") from None
    return out


def restore_tuner(path: str, trainable) -> tune.Tuner:
    """An interrupted sweep: finished trials stay as they are, unfinished and errored ones resume from
    their last checkpoint."""
    from ray import tune

    return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)


def can_restore(path: str) -> bool:
    from ray import tune

    return tune.Tuner.can_restore(path)


def max_concurrent(sweep: Sweep, cluster_cpus: float, cluster_gpus: float | None = None) -> int:
    """Trials in flight at once: as many as the cluster's CPUs fit (at least one) and, for trials asking for a
    GPU when ``cluster_gpus`` is given, as many as its GPUs fit (0 when none does: such trials never start).
    Optuna sweeps are capped by ``search.max_concurrent`` through a ConcurrencyLimiter; grid and random
    searches queue every trial and Ray's resources alone decide, so the setting does not cap them.

    The one rule: the Tuner's limiter, the driver's plan line and the dry run's resource plan and projection
    all call this function."""
    r, s = sweep.resources, sweep.search
    fit = max(1, int(cluster_cpus // r.cpu))
    if r.gpu and cluster_gpus is not None:
        fit = min(fit, int(cluster_gpus // r.gpu))
    return min(fit, s.max_concurrent) if s.type == "optuna" and s.max_concurrent else fit


def _listed(sweep: Sweep) -> bool:
    """Whether :class:`~sweeps.seed_searcher.SeedSearcher` lists the trials (cells, or sequential seeds)."""
    return bool(sweep.cells or sweep.sequential.more_seeds)


def _tune_domain(d: Domain):
    from ray import tune

    if d.kind == "grid":
        return tune.grid_search(list(d.args))
    if d.kind == "choice":
        return tune.choice(list(d.args))
    return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[d.kind](*d.args)


def _scheduler(sweep: Sweep):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    s = sweep.scheduler
    if s.type != "asha":
        return FIFOScheduler()
    # Li et al. 2020 (ASHA): promote the top 1/reduction_factor at each rung, without waiting for stragglers.
    return ASHAScheduler(time_attr=s.time_attr, grace_period=s.grace_period, max_t=s.max_t,
                         reduction_factor=s.reduction_factor)


def _search_alg(sweep: Sweep, cluster_cpus: float):
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if _listed(sweep):
        from sweeps.seed_searcher import SeedSearcher

        keys = [k for k, d in sweep.space.items() if d.kind == "grid"]
        return SeedSearcher(keys, [tuple(p[k] for k in keys) for p in sweep.grid()], sweep.seeds,
                            sweep.sequential.rounds, sweep.ranked_by, sweep.mode, sweep.sequential.resolve)
    if sweep.search.type != "optuna":
        return BasicVariantGenerator(random_state=sweep.search.seed)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    sampler = optuna.samplers.TPESampler(seed=sweep.search.seed)
    return ConcurrencyLimiter(OptunaSearch(sampler=sampler, metric=sweep.metric, mode=sweep.mode),
                              max_concurrent=max_concurrent(sweep, cluster_cpus))
