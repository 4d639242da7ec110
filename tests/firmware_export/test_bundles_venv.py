"""Bundles checked from outside: a clean virtual environment and tflite-support's reader.

The Raspberry Pi bundle must run where TensorFlow is absent, so it runs here in a
new virtual environment holding only its requirements.txt, and must print what
`edgedeploy run` prints. The phone metadata is written without tflite-support
(which pins protobuf<4 and would break TensorFlow), so it is read back by
tflite-support 0.4.4 itself, the reference implementation of the metadata
schema, in a virtual environment of its own. Each environment is built once per
test session. A registry that cannot be reached skips locally and fails in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edgedeploy.cli import main as cli_main
from edgedeploy.firmware_export.bundles import export_mobile, export_rpi
from edgedeploy.firmware_export.bundles.tflite_metadata import MIN_PARSER_VERSION
from edgedeploy.runtime import Model
from tests.paths import AD01_FLOAT, KWS_INT8
from tests.toolhelpers import require_module, unavailable

pytestmark = pytest.mark.slow

TFLITE_SUPPORT = "tflite-support==0.4.4"
KWS_LABELS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_s", "_u"]


def _clean_env() -> dict[str, str]:
    """The environment without anything that would let the venv see this project's packages."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }


def _make_venv(path: Path, pip_args: list[str]) -> Path:
    """Create a virtual environment at ``path`` and pip-install into it; return its python."""
    python = path / "bin" / "python"
    steps = [
        [sys.executable, "-m", "venv", str(path)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pip_args],
    ]
    for cmd in steps:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=_clean_env(), timeout=900, check=False
        )
        if proc.returncode != 0:
            unavailable(f"{' '.join(cmd[:4])} failed: {proc.stderr.strip()[-800:]}")
    return python


def _run(python: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(python), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_clean_env(),
        timeout=300,
        check=False,
    )


# --- Raspberry Pi bundle in a clean venv ------------------------------------


@pytest.fixture(scope="session")
def pi_bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("pi")
    kws = root / "kws"
    ad01 = root / "ad01"
    export_rpi(KWS_INT8, kws, labels=KWS_LABELS)
    export_rpi(AD01_FLOAT, ad01)
    return kws, ad01


@pytest.fixture(scope="session")
def pi_venv(tmp_path_factory, pi_bundles):
    """A venv with nothing but the bundle's requirements.txt (ai-edge-litert, numpy)."""
    kws, _ = pi_bundles
    return _make_venv(tmp_path_factory.mktemp("venv") / "pi", ["-r", str(kws / "requirements.txt")])


