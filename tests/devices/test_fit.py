"""`fit`: flash and RAM against each board, from the C runtime, TFLite Micro or Linux figures."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from edgedeploy.devices import fit as fit_module
from edgedeploy.devices import get_profile, list_profiles
from edgedeploy.devices.fit import (
    C_STACK_BYTES,
    DOES_NOT_FIT_EXIT,
    LINUX_RUNTIME_RAM_BYTES,
    TFLM_CORE_CODE_BYTES,
    TFLM_KERNEL_CODE_BYTES,
    TFLM_STACK_BYTES,
    TFLM_STATIC_RAM_BYTES,
    DoesNotFitError,
    fit,
    format_fit,
)
from edgedeploy.errors import ModelFormatError, UnknownNameError, UnsupportedModelError
from edgedeploy.firmware_export.c_runtime import export_c
from edgedeploy.modelfile import load_model
from tests.paths import AD01_FLOAT, AD01_INT8, KWS_INT8
from tests.toolhelpers import require_module, require_tool


def _arm_size(elf) -> tuple[int, int, int]:
    out = subprocess.run(
        ["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[1]
    text, data, bss = (int(v) for v in out.split()[:3])
    return text, data, bss


def test_c_runtime_figures_are_the_builds(tmp_path):
    """qemu-m4's figures are the linker's for the exported C built with the board's flags."""
    require_tool("arm-none-eabi-gcc")
    require_tool("make")
    report = fit(KWS_INT8, "qemu-m4")
    assert report.basis == "c-runtime" and report.fits
    assert "-mcpu=cortex-m4" in report.basis_note and "-mfloat-abi=hard" in report.basis_note
    # Build the same export by hand, independently of fit's make call.
    result = export_c(KWS_INT8, tmp_path / "c", measure_tflm=False)
    flags = " ".join(get_profile("qemu-m4").toolchain_flags)
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(tmp_path / "c"),
            "build/model_cm4.elf",
            f"ARM_FLAGS={flags} -Os -ffunction-sections -fdata-sections",
        ],
        check=True,
        capture_output=True,
    )
    text, data, bss = _arm_size(tmp_path / "c" / "build" / "model_cm4.elf")
    assert report.flash_bytes == text + data
    assert report.ram_bytes == data + bss + C_STACK_BYTES
    arena = next(i for i in report.ram if i.what.startswith("arena"))
    assert arena.bytes == result.arena_bytes
    assert report.flash_margin == 4 * 1024 * 1024 - (text + data)
    assert report.ram_margin == 4 * 1024 * 1024 - (data + bss + C_STACK_BYTES)


def test_each_arm_core_is_built_with_its_own_flags():
    require_tool("arm-none-eabi-gcc")
    require_tool("make")
    pico, m7, esp = (
        fit(AD01_INT8, "pico"),
        fit(AD01_INT8, "stm32f746g-disco"),
        fit(AD01_INT8, "esp32-s3"),
    )
    assert "-mcpu=cortex-m0plus" in pico.basis_note
    assert "-mcpu=cortex-m7" in m7.basis_note
    # No Xtensa compiler here: the Cortex-M4 build stands in, and says so.
    assert "standing in unscaled for Xtensa LX7" in esp.basis_note
    # Thumb-1 (M0+) code is larger than Thumb-2, the weights are the same.
    weights = [
        next(i.bytes for i in r.flash if i.what == "weights and constants") for r in (pico, m7, esp)
    ]
    assert weights[0] == weights[1] == weights[2] > 0
    assert pico.flash_bytes > m7.flash_bytes


def test_without_a_cross_compiler_allowances_are_used_and_labelled(monkeypatch):
    monkeypatch.setattr(fit_module, "_arm_build_available", lambda: False)
    report = fit(KWS_INT8, "nano33-ble-sense")
    assert report.basis == "c-runtime"
    assert "arm-none-eabi-gcc is not installed" in report.basis_note
    assert {i.source for i in report.flash} == {"C export", "stated allowance"}
    assert report.fits


