"""``python -m analysis results/NAME``: the report of a finished (or interrupted) sweep, offline.

    python -m analysis results/rbm_cd_k                 # -> results/rbm_cd_k/report/report.{md,html}
    python -m analysis results/rbm_cd_k --out reports/a  # somewhere else
    python -m analysis results/tune_rbm --metric eval/log_likelihood --mode max

Writes report.md, a self-contained report.html, the plots (PNG) and the frames (trials, groups, history as
CSV, and Parquet where pyarrow is installed). An existing, non-empty output folder is refused unless
``--overwrite``; the experiment's own files are only read. Bad input ends with one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

DEFAULT_OUT = "report"  # under the experiment folder: the report travels with its results


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from analysis.frames import AnalysisError, load_experiment

    try:
        out = args.out or os.path.join(args.experiment, DEFAULT_OUT)
        if os.path.isfile(out):
            raise AnalysisError(f"--out {out} is a file; give a folder")
        if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
            raise AnalysisError(f"{out} already holds files; pass --overwrite to replace the report there, "
                                "or --out another folder")
        exp = load_experiment(args.experiment, metric=args.metric, mode=args.mode)
        if args.metric and args.metric not in set(exp.history["metric"]):
            raise AnalysisError(f"--metric {args.metric} is not reported by any trial of {exp.path}")
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from analysis.report import write_report

    command = "python -m analysis " + " ".join(shlex.quote(a)
                                               for a in (sys.argv[1:] if argv is None else argv))
    written = write_report(exp, out, command)
    t = exp.trials
    counts = ", ".join(f"{n} {o}" for o, n in t["outcome"].value_counts().items())
    print(f"{exp.sweep.name}: {len(t)} trials ({counts}); report: {written['report.html']} and report.md, "
          f"frames and plots in {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis",
                                description="The report of a finished (or interrupted) "
                                "sweep, offline: report.md, report.html, plots and frames.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("experiment", help="an experiment folder written by sweeps/run.py (STORAGE/NAME)")
    p.add_argument("--out", help=f"folder for the report, plots and frames [EXPERIMENT/{DEFAULT_OUT}]")
    p.add_argument("--overwrite", action="store_true", help="replace the report files in a non-empty --out")
    p.add_argument("--metric", help="rank by this reported metric instead of the sweep's")
    p.add_argument("--mode", choices=("max", "min"), help="whether a larger --metric is better")
    return p


if __name__ == "__main__":
    sys.exit(main())