def test_pi_venv_has_no_tensorflow(pi_venv, tmp_path):
    proc = _run(
        pi_venv,
        [
            "-c",
            "import importlib.util as u; print([bool(u.find_spec(m)) for m in "
            "('tensorflow', 'edgedeploy', 'ai_edge_litert', 'numpy')])",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[False, False, True, True]"


def _edgedeploy_run(model: Path, x_path: Path, out: Path) -> np.ndarray:
    assert cli_main(["run", str(model), "--input", str(x_path), "--output", str(out)]) == 0
    return np.load(out)


@pytest.mark.parametrize(
    "case",
    ["float_sample", "int8_sample", "float_batch"],
)
def test_pi_predict_matches_edgedeploy_run(pi_venv, pi_bundles, tmp_path, case):
    kws, _ = pi_bundles
    rng = np.random.default_rng(7)
    if case == "float_sample":
        x = rng.normal(0.0, 25.0, size=(1, 49, 10, 1)).astype(np.float32)
    elif case == "int8_sample":
        x = rng.integers(-128, 128, size=(1, 49, 10, 1), dtype=np.int8)
    else:
        x = rng.normal(0.0, 25.0, size=(3, 49, 10, 1)).astype(np.float32)
    x_path = tmp_path / "x.npy"
    np.save(x_path, x)
    proc = _run(
        pi_venv,
        [
            str(kws / "predict.py"),
            str(x_path),
            "--output",
            str(tmp_path / "y.npy"),
            "--top",
            "2",
            "--json",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    got = np.load(tmp_path / "y.npy")
    want = _edgedeploy_run(KWS_INT8, x_path, tmp_path / "ref.npy")
    assert got.dtype == want.dtype == np.float32
    assert got.shape == want.shape == (len(x), 12)
    assert np.array_equal(got, want)
    report = json.loads(proc.stdout)
    assert np.array_equal(np.asarray(report["outputs"][0], np.float32), want)
    for row, top in zip(want, report["top"], strict=True):
        assert top[0]["index"] == int(np.argmax(row))
        assert top[0]["label"] == KWS_LABELS[int(np.argmax(row))]
    if case != "float_batch":
        assert np.array_equal(got, Model(KWS_INT8).predict(x)[0])


def test_pi_predict_float_model(pi_venv, pi_bundles, tmp_path):
    _, ad01 = pi_bundles
    x = np.random.default_rng(3).normal(size=(1, 640)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    proc = _run(
        pi_venv,
        [str(ad01 / "predict.py"), str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("output 0 [1, 640]:")
    want = _edgedeploy_run(AD01_FLOAT, tmp_path / "x.npy", tmp_path / "ref.npy")
    assert np.array_equal(np.load(tmp_path / "y.npy"), want)


def test_pi_predict_bad_input_is_one_line(pi_venv, pi_bundles, tmp_path):
    kws, _ = pi_bundles
    np.save(tmp_path / "x.npy", np.zeros((1, 7), np.float32))
    proc = _run(pi_venv, [str(kws / "predict.py"), str(tmp_path / "x.npy")], tmp_path)
    assert proc.returncode == 2
    # LiteRT's own C++ log line ("INFO: Created ... delegate") may precede ours.
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "predict.py: error: input 0 has shape [1, 7], the model expects [1, 49, 10, 1]"
    )


def test_pi_benchmark_runs(pi_venv, pi_bundles, tmp_path):
    kws, _ = pi_bundles
    proc = _run(
        pi_venv, [str(kws / "benchmark.py"), "--runs", "5", "--warmup", "1", "--json"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["backend"] == "ai-edge-litert" and result["runs"] == 5
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["p90_ms"]


# --- phone metadata read back by tflite-support -----------------------------

_READER = textwrap.dedent(
    """
    import json, sys
    from tflite_support import metadata as md
    from tensorflow_lite_support.metadata.cc.python import _pywrap_metadata_version as version

    model_path, original_path = sys.argv[1], sys.argv[2]
    with open(model_path, "rb") as f:
        ours = f.read()
    shown = md.MetadataDisplayer.with_model_buffer(ours)
    files = shown.get_packed_associated_file_list()
    meta = shown.get_metadata_buffer()

    # The reference writer must accept our metadata for the original model (it checks
    # one subgraph and the tensor counts) and pack the same labels; its result must
    # read back exactly as ours does.
    with open(original_path, "rb") as f:
        populator = md.MetadataPopulator.with_model_buffer(f.read())
    populator.load_metadata_buffer(meta)
    populator.load_associated_file_buffers(
        {name: shown.get_associated_file_buffer(name) for name in files})
    populator.populate()
    theirs = md.MetadataDisplayer.with_model_buffer(populator.get_model_buffer())

    print(json.dumps({
        "metadata": json.loads(shown.get_metadata_json()),
        "files": files,
        "contents": {n: shown.get_associated_file_buffer(n).decode() for n in files},
        "min_parser_version": version.GetMinimumMetadataParserVersion(meta),
        "reference_json_equal": theirs.get_metadata_json() == shown.get_metadata_json(),
        "reference_files": theirs.get_packed_associated_file_list(),
    }))
    """
)


@pytest.fixture(scope="session")
def tflite_support_python(tmp_path_factory):
    return _make_venv(tmp_path_factory.mktemp("venv") / "tfls", [TFLITE_SUPPORT])


def _read_back(python: Path, model: Path, original: Path, tmp_path: Path) -> dict:
    script = tmp_path / "reader.py"
    script.write_text(_READER)
    proc = _run(python, [str(script), str(model), str(original)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_phone_metadata_read_back_by_tflite_support(tflite_support_python, tmp_path):
    out = tmp_path / "kws_android"
    export_mobile(
        KWS_INT8,
        out,
        labels=KWS_LABELS,
        mean=[-3.5],
        std=[12.25],
        name="Keyword spotter",
        description="DS-CNN keyword spotting, MLPerf Tiny",
        author="MLCommons",
        license="Apache-2.0",
    )
    got = _read_back(tflite_support_python, out / "model.tflite", KWS_INT8, tmp_path)
    meta = got["metadata"]
    assert meta["name"] == "Keyword spotter"
    assert meta["description"] == "DS-CNN keyword spotting, MLPerf Tiny"
    assert meta["author"] == "MLCommons" and meta["license"] == "Apache-2.0"
    assert meta["min_parser_version"] == got["min_parser_version"] == MIN_PARSER_VERSION
    (subgraph,) = meta["subgraph_metadata"]
    (inp,) = subgraph["input_tensor_metadata"]
    assert inp["name"] == "input_1"
    (unit,) = inp["process_units"]
    assert unit["options_type"] == "NormalizationOptions"
    assert unit["options"] == {"mean": [-3.5], "std": [12.25]}
    (outp,) = subgraph["output_tensor_metadata"]
    assert outp["associated_files"] == [
        {
            "name": "labels.txt",
            "description": "12 class names, one per line",
            "type": "TENSOR_AXIS_LABELS",
        }
    ]
    assert got["files"] == ["labels.txt"]
    assert got["contents"]["labels.txt"].splitlines() == KWS_LABELS
    assert got["reference_json_equal"] and got["reference_files"] == ["labels.txt"]


def test_phone_image_metadata_read_back(tflite_support_python, tmp_path):
    """Per-channel normalization and image properties on an RGB model built in code."""
    require_module("tensorflow")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    keras_model = tf.keras.Sequential(
        [
            tf.keras.Input((8, 6, 3)),
            tf.keras.layers.Conv2D(4, 3, activation="relu"),
            tf.keras.layers.GlobalAveragePooling2D(),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    tflite = tf.lite.TFLiteConverter.from_keras_model(keras_model).convert()
    original = tmp_path / "rgb.tflite"
    original.write_bytes(tflite)
    out = tmp_path / "rgb_ios"
    export_mobile(
        original,
        out,
        platform="ios",
        labels=["cat", "dog", "bird"],
        mean=[127.5, 127.0, 126.5],
        std=[127.5, 128.0, 64.0],
        image=True,
    )
    got = _read_back(tflite_support_python, out / "model.tflite", original, tmp_path)
    (inp,) = got["metadata"]["subgraph_metadata"][0]["input_tensor_metadata"]
    assert inp["content"]["content_properties_type"] == "ImageProperties"
    assert inp["content"]["content_properties"] == {
        "color_space": "RGB",
        "default_size": {"width": 6, "height": 8},
    }
    assert inp["process_units"][0]["options"] == {
        "mean": [127.5, 127.0, 126.5],
        "std": [127.5, 128.0, 64.0],
    }
    assert got["contents"]["labels.txt"].splitlines() == ["cat", "dog", "bird"]
    assert got["reference_json_equal"]
    x = np.random.default_rng(0).normal(size=(1, 8, 6, 3)).astype(np.float32)
    a = Model(original).run_raw([x])[0]
    b = Model((out / "model.tflite").read_bytes()).run_raw([x])[0]
    assert a.tobytes() == b.tobytes()
