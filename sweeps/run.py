"""``python sweeps/run.py NAME``: run the named Ray Tune sweep ``configs/sweeps/NAME.yaml``.

    python sweeps/run.py --list
    python sweeps/run.py ablation_langevin                    # preset cpu (full when CUDA is visible)
    python sweeps/run.py rbm_cd_k --preset smoke --dry-run     # trials and resource plan; runs nothing
    python sweeps/run.py rbm_cd_k --set data.root=/data/mnist --storage s3://bucket/sweeps
    python sweeps/run.py rbm_cd_k --resume                     # continue an interrupted sweep
    python sweeps/run.py tune_rbm --address auto               # join a running Ray cluster

Results go to ``STORAGE/NAME`` (``--name`` picks another folder). A folder already holding a sweep is never
written into except by ``--resume``, which continues it: finished trials stay, unfinished and errored ones go
on from their last checkpoint. Bad input ends with one line on stderr and exit status 2, before anything is
written or Ray starts.
"""

from __future__ import annotations

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = REPO_ROOT  # run as a script: import the ``sweeps`` package, not its modules one by one
elif REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import argparse  # noqa: E402
import signal  # noqa: E402

from ebm.strict import ConfigError  # noqa: E402
from ebm.sweep_record import Record  # noqa: E402
from sweeps import records  # noqa: E402
from sweeps.dry_run import dry_run, plan  # noqa: E402
from sweeps.spec import PRESETS, describe_all, load_sweep, sweep_path  # noqa: E402

USER_ERRORS = (ConfigError,)  # run configs, sweep files and (sweeps.shared_data) missing data sets alike
# Tune snapshots the experiment state whenever a trial has checkpointed num_to_keep times (so that resume
# never points at a deleted checkpoint) and warns that this is frequent; with per-epoch checkpoints it is.
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
DASHBOARD_HOST = "127.0.0.1"
# presets that refuse the embedded fallback data set unless --no-strict-data
STUDY_PRESETS = ("full", "paper")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.overrides = [item for group in args.overrides for item in group]  # --set a=1 b=2 --set c=3
    try:
        if args.list:
            return cmd_list()
        if not args.name:
            raise ConfigError("name a sweep to run (python sweeps/run.py NAME); --list shows them")
        return cmd_run(args)
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python sweeps/run.py",
                                description=__doc__.splitlines()[0].replace("``", ""),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="sweep name (configs/sweeps/NAME.yaml) or a sweep file's path")
    p.add_argument("--preset", choices=PRESETS, help="smoke (seconds), cpu (minutes on a laptop; the default "
                   "on every machine), study (under an hour on 2 CPU cores: more seeds or cells, where the "
                   "cpu preset is a quick look), full (GPU scale) or paper (a published table's setting)")
    p.add_argument("--set", dest="overrides", action="append", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override the base config of every trial, e.g. --set data.root=/data sampler.k=5 "
                   "(dotted keys; several per flag, and the flag may repeat)")
    p.add_argument("--storage", default="./results",
                   help="folder or URI (s3://..., a shared path for clusters) for experiments [./results]")
    p.add_argument("--name", dest="experiment", help="experiment folder under --storage [the sweep's name]")
    p.add_argument("--address", help="join a running Ray cluster (e.g. auto, or HEAD_IP:6379) instead of "
                   "starting one here")
    p.add_argument("--num-cpus", type=int, help="CPUs the local Ray may use [all]; ignored with --address")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted sweep in STORAGE/NAME with the settings it started with")
    p.add_argument("--dashboard", action=argparse.BooleanOptionalAction, default=True,
                   help=f"start the Ray dashboard on {DASHBOARD_HOST} and print its URL and login [on]")
    p.add_argument("--strict-data", action=argparse.BooleanOptionalAction, default=None,
                   help="a missing data set is an error instead of a fallback to the embedded mnist5k "
                   "[on for the full and paper presets, off for cpu and smoke]")
    p.add_argument("--list", action="store_true", help="list the sweeps, one line each")
    p.add_argument("--dry-run", action="store_true",
                   help="print the trials, the resource plan and the projected wall time; run nothing")
    p.add_argument("--no-projection", dest="project", action="store_false",
                   help="with --dry-run: skip timing a few updates per configuration for the projection")
    p.add_argument("--top", type=int, default=5, help="configurations in the final table [5]")
    p.add_argument("--callback", dest="callbacks", action="append", default=[], choices=("mlflow", "wandb"),
                   help="also log every trial to an experiment tracker through Tune's callbacks "
                        "(repeatable): "
                   "mlflow (to $MLFLOW_TRACKING_URI, default ./mlruns; pip install -e \".[mlflow]\") or "
                   "wandb ($WANDB_PROJECT; WANDB_MODE=offline works without a network; pip install -e "
                   "\".[wandb]\")")
    return p


# --------------------------------------------------------------------------------------------------


def cmd_list() -> int:
    rows = describe_all()
    width = max((len(n) for n, _ in rows), default=0)
    for name, description in rows:
        print(f"{name.ljust(width)}  {description}")
    return 0


