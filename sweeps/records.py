"""Where a sweep's results go and what is recorded beside them: storage paths (local folders and URIs alike,
through ``pyarrow.fs`` as Tune uses), the sweep record ``--resume`` reads back, and the provenance of the
run."""

from __future__ import annotations

import os

from ebm.strict import ConfigError
from ebm.sweep_record import RECORD_FILE, Record, RecordError, dumps, loads
from sweeps.spec import REPO_ROOT


def storage_path(storage: str) -> str:
    return storage if "://" in storage else os.path.abspath(os.path.expanduser(storage))


def join(storage: str, name: str) -> str:
    return f"{storage.rstrip('/')}/{name}" if "://" in storage else os.path.join(storage, name)


def _fs(path: str):
    import pyarrow.fs

    return pyarrow.fs.FileSystem.from_uri(path)


def holds_sweep(path: str) -> bool:
    """True when ``path`` has anything in it besides a sweep record left by a start that never ran."""
    import pyarrow.fs

    fs, p = _fs(path)
    if fs.get_file_info(p).type == pyarrow.fs.FileType.NotFound:
        return False
    entries = fs.get_file_info(pyarrow.fs.FileSelector(p))
    return any(os.path.basename(e.path) != RECORD_FILE for e in entries)


def provenance() -> dict:
    """What produced the results: the project's version and commit (dirty or not), the software and the
    machine."""
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    import ray
    import torch

    def git(*cmd: str) -> str | None:
        try:
            out = subprocess.run(["git", *cmd], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    try:
        project = version("ebm-cd-study")
    except PackageNotFoundError:
        project = "not installed"
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "project": project, "git_commit": commit or "unknown (not a git checkout)",
        "git_dirty": None if status is None else bool(status),
        "python": platform.python_version(), "torch": str(torch.__version__), "ray": str(ray.__version__),
        "cpu": _cpu_model(), "cpus": os.cpu_count(),
        "gpu": ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) or "none",
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or platform.machine()


def write_record(path: str, record: Record) -> None:
    fs, p = _fs(path)
    fs.create_dir(p, recursive=True)
    with fs.open_output_stream(f"{p}/{RECORD_FILE}") as f:
        f.write(dumps(record).encode())


def read_record(path: str) -> Record:
    """The record ``--resume`` starts from; a missing or foreign one is a ConfigError naming the fix."""
    import pyarrow.fs

    fs, p = _fs(path)
    try:
        with fs.open_input_stream(f"{p}/{RECORD_FILE}") as f:
            text = f.read().decode(errors="replace")
    except (FileNotFoundError, OSError, pyarrow.lib.ArrowException):
        raise ConfigError(f"nothing to resume: {path}/{RECORD_FILE} not found; start the sweep without "
                          f"--resume (or point --storage/--name at the interrupted one)") from None
    try:
        return loads(text, f"{path}/{RECORD_FILE}")
    except RecordError as e:
        raise ConfigError(str(e)) from None
