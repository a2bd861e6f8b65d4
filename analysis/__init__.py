"""Offline analysis of sweeps: experiment folder -> pandas frames -> plots -> a generated report.

    from analysis import load_experiment
    exp = load_experiment("results/rbm_cd_k")
    exp.trials     # one row per trial: config/... columns, final and best metrics, outcome, compute used
    exp.history    # tidy: trial_id, iteration, epoch, eval_epoch, metric, value
    exp.groups()   # per configuration: mean, std, 95% t-interval over seeds, outcome counts

    python -m analysis results/rbm_cd_k [--out DIR]     # report.md + report.html, frames as CSV/Parquet

Reads files only: no Ray cluster, and the trainables need not be importable.
"""

from analysis.frames import AnalysisError, Experiment, load_experiment
from analysis.sweep_info import SweepInfo

__all__ = ["AnalysisError", "Experiment", "SweepInfo", "load_experiment"]
