"""The host side of the benchmark protocol the edgedeploy firmware speaks over serial.

The firmware implements the EEMBC / MLPerf Tiny benchmark command set exactly as
the MLPerf Tiny runner sends it: a command is ASCII text ended by ``%``
(``name%``, ``profile%``, ``db load 490%``, ``db 0a1b…%``, ``infer 10 1%``,
``results%``); the board answers with lines starting ``m-`` (information) or
``e-[…]`` (an error) and ends every answer with ``m-ready``. edgedeploy adds, in
the same style, what it needs to check results bit-exactly and to trust them:

* ``identity%``  the model (name, sha256, arena), tensor sizes, counter, flash, RAM;
* ``db crc%``    the CRC32 of the bytes the board holds, so a corrupted upload is caught;
* ``output%``    the raw output tensors as hex (``results%`` prints rounded floats);
* every answer carries ``m-crc32-[XXXXXXXX]`` just before ``m-ready``: the CRC32
  (IEEE, as `zlib.crc32`) of every byte of the answer before that line.

A line the MLPerf runner does not know is ignored by it, so the firmware stays
usable with that runner. docs/serial-protocol.md is the full specification.

`BenchmarkClient` drives a board through a `Transport`. Every read has a
deadline; a reply that is garbled, fails its CRC or does not echo what was
asked raises `ProtocolError`, an ``e-[…]`` answer raises `DeviceCommandError`,
so no result is ever returned from a corrupt exchange.
"""

from __future__ import annotations

import re
import secrets
import time
import zlib
from dataclasses import dataclass, field

from edgedeploy.devices.transport import Transport
from edgedeploy.errors import DeviceError, DeviceTimeoutError, InputDataError

__all__ = [
    "DEFAULT_TIMEOUT",
    "MLPERF_CHUNK_BYTES",
    "BenchmarkClient",
    "DeviceCommandError",
    "DeviceIdentity",
    "InferReply",
    "ProtocolError",
    "Reply",
    "TensorSlot",
    "crc32",
]

#: Seconds to wait for the answer to one command (and, for ``infer``, per run).
DEFAULT_TIMEOUT = 10.0
#: Bytes per ``db`` command the MLPerf Tiny runner sends; used until the board
#: says how long a command it accepts.
MLPERF_CHUNK_BYTES = 31
#: Longest line accepted from a board before its output is declared garbage
#: (``m-results`` of a model with many outputs is long; a timeout bounds the rest).
MAX_LINE_CHARS = 1 << 20
#: Command terminator of the EEMBC protocol.
TERMINATOR = "%"
READY = "m-ready"

_CRC_LINE = re.compile(r"m-crc32-\[([0-9a-f]{8})\]")
_ERROR_LINE = re.compile(r"e-\[(.*)\]")
_IDENTITY_LINE = re.compile(r"m-identity-([a-z0-9]+(?:-[a-z0-9]+)*?)((?:-\[[^\]]*\])+)")
_OUTPUT_LINE = re.compile(r"m-output-(\d+)-\[((?:[0-9a-f]{2})*)\]")


class ProtocolError(DeviceError):
    """The board's answer is garbled, fails its CRC, or does not match what was asked."""


class DeviceCommandError(DeviceError):
    """The board understood the exchange but refused the command (an ``e-[…]`` line)."""


