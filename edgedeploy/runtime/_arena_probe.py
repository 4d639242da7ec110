"""Child process of `measure_arena`: allocate a model in TFLite Micro, print one ARENA line.

`measure` runs in the sandbox worker (`edgedeploy.sandbox`), never in the
caller, because the interpreter prints from C and may abort on a bad model; it
also runs as ``python -m edgedeploy.runtime._arena_probe MODEL``. Each
trial allocation of the search runs in a forked child of its own, because TFLite
Micro can crash (not fail) when handed an arena just too small for some models.
"""

from __future__ import annotations

import json
import os
import re
import sys

from edgedeploy.runtime.micro import MAX_ARENA_BYTES, _captured_c_output, micro_runtime


def _allocates(runtime: object, data: bytes, size: int, log: list[str] | None = None) -> bool:
    """Try to allocate ``data`` in ``size`` bytes; TFLM's own messages go into ``log``."""
    with _captured_c_output() as captured:
        try:
            runtime.Interpreter.from_bytes(data, arena_size=size)  # type: ignore[attr-defined]
        except (RuntimeError, ValueError):
            ok = False
        else:
            ok = True
    if log is not None:
        log.extend(captured)
    return ok


def _allocates_in_child(runtime: object, data: bytes, size: int) -> bool:
    """`_allocates` in a forked child: a crash there counts as "too small", not as our crash."""
    pid = os.fork()
    if pid == 0:
        code = 0 if _allocates(runtime, data, size) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def measure(data: bytes) -> dict[str, int]:
    """The arena report of ``data`` as a dict; `RuntimeError` with TFLM's reason if it cannot load."""
    runtime = micro_runtime()
    reasons: list[str] = []
    if not _allocates(runtime, data, MAX_ARENA_BYTES, reasons):
        reason = next((line.strip() for line in reasons if line.strip()), "no reason given")
        raise RuntimeError(f"{reason} (with an arena of {MAX_ARENA_BYTES} bytes)")
    lo, hi = _bracket(runtime, data, _allocation(runtime, data, MAX_ARENA_BYTES).get("total"))
    while lo < hi:
        mid = (lo + hi) // 2
        if _allocates_in_child(runtime, data, mid):
            hi = mid
        else:
            lo = mid + 1
    return {**_allocation(runtime, data, lo), "minimum": lo}


def _allocation(runtime: object, data: bytes, size: int) -> dict[str, int]:
    """What the recording allocator reports (total, head, tail) for an arena of ``size``."""
    with _captured_c_output() as log:
        interp = runtime.Interpreter.from_bytes(data, arena_size=size)  # type: ignore[attr-defined]
        interp.print_allocations()
    text = "\n".join(log)
    return {
        key: int(m.group(1))
        for key in ("total", "head", "tail")
        if (m := re.search(rf"Arena allocation {key} (\d+) bytes", text))
    }


def _bracket(runtime: object, data: bytes, total: int | None) -> tuple[int, int]:
    """A range ``(lo, hi]`` that holds the smallest working arena, found near ``total``.

    The smallest arena lies a little above what the allocator reports in use,
    so growing steps from there find it in a few trials where a bisection of
    the whole 256 B - 64 MiB range takes eighteen; the answer is the same, as
    both assume that any larger arena works too.
    """
    if total is None or not 256 <= total < MAX_ARENA_BYTES:
        return 256, MAX_ARENA_BYTES
    if _allocates_in_child(runtime, data, total):
        hi, step = total, 1
        while hi - step >= 256 and _allocates_in_child(runtime, data, hi - step):
            hi, step = hi - step, step * 64
        return max(256, hi - step + 1), hi
    lo, step = total + 1, 1024
    while lo - 1 + step < MAX_ARENA_BYTES:
        if _allocates_in_child(runtime, data, lo - 1 + step):
            return lo, lo - 1 + step
        lo, step = lo + step, step * 2
    return lo, MAX_ARENA_BYTES


def main(path: str) -> int:
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        report = measure(data)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print("ARENA " + json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
