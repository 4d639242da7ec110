"""A checked connection to a board running a given model, for `bench` and `validate`.

`board_session` yields a `BoardLink`: a synced `BenchmarkClient` on a board
whose firmware has reported (``identity%``) that it runs exactly the model asked
for (same SHA-256) on the device asked for. With a port it connects to a board
that is already running (flashed earlier); without one, on an emulated board,
it exports and builds the firmware in a temporary directory, starts QEMU,
and stops it afterwards whatever happens.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edgedeploy.devices import get_profile
from edgedeploy.devices.protocol import DEFAULT_TIMEOUT, BenchmarkClient, DeviceIdentity
from edgedeploy.devices.qemu import QemuSession, find_session, start_qemu, stop_qemu
from edgedeploy.devices.transport import LoggingTransport, SerialTransport, Transport
from edgedeploy.errors import DeviceError
from edgedeploy.modelfile import ModelFile

__all__ = ["BoardLink", "board_session", "open_client"]


@dataclass
class BoardLink:
    """An open, checked link to a board running the model.

    ``qemu`` is the emulated board's session when there is one (its
    ``icount_shift`` turns counter ticks into instructions); ``flash_bytes`` and
    ``ram_bytes`` are the firmware's, as the board reports them.
    """

    client: BenchmarkClient
    identity: DeviceIdentity
    url: str
    device: str
    qemu: QemuSession | None


@contextlib.contextmanager
def open_client(
    url: str, timeout: float = DEFAULT_TIMEOUT, verbose: bool = False
) -> Iterator[BenchmarkClient]:
    """A synced client on ``url``; the port is closed when the block ends."""
    transport: Transport = SerialTransport(url)
    if verbose:
        transport = LoggingTransport(transport)
    with transport:
        client = BenchmarkClient(transport, timeout=timeout)
        client.sync()
        yield client


def _check(identity: DeviceIdentity, model: ModelFile, device: str, url: str) -> None:
    if identity.sha256 != model.sha256:
        raise DeviceError(
            f"the board at {url} runs model {identity.model} ({identity.sha256[:12]}…), "
            f"not {model.name} ({model.sha256[:12]}…): flash the firmware for {model.name} first"
        )
    if identity.device != device:
        raise DeviceError(f"the board at {url} runs firmware for {identity.device}, not {device}")


@contextlib.contextmanager
def board_session(
    model: ModelFile,
    model_path: Path,
    device: str,
    port: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    verbose: bool = False,
) -> Iterator[BoardLink]:
    """Connect to ``device`` running ``model`` (see the module docstring)."""
    profile = get_profile(device)
    if port is not None:
        with open_client(port, timeout, verbose) as client:
            identity = client.identity()
            _check(identity, model, profile.name, port)
            yield BoardLink(client, identity, port, profile.name, find_session(port))
        return
    if profile.qemu_machine is None:
        raise DeviceError(
            f"{device} is a real board: flash its firmware (edgedeploy flash FWDIR --device "
            f"{device}) and give its serial port with --port"
        )
    from edgedeploy.firmware_export.firmware import build_firmware, export_firmware

    with tempfile.TemporaryDirectory(prefix="edgedeploy-fw-") as tmp:
        fwdir = Path(tmp) / "firmware"
        logging.getLogger(__name__).info("building firmware for %s in %s", model.name, fwdir)
        export_firmware(model_path, fwdir, device=profile.name)
        build = build_firmware(fwdir)
        session = start_qemu(build.elf, profile.qemu_machine, log_file=Path(tmp) / "qemu.log")
        try:
            with open_client(session.url, timeout, verbose) as client:
                identity = client.identity()
                _check(identity, model, profile.name, session.url)
                yield BoardLink(client, identity, session.url, profile.name, session)
        finally:
            stop_qemu(session)