def test_float_model_falls_back_to_tflite_micro_and_may_not_fit():
    """ad01_float32 (1 MB of float weights) is refused by the int8 C runtime; TFLM's
    figures say it does not fit a 1 MB-flash board but fits the Pico's 2 MB."""
    require_module("tflite_micro")
    from edgedeploy.runtime import measure_arena

    nano = fit(AD01_FLOAT, "nano33-ble-sense")
    assert nano.basis == "tflite-micro" and "float32" in nano.fallback_reason
    arena = measure_arena(AD01_FLOAT)
    size = AD01_FLOAT.stat().st_size
    assert nano.flash_bytes == size + TFLM_CORE_CODE_BYTES + TFLM_KERNEL_CODE_BYTES
    assert nano.ram_bytes == arena.minimum + TFLM_STATIC_RAM_BYTES + TFLM_STACK_BYTES
    assert not nano.fits and not nano.fits_flash and nano.fits_ram
    assert nano.flash_margin == 1024 * 1024 - nano.flash_bytes < 0
    text = format_fit(nano)
    assert "DOES NOT FIT" in text and "C runtime not used" in text
    with pytest.raises(DoesNotFitError, match=r"flash .* > 1,048,576 B") as info:
        nano.raise_if_not_fit()
    assert info.value.exit_code == DOES_NOT_FIT_EXIT
    pico = fit(AD01_FLOAT, "pico")
    assert pico.fits and pico.flash_bytes == nano.flash_bytes
    pico.raise_if_not_fit()


def test_linux_board_compares_model_and_activations_with_ram():
    report = fit(KWS_INT8, "rpi4")
    mf = load_model(KWS_INT8)
    assert report.basis == "linux" and report.flash_budget == 0 and report.flash_margin is None
    activations = sum(t.nbytes for t in mf.tensors if not t.is_constant)
    assert report.ram_bytes == len(mf.data) + activations + LINUX_RUNTIME_RAM_BYTES
    assert report.fits and "no budget" in format_fit(report)


def test_a_board_too_small_does_not_fit(monkeypatch):
    """The verdict follows the budget: the same model on a shrunken board fails on RAM."""
    tiny = dataclasses.replace(get_profile("pico"), name="tiny", ram_bytes=8 * 1024)
    monkeypatch.setattr(fit_module, "_arm_build_available", lambda: False)
    report = fit(KWS_INT8, tiny)
    assert report.fits_flash and not report.fits_ram and report.ram_margin < 0
    assert report.to_dict()["fits"] is False


def test_every_profile_gives_a_report(monkeypatch):
    monkeypatch.setattr(fit_module, "_arm_build_available", lambda: False)
    for profile in list_profiles():
        report = fit(AD01_INT8, profile.name)
        assert report.device == profile.name and report.ram_budget == profile.ram_bytes
        assert report.to_dict()["ram_bytes"] == report.ram_bytes > 0


def test_bad_input():
    with pytest.raises(UnknownNameError, match="known devices: qemu-m4"):
        fit(KWS_INT8, "arduino-uno")
    with pytest.raises(ModelFormatError):
        fit(b"nonsense-bytes", "pico")


def test_a_model_neither_runtime_can_run(monkeypatch, tmp_path):
    """An op missing from both runtimes is one clear UnsupportedModelError."""
    mf = load_model(KWS_INT8)
    monkeypatch.setattr(type(mf), "tflm_unsupported_ops", lambda self: ["FAKE_OP"])
    monkeypatch.setattr(
        "edgedeploy.firmware_export.c_runtime.check_c_supported",
        lambda m: (_ for _ in ()).throw(UnsupportedModelError("x: unsupported op(s) FAKE_OP")),
    )
    with pytest.raises(UnsupportedModelError, match=r"neither runtime.*FAKE_OP"):
        fit(mf, "pico")


def test_format_lists_every_item():
    require_tool("arm-none-eabi-gcc")
    text = format_fit(fit(KWS_INT8, "pico"))
    for part in ("weights and constants", "arena", "stack allowance", "verdict: fits", "margin"):
        assert part in text


@pytest.mark.slow
def test_the_projects_small_cnn_fits_every_board(small_cnn_int8):
    """The int8 small_cnn trained in code (shared session fixture) compiles with the C runtime
    and fits every profile; its arena is the C runtime's plan."""
    require_tool("arm-none-eabi-gcc")
    model, _ = small_cnn_int8
    for profile in list_profiles():
        report = fit(model, profile.name)
        assert report.fits, format_fit(report)
        expected = "linux" if profile.name == "rpi4" else "c-runtime"
        assert report.basis == expected
