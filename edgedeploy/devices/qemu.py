"""Emulated boards: QEMU running a firmware ELF, its UART on a local TCP port.

`start_qemu` launches ``qemu-system-arm -M MACHINE -kernel ELF`` detached from
the caller (it outlives the ``edgedeploy flash`` command), with the board's
UART0 as a TCP server on 127.0.0.1 and instruction counting on:

    -icount shift=6,align=off,sleep=on

``-icount`` makes virtual time a function of the instructions executed, so the
board's counter gives the same count for the same code on every run and every
host. ``shift=S`` makes each instruction take 2^S ns of virtual time; the MPS2
timer ticks every 40 ns (25 MHz), so with S = 6 it ticks 1.6 times per
instruction and instructions = ticks * 40 / 64, to within one instruction.
``sleep=on`` lets virtual time follow real time while the CPU idles in WFI
(between commands) instead of racing ahead and spinning a host core.

The session (pid, port, ELF, shift) is recorded in a state file so that a later
command can find it and `stop_qemu` can end exactly that process: it checks the
pid still belongs to a QEMU running that ELF before signalling it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgedeploy.devices.protocol import BenchmarkClient, DeviceIdentity
from edgedeploy.devices.transport import SerialTransport
from edgedeploy.errors import DependencyError, DeviceError, DeviceTimeoutError, TransportClosedError
from edgedeploy.fsutil import write_text

__all__ = [
    "DEFAULT_ICOUNT_SHIFT",
    "QEMU_BINARY",
    "READY_TIMEOUT",
    "QemuSession",
    "find_session",
    "free_port",
    "qemu_command",
    "read_state",
    "start_qemu",
    "stop_qemu",
]

QEMU_BINARY = "qemu-system-arm"
#: 2^6 ns of virtual time per instruction: the 25 MHz timer resolves one instruction.
DEFAULT_ICOUNT_SHIFT = 6
#: Seconds allowed from launching QEMU to the firmware's m-ready.
READY_TIMEOUT = 20.0
#: Attempts at a free port (another process may take the one picked meanwhile).
_PORT_ATTEMPTS = 3
#: Seconds a stopped QEMU gets between SIGTERM and SIGKILL.
_STOP_GRACE = 3.0

# QEMU processes started by this Python process, so that stopping one also reaps it.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class QemuSession:
    """A running emulated board."""

    pid: int
    port: int
    machine: str
    elf: str
    icount_shift: int
    command: tuple[str, ...]
    log: str
    started: float
    model_sha256: str = ""

    @property
    def url(self) -> str:
        """The board's UART as a pyserial URL."""
        return f"socket://127.0.0.1:{self.port}"

    def instructions(self, ticks: int, counter_hz: int) -> float:
        """Instructions executed while a ``counter_hz`` counter advanced ``ticks``."""
        return ticks * (1e9 / counter_hz) / (1 << self.icount_shift)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["command"] = list(self.command)
        data["url"] = self.url
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QemuSession:
        return cls(
            pid=int(data["pid"]),
            port=int(data["port"]),
            machine=str(data["machine"]),
            elf=str(data["elf"]),
            icount_shift=int(data["icount_shift"]),
            command=tuple(str(v) for v in data["command"]),
            log=str(data["log"]),
            started=float(data["started"]),
            model_sha256=str(data.get("model_sha256", "")),
        )


def _run_dir() -> Path:
    """Where sessions are indexed by port, so that a URL leads back to its session."""
    path = Path(tempfile.gettempdir()) / f"edgedeploy-{os.getuid()}" / "qemu"
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def qemu_command(machine: str, elf: Path | str, port: int, icount_shift: int) -> list[str]:
    """The QEMU command line for ``elf`` on ``machine`` with UART0 on ``port``."""
    return [
        QEMU_BINARY,
        "-M", machine,
        "-nographic",
        "-monitor", "none",
        "-kernel", str(elf),
        # wait=on: the board starts when the host connects, so its boot answer is seen;
        # nodelay=on: each reply byte goes out at once instead of waiting for an ACK.
        "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
        "-icount", f"shift={icount_shift},align=off,sleep=on",
    ]  # fmt: skip


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_our_qemu(session: QemuSession) -> bool:
    """Whether ``session.pid`` is still that QEMU (not a process that reused its pid)."""
    if not _alive(session.pid):
        return False
    try:
        cmdline = Path(f"/proc/{session.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return session.pid in _CHILDREN
    args = [a.decode("utf-8", "replace") for a in cmdline if a]
    return bool(args) and Path(args[0]).name == QEMU_BINARY and session.elf in args


def _wait_ready(proc: subprocess.Popen[bytes], port: int, deadline: float) -> DeviceIdentity:
    """Connect to the board's UART and ask who it is; return its identity.

    QEMU (``wait=on``) starts the board when this first client connects. A
    firmware whose model failed to initialise answers with an error.
    """
    url = f"socket://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise DeviceError(
                f"QEMU exited with status {proc.returncode} before the board was ready"
            )
        transport = SerialTransport(url)
        try:
            transport.open()
        except DeviceError:
            if time.monotonic() > deadline:
                raise DeviceTimeoutError(
                    f"QEMU did not open its serial port {port} in time"
                ) from None
            time.sleep(0.05)
            continue
        break
    with transport:
        client = BenchmarkClient(transport, timeout=max(0.5, deadline - time.monotonic()))
        try:
            client.sync()
            return client.identity()
        except (DeviceTimeoutError, TransportClosedError) as exc:
            raise DeviceError(f"the emulated board did not become ready: {exc}") from exc


