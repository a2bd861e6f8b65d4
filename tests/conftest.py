"""Ends a test process that used Ray without the interpreter's teardown, once every result is reported.

Ray can segfault while Python finalises a process that started and shut down several Ray sessions
(background threads outliving the core worker; ray-project/ray#31145): seen here once in three full runs,
after "N passed" was printed, turning a green run red. When ``pytest_unconfigure`` runs last, the results,
the summary and any report files are written, so the process exits with pytest's own status.
"""

import os
import sys

import pytest


def pytest_sessionfinish(session, exitstatus):
    session.config._exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    status = getattr(config, "_exit_status", None)
    if status is None or "ray" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
