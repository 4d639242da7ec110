"""Byte links to a board: serial ports, TCP sockets, an in-memory loopback for tests.

Everything that talks to a device goes through a `Transport`: it opens and
closes the link, writes bytes, and reads whatever has arrived within a
deadline. Every read and write takes a timeout, and the two ways a link can fail
become edgedeploy's own exceptions, so no caller ever blocks forever or sees a
pyserial or socket exception:

* nothing arrived in time -> `DeviceTimeoutError`;
* the other end went away (a board unplugged, QEMU killed) -> `TransportClosedError`.

`SerialTransport` opens any URL that pyserial's ``serial_for_url`` accepts, so a
USB CDC port (``/dev/ttyACM0``), an emulator's TCP serial port
(``socket://127.0.0.1:PORT``) and a networked port (``rfc2217://host:port``)
are driven by the same code. `LoopbackTransport` joins two in-memory ends for
tests, and `LoggingTransport` wraps any transport to hex-dump its traffic
(``--verbose``).
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from types import TracebackType

import serial

from edgedeploy.errors import DeviceError, DeviceTimeoutError, TransportClosedError

__all__ = [
    "DEFAULT_BAUDRATE",
    "LoggingTransport",
    "LoopbackTransport",
    "SerialTransport",
    "Transport",
    "hexdump",
]

#: Baud rate the firmware's UART is set to; ignored by socket:// links.
DEFAULT_BAUDRATE = 115200
#: Largest chunk asked for in one read.
_READ_CHUNK = 4096
#: Longest single wait inside a read loop, so that a closed link is noticed quickly.
_POLL_SECONDS = 0.05


class Transport(abc.ABC):
    """A bidirectional byte link with per-call timeouts.

    Subclasses implement `open`, `close`, `write` and `read`. A transport is a
    context manager: leaving the block always closes it.
    """

    #: A human-readable name of the far end, used in error messages.
    name: str = "device"

    @abc.abstractmethod
    def open(self) -> None:
        """Open the link; raise `DeviceError` when the device cannot be reached."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the link. Closing twice is harmless."""

    @abc.abstractmethod
    def write(self, data: bytes, timeout: float) -> None:
        """Send all of ``data`` within ``timeout`` seconds."""

    @abc.abstractmethod
    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Return 1 to ``max_bytes`` bytes, waiting at most ``timeout`` seconds for the first.

        Raises `DeviceTimeoutError` when nothing arrived and
        `TransportClosedError` when the link is closed.
        """

    @abc.abstractmethod
    def reset_input(self) -> None:
        """Drop bytes received but not yet read (stale output from before this session)."""

    def __enter__(self) -> Transport:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SerialTransport(Transport):
    """A pyserial port opened from a URL: ``/dev/ttyACM0``, ``socket://``, ``rfc2217://``.

    A local serial port is opened exclusively (another program holding it is an
    error, not a source of interleaved bytes) and, with ``flush`` (the
    default), its input buffer is emptied on open so that bytes from before
    the session are never taken for a reply. An emulated board whose boot
    output is wanted is opened with ``flush=False``.
    """

    def __init__(self, url: str, baudrate: int = DEFAULT_BAUDRATE, flush: bool = True) -> None:
        self.url = url
        self.name = url
        self.baudrate = baudrate
        self.flush = flush
        self._port: serial.SerialBase | None = None

    def open(self) -> None:
        kwargs: dict[str, object] = {"baudrate": self.baudrate, "timeout": 0}
        if "://" not in self.url:
            kwargs["exclusive"] = True
        try:
            self._port = serial.serial_for_url(self.url, **kwargs)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise DeviceError(f"cannot open {self.url}: {_reason(exc)}") from exc
        if self.flush:
            self.reset_input()

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception:  # closing a dead link must not raise
                logging.getLogger(__name__).debug("closing %s failed", self.url, exc_info=True)

    def _require_open(self) -> serial.SerialBase:
        if self._port is None:
            raise TransportClosedError(f"the link to {self.url} is not open")
        return self._port

    def reset_input(self) -> None:
        port = self._require_open()
        try:
            port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"the link to {self.url} closed: {_reason(exc)}") from exc

    def write(self, data: bytes, timeout: float) -> None:
        port = self._require_open()
        try:
            port.write_timeout = timeout
            port.write(data)
            port.flush()
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeoutError(
                f"{self.url} did not accept {len(data)} bytes within {timeout:g} s"
            ) from exc
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"the link to {self.url} closed: {_reason(exc)}") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        port = self._require_open()
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                port.timeout = max(0.0, min(left, _POLL_SECONDS))
                data: bytes = port.read(1)
                if data:
                    port.timeout = 0
                    return data + port.read(max(0, min(max_bytes, _READ_CHUNK) - 1))
                if left <= 0:
                    raise DeviceTimeoutError(f"{self.url} sent nothing within {timeout:g} s")
        except (serial.SerialException, OSError) as exc:
            raise TransportClosedError(f"the link to {self.url} closed: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The most specific one-line reason an exception carries."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Pipe:
    """One direction of a loopback link: a byte buffer with a condition variable."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.closed = False
        self.cond = threading.Condition()


