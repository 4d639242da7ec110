"""The CLI in-process: real output on real models, one line and an exit status on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from edgedeploy.cli import main
from tests.paths import AD01_INT8, KWS_INT8


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("edgedeploy: error: ")
    return lines[0]


def test_info_lists_ops_and_quantization(capsys):
    assert main(["info", str(KWS_INT8)]) == 0
    out = capsys.readouterr().out
    assert "int8[1, 49, 10, 1] scale 0.584703, zero point 83" in out
    assert "DEPTHWISE_CONV_2D        x4" in out
    assert "TFLite Micro: every op is supported" in out


def test_run_prints_dequantized_outputs(tmp_path, capsys):
    x = np.zeros((1, 640), np.float32)
    np.save(tmp_path / "x.npy", x)
    out_path = tmp_path / "y.npy"
    assert (
        main(["run", str(AD01_INT8), "--input", str(tmp_path / "x.npy"), "--output", str(out_path)])
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("output 0 [1, 640]:")
    y = np.load(out_path)
    assert y.dtype == np.float32 and y.shape == (1, 640)


def test_run_on_micro_backend_matches_litert_reference(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8))
    assert (
        main(["run", str(KWS_INT8), "--input", str(tmp_path / "x.npy"), "--backend", "micro"]) == 0
    )
    micro = capsys.readouterr().out
    assert main(["run", str(KWS_INT8), "--input", str(tmp_path / "x.npy")]) == 0
    assert capsys.readouterr().out == micro


def test_bench_json(capsys):
    assert main(["bench", str(AD01_INT8), "--runs", "5", "--json"]) == 0
    assert '"median_ms"' in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv_tail", "expected"),
    [
        (["info", "{tmp}/missing.tflite"], "does not exist"),
        (["info", "{tmp}/text.tflite"], "not a .tflite model"),
        (["info", "{tmp}/truncated.tflite"], "corrupt"),
        (["run", str(KWS_INT8), "--input", "{tmp}/wrong_shape.npy"], "expects [1, 49, 10, 1]"),
        (["run", str(KWS_INT8), "--input", "{tmp}/text.tflite"], "not a readable .npy"),
        (
            ["run", str(AD01_INT8), "--input", "{tmp}/x640.npy", "--output", "{tmp}/exists.npy"],
            "--force",
        ),
        (["bench", str(KWS_INT8), "--runs", "0"], "at least 1"),
    ],
)
def test_bad_input_is_one_line(tmp_path, capsys, argv_tail, expected):
    (tmp_path / "text.tflite").write_text("not a model at all")
    (tmp_path / "truncated.tflite").write_bytes(KWS_INT8.read_bytes()[:5000])
    np.save(tmp_path / "wrong_shape.npy", np.zeros((2, 3), np.float32))
    np.save(tmp_path / "x640.npy", np.zeros((1, 640), np.float32))
    (tmp_path / "exists.npy").write_bytes(b"precious")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv_tail]
    status = main(argv)
    assert status != 0
    assert expected in _error_line(capsys)
    assert (tmp_path / "exists.npy").read_bytes() == b"precious"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []
