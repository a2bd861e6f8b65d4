"""A sweep file's ``literature:``: checked when the sweep loads (one line, exit status 2), recorded with its
settings, and judged in the report by the contrast rule (agrees / DISAGREES / not resolved / too few seeds).
Synthetic experiment folders; no Ray, no training."""

import dataclasses
import os

import pytest
import yaml
from test_analysis_helpers import langevin_grid
from test_sweeps_helpers import run_cli, write_sweep

from analysis import load_experiment
from analysis.summary import sentences
from ebm.strict import ConfigError
from sweeps.spec import load_sweep

IGEBM = {"source": "Du & Mordatch 2019 (IGEBM; openai/ebm_code_release)",
         "claim": "Langevin step 10 with noise 0.005 draws realistic samples",
         "better": {"sampler.step_size": 10.0}, "than": {"sampler.step_size": 1.0}}


def _claims(text: list[str], source: str) -> list[str]:
    return [s for s in text if s.startswith(source)]


# --------------------------------------------------------------------------------------------------
# Judged in the report


def test_claims_are_judged_near_the_top_of_the_summary(tmp_path):
    literature = [
        IGEBM,
        {"source": "Reversed", "claim": "step 1 beats step 10", "better": {"sampler.step_size": 1.0},
         "than": {"sampler.step_size": 10}},
        {"source": "Close", "claim": "step 10 beats step 100", "better": {"sampler.step_size": 10.0},
         "than": {"sampler.step_size": 100.0}},
        {"source": "Good", "claim": "step 10 draws digits", "good": {"sampler.step_size": 10.0},
         "position_below": 0.5},
        {"source": "Bad", "claim": "step 10 at noise 0.005 draws noise",
         "bad": {"sampler.step_size": 10.0, "sampler.noise_std": 0.005}, "position_above": 0.5},
    ]
    text = sentences(langevin_grid(tmp_path, literature=literature))
    assert text[1].startswith("Best configuration") and text[2].startswith("Du & Mordatch 2019")
    (igebm,) = _claims(text, "Du & Mordatch 2019")
    assert igebm.startswith("Du & Mordatch 2019 (IGEBM; openai/ebm_code_release): Langevin step 10 with "
                            "noise 0.005 draws realistic samples; here step_size=10 (mean of 3 cells per "
                            "seed) beats step_size=1 (mean of 3 cells per seed) by 0.977 ± 0.2 in "
                            "eval/kid_domain (95% CI, paired over 4 seeds)")
    assert igebm.endswith(": this run agrees.")
    (reversed_,) = _claims(text, "Reversed")
    assert " trails step_size=10 " in reversed_ and reversed_.endswith(": this run DISAGREES.")
    (close,) = _claims(text, "Close")
    assert "no difference larger than" in close
    assert close.endswith(": not resolved at this scale (the interval includes 0).")
    (good,) = _claims(text, "Good")
    assert "here step_size=10 (mean of 3 cells per seed) sits at 0.00" in good
    assert ("of the way from the floor (held-out data, 0) to the ceiling (uniform noise, 1) of "
            "eval/kid_domain" in good)
    assert good.endswith("(95% CI over 4 seeds), below 0.5: this run agrees.")
    (bad,) = _claims(text, "Bad")
    assert "here step_size=10, noise_std=0.005 sits at " in bad
    assert bad.endswith(", below 0.5: this run DISAGREES.")


def test_two_seeds_are_too_few_to_judge_a_claim(tmp_path):
    literature = [IGEBM,
                  {"source": "Good", "claim": "step 10 draws digits", "good": {"sampler.step_size": 10.0},
                          "position_below": 0.5}]
    text = sentences(langevin_grid(tmp_path, seeds=(0, 1), literature=literature))
    (igebm,) = _claims(text, "Du & Mordatch 2019")
    assert igebm.endswith("by 0.879 in eval/kid_domain (2 seeds: 0.83, 0.928; a paired interval needs >= 4 "
                          "seeds to call it): too few seeds (every seed leans its way).")
    (good,) = _claims(text, "Good")
    assert "(2 seeds: 0.00" in good and good.endswith(": too few seeds (every seed leans its way).")


def test_diverged_cells_are_left_out_of_a_side_and_said_so(tmp_path):
    text = sentences(langevin_grid(tmp_path, diverged={(10.0, 0.02, 3)}, literature=[IGEBM]))
    (igebm,) = _claims(text, "Du & Mordatch 2019")
    assert ("here step_size=10 (mean of 2 cells per seed; step_size=10, noise_std=0.02 left out: a trial "
            "diverged) beats step_size=1 (mean of 3 cells per seed) by ") in igebm