class LoopbackTransport(Transport):
    """One end of an in-memory link; `pair` makes two joined ends.

    Bytes written at one end are read at the other. Closing either end closes
    the link for both, as unplugging a cable would.
    """

    def __init__(self, inbound: _Pipe, outbound: _Pipe, name: str = "loopback") -> None:
        self._in, self._out = inbound, outbound
        self.name = name
        self._open = False

    @classmethod
    def pair(cls, name: str = "loopback") -> tuple[LoopbackTransport, LoopbackTransport]:
        """Two transports joined back to back (host end, device end)."""
        a, b = _Pipe(), _Pipe()
        return cls(a, b, name), cls(b, a, f"{name} (far end)")

    def open(self) -> None:
        if self._in.closed or self._out.closed:
            raise DeviceError(f"{self.name} is closed")
        self._open = True

    def close(self) -> None:
        self._open = False
        for pipe in (self._in, self._out):
            with pipe.cond:
                pipe.closed = True
                pipe.cond.notify_all()

    def reset_input(self) -> None:
        with self._in.cond:
            self._in.buffer.clear()

    def write(self, data: bytes, timeout: float) -> None:
        with self._out.cond:
            if self._out.closed or not self._open:
                raise TransportClosedError(f"{self.name} is closed")
            self._out.buffer.extend(data)
            self._out.cond.notify_all()

    def read(self, max_bytes: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        with self._in.cond:
            while not self._in.buffer:
                if self._in.closed or not self._open:
                    raise TransportClosedError(f"{self.name} is closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeoutError(f"{self.name} sent nothing within {timeout:g} s")
                self._in.cond.wait(left)
            data = bytes(self._in.buffer[:max_bytes])
            del self._in.buffer[:max_bytes]
            return data


def hexdump(data: bytes, width: int = 16) -> str:
    """``data`` as offset, hex and ASCII columns, one line per ``width`` bytes."""
    lines = []
    for start in range(0, len(data), width):
        chunk = data[start : start + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{start:04x}  {hexes:<{width * 3 - 1}}  {text}")
    return "\n".join(lines)


class LoggingTransport(Transport):
    """Wrap a transport and hex-dump every read and write to a logger at DEBUG level."""

    def __init__(self, inner: Transport, logger: logging.Logger | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.logger = logger or logging.getLogger("edgedeploy.devices.wire")

    def open(self) -> None:
        self.logger.debug("open %s", self.name)
        self.inner.open()

    def close(self) -> None:
        self.logger.debug("close %s", self.name)
        self.inner.close()

    def reset_input(self) -> None:
        self.inner.reset_input()

    def write(self, data: bytes, timeout: float) -> None:
        self.logger.debug("write %d bytes to %s\n%s", len(data), self.name, hexdump(data))
        self.inner.write(data, timeout)

    def read(self, max_bytes: int, timeout: float) -> bytes:
        try:
            data = self.inner.read(max_bytes, timeout)
        except (DeviceTimeoutError, TransportClosedError) as exc:
            self.logger.debug("read from %s: %s", self.name, exc)
            raise
        self.logger.debug("read %d bytes from %s\n%s", len(data), self.name, hexdump(data))
        return data
