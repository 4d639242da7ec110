"""Trying a model in LiteRT or TensorFlow Lite Micro where a crash cannot hurt the caller.

`edgedeploy.modelfile.load_model` verifies a model's structure, but the kernels
behind it check their own parameters unevenly: a malformed model can still make
TensorFlow Lite Micro (which trusts its input by design) or LiteRT abort the
process or loop forever. Before `Model` and `MicroModel` load a model in
process, `probe` loads, allocates and invokes it once (on zero inputs) in a
child. A crash or a hang there becomes one `ModelFormatError`; a clean success
or error means the same steps are safe to repeat in the caller.

A probe is evidence, not proof: a kernel reading past a buffer may fault in
one process and not in another. So TensorFlow Lite Micro, which trusts its
model by design, never runs in the caller at all: `MicroModel` reads its
details here (kind ``micro``) and runs every inference here (kind
``micro_invoke``), and TFLite Micro's arena search
(`edgedeploy.runtime.measure_arena`, kind ``arena``) runs here too. LiteRT,
which verifies models and checks tensors in every kernel's ``Prepare``, runs
in the caller after a clean probe, as benchmarks need it in process.

The child is a persistent worker (``python -m edgedeploy.sandbox``) that imports
the runtimes once and forks a fresh process for every probe, so a probe costs
milliseconds, one probe's memory corruption cannot leak into the next, and no
``multiprocessing`` start method re-imports the caller's main module. Where
``os.fork`` is missing the worker probes in itself and is restarted after a
crash. Results are cached by the model's SHA-256, kind and options. The worker
finds this package through ``PYTHONPATH`` set to the directory it was imported
from, so it starts the same code as the caller whatever the working directory.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import io
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

from edgedeploy.errors import ModelFormatError

__all__ = [
    "PROBE_TIMEOUT_SECONDS",
    "ProbeResult",
    "clear_cache",
    "decode_array",
    "encode_array",
    "probe",
    "require_safe",
    "shutdown",
]

#: Seconds one probe (load, allocate and one invoke, or the arena search) may
#: take before the model is declared hanging. A zoo model takes well under one
#: second on a Raspberry Pi; every command on a hostile model ends within ten.
PROBE_TIMEOUT_SECONDS = 8.0
#: Extra seconds the caller waits for a worker beyond a probe's own timeout: a
#: fresh worker first imports the runtimes (seconds on a loaded machine).
_STARTUP_GRACE_SECONDS = 30.0
_WORKER_GRACE_SECONDS = 1.0
#: Probe results kept, most recent first.
_CACHE_SIZE = 256
#: What a probe runs the model in.
Kind = Literal["litert", "micro", "micro_invoke", "arena"]
_RUNTIMES = {
    "litert": "LiteRT",
    "micro": "TensorFlow Lite Micro",
    "micro_invoke": "TensorFlow Lite Micro",
    "arena": "TensorFlow Lite Micro",
}


@dataclass(frozen=True)
class ProbeResult:
    """How loading, allocating and invoking a model once went in a child process.

    ``status`` is ``ok``, ``error`` (the runtime refused the model cleanly; the
    caller will meet the same error and report it), ``crash`` (the child died of
    ``signal``) or ``timeout``. ``message`` is the runtime's first error line;
    ``value`` what an ``arena`` probe measured.
    """

    status: str
    message: str = ""
    signal: int | None = None
    value: dict[str, Any] | None = None

    @property
    def safe(self) -> bool:
        """True when the same steps in this process end in a result or a clean error."""
        return self.status in ("ok", "error")


# --- what the child does -------------------------------------------------------


@contextlib.contextmanager
def _c_output_to(sink: IO[bytes]) -> Iterator[None]:
    """Point fd 1 and 2 at ``sink`` (runtimes print their errors from C)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def _zeros(detail: dict[str, Any]) -> Any:
    import numpy as np

    return np.zeros([int(v) for v in detail["shape"]], dtype=detail["dtype"])


def _run_litert(data: bytes, options: dict[str, Any]) -> None:
    """Load, allocate and invoke once in LiteRT, on zero inputs."""
    import importlib

    module = importlib.import_module(options.get("module", "ai_edge_litert.interpreter"))
    kwargs: dict[str, Any] = {"model_content": data}
    if options.get("num_threads") is not None:
        kwargs["num_threads"] = int(options["num_threads"])
    if options.get("reference_kernels"):
        resolver = getattr(module, "OpResolverType", None) or module.experimental.OpResolverType
        kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_REF
    interp = module.Interpreter(**kwargs)
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], _zeros(detail))
    interp.invoke()


