"""A tensor of 2^31 elements and buffers past the end of the file: refused before allocation.

Each model goes through every command that reads a model, in-process with the
sandbox worker made unreachable (the refusal must come from the loader, before
any runtime sees the model) and under `tracemalloc` (nothing near the declared
size is allocated), then through the real CLI: one ``edgedeploy: error:`` line.
"""

from __future__ import annotations

import contextlib
import io
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edgedeploy import cli, sandbox
from tests.security.harness import COMMANDS, command_argv, run_cli_process
from tests.security.mutations import pack, unpack
from tests.security.seeds import small_int8_model


def _huge_tensor() -> bytes:
    """The input declared as [1, 65536, 32768]: 2^31 int8 elements, 2 GiB."""
    model = unpack(small_int8_model())
    model.subgraphs[0].tensors[0].shape = np.array([1, 1 << 16, 1 << 15], dtype=np.int32)
    return pack(model)


def _buffer_offset_past_end() -> bytes:
    """fc1's weights kept "outside" the flatbuffer, at an offset past the end of the file."""
    model = unpack(small_int8_model())
    weights = model.buffers[2]
    weights.data, weights.offset, weights.size = None, 1 << 20, 48
    return pack(model)


def _buffer_vector_past_end() -> bytes:
    """fc1's weights vector declared 1 GiB long, running past the end of the file."""
    data = bytearray(small_int8_model())
    weights = np.random.default_rng(0).integers(-127, 128, size=(6, 8), dtype=np.int8).tobytes()
    start = bytes(data).index(weights)
    data[start - 4 : start] = (1 << 30).to_bytes(4, "little")
    return bytes(data)


CASES = {
    "tensor_2_31": (_huge_tensor, "declares 2147483648 elements"),
    "buffer_offset": (_buffer_offset_past_end, "points past the end of the file"),
    "buffer_vector": (_buffer_vector_past_end, "runs past the file"),
}


@pytest.fixture(params=sorted(CASES))
def bad_model(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    build, expected = CASES[request.param]
    path = tmp_path / f"{request.param}.tflite"
    path.write_bytes(build())
    np.save(tmp_path / "x.npy", np.zeros((1, 8), dtype=np.int8))
    return path, expected


def test_every_command_refuses_it_in_the_loader(
    bad_model: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, expected = bad_model

    def no_runtime(*args: object, **kwargs: object) -> None:
        raise AssertionError("a runtime saw the model")

    monkeypatch.setattr(sandbox._WORKER, "request", no_runtime)
    sandbox.clear_cache()
    for command in COMMANDS:
        err = io.StringIO()
        tracemalloc.start()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = cli.main(command_argv(command, path, path.parent / "x.npy", path.parent))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        lines = err.getvalue().splitlines()
        assert code == 2, (command, lines)
        assert len(lines) == 1 and lines[0].startswith("edgedeploy: error: "), lines
        assert expected in lines[0], lines
        assert peak < 32 << 20, f"{command} allocated {peak} bytes before refusing"
    assert not (path.parent / "tflm").exists() and not (path.parent / "c").exists()


def test_the_real_cli_prints_one_line(bad_model: tuple[Path, str]) -> None:
    path, expected = bad_model
    for command in COMMANDS:
        argv = command_argv(command, path, path.parent / "x.npy", path.parent)
        proc = run_cli_process(argv)
        lines = proc.stderr.splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (command, proc.stderr)
        assert lines[0].startswith("edgedeploy: error: ") and expected in lines[0], lines
        print(f"{command}: {lines[0]}")