def test_a_value_only_another_preset_runs_is_not_tested_here(tmp_path):
    claim = {"source": "Wide", "claim": "step 1000 diverges less", "better": {"sampler.step_size": 1000.0},
             "than": {"sampler.step_size": 1.0}}
    presets = {"full": {"space": {"sampler.step_size": {"grid": [10.0, 1000.0]}}}}
    exp = langevin_grid(tmp_path, literature=[claim], presets=presets)
    (line,) = _claims(sentences(exp), "Wide")
    assert (line == "Wide: step 1000 diverges less; not tested by this run: no configuration has "
                    "step_size=1000.")


def test_the_entries_are_recorded_with_the_settings(tmp_path):
    exp = langevin_grid(tmp_path, literature=[IGEBM])
    settings = load_sweep(os.path.join(str(tmp_path), "langevin.yaml"), "cpu").settings()
    assert settings.literature == [IGEBM]
    record_file = os.path.join(exp.path, "sweep.yaml")
    record = yaml.safe_load(open(record_file))
    with open(record_file, "w") as f:  # as sweeps/run.py records it; then the sweep file changes
        yaml.safe_dump({**record, "settings": dataclasses.asdict(settings)}, f)
    os.remove(os.path.join(str(tmp_path), "langevin.yaml"))
    again = load_experiment(exp.path)
    assert again.sweep.literature == [IGEBM] and "as recorded" in again.sweep.source
    assert _claims(sentences(again), "Du & Mordatch 2019")[0].endswith("this run agrees.")


# --------------------------------------------------------------------------------------------------
# Checked when the sweep loads


def _entry(**fields):
    return {"source": "S", "claim": "C", **fields}


K1, K5 = {"sampler.k": 1}, {"sampler.k": 5}


@pytest.mark.parametrize("literature, message", [
    ({"source": "S"}, "literature must be a list of entries"),
    (["a claim"], "literature[0] must be a mapping"),
    ([_entry(betetr=K5, than=K1)], "literature[0]: unknown key 'betetr'; did you mean better?"),
    ([{"claim": "C", "better": K5, "than": K1}], "literature[0]: source must be non-empty text"),
    ([_entry(better={"sampler.kk": 5}, than=K1)],
     "literature[0].better: unknown swept key 'sampler.kk'; did you mean sampler.k?"),
    ([_entry(better={"train.lr": 0.1}, than=K1)], "literature[0].better: unknown swept key 'train.lr'"),
    ([_entry(better={"sampler.k": 7}, than=K1)],
     "literature[0].better: sampler.k=7 is not in its grid [1, 5]; choose one of those values"),
    ([_entry(better=K5, than=K1, good=K5)], "give exactly one of better + than, good + position_below, bad + "
                                           "position_above, at + value (got better, good, than)"),
    ([_entry(at=K5)], "(got at)"),
    ([_entry(at=K5, value="-90 nats")], "value='-90 nats' must be the published figure, a finite number"),
    ([_entry(at={"sampler.k": 7}, value=-90)], "literature[0].at: sampler.k=7 is not in its grid [1, 5]"),
    ([_entry(better=K5)], "(got better)"),
    ([_entry(better=K5, than=K5)], "better and than select the same cells"),
    ([_entry(better={}, than=K1)], "literature[0].better must map swept keys to grid values"),
    ([_entry(good=K5, position_below=2)],
     "position_below=2 must be a number between 0 (held-out data) and 1"),
    ([_entry(good=K5, position_below=0.5)],
     "literature[0] tests the position between floor and ceiling, but rbm runs with this config report no "
     "eval/log_likelihood_position"),
])
def test_a_bad_entry_is_refused_with_one_line(tmp_path, literature, message):
    path = write_sweep(tmp_path, "bad", space={"sampler.k": {"grid": [1, 5]}}, literature=literature)
    with pytest.raises(ConfigError) as e:
        load_sweep(path, "cpu")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(path)  # where: the sweep file


def test_a_preset_s_literature_replaces_the_file_s(tmp_path):
    path = write_sweep(tmp_path, "lit", space={"sampler.k": {"grid": [1, 5]}},
                       literature=[_entry(better=K5, than=K1)],
                       presets={"smoke": {"literature": [_entry(at=K5, value=-90)]}})
    assert [c.better for c in load_sweep(path, "cpu").literature] == [K5]
    (claim,) = load_sweep(path, "smoke").literature
    assert claim.at == K5 and claim.value == -90.0 and not claim.uses_position


def test_a_sampled_key_cannot_be_selected(tmp_path):
    path = write_sweep(tmp_path, "bad", space={"train.lr": {"loguniform": [0.001, 0.1]}},
                       search={"type": "none"},
                       literature=[_entry(better={"train.lr": 0.01}, than={"train.lr": 0.001})])
    with pytest.raises(ConfigError, match="train.lr is sampled, not a grid"):
        load_sweep(path, "cpu")


