"""The sweep record (``ebm.sweep_record``): the one contract between the code that runs a sweep and the code
that reads its folder. Written by the driver, read by --resume and by the analysis; no Ray, no torch."""

import dataclasses
import subprocess
import sys

import pytest

from ebm.sweep_record import Record, RecordError, dumps, loads
from sweeps.spec import load_sweep


def test_a_record_round_trips_with_the_sweep_s_own_field_names():
    sweep = load_sweep("rbm_cd_k", "paper")
    record = Record(sweep="configs/sweeps/rbm_cd_k.yaml", preset="paper", overrides=["data.root=/d"],
                    data="mnist", data_requested="mnist", settings=sweep.settings(), provenance={"cpus": 2})
    again = loads(dumps(record), "sweep.yaml")
    assert again == record
    settings = again.settings
    assert (settings.metric, settings.rank_metric, settings.ranked_by) == (sweep.metric, sweep.ranked_by,
                                                                          sweep.ranked_by)
    names = {f.name for f in dataclasses.fields(settings)}
    assert names <= {f.name for f in dataclasses.fields(type(sweep))} | {"kind", "epochs"}  # Sweep's names


@pytest.mark.parametrize("text, message", [
    ("[1, 2]",
     "sweep.yaml is not a sweep record written by sweeps/run.py (no sweep, preset, overrides, data)"),
    ("sweep: x\npreset: cpu\noverrides: []\ndata: mnist\nsettings: {mode: max}\n",
     "sweep.yaml: its settings lack metric, rank_metric or mode"),
    ("sweep: [unclosed\n", "sweep.yaml is not valid YAML"),
])
def test_a_record_that_is_not_one_is_one_line(text, message):
    with pytest.raises(RecordError) as e:
        loads(text, "sweep.yaml")
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_the_analysis_imports_neither_sweeps_nor_ray_and_the_contract_not_torch():
    code = ("import sys; import analysis.__main__, analysis.report, ebm.sweep_record; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sweeps', 'ray')); "
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    contract = subprocess.run([sys.executable, "-c", "import sys, ebm.sweep_record; "
                               "assert not {'torch', 'ray'} & set(sys.modules), 'heavy import'"],
                              capture_output=True, text=True, timeout=60)
    assert contract.returncode == 0, contract.stderr