def crc32(data: bytes) -> int:
    """CRC-32/IEEE of ``data``, the checksum the firmware computes."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Reply:
    """One answer of the board: its lines between the command and ``m-ready``."""

    command: str
    lines: tuple[str, ...]

    def one(self, pattern: str) -> re.Match[str]:
        """The only line matching regular expression ``pattern`` (whole line)."""
        matches = [m for line in self.lines if (m := re.fullmatch(pattern, line))]
        if len(matches) != 1:
            raise ProtocolError(
                f"the answer to {self.command!r} has {len(matches)} lines like {pattern!r}, "
                f"expected one: {_preview(self.lines)}"
            )
        return matches[0]


@dataclass(frozen=True)
class TensorSlot:
    """An input or output tensor of the model the board runs, as it reports it."""

    index: int
    dtype: str
    nbytes: int


@dataclass(frozen=True)
class DeviceIdentity:
    """What the board says about itself in answer to ``identity%``."""

    firmware: str
    board: str
    device: str
    model: str
    sha256: str
    arena_bytes: int
    inputs: tuple[TensorSlot, ...]
    outputs: tuple[TensorSlot, ...]
    counter: str
    counter_hz: int
    counter_unit: str
    cmd_size: int
    flash_bytes: int
    ram_bytes: int
    stack_bytes: int
    stack_peak_bytes: int
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @property
    def db_chunk_bytes(self) -> int:
        """Bytes per ``db`` command that fit the board's command buffer."""
        return max(1, (self.cmd_size - len("db ")) // 2)


@dataclass(frozen=True)
class InferReply:
    """The board's answer to ``infer N W``."""

    runs: int
    warmup: int
    start_us: int
    end_us: int
    start_ticks: int
    end_ticks: int
    results: tuple[float, ...]

    @property
    def ticks(self) -> int:
        """Counter ticks for all ``runs`` inferences (the span between the two laps)."""
        return self.end_ticks - self.start_ticks


class BenchmarkClient:
    """Commands to an edgedeploy benchmark firmware over a transport.

    ``timeout`` bounds every exchange; ``infer`` allows it once more for every
    inference it asks for. Call `sync` once after opening the transport: it
    ends any half-sent command a previous session left on the board.
    """

    def __init__(self, transport: Transport, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.transport = transport
        self.timeout = timeout
        self._pending = bytearray()
        self._identity: DeviceIdentity | None = None

    # --- framing --------------------------------------------------------------

    def _timed_out(self, command: str) -> DeviceTimeoutError:
        partial = f" (partial line {bytes(self._pending[:40])!r})" if self._pending else ""
        return DeviceTimeoutError(
            f"{self.transport.name} did not finish answering {command!r} in time{partial}"
        )

    def _read_line(self, deadline: float, command: str) -> tuple[str, bytes]:
        """The next line (text without its ending, raw bytes with it) before ``deadline``."""
        while True:
            if time.monotonic() > deadline:
                raise self._timed_out(command)
            end = self._pending.find(b"\n")
            if end >= 0:
                raw = bytes(self._pending[: end + 1])
                del self._pending[: end + 1]
                return _decode_line(raw, command), raw
            if len(self._pending) > MAX_LINE_CHARS:
                raise ProtocolError(
                    f"the board sent {len(self._pending)} bytes without a line end in answer "
                    f"to {command!r}: {bytes(self._pending[:40])!r}…"
                )
            try:
                self._pending.extend(self.transport.read(4096, deadline - time.monotonic()))
            except DeviceTimeoutError:
                raise self._timed_out(command) from None

    def _read_reply(self, command: str, timeout: float) -> Reply:
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        covered = bytearray()
        while True:
            text, raw = self._read_line(deadline, command)
            if text == READY:
                raise ProtocolError(
                    f"the answer to {command!r} has no m-crc32 line: {_preview(lines)}"
                )
            crc = _CRC_LINE.fullmatch(text)
            if crc is None:
                if not text:
                    # An empty line (the fault handler ends a half-written line with
                    # one) carries nothing, but its bytes are under the CRC.
                    covered.extend(raw)
                    continue
                if not text.startswith(("m-", "e-")):
                    raise ProtocolError(
                        f"the board answered {command!r} with garbage: {text[:60]!r}"
                    )
                lines.append(text)
                covered.extend(raw)
                continue
            expected = int(crc.group(1), 16)
            if crc32(bytes(covered)) != expected:
                raise ProtocolError(
                    f"the answer to {command!r} fails its CRC32 (sent {expected:08x}, "
                    f"received bytes give {crc32(bytes(covered)):08x}): corrupted on the link"
                )
            last, _ = self._read_line(deadline, command)
            if last != READY:
                raise ProtocolError(
                    f"the answer to {command!r} continues after its CRC with {last[:60]!r}"
                )
            break
        for line in lines:
            error = _ERROR_LINE.fullmatch(line)
            if error is not None:
                raise DeviceCommandError(
                    f"{self.transport.name} refused {command!r}: {error.group(1)}"
                )
        return Reply(command, tuple(lines))

    def command(self, text: str, timeout: float | None = None) -> Reply:
        """Send one command (without its ``%``) and return the board's checked answer."""
        if TERMINATOR in text or not text.isascii() or "\n" in text:
            raise InputDataError(f"command {text!r} must be ASCII without '%' or line ends")
        wait = self.timeout if timeout is None else timeout
        self.transport.write((text + TERMINATOR).encode("ascii"), wait)
        return self._read_reply(text, wait)

    def sync(self) -> None:
        """End whatever the board was in the middle of and start a clean exchange.

        A bare ``%`` terminates any half-received command. Then ``sync-NONCE%``,
        a command no firmware knows, makes the board answer
        ``e-[Unknown command: sync-NONCE]``: everything before that answer's
        ``m-ready`` (a boot message, the answer to the ``%``, stale output) is
        dropped, whatever its timing, and the next command starts clean. A
        board that sends something else until the deadline is not speaking the
        protocol: `ProtocolError`; one that sends nothing: `DeviceTimeoutError`.
        """
        self.transport.reset_input()
        self._pending.clear()
        nonce = f"sync-{secrets.token_hex(4)}"
        self.transport.write(f"{TERMINATOR}{nonce}{TERMINATOR}".encode("ascii"), self.timeout)
        deadline = time.monotonic() + self.timeout
        seen = False
        other = ""
        while True:
            try:
                text, raw = self._read_line(deadline, nonce)
            except ProtocolError as exc:
                other = str(exc)
                self._pending.clear()
                continue
            except DeviceTimeoutError:
                if other or self._pending:
                    raise ProtocolError(
                        f"{self.transport.name} answers, but not in the benchmark protocol "
                        f"(last: {other or repr(bytes(self._pending[:40]))})"
                    ) from None
                raise
            if nonce in text:
                seen = True
            elif seen and text == READY:
                return
            elif not seen:
                other = repr(raw[:40])

    # --- the MLPerf Tiny commands ------------------------------------------------

    def name(self) -> str:
        """The board's answer to ``name%`` (``m-name-dut-[NAME]``)."""
        return self.command("name").one(r"m-name-dut-\[([^\]]+)\]").group(1)

    def profile(self) -> dict[str, str]:
        """``profile%``: the firmware profile and model version strings."""
        reply = self.command("profile")
        return {
            "profile": reply.one(r"m-profile-\[([^\]]+)\]").group(1),
            "model": reply.one(r"m-model-\[([^\]]+)\]").group(1),
        }

    def load(self, data: bytes) -> None:
        """Upload ``data`` with ``db load N`` and ``db HEX`` commands, then check its CRC."""
        if not data:
            raise InputDataError("cannot upload an empty input")
        ident = self._identity
        chunk = ident.db_chunk_bytes if ident is not None else MLPERF_CHUNK_BYTES
        n = len(data)
        reply = self.command(f"db load {n}")
        got = int(reply.one(r"m-\[Expecting (\d+) bytes\]").group(1))
        if got != n:
            raise ProtocolError(f"asked the board to expect {n} bytes; it expects {got}")
        for start in range(0, n, chunk):
            piece = data[start : start + chunk]
            reply = self.command("db " + piece.hex())
            last = start + len(piece) == n
            if last:
                reply.one("m-load-done")
            elif reply.lines:
                raise ProtocolError(
                    f"unexpected answer to a db chunk at byte {start}: {_preview(reply.lines)}"
                )
        match = self.command("db crc").one(r"m-db-crc32-\[([0-9a-f]{8})\]-\[(\d+)\]")
        board_crc, board_len = int(match.group(1), 16), int(match.group(2))
        if (board_crc, board_len) != (crc32(data), n):
            raise ProtocolError(
                f"the board holds {board_len} bytes with CRC32 {board_crc:08x}; sent {n} bytes "
                f"with CRC32 {crc32(data):08x}: the upload was corrupted on the link"
            )

    def infer(self, runs: int = 1, warmup: int = 0, timeout: float | None = None) -> InferReply:
        """``infer N W``: ``warmup`` untimed then ``runs`` timed inferences on the loaded input."""
        if runs < 1 or warmup < 0:
            raise InputDataError(f"runs must be >= 1 and warmup >= 0, got {runs} and {warmup}")
        per_run = self.timeout if timeout is None else timeout
        command = f"infer {runs} {warmup}"
        reply = self.command(command, timeout=self.timeout + per_run * (runs + warmup))
        echoed = (
            int(reply.one(r"m-warmup-start-(\d+)").group(1)),
            int(reply.one(r"m-infer-start-(\d+)").group(1)),
        )
        if echoed != (warmup, runs):
            raise ProtocolError(
                f"asked for {command!r}; the board ran {echoed[1]} runs after {echoed[0]} warm-ups"
            )
        reply.one("m-warmup-done")
        reply.one("m-infer-done")
        us = [
            int(m.group(1)) for line in reply.lines if (m := re.fullmatch(r"m-lap-us-(\d+)", line))
        ]
        ticks = [
            int(m.group(1))
            for line in reply.lines
            if (m := re.fullmatch(r"m-lap-ticks-(\d+)", line))
        ]
        if len(us) != 2 or len(ticks) != 2 or ticks[1] < ticks[0]:
            raise ProtocolError(
                f"the answer to {command!r} lacks two ordered timestamps: {_preview(reply.lines)}"
            )
        results = _parse_results(reply)
        return InferReply(runs, warmup, us[0], us[1], ticks[0], ticks[1], results)

    def results(self) -> tuple[float, ...]:
        """``results%``: the last outputs as floats rounded to 3 decimals (MLPerf format)."""
        return _parse_results(self.command("results"))

    # --- edgedeploy's additions -------------------------------------------------------

    def identity(self) -> DeviceIdentity:
        """``identity%``: the model the board runs, its tensors, counter and footprint."""
        reply = self.command("identity")
        values: dict[str, tuple[str, ...]] = {}
        for line in reply.lines:
            m = _IDENTITY_LINE.fullmatch(line)
            if m is None:
                raise ProtocolError(f"unexpected identity line {line[:60]!r}")
            values[m.group(1)] = tuple(re.findall(r"-\[([^\]]*)\]", m.group(2)))
        try:
            ident = _identity_from(values)
        except (KeyError, ValueError, IndexError) as exc:
            raise ProtocolError(f"the board's identity is incomplete or malformed ({exc})") from exc
        self._identity = ident
        return ident

    def outputs(self) -> list[bytes]:
        """``output%``: the raw bytes of every output tensor of the last inference."""
        ident = self._identity or self.identity()
        reply = self.command("output")
        parts: dict[int, bytearray] = {t.index: bytearray() for t in ident.outputs}
        for line in reply.lines:
            m = _OUTPUT_LINE.fullmatch(line)
            if m is None or int(m.group(1)) not in parts:
                raise ProtocolError(f"unexpected line in the output dump: {line[:60]!r}")
            parts[int(m.group(1))].extend(bytes.fromhex(m.group(2)))
        for t in ident.outputs:
            if len(parts[t.index]) != t.nbytes:
                raise ProtocolError(
                    f"output {t.index} came back with {len(parts[t.index])} bytes, "
                    f"the model's is {t.nbytes}"
                )
        return [bytes(parts[t.index]) for t in ident.outputs]

    def run(self, data: bytes, timeout: float | None = None) -> list[bytes]:
        """Upload one input (all input tensors' bytes back to back), infer once, read outputs."""
        ident = self._identity or self.identity()
        if len(data) != ident.input_bytes:
            raise InputDataError(
                f"the input has {len(data)} bytes; the model on the board takes {ident.input_bytes}"
            )
        self.load(data)
        self.infer(1, 0, timeout=timeout)
        return self.outputs()


def _decode_line(raw: bytes, command: str) -> str:
    """A received line as text; anything but printable ASCII is garbage."""
    body = raw.rstrip(b"\r\n")
    if any(b < 0x20 or b > 0x7E for b in body):
        raise ProtocolError(f"the board answered {command!r} with garbage bytes: {body[:40]!r}")
    return body.decode("ascii")


def _parse_results(reply: Reply) -> tuple[float, ...]:
    body = reply.one(r"m-results-\[([^\]]*)\]").group(1)
    try:
        return tuple(float(v) for v in body.split(",") if v.strip())
    except ValueError as exc:
        raise ProtocolError(f"malformed results line m-results-[{body[:60]}]") from exc


def _slots(values: dict[str, tuple[str, ...]], kind: str) -> tuple[TensorSlot, ...]:
    count = int(values[f"{kind}s"][0])
    slots = []
    for i in range(count):
        dtype, nbytes = values[f"{kind}-{i}"][:2]
        slots.append(TensorSlot(i, dtype, int(nbytes)))
    return tuple(slots)


def _identity_from(values: dict[str, tuple[str, ...]]) -> DeviceIdentity:
    def first(key: str) -> str:
        return values[key][0]

    known = {
        "firmware", "board", "device", "model", "sha256", "arena", "inputs", "outputs",
        "counter", "cmd-size", "flash", "ram", "stack",
    }  # fmt: skip
    known |= {k for k in values if re.fullmatch(r"(input|output)-\d+", k)}
    counter = values["counter"]
    stack = values["stack"]
    return DeviceIdentity(
        firmware=first("firmware"),
        board=first("board"),
        device=first("device"),
        model=first("model"),
        sha256=first("sha256"),
        arena_bytes=int(first("arena")),
        inputs=_slots(values, "input"),
        outputs=_slots(values, "output"),
        counter=counter[0],
        counter_hz=int(counter[1]),
        counter_unit=counter[2],
        cmd_size=int(first("cmd-size")),
        flash_bytes=int(first("flash")),
        ram_bytes=int(first("ram")),
        stack_bytes=int(stack[0]),
        stack_peak_bytes=int(stack[1]),
        extra={k: v for k, v in values.items() if k not in known},
    )


def _preview(lines: list[str] | tuple[str, ...]) -> str:
    text = " | ".join(lines)
    return text if len(text) <= 200 else text[:200] + "…"
