"""Running one mutated model through every command that reads a model.

`run_case` writes a model to a work directory and calls the CLI's `main`
in-process for ``info``, ``run`` (LiteRT and TFLite Micro), ``export --runtime
tflm``, ``export --runtime c``, ``bench`` (host) and ``fit`` (the budget check
behind the device commands). Each command must end in success or one
`EdgeDeployError` whose message is one meaningful line, within
`CASE_SECONDS`; anything else (another exception, a multi-line or bare message,
a slow command) is a finding. The CI fuzz test and ``bench/fuzz_long.py``
share it, so a finding in the long run reproduces in a test.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedeploy import cli
from edgedeploy.devices.fit import DOES_NOT_FIT_EXIT
from edgedeploy.errors import EdgeDeployError
from edgedeploy.modelfile import load_model
from tests.paths import ROOT

__all__ = [
    "CASE_SECONDS",
    "COMMANDS",
    "Outcome",
    "command_argv",
    "invoke",
    "line_problem",
    "run_case",
    "run_cli_process",
]

#: Longest time one command may take on one case.
CASE_SECONDS = 10.0
#: The commands every case goes through, by name.
COMMANDS = ("info", "run-litert", "run-micro", "export-tflm", "export-c", "bench", "fit")
#: Commands whose non-zero exit is an answer, not an error: ``fit`` says "does
#: not fit" with its own exit status and a full report on stdout.
_VERDICTS = {"fit": (DOES_NOT_FIT_EXIT, "DoesNotFit")}
#: Largest input the harness feeds a model that loaded; bigger ones get a
#: one-element input, which every command refuses cleanly.
_MAX_INPUT_ELEMENTS = 1 << 20
# A message that only names an exception class, "(error)" or "(IndexError)".
_BARE_CLASS = re.compile(r"\((error|[A-Z]\w*(Error|Exception))\)\s*$")


@dataclass(frozen=True)
class Outcome:
    """How one command ended: ``ok``, an `EdgeDeployError` class name, or ``finding``."""

    command: str
    status: str
    message: str
    seconds: float

    @property
    def finding(self) -> bool:
        return self.status == "finding"


def line_problem(message: str) -> str | None:
    """Why ``message`` is not one clear error line, or None when it is."""
    if not message.strip():
        return "empty message"
    if "\n" in message or "\r" in message:
        return "message spans several lines"
    if _BARE_CLASS.search(message):
        return "message only names an exception class"
    if "Traceback" in message:
        return "message holds a traceback"
    return None


def command_argv(command: str, model: Path, npy: Path, work: Path) -> list[str]:
    """The CLI arguments of ``command`` on ``model``."""
    return {
        "info": ["info", str(model)],
        "run-litert": ["run", str(model), "--input", str(npy)],
        "run-micro": ["run", str(model), "--input", str(npy), "--backend", "micro"],
        "export-tflm": ["export", str(model), "--out", str(work / "tflm"), "--force"],
        "export-c": ["export", str(model), "--runtime", "c", "--out", str(work / "c"), "--force"],
        "bench": ["bench", str(model), "--runs", "2", "--warmup", "1"],
        "fit": ["fit", str(model), "--device", "nano33-ble-sense"],
    }[command]


def invoke(command: str, argv: Sequence[str]) -> Outcome:
    """Call the CLI in-process with ``--traceback``, so an error arrives with its class."""
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["--traceback", *argv])
    except EdgeDeployError as exc:
        status, message = type(exc).__name__, str(exc)
        problem = line_problem(message)
        if problem:
            status, message = "finding", f"{problem}: {type(exc).__name__}: {message!r}"
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        status, message = "finding", "".join(traceback.format_exception(exc)[-3:])
    else:
        if code == 0:
            status, message = "ok", ""
        elif code == _VERDICTS.get(command, (None, ""))[0]:
            status, message = _VERDICTS[command][1], ""
        else:
            status, message = "finding", f"exit {code} without error"
    seconds = time.monotonic() - start
    noise = [
        line for line in err.getvalue().splitlines() if "Warning" in line or "Traceback" in line
    ]
    if noise and status != "finding":  # the one error line must stay the only line
        status, message = "finding", f"stderr also shows {noise[0]!r}: {message}"
    if seconds > CASE_SECONDS and status != "finding":
        status, message = "finding", f"took {seconds:.1f} s (limit {CASE_SECONDS:g}): {message}"
    return Outcome(command, status, message, seconds)


def _input_for(data: bytes) -> tuple[bool, np.ndarray]:
    """Whether the model loads, and zeros shaped like its first input (one zero if none fit)."""
    try:
        m = load_model(data)
    except EdgeDeployError:
        return False, np.zeros([1], dtype=np.float32)
    if m.inputs:
        spec = m.tensors[m.inputs[0]]
        if math.prod(spec.shape) <= _MAX_INPUT_ELEMENTS:
            with contextlib.suppress(TypeError):
                return True, np.zeros(spec.shape, dtype=np.dtype(spec.dtype))
    return True, np.zeros([1], dtype=np.float32)


def run_case(
    data: bytes, work: Path, commands: Sequence[str] = COMMANDS, skip_after_load_error: bool = True
) -> list[Outcome]:
    """Run ``commands`` on the model ``data``; one `Outcome` each.

    With ``skip_after_load_error``, a model that `load_model` refuses (every
    command calls it first) goes through ``info`` only.
    """
    work.mkdir(parents=True, exist_ok=True)
    model, npy = work / "model.tflite", work / "x.npy"
    model.write_bytes(data)
    loads, x = _input_for(data)
    np.save(npy, x)
    outcomes: list[Outcome] = []
    for command in commands:
        if skip_after_load_error and not loads and command != "info":
            continue
        outcomes.append(invoke(command, command_argv(command, model, npy, work)))
    sys.stdout.flush()
    return outcomes


def run_cli_process(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python -m edgedeploy ARGV`` in a child, as a user would: the process boundary."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "edgedeploy", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
