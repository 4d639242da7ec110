"""Raspberry Pi and phone bundles: contents, metadata layout, unchanged inference, bad input.

The slow tests in test_bundles_venv.py run the Pi bundle in a fresh virtual
environment and read the phone metadata back with tflite-support.
"""

from __future__ import annotations

import ast
import io
import zipfile

import numpy as np
import pytest

from edgedeploy.errors import (
    InputDataError,
    ModelFormatError,
    OutputExistsError,
    OutputPathError,
    UnknownNameError,
)
from edgedeploy.firmware_export.bundles import export_mobile, export_rpi, format_bundle
from edgedeploy.firmware_export.bundles.tflite_metadata import (
    METADATA_FIELD_NAME,
    METADATA_IDENTIFIER,
    ModelMetadata,
    TensorMetadata,
    attach_metadata,
    build_metadata,
    metadata_buffer,
)
from edgedeploy.modelfile import load_model, schema
from edgedeploy.runtime import Model
from tests.paths import AD01_FLOAT, AD01_INT8, KWS_INT8

KWS_LABELS = ["down", "go", "left", "no", "off", "on", "right", "stop", "up", "yes", "_s", "_u"]


def _random_raw(model: Model, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for spec in model.inputs:
        dtype = np.dtype(spec.dtype)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            out.append(rng.integers(info.min, int(info.max) + 1, spec.shape, dtype=dtype))
        else:
            out.append(rng.normal(size=spec.shape).astype(dtype))
    return out


# --- Raspberry Pi -----------------------------------------------------------


def test_rpi_bundle_holds_the_unchanged_model_and_runnable_scripts(tmp_path):
    out = tmp_path / "kws_pi"
    result = export_rpi(KWS_INT8, out, labels=KWS_LABELS)
    names = {p.name for p in out.iterdir()}
    assert names == {
        "model.tflite",
        "labels.txt",
        "predict.py",
        "benchmark.py",
        "requirements.txt",
        "README.md",
    }
    assert (out / "model.tflite").read_bytes() == KWS_INT8.read_bytes()
    assert (out / "labels.txt").read_text().splitlines() == KWS_LABELS
    reqs = [
        line.split("==")[0].split(">=")[0]
        for line in (out / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert reqs == ["ai-edge-litert", "numpy"]
    for script in ("predict.py", "benchmark.py"):
        text = (out / script).read_text()
        assert "do not edit" in text.splitlines()[1]
        imported = set()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert imported <= {
            "__future__",
            "argparse",
            "json",
            "sys",
            "pathlib",
            "numpy",
            "platform",
            "statistics",
            "time",
            "ai_edge_litert",
            "tflite_runtime",
        }
    assert "12 class names" in (out / "README.md").read_text()
    assert result.files["model.tflite"] == KWS_INT8.stat().st_size
    assert "rpi bundle written to" in format_bundle(result)


def test_rpi_labels_must_match_the_output(tmp_path):
    with pytest.raises(InputDataError, match=r"11 labels given.*12 classes"):
        export_rpi(KWS_INT8, tmp_path / "b", labels=KWS_LABELS[:-1])
    with pytest.raises(InputDataError, match="label 3 is empty"):
        export_rpi(KWS_INT8, tmp_path / "b", labels=[*KWS_LABELS[:3], " ", *KWS_LABELS[4:]])
    assert not (tmp_path / "b").exists()


def test_rpi_refuses_existing_output_without_force(tmp_path):
    out = tmp_path / "b"
    export_rpi(AD01_INT8, out)
    (out / "extra").write_text("x")
    with pytest.raises(OutputExistsError):
        export_rpi(AD01_INT8, out)
    assert (out / "extra").exists()
    export_rpi(AD01_INT8, out, force=True)
    assert not (out / "extra").exists()


def test_not_a_model_writes_nothing(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all")
    for export in (export_rpi, export_mobile):
        with pytest.raises(ModelFormatError):
            export(bad, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tflite"]


def test_output_may_not_be_the_input(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(AD01_INT8.read_bytes())
    with pytest.raises(OutputPathError):
        export_rpi(model, model, force=True)
    assert model.read_bytes() == AD01_INT8.read_bytes()


# --- phone metadata ---------------------------------------------------------


@pytest.fixture(scope="module")
def kws_android(tmp_path_factory):
    out = tmp_path_factory.mktemp("mobile") / "kws_android"
    result = export_mobile(
        KWS_INT8,
        out,
        platform="android",
        labels=KWS_LABELS,
        mean=[-3.5],
        std=[12.25],
        name="Keyword spotter",
        description="DS-CNN keyword spotting, MLPerf Tiny",
    )
    return out, result


def test_mobile_model_carries_metadata_and_packed_labels(kws_android):
    out, result = kws_android
    data = (out / "model.tflite").read_bytes()
    meta = metadata_buffer(data)
    assert meta is not None and meta[4:8] == METADATA_IDENTIFIER
    # The labels are a ZIP archive appended after the flatbuffer, stored uncompressed.
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["labels.txt"]
        assert archive.getinfo("labels.txt").compress_type == zipfile.ZIP_STORED
        assert archive.read("labels.txt").decode().splitlines() == KWS_LABELS
    assert (out / "labels.txt").read_text().splitlines() == KWS_LABELS
    # Other metadata entries survive and the new one is named as the standard says.
    s = schema()
    root = s.Model.GetRootAs(data, 0)
    names = [root.Metadata(i).Name().decode() for i in range(root.MetadataLength())]
    assert names == ["min_runtime_version", METADATA_FIELD_NAME]
    readme = (out / "README.md").read_text()
    assert "com.google.ai.edge.litert:litert:" in readme and "MetadataExtractor" in readme
    assert "-3.5f" in readme and "12.25f" in readme and "0.5847029f" in readme
    assert any("byte-identical" in n for n in result.notes)


def test_mobile_inference_is_byte_identical_with_and_without_metadata(kws_android):
    out, _ = kws_android
    plain = Model(KWS_INT8)
    with_meta = Model((out / "model.tflite").read_bytes())
    for seed in range(5):
        x = _random_raw(plain, seed)
        a, b = plain.run_raw(x), with_meta.run_raw(x)
        assert [y.tobytes() for y in a] == [y.tobytes() for y in b]
    # Every weight tensor is unchanged, byte for byte, and 16-byte aligned as the converter left it.
    before, after = load_model(KWS_INT8), load_model((out / "model.tflite").read_bytes())
    for t in before.tensors:
        if t.is_constant:
            assert after.buffer_bytes(t.index) == before.buffer_bytes(t.index)
    data = (out / "model.tflite").read_bytes()
    root = schema().Model.GetRootAs(data, 0)
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            assert buf._tab.Vector(buf._tab.Offset(4)) % 16 == 0, f"buffer {i} unaligned"


def test_float_model_for_ios(tmp_path):
    out = tmp_path / "ad01_ios"
    export_mobile(AD01_FLOAT, out, platform="ios")
    readme = (out / "README.md").read_text()
    assert "import TensorFlowLite" in readme and "TensorFlowLiteSwift" in readme
    assert not (out / "labels.txt").exists()
    m0, m1 = Model(AD01_FLOAT), Model((out / "model.tflite").read_bytes())
    x = _random_raw(m0, 3)
    assert m0.run_raw(x)[0].tobytes() == m1.run_raw(x)[0].tobytes()


def test_exporting_twice_replaces_the_metadata(kws_android, tmp_path):
    out, _ = kws_android
    once = (out / "model.tflite").read_bytes()
    again = tmp_path / "again"
    export_mobile(
        once,
        again,
        labels=KWS_LABELS,
        mean=[-3.5],
        std=[12.25],
        name="Keyword spotter",
        description="DS-CNN keyword spotting, MLPerf Tiny",
    )
    twice = (again / "model.tflite").read_bytes()
    assert twice == once
    root = schema().Model.GetRootAs(twice, 0)
    names = [root.Metadata(i).Name().decode() for i in range(root.MetadataLength())]
    assert names.count(METADATA_FIELD_NAME) == 1


def test_bad_mobile_arguments(tmp_path):
    out = tmp_path / "o"
    with pytest.raises(UnknownNameError, match="windows"):
        export_mobile(KWS_INT8, out, platform="windows")
    with pytest.raises(InputDataError, match="std must not be 0"):
        export_mobile(KWS_INT8, out, std=0.0)
    with pytest.raises(InputDataError, match=r"3 mean/std values.*1 channels"):
        export_mobile(KWS_INT8, out, mean=[0, 0, 0], std=[1, 1, 1])
    with pytest.raises(InputDataError, match="mean has 1 values but std has 2"):
        export_mobile(KWS_INT8, out, mean=[0], std=[1, 2])
    with pytest.raises(InputDataError, match="finite"):
        export_mobile(KWS_INT8, out, mean=float("nan"))
    with pytest.raises(InputDataError, match="not an image"):
        export_mobile(AD01_INT8, out, image=True)
    assert not out.exists()


def test_metadata_builder_checks_its_input():
    meta = ModelMetadata(name="m", inputs=(TensorMetadata("x", mean=(0.0,), std=()),))
    with pytest.raises(InputDataError, match="1 mean value"):
        build_metadata(meta)
    with pytest.raises(InputDataError, match="M001"):
        attach_metadata(KWS_INT8.read_bytes(), b"\0" * 16)


def test_a_changed_computation_is_caught():
    """verify_same_inference raises when the rewritten model computes something else."""
    import flatbuffers

    from edgedeploy.firmware_export.bundles.mobile import verify_same_inference

    original = KWS_INT8.read_bytes()
    assert verify_same_inference(original, original)
    s = schema()
    obj = s.ModelT.InitFromPackedBuf(original, 0)
    last_fc = [op for op in load_model(original).operators if op.op == "FULLY_CONNECTED"][-1]
    bias = obj.subgraphs[0].tensors[last_fc.inputs[2]]
    values = np.frombuffer(np.asarray(obj.buffers[bias.buffer].data, np.uint8).tobytes(), "<i4")
    obj.buffers[bias.buffer].data = np.frombuffer((values + 5000).astype("<i4").tobytes(), np.uint8)
    builder = flatbuffers.Builder(0)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(ModelFormatError, match="changed after the metadata"):
        verify_same_inference(original, bytes(builder.Output()))
