"""Build the exported harness against a real TensorFlow Lite Micro library, run it, check it.

Opt-in, outside the suite (the file name keeps pytest from collecting it, and the
project does not build TFLM from its sources): run it by path,
``EDGEDEPLOY_TFLM_ROOT=DIR pytest tests/firmware_export/tflm_build_optin.py``, where DIR names a tflite-micro source tree in which
``make -f tensorflow/lite/micro/tools/make/Makefile microlite`` has been run (which
also downloads flatbuffers, gemmlowp and ruy under tools/make/downloads). It then
compiles main.cc, inference.cc, model_data.cc and test_input.cc as the exported
README says, runs the program and requires ``result: PASS``: the output of the
compiled firmware equals the tflite-micro Python interpreter's, byte for byte.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from edgedeploy.firmware_export import export_tflm
from tests.firmware_export.conftest import CXX_FLAGS, TRICKY_LABELS
from tests.paths import AD01_INT8, KWS_INT8
from tests.toolhelpers import require_module, require_tool

ROOT_VARIABLE = "EDGEDEPLOY_TFLM_ROOT"
SOURCES = ("main.cc", "inference.cc", "model_data.cc", "test_input.cc")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tflm() -> tuple[Path, Path]:
    """(source tree, libtensorflow-microlite.a); run on purpose, so a missing build fails."""
    require_module("tflite_micro")
    root = os.environ.get(ROOT_VARIABLE)
    if not root:
        pytest.fail(
            f"opt-in: set {ROOT_VARIABLE} to a tflite-micro tree built with 'make microlite'"
        )
    libraries = sorted(Path(root, "gen").glob("*/lib/libtensorflow-microlite.a"))
    assert libraries, f"{ROOT_VARIABLE}={root} holds no gen/*/lib/libtensorflow-microlite.a"
    return Path(root), libraries[0]


def _build_and_run(out: Path, tflm: tuple[Path, Path]) -> tuple[int, str]:
    """Compile the harness (generated code under -Wall -Wextra -Werror) and run it."""
    root, library = tflm
    downloads = root / "tensorflow/lite/micro/tools/make/downloads"
    # TFLM's and flatbuffers' own headers are not warning-free under -pedantic
    # -Wextra, so they are included as system headers; our files are held to the flags.
    system = [root, downloads / "flatbuffers/include", downloads / "gemmlowp", downloads / "ruy"]
    cmd = [
        require_tool("g++"),
        *CXX_FLAGS,
        "-O1",
        "-DTF_LITE_STATIC_MEMORY",
        f"-I{out}",
        *(f"-isystem{d}" for d in system),
        *(str(out / name) for name in SOURCES),
        str(library),
        "-o",
        str(out / "run_model"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = subprocess.run(
        [str(out / "run_model")], capture_output=True, text=True, timeout=120, check=False
    )
    return run.returncode, run.stdout + run.stderr


def test_kws_harness_passes_with_labels(tflm, tmp_path):
    out = tmp_path / "fw"
    result = export_tflm(KWS_INT8, out, labels=TRICKY_LABELS)
    code, text = _build_and_run(out, tflm)
    assert code == 0 and "result: PASS" in text, text
    top = result.reference_top_class
    assert f'top class: {top} "{TRICKY_LABELS[top]}"' in text, text
    used, size = map(int, re.search(r"arena: (\d+) of (\d+) bytes used", text).groups())
    assert size == result.arena_size and used <= result.arena_measured
    assert re.search(r"invoke: \d+ us", text), text


def test_unlabelled_model_harness_passes(tflm, tmp_path):
    out = tmp_path / "fw"
    export_tflm(AD01_INT8, out)
    code, text = _build_and_run(out, tflm)
    assert code == 0 and "result: PASS" in text and "... 608 more" in text, text


def test_harness_reports_a_mismatch(tflm, tmp_path):
    # The comparison can fail: corrupt one byte of the recorded reference output.
    out = tmp_path / "fw"
    export_tflm(KWS_INT8, out)
    source = (out / "test_input.cc").read_text()
    head, tail = source.split("g_expected_output_0[] = {\n    0x", 1)
    flipped = f"{int(tail[:2], 16) ^ 0x01:02x}"
    (out / "test_input.cc").write_text(
        f"{head}g_expected_output_0[] = {{\n    0x{flipped}{tail[2:]}"
    )
    code, text = _build_and_run(out, tflm)
    assert code == 2 and "result: MISMATCH" in text and "1 of 12 values differ" in text, text