def cmd_run(args) -> int:
    sweep_path(args.name)  # an unknown name fails here, before torch or Ray is imported
    storage = records.storage_path(args.storage)
    experiment = args.experiment or os.path.splitext(os.path.basename(args.name))[0]
    path = records.join(storage, experiment)
    if args.resume:
        if args.overrides or args.preset or args.callbacks:  # Tune restores the trackers with the run config
            raise ConfigError("--resume continues a sweep as it began, trackers included; "
                              "drop --set/--preset/--callback")
        record = records.read_record(path)
        sweep = load_sweep(record.sweep, record.preset, record.overrides)
        sweep.base_config.data.name = record.data
        from sweeps.tuner import can_restore

        if not can_restore(path):
            raise ConfigError(f"{path} has no Tune experiment state to resume; start it without --resume")
        print(f"resuming {path} (preset {sweep.preset}, data {record.data})", flush=True)
    else:
        sweep = load_sweep(args.name, args.preset or _default_preset(), args.overrides)
        if records.holds_sweep(path) and not args.dry_run:
            raise ConfigError(f"{path} already holds a sweep; continue it with --resume, or write a new one "
                              f"with --name {experiment}-2 (results on disk are never overwritten)")
        record = Record(sweep=os.path.relpath(sweep.path, REPO_ROOT) if sweep.path.startswith(REPO_ROOT)
                        else os.path.abspath(sweep.path), preset=sweep.preset, overrides=list(args.overrides))
    strict = args.strict_data if args.strict_data is not None else sweep.preset in STUDY_PRESETS
    if args.dry_run:  # says what the run below would do, data set included
        return dry_run(sweep, path, args.project, strict=strict, fallback=not args.resume)
    from sweeps import tuner as tuners

    # a missing package: one line, before Ray
    callbacks = tuners.tracking_callbacks(args.callbacks, experiment)

    from sweeps.shared_data import load_shared, warm_caches

    requested = sweep.base_config.data.name
    data = load_shared(sweep, strict=strict, fallback=not args.resume)
    record.data = data["name"]
    record.data_requested = record.data_requested or requested
    print(f"data set: {data['name']} ({len(data['train'])} train / {len(data['test'])} held-out images); "
          f"recorded as data.name in every trial's config", flush=True)
    warm_caches(sweep)

    import ray

    started = _start_ray(args)
    stop = _StopSignals()
    try:
        cpus = ray.cluster_resources().get("CPU", 1)
        trainable = tuners.make_trainable(sweep.kind, data, sweep.metric, sweep.sample_every,
                                          sweep.resources.cpu, sweep.resources.gpu)
        if args.resume:
            tuner = tuners.restore_tuner(path, trainable)
        else:
            plan(sweep, cpus)
            tuner = tuners.make_tuner(sweep, trainable, storage, experiment, cpus, callbacks)
            record.settings, record.provenance = sweep.settings(), records.provenance()
            records.write_record(path, record)
        with stop:
            results = tuner.fit()
    finally:
        if started:
            ray.shutdown()

    from sweeps.report import final_table

    table, unfinished = final_table(path, results, sweep, args.top)
    print(table)
    print(f"results: {path}  (tensorboard --logdir {path}; Tuner.restore(path, trainable).get_results())")
    if stop.received or unfinished:
        name = "SIGTERM" if stop.received == signal.SIGTERM else "SIGINT"
        storage_arg = f" --storage {args.storage}" if args.storage != "./results" else ""
        name_arg = f" --name {experiment}" if experiment != sweep.name else ""
        why = name if stop.received else "SIGINT, or Tune stopped"
        print(f"interrupted ({why}): {unfinished} trial(s) unfinished. "
              f"Continue with: python sweeps/run.py {sweep.name}{storage_arg}{name_arg} --resume ; "
              f"analyse what is there with: python -m analysis {path}", file=sys.stderr, flush=True)
        return 143 if stop.received == signal.SIGTERM else 130
    if results.errors:
        print(f"{len(results.errors)} trial(s) ended with an error (see error.txt in their folders); "
              f"retry them with --resume", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------


class _StopSignals:
    """While a sweep runs, SIGTERM asks Tune to stop as SIGINT does (Tune stops its trials, saves the
    experiment state and returns from ``fit``), and either is remembered so the driver exits 130 or 143."""

    def __init__(self):
        self.received = 0
        self._previous: dict = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.getsignal(sig)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_int)
        return self

    def _on_int(self, signum, frame):
        self.received = self.received or signum
        previous = self._previous[signal.SIGINT]
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    def _on_term(self, signum, frame):
        self.received = signum
        signal.raise_signal(signal.SIGINT)  # Tune's own SIGINT handler, installed inside fit(), stops cleanly

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


def _default_preset() -> str:
    """cpu on every machine, so the main command does the same everywhere; with CUDA visible, one line says
    how to run the study at GPU scale instead."""
    import torch

    if torch.cuda.is_available():
        print("preset: cpu (the default everywhere). A CUDA device is visible: --preset full runs the study "
              "at GPU scale; add --dry-run to see its projected wall time first", flush=True)
    else:
        print("preset: cpu (the default; choose with --preset smoke|cpu|study|full|paper)", flush=True)
    return "cpu"


def _start_ray(args) -> bool:
    """Start or join Ray and print the dashboard's URL and login; False when this process was already in a
    Ray session (the caller then leaves it running)."""
    import ray

    if ray.is_initialized():
        return False
    if args.address:
        ctx = ray.init(address=args.address)
    else:
        ctx = ray.init(num_cpus=args.num_cpus, include_dashboard=args.dashboard,
                       dashboard_host=DASHBOARD_HOST)
    url = getattr(ctx, "dashboard_url", None)
    if not url:
        print("dashboard: off", flush=True)
        return True
    login = "no login (token auth is off)"
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":  # Ray 2.60 turns it on for new local clusters
        where = ("$RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN")
                 else os.environ.get("RAY_AUTH_TOKEN_PATH") or "~/.ray/auth_token")
        login = (f"token auth: paste the token that `ray get-auth-token` prints (it is in {where}) into the "
                 f"dashboard's login prompt; API clients send 'Authorization: Bearer <token>'")
    port = url.rsplit(":", 1)[-1]
    print(f"dashboard: http://{url}  ({login}; from another machine: ssh -L {port}:{DASHBOARD_HOST}:{port} "
          f"THIS_HOST, then open http://localhost:{port})", flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
