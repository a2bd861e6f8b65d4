"""The table ``sweeps/run.py`` prints when a sweep ends (``sweeps.report.final_table``), without Ray.

It ranks by the analysis's rule (``analysis.stats.group_table``): read from the experiment folder, or, for
storage the analysis cannot read as a folder (s3://), from Tune's ResultGrid; a stand-in for it here.
"""

import math
from types import SimpleNamespace

import pandas as pd
from test_analysis_helpers import NAN, write_experiment, write_sweep_file
from test_sweeps_helpers import write_sweep

from analysis import load_experiment
from sweeps.report import final_table
from sweeps.spec import load_sweep

LL = "eval/log_likelihood"


class _ResultGrid(list):
    """What final_table reads of Tune's ResultGrid: its frame, and each result's error and metrics."""

    def __init__(self, df: pd.DataFrame, errored: set):
        super().__init__(SimpleNamespace(metrics={"trial_id": t},
                                         error=RuntimeError("boom") if t in errored else None)
                         for t in df["trial_id"])
        self.df = df

    def get_dataframe(self) -> pd.DataFrame:
        return self.df.copy()


def _rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()[2:]]


def test_a_configuration_with_a_diverged_seed_ranks_last_in_the_drivers_table(tmp_path):
    # k=5's surviving seed has the best value of all; its other seed diverged, so it ranks after k=1
    sweep = write_sweep_file(tmp_path, "div", "configs/rbm_mnist_pcd1.yaml", {"sampler.k": {"grid": [1, 5]}},
                             [0, 1], LL, "max", epochs=2)
    trials = [{"params": {"sampler.k": 1, "seed": 0}, "values": [-110, -100]},
              {"params": {"sampler.k": 1, "seed": 1}, "values": [-112, -102]},
              {"params": {"sampler.k": 5, "seed": 0}, "values": [-95, -80]},
              {"params": {"sampler.k": 5, "seed": 1}, "values": [-120, NAN], "diverged": True}]
    path = write_experiment(tmp_path, "div", sweep, trials, LL, samples=False,
                            config={"kind": "rbm", "train.epochs": 2})
    table, unfinished = final_table(path, None, load_sweep(sweep, "cpu"), top=5)
    lines = table.splitlines()
    assert (lines[0].startswith(f"best 2 of 2 configurations by {LL} (max)")
            and "diverged trial last" in lines[0])
    assert lines[1].split() == ["#", "sampler.k", f"{LL}", "(max)", "±", "95%", "CI", "n", "ok", "diverged",
                                "errored", "stopped", "unfinished"]
    assert _rows(table) == [["1", "1", "-101", "12.706", "2", "2", "0", "0", "0", "0"],
                            ["2", "5", "-80", "-", "1", "1", "1", "0", "0", "0"]]
    assert unfinished == 0
    assert list(load_experiment(path).groups()["sampler.k"]) == [1, 5]  # the report's order is the same


def test_storage_the_analysis_cannot_read_gets_the_same_table_from_rays_results(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "remote", epochs=3, space={"sampler.k": {"grid": [1, 5]}}),
                       "cpu")
    df = pd.DataFrame({"trial_id": ["t1", "t2", "t3", "t4", "t5", "t6"],
                       "config/sampler.k": [1, 1, 1, 5, 5, 1],
                       LL: [-100.0, -102.0, -50.0, -90.0, math.nan, -120.0],
                       "status": ["ok", "ok", "ok", "ok", "diverged", "ok"],
                       "training_iteration": [3, 3, 2, 3, 1, 1]})
    table, unfinished = final_table("s3://bucket/sweeps/remote", _ResultGrid(df, errored={"t3"}), sweep,
                                    top=5)
    # t3 errored and t6 (one epoch of three, no error) was unfinished: counted, never averaged in;
    # k=5's mean is the best, but a seed diverged: it ranks last
    assert _rows(table) == [["1", "1", "-101", "12.706", "2", "2", "0", "1", "0", "1"],
                            ["2", "5", "-90", "-", "1", "1", "1", "0", "0", "0"]]
    assert unfinished == 1


def test_an_empty_result_grid_says_so(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "empty", epochs=1), "cpu")
    table, unfinished = final_table("s3://bucket/sweeps/empty",
                                    _ResultGrid(pd.DataFrame({"trial_id": []}), set()), sweep, top=5)
    assert (table, unfinished) == ("no trial reported a result", 0)