def encode_array(x: Any) -> str:
    """An array as base64 ``.npy`` text, to cross the worker's JSON protocol."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(x), allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_array(text: str) -> Any:
    """The inverse of `encode_array`."""
    import numpy as np

    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def _micro_details(interp: Any, count: int, which: str) -> list[dict[str, Any]]:
    import numpy as np

    get = getattr(interp, f"get_{which}_details")
    return [
        {"shape": [int(v) for v in d["shape"]], "dtype": np.dtype(d["dtype"]).name}
        for d in (get(i) for i in range(count))
    ]


def _run_micro(data: bytes, options: dict[str, Any]) -> dict[str, Any]:
    """Load and allocate in TFLite Micro, then invoke once on zeros (``invoke``) or not.

    Returns the input and output details; ``num_inputs`` and ``num_outputs``
    come from the verified model, as the runtime cannot count them itself.
    """
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=int(options["arena_size"]))
    inputs = _micro_details(interp, int(options.get("num_inputs", 0)), "input")
    outputs = _micro_details(interp, int(options.get("num_outputs", 0)), "output")
    if options.get("invoke", True):
        for i in range(len(inputs)):
            interp.set_input(_zeros(interp.get_input_details(i)), i)
        interp.invoke()
    return {"inputs": inputs, "outputs": outputs}


def _run_micro_invoke(data: bytes, options: dict[str, Any]) -> dict[str, Any]:
    """Load, allocate and invoke TFLite Micro on ``inputs``; return the outputs."""
    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=int(options["arena_size"]))
    for i, text in enumerate(options["inputs"]):
        interp.set_input(decode_array(text), i)
    interp.invoke()
    count = int(options["num_outputs"])
    return {"outputs": [encode_array(np.array(interp.get_output(i))) for i in range(count)]}


def _run_arena(data: bytes, options: dict[str, Any]) -> dict[str, int]:
    """TFLite Micro's arena report (`edgedeploy.runtime._arena_probe.measure`)."""
    from edgedeploy.runtime._arena_probe import measure

    return measure(data)


_RUNNERS = {
    "litert": _run_litert,
    "micro": _run_micro,
    "micro_invoke": _run_micro_invoke,
    "arena": _run_arena,
}


def _attempt(kind: str, data: bytes, options: dict[str, Any]) -> dict[str, Any]:
    """Run one probe; an exception is a clean error with its first line."""
    with tempfile.TemporaryFile() as sink:
        try:
            with _c_output_to(sink):
                value = _RUNNERS[kind](data, options)
        except Exception as exc:
            sink.seek(0)
            lines = [
                line.strip()
                for line in sink.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not line.startswith(("W0000", "I0000", "WARNING: All log"))
            ]
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return {"status": "error", "message": "; ".join([*lines[:2], first])}
    return {"status": "ok", "value": value}


