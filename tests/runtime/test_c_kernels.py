"""Each C kernel, bit-exact with TFLite Micro, on single-op models built in the test.

Every case is a tiny tf_keras model converted to full-integer int8 (strides,
SAME/VALID padding, dilation, depth multipliers, per-tensor and per-channel
weights, fused ReLU/ReLU6, grouped convolution, broadcasting, float I/O), then
exported, compiled with gcc through the generated Makefile and run on random
full-range int8 inputs through the host harness. tflite-micro is the ground
truth; any difference fails.
"""

from __future__ import annotations

import subprocess
import zlib
from pathlib import Path

import pytest

from edgedeploy.firmware_export.c_runtime import KERNEL_DIR
from edgedeploy.modelfile import load_model
from tests.firmware_export.c_runtime_helpers import (
    KERNEL_CASES,
    Built,
    build_all,
    compare_with_micro,
    convert_keras,
    expected_op,
    require_c_toolchain,
)
from tests.toolhelpers import require_module, require_tool

WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


@pytest.fixture(scope="session")
def kernel_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    """Convert, export and compile every single-op case once per session."""
    require_c_toolchain()
    require_module("tensorflow")
    root = tmp_path_factory.mktemp("c_kernels")
    items = []
    for name, (builder, per_tensor, float_io) in KERNEL_CASES.items():
        model, shapes = builder()
        path = root / f"{name}.tflite"
        path.write_bytes(convert_keras(model, shapes, per_tensor=per_tensor, float_io=float_io))
        items.append((path, root / name))
    return {b.name: b for b in build_all(items, opt="-O1")}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(KERNEL_CASES))
def test_kernel_bit_exact_with_tflite_micro(kernel_builds: dict[str, Built], case: str) -> None:
    built = kernel_builds[case]
    mf = load_model(built.tflite)
    assert expected_op(case) in mf.op_counts, f"{case} converted to {mf.op_counts}"
    assert compare_with_micro(built, runs=8, seed=zlib.crc32(case.encode()) % 1000) == 0


@pytest.mark.slow
@pytest.mark.parametrize("case", ["conv_per_tensor", "dw_per_tensor", "fc_per_tensor"])
def test_per_tensor_cases_really_have_per_tensor_weights(
    kernel_builds: dict[str, Built], case: str
) -> None:
    mf = load_model(kernel_builds[case].tflite)
    weighted = [
        op for op in mf.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
    ]
    assert weighted
    for op in weighted:
        quant = mf.tensors[op.inputs[1]].quant
        assert quant is not None and len(quant.scales) == 1


@pytest.mark.slow
def test_grouped_conv_case_is_grouped(kernel_builds: dict[str, Built]) -> None:
    mf = load_model(kernel_builds["conv_grouped"].tflite)
    conv = next(op for op in mf.operators if op.op == "CONV_2D")
    assert mf.tensors[conv.inputs[1]].shape[3] < mf.tensors[conv.inputs[0]].shape[3]


def _kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def test_kernel_library_is_one_op_per_file_with_headers() -> None:
    sources = _kernel_sources()
    assert len(sources) >= 20
    for src in sources:
        header = src.with_suffix(".h")
        assert header.is_file(), f"{src.name} has no header"
        assert "Usage" in header.read_text() or src.name in ("ed_pool.c", "ed_broadcast.c")


@pytest.mark.parametrize("compiler", ["gcc", "arm-none-eabi-gcc"])
def test_kernels_compile_without_warnings(compiler: str, tmp_path: Path) -> None:
    cc = require_tool(compiler)
    extra = ["-mcpu=cortex-m4", "-mthumb", "-Os"] if compiler.startswith("arm") else ["-O2"]
    for src in _kernel_sources():
        proc = subprocess.run(
            [
                cc,
                *WARNINGS,
                *extra,
                "-I",
                str(KERNEL_DIR),
                "-c",
                str(src),
                "-o",
                str(tmp_path / (src.stem + ".o")),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{compiler} {src.name}:\n{proc.stderr}"


_CHECKS_PROGRAM = r"""
#include <stdio.h>
#include "ed_conv2d.h"
#include "ed_pool.h"
#include "ed_mean.h"
#include "ed_fixedpoint.h"

int main(void)
{
    ed_conv2d_params c = {1, 4, 4, 2, 4, 4, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 0, 0, -128, 127, 1};
    ed_pool_params p = {1, 4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0, -128, 127};
    int failures = 0;
    if (ed_conv2d_check(&c) != ED_OK) { puts("valid conv refused"); ++failures; }
    c.stride_w = 0;
    if (ed_conv2d_check(&c) != ED_ERROR_BAD_PARAMS) { puts("stride 0 accepted"); ++failures; }
    c.stride_w = 1; c.filter_c = 3;
    if (ed_conv2d_check(&c) != ED_ERROR_BAD_PARAMS) { puts("bad groups accepted"); ++failures; }
    if (ed_pool_check(&p) != ED_OK) { puts("valid pool refused"); ++failures; }
    p.act_min = 5; p.act_max = 4;
    if (ed_pool_check(&p) != ED_ERROR_BAD_PARAMS) { puts("empty range accepted"); ++failures; }
    if (ed_conv2d_check(NULL) != ED_ERROR_BAD_PARAMS) { puts("NULL accepted"); ++failures; }
    /* Reference values of TFLite's arithmetic. */
    if (ed_rdbp(5, 1) != 3 || ed_rdbp(-5, 1) != -3 || ed_rdbp(-6, 2) != -2) { puts("rdbp"); ++failures; }
    if (ed_srdhm(INT32_MIN, INT32_MIN) != INT32_MAX) { puts("srdhm saturation"); ++failures; }
    if (ed_mbqm(100, 1 << 30, 0) != 50 || ed_mbqm(3, 1 << 30, 1) != 3) { puts("mbqm"); ++failures; }
    if (ed_exp_on_negative_values(0, 5) != INT32_MAX) { puts("exp(0)"); ++failures; }
    return failures;
}
"""


def test_kernel_checks_and_arithmetic_in_c(tmp_path: Path) -> None:
    cc = require_tool("gcc")
    src = tmp_path / "checks.c"
    src.write_text(_CHECKS_PROGRAM)
    exe = tmp_path / "checks"
    sources = [str(KERNEL_DIR / "ed_conv2d.c"), str(KERNEL_DIR / "ed_pool.c")]
    subprocess.run(
        [cc, *WARNINGS, "-O1", "-I", str(KERNEL_DIR), str(src), *sources, "-o", str(exe)],
        check=True,
        capture_output=True,
    )
    proc = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
