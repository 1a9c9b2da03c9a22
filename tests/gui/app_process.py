"""The app run as a user runs it from a terminal: in its own process group, ended by Ctrl-C or SIGTERM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def app_process(script: Path, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """``script`` run by this Python with text pipes; its whole group is killed if the test leaves it running."""
    process = subprocess.Popen([sys.executable, str(script)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def interrupt(process: subprocess.Popen, how: str, timeout: float) -> tuple[int, str]:
    """Ctrl-C in the terminal (SIGINT to the whole process group, as a terminal sends it) or "sigterm";
    the exit code and what the app wrote to stderr. Raises subprocess.TimeoutExpired if it does not exit."""
    if how == "sigterm":
        process.send_signal(signal.SIGTERM)
    else:
        os.killpg(process.pid, signal.SIGINT)
    code = process.wait(timeout)
    return code, process.stderr.read()
