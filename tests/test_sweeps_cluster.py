"""Sweeps across Ray processes we start and kill ourselves (slow: each starts its own Ray).

- The driver is killed mid-sweep, then ``--resume``: every trial ends, none is rerun from scratch, no
  result is lost.
- ``--address`` against a two-node cluster made here with ``ray start --head`` plus ``ray start --address``
  (own ports, own temp dirs, token auth with a token of its own): the trials land on both nodes.

Each Ray session here is started in a process group of its own; teardown kills exactly those groups
(never ``ray stop``, which would stop every Ray session on the machine).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from test_sweeps_helpers import ROOT, RUN, epochs, last_result, progress, trial_dirs, write_sweep

pytestmark = pytest.mark.slow


class ProcessGroups:
    """Commands started as process-group leaders: every Ray process they spawn stays in their group."""

    def __init__(self):
        self.groups: list[int] = []

    def popen(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.groups.append(proc.pid)
        return proc

    def run(self, cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
        proc = self.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def kill(self) -> None:
        for group in self.groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def groups():
    g = ProcessGroups()
    yield g
    g.kill()


def _sweep_cli(groups: ProcessGroups, *args: str, env: dict | None = None, timeout: float = 600):
    return groups.run([sys.executable, RUN, *args], timeout, cwd=ROOT, env=env)


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def test_a_killed_driver_resumes_without_rerunning_or_losing_trials(tmp_path, groups):
    n_epochs = 6
    path = write_sweep(tmp_path, "resume", epochs=n_epochs, seeds=[0, 1],
                       space={"train.lr": {"grid": [0.1, 0.05, 0.02]}}, set={"data.limit": 1000})
    storage = tmp_path / "results"
    experiment = str(storage / "resume")
    with open(tmp_path / "driver.log", "w") as log:
        driver = groups.popen([sys.executable, RUN, path, "--storage", str(storage), "--no-dashboard"],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

        def some_done_some_running():
            lengths = [len(progress(t)) for t in trial_dirs(experiment)]
            return n_epochs in lengths and any(0 < n < n_epochs for n in lengths)

        try:
            _wait_for(some_done_some_running, 300, "one finished trial and one half-way")
        finally:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
    groups.kill()  # the Ray processes the dead driver leaves behind
    before = {os.path.basename(t): progress(t) for t in trial_dirs(experiment)}

    proc = _sweep_cli(groups, path, "--storage", str(storage), "--no-dashboard", "--resume")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "resuming" in proc.stdout and "best 3 of 3 configurations" in proc.stdout
    trials = trial_dirs(experiment)
    assert len(trials) == 6
    for trial in trials:
        assert last_result(trial)["epoch"] == n_epochs, trial
        assert epochs(trial).count(1) == 1, trial  # never rerun from scratch
        assert sorted(set(epochs(trial))) == list(range(1, n_epochs + 1))
        rows_before = before.get(os.path.basename(trial), [])
        rows_after = {r["epoch"]: r for r in progress(trial)}
        for row in rows_before:  # nothing reported before the kill is lost or changed
            assert rows_after[row["epoch"]]["eval/log_likelihood"] == row["eval/log_likelihood"]
        if len(rows_before) == n_epochs:  # finished before the kill: not run again
            assert {r["pid"] for r in progress(trial)} == {r["pid"] for r in rows_before}


@pytest.mark.parametrize("sig, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupted_sweep_exits_non_zero_and_says_how_to_resume(tmp_path, groups, sig, status):
    path = write_sweep(tmp_path, "stop", epochs=20, seeds=[0, 1], space={"train.lr": {"grid": [0.1, 0.05]}},
                       set={"data.limit": 1000})
    storage = tmp_path / "results"
    experiment = str(storage / "stop")
    driver = groups.popen([sys.executable, RUN, path, "--storage", str(storage), "--no-dashboard"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: any(len(progress(t)) >= 1 for t in trial_dirs(experiment)), 300, "a first report")
    driver.send_signal(sig)
    out, err = driver.communicate(timeout=300)
    assert driver.returncode == status, err[-3000:]
    assert "unfinished" in out and "interrupted (" in err  # the table counts unfinished trials
    assert f"python sweeps/run.py stop --storage {storage} --resume" in err
    assert f"python -m analysis {experiment}" in err


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ray_start(groups: ProcessGroups, args: list[str], env: dict) -> None:
    proc = groups.run([shutil.which("ray") or "ray", "start", *args, "--num-cpus=1", "--disable-usage-stats"],
                      180, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


def test_address_runs_trials_on_both_nodes_of_a_two_node_cluster(tmp_path, groups):
    temp = tempfile.mkdtemp(prefix="ebm-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    token = os.path.join(temp, "auth_token")
    with open(token, "w") as f:
        f.write(uuid.uuid4().hex + uuid.uuid4().hex)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": token}
    gcs, client, *agent_ports = _free_ports(6)
    try:
        head = ["--head", f"--port={gcs}", f"--ray-client-server-port={client}", "--include-dashboard=false"]
        _ray_start(groups, [*head, "--node-ip-address=127.0.0.1", f"--temp-dir={temp}/head",
                            f"--dashboard-agent-listen-port={agent_ports[0]}",
                            f"--metrics-export-port={agent_ports[1]}"], env)
        _ray_start(groups,
                   [f"--address=127.0.0.1:{gcs}", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}/worker",
                            f"--dashboard-agent-listen-port={agent_ports[2]}",
                            f"--metrics-export-port={agent_ports[3]}"], env)
        path = write_sweep(tmp_path, "cluster", epochs=3,
                           space={"train.lr": {"grid": [0.1, 0.05, 0.02, 0.01]}})
        proc = _sweep_cli(groups, path, "--address", f"127.0.0.1:{gcs}", "--storage",
                          str(tmp_path / "results"), env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        trials = trial_dirs(str(tmp_path / "results" / "cluster"))
        assert len(trials) == 4 and all(last_result(t)["epoch"] == 3 for t in trials)
        nodes = {row["node_id"] for t in trials for row in progress(t)}
        assert len(nodes) == 2, nodes  # both nodes ran trials
    finally:
        groups.kill()
        shutil.rmtree(temp, ignore_errors=True)
