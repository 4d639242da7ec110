"""The boards edgedeploy knows: core, clock, memory, toolchain and how to program them.

A profile answers the questions an export or a deployment asks before touching
hardware: does the model fit in flash, does the tensor arena fit in RAM, which
compiler flags select the core, and which tool writes the firmware. Memory
figures are the chip's (or, for QEMU, the emulated board's) on-chip totals, not
what is left after a bootloader or an RTOS; for a Linux board, ``ram_bytes`` is
the smallest variant's RAM and ``flash_bytes`` is 0 because programs live on a
file system rather than in a fixed flash budget.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgedeploy.errors import UnknownNameError

__all__ = [
    "BARE_METAL",
    "LINUX",
    "PROFILES",
    "DeviceProfile",
    "get_profile",
    "list_profiles",
]

#: ``os`` of a board that runs the firmware directly, without an operating system.
BARE_METAL = "bare-metal"
#: ``os`` of a board that runs programs under Linux.
LINUX = "linux"

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


@dataclass(frozen=True)
class DeviceProfile:
    """One board.

    ``flash_origin`` and ``ram_origin`` are where code and data memory start in
    the address map (for linker scripts); ``uart_base`` is the console UART's
    address where firmware drives it directly; ``qemu_machine`` names the QEMU
    ``-M`` machine that emulates the board, if any.
    """

    name: str
    description: str
    arch: str
    core: str
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int
    os: str
    toolchain: str
    toolchain_flags: tuple[str, ...]
    flashing_tool: str
    flash_origin: int | None = None
    ram_origin: int | None = None
    uart_base: int | None = None
    qemu_machine: str | None = None

    @property
    def bare_metal(self) -> bool:
        return self.os == BARE_METAL

    def fits(self, flash_bytes: int, ram_bytes: int) -> bool:
        """Whether a program needing this much flash and RAM fits the board's totals.

        A Linux board has no flash budget, so only RAM is compared there.
        """
        flash_ok = self.flash_bytes == 0 or flash_bytes <= self.flash_bytes
        return flash_ok and ram_bytes <= self.ram_bytes

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["toolchain_flags"] = list(self.toolchain_flags)
        return data


_CORTEX_M4F = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")

#: Every profile, in the order `list_profiles` returns them.
PROFILES: tuple[DeviceProfile, ...] = (
    DeviceProfile(
        name="qemu-m4",
        description="QEMU mps2-an386: Arm MPS2 board with the AN386 Cortex-M4 FPGA image",
        arch="armv7e-m",
        core="Cortex-M4F",
        # SYSCLK of the MPS2 FPGA images; QEMU does not model instruction timing.
        clock_mhz=25,
        # ZBT SSRAM1 (4 MB at 0x0) holds code, ZBT SSRAM2&3 (4 MB at 0x20000000) data.
        flash_bytes=4 * MIB,
        ram_bytes=4 * MIB,
        os=BARE_METAL,
        toolchain="arm-none-eabi-gcc",
        toolchain_flags=_CORTEX_M4F,
        flashing_tool="qemu-system-arm -M mps2-an386 -kernel FIRMWARE.elf",
        flash_origin=0x00000000,
        ram_origin=0x20000000,
        uart_base=0x40004000,
        qemu_machine="mps2-an386",
    ),
    DeviceProfile(
        name="nano33-ble-sense",
        description="Arduino Nano 33 BLE Sense: Nordic nRF52840",
        arch="armv7e-m",
        core="Cortex-M4F",
        clock_mhz=64,
        flash_bytes=1 * MIB,
        ram_bytes=256 * KIB,
        os=BARE_METAL,
        toolchain="arm-none-eabi-gcc",
        # What the Arduino mbed core passes for this board.
        toolchain_flags=("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=softfp", "-mfpu=fpv4-sp-d16"),
        flashing_tool="arduino-cli upload (bossac, over the USB bootloader)",
        flash_origin=0x00000000,
        ram_origin=0x20000000,
    ),
    DeviceProfile(
        name="stm32f746g-disco",
        description="ST 32F746GDISCOVERY: STM32F746NG",
        arch="armv7e-m",
        core="Cortex-M7F",
        clock_mhz=216,
        flash_bytes=1 * MIB,
        # 320 KB SRAM including the 64 KB DTCM (the 16 KB ITCM is not counted).
        ram_bytes=320 * KIB,
        os=BARE_METAL,
        toolchain="arm-none-eabi-gcc",
        toolchain_flags=("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
        flashing_tool="st-flash or openocd (on-board ST-LINK/V2-1)",
        flash_origin=0x08000000,
        ram_origin=0x20000000,
    ),
    DeviceProfile(
        name="pico",
        description="Raspberry Pi Pico: RP2040 (dual core; one used)",
        arch="armv6-m",
        core="Cortex-M0+",
        clock_mhz=133,
        # The board's 2 MB QSPI flash, executed in place from 0x10000000.
        flash_bytes=2 * MIB,
        ram_bytes=264 * KIB,
        os=BARE_METAL,
        toolchain="arm-none-eabi-gcc",
        toolchain_flags=("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
        flashing_tool="picotool load, or copy a UF2 file in BOOTSEL mode",
        flash_origin=0x10000000,
        ram_origin=0x20000000,
    ),
    DeviceProfile(
        name="esp32-s3",
        description="Espressif ESP32-S3 (DevKitC-1 with 8 MB flash)",
        arch="xtensa",
        core="Xtensa LX7",
        clock_mhz=240,
        # Modules come with 4 to 16 MB of flash; 8 MB is the common DevKitC-1 N8.
        flash_bytes=8 * MIB,
        ram_bytes=512 * KIB,
        os=BARE_METAL,
        toolchain="xtensa-esp32s3-elf-gcc (ESP-IDF)",
        toolchain_flags=("-mlongcalls",),
        flashing_tool="esptool.py write_flash (or idf.py flash)",
    ),
    DeviceProfile(
        name="rpi4",
        description="Raspberry Pi 4 Model B: Broadcom BCM2711, 64-bit Linux",
        arch="aarch64",
        core="Cortex-A72 (4 cores)",
        clock_mhz=1500,
        flash_bytes=0,
        # The smallest Raspberry Pi 4 has 1 GB (others 2, 4 or 8 GB).
        ram_bytes=1 * GIB,
        os=LINUX,
        toolchain="aarch64-linux-gnu-gcc",
        toolchain_flags=("-mcpu=cortex-a72",),
        flashing_tool="scp and ssh (runs from the SD card's file system)",
    ),
)

_BY_NAME = {p.name: p for p in PROFILES}


def list_profiles() -> list[DeviceProfile]:
    """All known boards, in a fixed order."""
    return list(PROFILES)


def get_profile(name: str) -> DeviceProfile:
    """The profile called ``name``; `UnknownNameError` listing the known names otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise UnknownNameError(
            f"unknown device {name!r}; known devices: {', '.join(_BY_NAME)}"
        ) from None
