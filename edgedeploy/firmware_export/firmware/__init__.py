"""Benchmark firmware for a board: the model, board support and the MLPerf Tiny protocol.

`export_firmware` writes a project that ``make`` turns into an ELF for the
board (startup code, linker script, UART driver and counter, the model from the
plain-C runtime, and the EEMBC / MLPerf Tiny benchmark command set with
edgedeploy's additions); `build_firmware` builds it and reports flash and RAM.
`edgedeploy.devices` flashes, benchmarks and validates it.
"""

from edgedeploy.firmware_export.firmware._boards import BOARDS, BoardSupport, board_for
from edgedeploy.firmware_export.firmware._export import (
    DEFAULT_CMD_SIZE,
    DEFAULT_STACK_BYTES,
    MANIFEST,
    FirmwareBuild,
    FirmwareExport,
    build_firmware,
    elf_sizes,
    export_firmware,
    format_export,
    read_manifest,
)

__all__ = [
    "BOARDS",
    "DEFAULT_CMD_SIZE",
    "DEFAULT_STACK_BYTES",
    "MANIFEST",
    "BoardSupport",
    "FirmwareBuild",
    "FirmwareExport",
    "board_for",
    "build_firmware",
    "elf_sizes",
    "export_firmware",
    "format_export",
    "read_manifest",
]