def start_qemu(
    elf: Path | str,
    machine: str,
    icount_shift: int = DEFAULT_ICOUNT_SHIFT,
    state_file: Path | None = None,
    log_file: Path | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> QemuSession:
    """Launch QEMU on ``elf`` in the background and wait until the firmware answers.

    The session is recorded in ``state_file`` (if given) and in the run
    directory by port. `DependencyError` when qemu-system-arm is missing;
    `DeviceError` when QEMU exits or the firmware never answers (QEMU is then
    stopped, never left behind).
    """
    binary = shutil.which(QEMU_BINARY)
    if binary is None:
        raise DependencyError(
            f"{QEMU_BINARY} is not installed (Debian: apt-get install qemu-system-arm)"
        )
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise DeviceError(f"firmware {elf} does not exist; build it first")
    log_path = (
        Path(log_file) if log_file else _run_dir() / f"qemu-{os.getpid()}-{time.time_ns()}.log"
    )
    failure: Exception | None = None
    for _ in range(_PORT_ATTEMPTS):
        port = free_port()
        command = qemu_command(machine, elf, port, icount_shift)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        session = QemuSession(
            proc.pid,
            port,
            machine,
            str(elf),
            icount_shift,
            tuple(command),
            str(log_path),
            time.time(),
        )
        try:
            identity = _wait_ready(proc, port, time.monotonic() + ready_timeout)
        except BaseException as exc:
            detail = _tail(log_path)
            _terminate(session)
            if not isinstance(exc, DeviceError):
                raise
            failure = exc
            if "Address already in use" in detail:
                continue
            raise type(exc)(f"{exc} (QEMU: {detail})" if detail else str(exc)) from exc
        session = dataclasses.replace(session, model_sha256=identity.sha256)
        _record(session, state_file)
        return session
    raise DeviceError(
        f"QEMU could not bind a serial port after {_PORT_ATTEMPTS} attempts"
    ) from failure


def _tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    noise = ("QEMU waiting for connection", "terminating on signal")
    lines = [line for line in lines if not any(n in line for n in noise)]
    return lines[-1].strip() if lines else ""


def _record(session: QemuSession, state_file: Path | None) -> None:
    text = json.dumps(session.to_dict(), indent=2) + "\n"
    write_text(_run_dir() / f"{session.port}.json", text, force=True)
    if state_file is not None:
        write_text(state_file, text, force=True)


def find_session(url_or_port: str | int) -> QemuSession | None:
    """The live QEMU session serving ``socket://127.0.0.1:PORT`` (or that port), if any."""
    port: int | str = url_or_port
    if isinstance(port, str):
        parsed = urllib.parse.urlsplit(port)
        if parsed.scheme != "socket" or parsed.hostname not in ("127.0.0.1", "localhost"):
            return None
        try:
            port = parsed.port or 0
        except ValueError:
            return None
    try:
        path = _run_dir() / f"{int(port)}.json"
        session = QemuSession.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return session if _is_our_qemu(session) else None


def _terminate(session: QemuSession) -> None:
    proc = _CHILDREN.pop(session.pid, None)
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(_STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(session.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE
    while _alive(session.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(session.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(session.pid, signal.SIGKILL)


def stop_qemu(session: QemuSession, state_file: Path | None = None) -> bool:
    """Stop ``session``'s QEMU if it still runs; forget the session. True if one was stopped."""
    stopped = False
    if _is_our_qemu(session):
        _terminate(session)
        stopped = True
    else:
        _CHILDREN.pop(session.pid, None)
    log = Path(session.log)
    if log.parent == _run_dir():
        log.unlink(missing_ok=True)
    for path in (_run_dir() / f"{session.port}.json", state_file):
        if path is not None:
            with contextlib.suppress(OSError):
                current = json.loads(path.read_text(encoding="utf-8"))
                if int(current.get("pid", -1)) == session.pid:
                    path.unlink()
    return stopped


def stop_all_qemu() -> int:
    """Stop every emulated board this user started; return how many were running."""
    stopped = 0
    for path in sorted(_run_dir().glob("*.json")):
        session = read_state(path)
        if session is None:
            path.unlink(missing_ok=True)
        elif stop_qemu(session):
            stopped += 1
    return stopped


def read_state(state_file: Path) -> QemuSession | None:
    """The session recorded in ``state_file``, or None if there is none or it is unreadable."""
    try:
        return QemuSession.from_dict(json.loads(Path(state_file).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