def test_the_driver_refuses_a_bad_entry_before_anything_runs(tmp_path):
    path = write_sweep(tmp_path, "bad", space={"sampler.k": {"grid": [1, 5]}},
                       literature=[_entry(better={"sampler.k": 7}, than=K1)])
    proc = run_cli(path, "--storage", str(tmp_path / "results"))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "sampler.k=7 is not in its grid [1, 5]" in lines[0] and not (tmp_path / "results").exists()


# --------------------------------------------------------------------------------------------------
# Published figures beside the run (at + value), on listed cells


TABLE2 = [{"source": "Salakhutdinov & Murray 2008, Table 2", "claim": f"CD{k}(500): {v} nats",
           "at": {"sampler.init": "data", "sampler.k": k}, "value": v}
          for k, v in ((1, -125.53), (3, -105.5), (25, -86.34))]
CELLS = [{"sampler.init": "data", "sampler.k": k} for k in (25, 3, 1)] + [{"sampler.init": "persistent",
                                                                           "sampler.k": 1}]


def _table2(tmp_path, means: dict, unreliable=()):
    """The paper preset in miniature: 4 cells x 4 seeds, final/log_likelihood around ``means`` ((init, k) ->
    mean) with a seed effect and a little noise, RAISE 1 nat below; ``unreliable``: (init, k) whose run called
    every seed's value unreliable."""
    from test_analysis_helpers import write_experiment, write_sweep_file

    sweep = write_sweep_file(tmp_path, "table2", "configs/rbm_mnist_cd1.yaml", {}, [0, 1, 2, 3],
                             "final/log_likelihood", "max", epochs=2, cells=CELLS, literature=TABLE2)
    trials = []
    for cell in CELLS:
        key = (cell["sampler.init"], cell["sampler.k"])
        for seed in range(4):
            v = means[key] + 0.5 * seed + 0.1 * ((seed * 7 + cell["sampler.k"]) % 3)
            trials.append({"params": {**cell, "seed": seed}, "values": [v - 5, v],
                           "extra": {"final/reliable": [True, key not in unreliable],
                                     "final/raise_log_likelihood": [v - 6, v - 1]}})
    path = write_experiment(tmp_path, "table2", sweep, trials, "final/log_likelihood", samples=False,
                            config={"kind": "rbm", "train.epochs": 2, "model.n_hidden": 500})
    return load_experiment(path)


def test_published_figures_sit_beside_the_run_and_the_order_is_held_step_by_step(tmp_path):
    from analysis.literature import published_table

    exp = _table2(tmp_path, {("data", 25): -88.0, ("data", 3): -95.0, ("data", 1): -110.0,
                             ("persistent", 1): -100.0}, unreliable=[("data", 1)])
    header, rows = published_table(exp)
    assert header[-3:] == ["conservative (RAISE)", "published figure", "this run - published"]
    by_claim = {r[0]: r for r in rows}
    cd1 = by_claim["CD1(500): -125.53 nats"]
    assert cd1[1] == "init=data, k=1" and cd1[2].startswith("-109.") and "(4 unreliable)" in cd1[2]
    assert cd1[4] == "4" and cd1[-2] == "-125.53"
    mean = float(cd1[2].split()[0])
    assert abs(float(cd1[-1]) - (mean + 125.53)) < 0.01 and abs(float(cd1[-3]) - (mean - 1)) < 0.01
    (order,) = [s for s in sentences(exp) if s.startswith("Published order")]
    assert order.startswith("Published order (Salakhutdinov & Murray 2008, Table 2), best first: "
                            "init=data, k=25 > init=data, k=3 > init=data, k=1; this run orders them the "
                            "same way, every step resolved.")
    assert ("init=data, k=25 beats init=data, k=3 by 7.02 ± 0.24 nats (95% CI, paired over 4 seeds), "
            "published 19.16 (this run agrees)") in order
    assert order.endswith("4 of the 12 values behind it are forward AIS estimates their runs called "
                          "unreliable; the conservative RAISE means order the rows the same way (init=data, "
                          "k=25 -88.15 > init=data, k=3 -95.17 > init=data, k=1 -110.2).")
    # the listed cells are contrasted cell by cell, never as main effects of a cross that was not run
    assert not any("averaged over" in s for s in sentences(exp))


def test_a_step_the_run_reverses_is_said_to_disagree(tmp_path):
    exp = _table2(tmp_path, {("data", 25): -99.0, ("data", 3): -95.0, ("data", 1): -110.0,
                             ("persistent", 1): -100.0})
    (order,) = [s for s in sentences(exp) if s.startswith("Published order")]
    assert "this run DISAGREES on at least one step" in order
    assert "init=data, k=25 trails init=data, k=3 by 3.98 ± " in order and "(this run DISAGREES)" in order
