"""Child process of `measure_arena`: allocate a model in TFLite Micro, print one ARENA line.

Run as ``python -m edgedeploy.runtime._arena_probe MODEL``. It lives in its own
process because the interpreter prints from C and may abort on a bad model; each
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


def main(path: str) -> int:
    runtime = micro_runtime()
    with open(path, "rb") as handle:
        data = handle.read()
    reasons: list[str] = []
    if not _allocates(runtime, data, MAX_ARENA_BYTES, reasons):
        reason = next((line.strip() for line in reasons if line.strip()), "no reason given")
        print(f"{reason} (with an arena of {MAX_ARENA_BYTES} bytes)", file=sys.stderr)
        return 1
    lo, hi = 256, MAX_ARENA_BYTES
    while lo < hi:
        mid = (lo + hi) // 2
        if _allocates_in_child(runtime, data, mid):
            hi = mid
        else:
            lo = mid + 1
    with _captured_c_output() as log:
        interp = runtime.Interpreter.from_bytes(data, arena_size=lo)
        interp.print_allocations()
    text = "\n".join(log)
    found = {
        key: int(m.group(1))
        for key in ("total", "head", "tail")
        if (m := re.search(rf"Arena allocation {key} (\d+) bytes", text))
    }
    print("ARENA " + json.dumps({**found, "minimum": lo}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
