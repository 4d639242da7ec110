"""Board support packages: which startup, UART and counter code serves which device profile.

A device profile (`edgedeploy.devices.get_profile`) says what a board is; a
board support package says how the benchmark firmware drives it: the
``board_*.c`` / ``board_*.h`` templates implementing ``board.h``, and how its
counter relates to the quantity reported (cycles on a real core with DWT, on
QEMU instructions derived from virtual time).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgedeploy.devices import DeviceProfile, get_profile
from edgedeploy.errors import DeviceError

__all__ = ["BOARDS", "BoardSupport", "board_for"]


@dataclass(frozen=True)
class BoardSupport:
    """The firmware side of one board.

    ``source`` and ``header`` are template names under ``templates/``; they
    become ``src/board.c`` and ``src/board_config.h``. ``counter_hz`` must
    match ``BOARD_COUNTER_HZ`` in the header (the host checks the board's own
    report against it).
    """

    name: str
    source: str
    header: str
    counter_hz: int


#: Board support by board name (the QEMU machine name for emulated boards).
BOARDS: dict[str, BoardSupport] = {
    "mps2-an386": BoardSupport(
        name="mps2-an386",
        source="board_mps2_an386.c",
        header="board_mps2_an386.h",
        counter_hz=25_000_000,
    ),
}

#: Device profile name -> board support name.
_PROFILE_BOARDS = {"qemu-m4": "mps2-an386"}


def board_for(device: str) -> tuple[DeviceProfile, BoardSupport]:
    """The profile and board support for ``device``.

    Raises `UnknownNameError` for a name no profile has and `DeviceError` for a
    known board the firmware has no startup and UART code for yet.
    """
    profile = get_profile(device)
    board = _PROFILE_BOARDS.get(profile.name)
    if board is None:
        supported = ", ".join(sorted(_PROFILE_BOARDS))
        raise DeviceError(
            f"no benchmark firmware board support for {profile.name} ({profile.description}); "
            f"supported: {supported}. Export the model with --runtime c and build it with the "
            f"board vendor's SDK instead"
        )
    return profile, BOARDS[board]