def _fork_attempt(
    kind: str, data: bytes, options: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """`_attempt` in a forked child, killed after ``timeout`` seconds."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one JSON line and leave without cleanup
        os.close(read_end)
        try:
            answer = json.dumps(_attempt(kind, data, options)).encode()
            os.write(write_end, answer)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_end], [], [], left)
        if ready:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(read_end)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        return {"status": "timeout"}
    if os.WIFSIGNALED(status):
        return {"status": "crash", "signal": os.WTERMSIG(status)}
    try:
        return dict(json.loads(b"".join(chunks)))
    except ValueError:
        return {"status": "crash", "signal": None}


def _serve() -> None:
    """The worker loop: a JSON header line and the model bytes in, one JSON line out.

    The answers go to a copy of the original stdout; fd 1 itself is pointed at
    stderr (discarded by the caller), so nothing a runtime prints from C can
    corrupt them.
    """
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    for module in ("numpy", "ai_edge_litert.interpreter", "tflite_micro.python.tflite_micro"):
        with contextlib.suppress(ImportError):
            __import__(module)
    can_fork = hasattr(os, "fork")
    while True:
        header = stdin.readline()
        if not header:
            return
        request = json.loads(header)
        data = stdin.read(int(request["size"]))
        kind, options, timeout = request["kind"], request["options"], float(request["timeout"])
        if can_fork:
            answer = _fork_attempt(kind, data, options, timeout)
        else:
            answer = _attempt(kind, data, options)
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


# --- the caller's side ---------------------------------------------------------


class _Worker:
    """The persistent child process; restarted when it dies or stops answering."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> tuple[subprocess.Popen[bytes], bool]:
        """The running worker, started if needed; True when it was just started."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc, False
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "edgedeploy.sandbox"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        return self._proc, True

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # The worker leads its own process group: a probe it forked goes too.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def request(
        self, kind: str, data: bytes, options: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        with self._lock:
            proc, fresh = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            grace = _STARTUP_GRACE_SECONDS if fresh else _WORKER_GRACE_SECONDS
            header = {"kind": kind, "size": len(data), "options": options, "timeout": timeout}
            try:
                proc.stdin.write(json.dumps(header).encode() + b"\n" + data)
                proc.stdin.flush()
            except OSError:
                self._stop()
                return {"status": "crash", "signal": None}
            ready, _, _ = select.select([proc.stdout], [], [], timeout + grace)
            line = proc.stdout.readline() if ready else b""
            if not line:
                dead = proc.poll()
                self._stop()
                if dead is None:
                    return {"status": "timeout"}
                return {"status": "crash", "signal": -dead if dead < 0 else None}
            return dict(json.loads(line))


_WORKER = _Worker()
_CACHE: OrderedDict[str, ProbeResult] = OrderedDict()
_CACHE_LOCK = threading.Lock()
atexit.register(_WORKER.stop)


def shutdown() -> None:
    """Stop the worker process (it is started again on the next probe)."""
    _WORKER.stop()


def clear_cache() -> None:
    """Forget earlier probe results."""
    with _CACHE_LOCK:
        _CACHE.clear()


def probe(
    kind: Kind,
    data: bytes,
    options: dict[str, Any] | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
) -> ProbeResult:
    """Load, allocate and invoke ``data`` once in LiteRT (``litert``) or TFLite Micro (``micro``).

    ``options`` for ``litert``: ``module`` (the interpreter module's name),
    ``num_threads``, ``reference_kernels``; for ``micro``: ``arena_size``,
    ``num_inputs``, ``num_outputs`` and ``invoke`` (default true); for
    ``micro_invoke`` (one real inference, whose outputs are the ``value``):
    ``arena_size``, ``inputs`` (`encode_array` text) and ``num_outputs``;
    ``arena`` (the arena search) takes none. Results of ``ok`` and ``error``
    are cached.
    """
    options = dict(options or {})
    key = f"{kind}:{hashlib.sha256(data).hexdigest()}:{json.dumps(options, sort_keys=True)}"
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    answer = _WORKER.request(kind, data, options, timeout)
    result = ProbeResult(
        status=str(answer.get("status")),
        message=str(answer.get("message", "")),
        signal=answer.get("signal"),
        value=answer.get("value"),
    )
    if result.safe:
        with _CACHE_LOCK:
            _CACHE[key] = result
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def _signal_name(number: int | None) -> str:
    if number is None:
        return "without a result"
    try:
        return f"with {signal.Signals(number).name}"
    except ValueError:
        return f"with signal {number}"


def require_safe(
    kind: Kind,
    data: bytes,
    name: str,
    options: dict[str, Any] | None = None,
    timeout: float = PROBE_TIMEOUT_SECONDS,
) -> ProbeResult:
    """`probe`, raising `ModelFormatError` when the runtime crashed or hung on the model."""
    result = probe(kind, data, options, timeout)
    runtime = _RUNTIMES[kind]
    doing = {"arena": "allocating it", "micro_invoke": "running it"}.get(
        kind, "loading and running it once"
    )
    if result.status == "crash":
        raise ModelFormatError(
            f"{name}: {runtime} crashed {_signal_name(result.signal)} {doing} in a child "
            "process; the model is malformed"
        )
    if result.status == "timeout":
        raise ModelFormatError(f"{name}: {runtime} did not finish {doing} within {timeout:g} s")
    return result


if __name__ == "__main__":
    _serve()
