"""Device profiles: lookup, the numbers, and the toolchain facts checked against real tools."""

from __future__ import annotations

import subprocess

import pytest

from edgedeploy.devices import BARE_METAL, LINUX, get_profile, list_profiles
from edgedeploy.errors import UnknownNameError
from tests.toolhelpers import require_tool

NAMES = ["qemu-m4", "nano33-ble-sense", "stm32f746g-disco", "pico", "esp32-s3", "rpi4"]
KIB, MIB = 1024, 1024 * 1024


def test_the_table_lists_the_boards_in_order():
    assert [p.name for p in list_profiles()] == NAMES
    assert all(get_profile(name).name == name for name in NAMES)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as info:
        get_profile("nano33")
    message = str(info.value)
    assert "'nano33'" in message and all(name in message for name in NAMES)


@pytest.mark.parametrize(
    ("name", "core", "mhz", "flash", "ram"),
    [
        ("qemu-m4", "Cortex-M4F", 25, 4 * MIB, 4 * MIB),
        ("nano33-ble-sense", "Cortex-M4F", 64, 1 * MIB, 256 * KIB),
        ("stm32f746g-disco", "Cortex-M7F", 216, 1 * MIB, 320 * KIB),
        ("pico", "Cortex-M0+", 133, 2 * MIB, 264 * KIB),
        ("esp32-s3", "Xtensa LX7", 240, 8 * MIB, 512 * KIB),
    ],
)
def test_microcontroller_figures(name, core, mhz, flash, ram):
    p = get_profile(name)
    assert (p.core, p.clock_mhz, p.flash_bytes, p.ram_bytes) == (core, mhz, flash, ram)
    assert p.os == BARE_METAL and p.bare_metal


def test_qemu_board_memory_map():
    p = get_profile("qemu-m4")
    assert p.qemu_machine == "mps2-an386"
    assert (p.flash_origin, p.ram_origin, p.uart_base) == (0x0, 0x20000000, 0x40004000)


def test_linux_board_has_no_flash_budget():
    p = get_profile("rpi4")
    assert p.os == LINUX and not p.bare_metal and p.arch == "aarch64"
    assert p.flash_bytes == 0 and p.ram_bytes >= 1024 * MIB
    assert p.fits(10**9, 100 * MIB)


def test_fits_compares_flash_and_ram():
    nano = get_profile("nano33-ble-sense")
    assert nano.fits(53936 + 100 * KIB, 27728)
    assert not nano.fits(2 * MIB, 1000)
    assert not nano.fits(1000, 300 * KIB)


def test_to_dict_is_plain_data():
    d = get_profile("pico").to_dict()
    assert d["toolchain_flags"] == ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]
    assert d["name"] == "pico" and d["ram_bytes"] == 264 * KIB


@pytest.mark.parametrize(
    "profile",
    [p for p in list_profiles() if p.toolchain == "arm-none-eabi-gcc"],
    ids=lambda p: p.name,
)
def test_arm_toolchain_flags_are_accepted_by_the_compiler(tmp_path, profile):
    gcc = require_tool("arm-none-eabi-gcc")
    source = tmp_path / "x.c"
    source.write_text("float scale(float a, float b) { return a * b; }\n")
    proc = subprocess.run(
        [
            gcc,
            *profile.toolchain_flags,
            "-Werror",
            "-O2",
            "-c",
            str(source),
            "-o",
            str(tmp_path / "x.o"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_qemu_knows_the_machine():
    qemu = require_tool("qemu-system-arm")
    out = subprocess.run([qemu, "-M", "help"], capture_output=True, text=True, check=True).stdout
    machine = get_profile("qemu-m4").qemu_machine
    assert any(
        line.split()[0] == machine and "Cortex-M4" in line
        for line in out.splitlines()
        if line.strip()
    )


def test_cli_lists_every_board(capsys):
    from edgedeploy.cli import main

    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)
