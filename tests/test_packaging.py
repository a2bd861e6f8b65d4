"""A non-editable install outside the checkout finds the shipped sweeps and configs (slow: builds a wheel)."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_an_install_outside_the_checkout_lists_and_plans_the_sweeps(tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), ROOT], check=True, capture_output=True, cwd=tmp_path)
    assert (target / "ebm_cd_study_configs" / "sweeps" / "rbm_cd_k.yaml").is_file()
    assert (target / "bin" / "ebm-sweep").is_file() and (target / "bin" / "ebm").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    script = "import sys; from sweeps.run import main; sys.exit(main(sys.argv[1:]))"
    listed = subprocess.run([sys.executable, "-c", script, "--list"], capture_output=True, text=True,
                            cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "rbm_cd_k" in listed.stdout, listed.stderr
    plan = subprocess.run([sys.executable, "-c", script, "rbm_cd_k", "--preset", "smoke", "--dry-run",
                           "--no-projection"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert plan.returncode == 0 and "4 trials = 4 configurations" in plan.stdout, plan.stderr
    # the installed copy, not the checkout
    assert "from ebm_cd_study_configs/sweeps/rbm_cd_k.yaml" in plan.stdout
