"""The sandbox worker: crashes and hangs become errors, and it never outlives its caller."""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edgedeploy import sandbox
from edgedeploy.errors import ModelFormatError
from tests.paths import KWS_INT8, ROOT
from tests.toolhelpers import require_module


def _segfault(data: bytes, options: dict) -> None:
    faulthandler.disable()  # pytest's handler would print a traceback for the expected crash
    os.kill(os.getpid(), signal.SIGSEGV)


def _hang(data: bytes, options: dict) -> None:
    time.sleep(60)


def test_a_crash_in_the_forked_child_is_reported_not_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sandbox._RUNNERS, "micro", _segfault)
    answer = sandbox._fork_attempt("micro", b"model", {}, timeout=30)
    assert answer == {"status": "crash", "signal": signal.SIGSEGV}


def test_a_hang_is_killed_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sandbox._RUNNERS, "micro", _hang)
    start = time.monotonic()
    assert sandbox._fork_attempt("micro", b"model", {}, timeout=1) == {"status": "timeout"}
    assert time.monotonic() - start < 10


def test_crash_and_timeout_become_one_line_model_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    for status, words in (
        ({"status": "crash", "signal": 11}, "crashed with SIGSEGV"),
        ({"status": "timeout"}, "did not finish"),
    ):
        monkeypatch.setattr(sandbox._WORKER, "request", lambda *a, s=status, **k: s)
        with pytest.raises(ModelFormatError, match=words) as info:
            sandbox.require_safe("micro_invoke", b"not cached " + words.encode(), "m.tflite")
        assert "\n" not in str(info.value)


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from edgedeploy.runtime import MicroModel
    from edgedeploy import sandbox
    MicroModel(sys.argv[1])
    print(sandbox._WORKER._proc.pid, flush=True)
    if sys.argv[2] == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _gone(pid: int, seconds: float = 20.0) -> bool:
    """True once ``pid`` has exited (a zombie waiting for a reaper counts as exited)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("ending", ["exits", "killed"])
def test_the_worker_does_not_outlive_its_caller(ending: str, tmp_path: Path) -> None:
    require_module("tflite_micro")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(KWS_INT8), ending],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,  # not the repository: the worker must still find the package
        check=False,
    )
    assert proc.stdout.strip().isdigit(), proc.stderr
    assert _gone(int(proc.stdout.strip())), f"sandbox worker {proc.stdout.strip()} survived"
