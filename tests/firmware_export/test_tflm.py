"""TensorFlow Lite Micro export, checked against sources outside the exporter.

Shapes, types, quantization and ops are compared with what LiteRT's interpreter
reports for the model; the embedded reference outputs with a fresh run of the
TFLite Micro interpreter (and LiteRT's reference kernels); the arena with
`measure_arena`. The generated headers are compiled with -Wall -Wextra -Werror.
main.cc and inference.cc need the TFLite Micro library, which is not built
here; tflm_build_optin.py (run by path) compiles and runs them when one is provided.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgedeploy.errors import (
    InputDataError,
    InputFileError,
    OutputExistsError,
    OutputPathError,
    UnsupportedModelError,
)
from edgedeploy.firmware_export import export_tflm, format_export
from edgedeploy.firmware_export.cgen import BANNER
from edgedeploy.firmware_export.tflm import (
    ARENA_MARGIN_BYTES,
    DEFAULT_ARENA_MARGIN,
    arena_with_margin,
    pattern_input,
)
from edgedeploy.modelfile import load_model, schema
from edgedeploy.runtime import MicroModel, Model, measure_arena
from edgedeploy.tflm_ops import TFLM_RESOLVER_METHODS
from tests.firmware_export.conftest import TRICKY_LABELS
from tests.paths import AD01_INT8, KWS_FLOAT, KWS_INT8
from tests.toolhelpers import require_module


@pytest.fixture(autouse=True)
def _needs_micro():
    require_module("tflite_micro")


def _litert(path_or_bytes: Path | bytes):
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(path_or_bytes, bytes):
        return Interpreter(model_content=path_or_bytes)
    return Interpreter(model_path=str(path_or_bytes))


def _run(exe: Path) -> str:
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --- model_settings.h ------------------------------------------------------------


def _settings_program(n_inputs: int, n_outputs: int) -> str:
    """A C++ program that prints every value model_settings.h defines, one per line."""
    lines = [
        '#include <cstdint>\n#include <cstdio>\n#include <cstring>\n#include "model_settings.h"',
        "static void bits(const char* key, float v) { uint32_t b; std::memcpy(&b, &v, 4);"
        ' std::printf("%s %08lx\\n", key, (unsigned long)b); }',
        'static void hex(const char* key, const char* s) { std::printf("%s ", key);'
        ' for (; *s; ++s) std::printf("%02x", (unsigned char)*s); std::printf("\\n"); }',
        "int main() {",
        '  std::printf("arena %d %d\\n", kTensorArenaSize, kTensorArenaMeasuredMinimum);',
        '  std::printf("io %d %d\\n", kNumInputs, kNumOutputs);',
        '  hex("model", kModelName);',
    ]
    for role, count in (("Input", n_inputs), ("Output", n_outputs)):
        for i in range(count):
            k = f"k{role}{i}"
            lines += [
                f'  hex("{k}Name", {k}Name);',
                f'  std::printf("{k}Type %s\\n", {k}Type);',
                f'  std::printf("{k}Dims");',
                f'  for (int d = 0; d < {k}Rank; ++d) std::printf(" %d", {k}Dims[d]);',
                '  std::printf("\\n");',
                f'  std::printf("{k}Size %d %d\\n", {k}Elements, {k}Bytes);',
                f'  bits("{k}Scale", {k}Scale);',
                f'  std::printf("{k}ZeroPoint %d\\n", {k}ZeroPoint);',
            ]
    lines += [
        '  std::printf("labels %d\\n", kCategoryCount);',
        '  for (int i = 0; i < kCategoryCount; ++i) hex("label", CategoryLabel(i));',
        '  std::printf("outside %d\\n", CategoryLabel(kCategoryCount) == nullptr);',
        "  return 0;\n}",
    ]
    return "\n".join(lines) + "\n"


def _expected_settings(model: Path | bytes, labels: list[str] | None, arena: tuple[int, int]):
    """The same lines, from LiteRT's interpreter and the given labels."""
    interp = _litert(model)
    inputs, outputs = interp.get_input_details(), interp.get_output_details()
    name = model.name if isinstance(model, Path) else "<bytes>"
    lines = [
        f"arena {arena[0]} {arena[1]}",
        f"io {len(inputs)} {len(outputs)}",
        f"model {name.encode().hex()}",
    ]
    for role, details in (("Input", inputs), ("Output", outputs)):
        for i, d in enumerate(details):
            k = f"k{role}{i}"
            shape = [int(v) for v in d["shape"]]
            dtype = np.dtype(d["dtype"])
            scale, zero_point = d["quantization"]
            lines += [
                f"{k}Name {d['name'].encode().hex()}",
                f"{k}Type {dtype.name}",
                f"{k}Dims " + " ".join(map(str, shape)) if shape else f"{k}Dims",
                f"{k}Size {math.prod(shape)} {math.prod(shape) * dtype.itemsize}",
                f"{k}Scale {np.array([scale], np.float32).view(np.uint32)[0]:08x}",
                f"{k}ZeroPoint {zero_point}",
            ]
    labels = labels or []
    lines.append(f"labels {len(labels)}")
    # C strings end at the first NUL, so a label is compared up to it.
    for label in labels:
        lines.append(f"label {label.encode().split(bytes(1))[0].hex()}".rstrip())
    lines.append("outside 1")
    return lines


def test_settings_header_matches_litert_view_of_kws(kws_export, tmp_path, build_program):
    result, out = kws_export
    (tmp_path / "main.cc").write_text(_settings_program(1, 1))
    exe = build_program([tmp_path / "main.cc"], tmp_path / "settings", include=[out])
    got = [line.rstrip() for line in _run(exe).splitlines()]
    arena = (result.arena_size, result.arena_measured)
    assert got == _expected_settings(KWS_INT8, TRICKY_LABELS, arena)


def test_settings_header_of_an_unlabelled_autoencoder(tmp_path, build_program):
    out = tmp_path / "fw"
    result = export_tflm(AD01_INT8, out)
    assert result.labels is None and result.reference_top_class is not None
    (tmp_path / "main.cc").write_text(_settings_program(1, 1))
    exe = build_program([tmp_path / "main.cc"], tmp_path / "settings", include=[out])
    got = [line.rstrip() for line in _run(exe).splitlines()]
    assert got == _expected_settings(AD01_INT8, None, (result.arena_size, result.arena_measured))


# --- model_op_resolver.h ----------------------------------------------------------


def _mock_resolver_header() -> str:
    """A stand-in for TFLM's micro_mutable_op_resolver.h that records registrations.

    It has every AddXxx() the real resolver has (from TFLM_RESOLVER_METHODS) and
    refuses to register more ops than its template argument, as the real one does.
    """
    methods = "\n".join(
        f'  TfLiteStatus {m}() {{ return Add("{m}"); }}'
        for m in sorted(set(TFLM_RESOLVER_METHODS.values()))
    )
    return (
        "#include <cstdio>\n"
        "typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;\n"
        "namespace tflite {\n"
        "template <unsigned int tOpCount>\nclass MicroMutableOpResolver {\n public:\n"
        "  unsigned int registered = 0;\n"
        f"{methods}\n"
        " private:\n"
        "  TfLiteStatus Add(const char* name) {\n"
        "    if (registered >= tOpCount) return kTfLiteError;\n"
        '    std::printf("%s\\n", name);\n'
        "    ++registered;\n    return kTfLiteOk;\n  }\n};\n}  // namespace tflite\n"
    )


def _registered_ops(out: Path, tmp_path: Path, build_program) -> tuple[list[str], int]:
    mock = tmp_path / "mock" / "tensorflow" / "lite" / "micro"
    mock.mkdir(parents=True)
    (mock / "micro_mutable_op_resolver.h").write_text(_mock_resolver_header())
    (tmp_path / "main.cc").write_text(
        '#include <cstdio>\n#include "model_op_resolver.h"\n'
        "int main() {\n  ModelOpResolver resolver;\n"
        "  if (RegisterModelOps(resolver) != kTfLiteOk) return 1;\n"
        '  std::printf("capacity %u\\n", kModelOpCount);\n'
        "  return resolver.registered == kModelOpCount ? 0 : 2;\n}\n"
    )
    exe = build_program([tmp_path / "main.cc"], tmp_path / "ops", include=[out, tmp_path / "mock"])
    lines = _run(exe).splitlines()
    return lines[:-1], int(lines[-1].split()[1])


def test_op_resolver_registers_exactly_the_ops_litert_sees(kws_export, tmp_path, build_program):
    _, out = kws_export
    registered, capacity = _registered_ops(out, tmp_path, build_program)
    used = {d["op_name"] for d in _litert(KWS_INT8)._get_ops_details()}
    assert sorted(registered) == sorted(TFLM_RESOLVER_METHODS[op] for op in used)
    assert capacity == len(used) == 6


def test_op_resolver_of_a_one_op_model(tmp_path, build_program, fc_model_bytes):
    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_model_bytes)
    export_tflm(model, tmp_path / "fw")
    registered, capacity = _registered_ops(tmp_path / "fw", tmp_path, build_program)
    assert registered == ["AddFullyConnected"] and capacity == 1


# --- test input and reference outputs -----------------------------------------------


def _dump_program(n_inputs: int, n_outputs: int) -> str:
    lines = [
        '#include <cstdio>\n#include "model_settings.h"\n#include "test_input.h"',
        "static void hex(const unsigned char* p, int n) {"
        ' for (int i = 0; i < n; ++i) std::printf("%02x", p[i]); std::printf("\\n"); }',
        "int main() {",
    ]
    lines += [f"  hex(g_test_input_{i}, kInput{i}Bytes);" for i in range(n_inputs)]
    lines += [f"  hex(g_expected_output_{i}, kOutput{i}Bytes);" for i in range(n_outputs)]
    return "\n".join([*lines, "  return 0;\n}\n"])


def _embedded_arrays(out: Path, tmp_path: Path, build_program) -> list[bytes]:
    (tmp_path / "main.cc").write_text(_dump_program(1, 1))
    exe = build_program(
        [tmp_path / "main.cc", out / "test_input.cc"], tmp_path / "dump", include=[out]
    )
    return [bytes.fromhex(line) for line in _run(exe).split()]


def test_pattern_input_and_its_reference_output(kws_export, tmp_path, build_program):
    _, out = kws_export
    test_input, expected = _embedded_arrays(out, tmp_path, build_program)
    i = np.arange(490)
    x = (((37 * i + 11) % 256) - 128).astype(np.int8).reshape(1, 49, 10, 1)
    assert test_input == x.tobytes()
    micro = MicroModel(KWS_INT8).run_raw([x])[0]
    assert expected == micro.tobytes()
    # TFLite's reference kernels agree, so the reference is not a TFLM quirk.
    assert expected == Model(KWS_INT8, reference_kernels=True).run_raw([x])[0].tobytes()


def test_float_sample_is_quantized_and_its_output_recorded(tmp_path, build_program):
    rng = np.random.default_rng(11)
    sample = rng.normal(0.0, 20.0, size=(49, 10, 1)).astype(np.float32)  # no batch axis
    out = tmp_path / "fw"
    result = export_tflm(KWS_INT8, out, sample=sample)
    assert "sample" in result.test_input
    test_input, expected = _embedded_arrays(out, tmp_path, build_program)
    scale, zero_point = _litert(KWS_INT8).get_input_details()[0]["quantization"]
    q = np.clip(np.round(sample / scale) + zero_point, -128, 127).astype(np.int8)
    assert test_input == q.tobytes()
    assert expected == MicroModel(KWS_INT8).run_raw([q.reshape(1, 49, 10, 1)])[0].tobytes()
    assert result.reference_top_class == int(np.argmax(np.frombuffer(expected, np.int8)))


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (np.zeros((1, 10, 49, 1), np.int8), "shape"),
        ([np.zeros((1, 49, 10, 1), np.int8)] * 2, "1 input"),
        (np.full((1, 49, 10, 1), 300, np.int16), "outside the int8 range"),
        (np.zeros((1, 49, 10, 1), np.complex64), "complex64"),
    ],
)
def test_bad_samples_are_refused_before_writing(tmp_path, sample, message):
    with pytest.raises(InputDataError, match=message):
        export_tflm(KWS_INT8, tmp_path / "fw", sample=sample)
    assert not (tmp_path / "fw").exists()


def test_pattern_covers_each_dtype():
    from edgedeploy.modelfile import TensorInfo

    def tensor(dtype: str) -> TensorInfo:
        return TensorInfo(0, "t", (2, 3), dtype, 0, None, False)

    assert pattern_input(tensor("float32")).min() >= -1.0
    assert pattern_input(tensor("float32")).max() <= 1.0
    assert pattern_input(tensor("int16")).dtype == np.int16
    assert pattern_input(tensor("uint8")).ravel()[:2].tolist() == [11, 48]
    assert pattern_input(tensor("bool")).ravel().tolist() == [0, 1, 0, 1, 0, 1]
    assert not pattern_input(tensor("int32")).any()


# --- arena --------------------------------------------------------------------


def test_arena_is_the_measured_minimum_plus_the_documented_margin(kws_export):
    result, out = kws_export
    minimum = measure_arena(KWS_INT8).minimum
    assert result.arena_measured == minimum
    expected = minimum + math.ceil(minimum * DEFAULT_ARENA_MARGIN) + ARENA_MARGIN_BYTES
    expected = -(-expected // 16) * 16
    assert result.arena_size == expected >= minimum + ARENA_MARGIN_BYTES
    settings = (out / "model_settings.h").read_text()
    assert f"constexpr int kTensorArenaSize = {expected};" in settings
    assert "CMSIS-NN" in settings and "32-bit" in settings and "10 % + 1024 bytes" in settings
    assert "CMSIS-NN" in (out / "README.md").read_text()
    # The shipped arena is enough for the TFLite Micro interpreter; the minimum is tight.
    MicroModel(KWS_INT8, arena_size=result.arena_size)
    with pytest.raises(Exception, match="allocate"):
        MicroModel(KWS_INT8, arena_size=minimum - 64)


def test_arena_margin_is_validated():
    assert arena_with_margin(1000, 0.0) == 2032
    assert arena_with_margin(1000, 0.5) == 2528
    for bad in (-0.1, 5.0, float("nan")):
        with pytest.raises(InputDataError, match="margin"):
            arena_with_margin(1000, bad)


# --- what is written ------------------------------------------------------------


def test_every_generated_file_carries_the_banner(kws_export):
    result, out = kws_export
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(result.files)
    for name in files:
        if name != "export.json":
            assert BANNER in (out / name).read_text(encoding="utf-8"), name
    manifest = json.loads((out / "export.json").read_text())
    assert manifest == json.loads(json.dumps(result.to_dict()))


def test_arduino_sketch_is_a_complete_sketch_folder(kws_export):
    result, out = kws_export
    sketch = out / result.sketch
    assert sketch.name == f"{sketch.parent.name}.ino" == "kws_ref_int8.ino"
    assert "micros()" in sketch.read_text() and "RunModelOnce" in sketch.read_text()
    names = {p.name for p in sketch.parent.iterdir()}
    assert not any(n.endswith(".cc") for n in names)  # Arduino compiles .cpp, not .cc
    for stem in ("model_data", "test_input", "inference"):
        assert (sketch.parent / f"{stem}.cpp").read_text() == (out / f"{stem}.cc").read_text()
    for header in ("model_data.h", "model_settings.h", "model_op_resolver.h", "inference.h"):
        assert (sketch.parent / header).read_text() == (out / header).read_text()


def test_harness_checks_schema_version_and_reports(kws_export):
    _, out = kws_export
    inference = (out / "inference.cc").read_text()
    assert "model->version() != TFLITE_SCHEMA_VERSION" in inference
    assert "AllocateTensors()" in inference and "Invoke()" in inference
    assert "alignas(16) uint8_t g_tensor_arena[kTensorArenaSize]" in inference
    main = (out / "main.cc").read_text()
    assert "GetCurrentTimeTicks" in main and "ticks_per_second" in main
    readme = (out / "README.md").read_text()
    assert "microlite" in readme and "arduino/kws_ref_int8/kws_ref_int8.ino" in readme


def test_format_export_names_the_numbers(kws_export):
    result, _ = kws_export
    text = "\n".join(format_export(result))
    assert f"{result.arena_size:,}" in text and f"{result.arena_measured:,}" in text
    assert "CONV_2D" in text and "12 (given by the caller)" in text


# --- refusals ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subgraphs", "named"),
    [
        ([["TOPK_V2"]], "TOPK_V2"),
        ([["RELU", "UNIQUE", "NON_MAX_SUPPRESSION_V4"]], "NON_MAX_SUPPRESSION_V4, UNIQUE"),
        ([["CUSTOM:MyDetector"]], "CUSTOM:MyDetector"),
        # The unsupported op sits in a subgraph that only WHILE runs.
        ([["WHILE"], ["RELU"], ["RANK"]], "RANK"),
    ],
)
def test_unsupported_ops_are_refused_before_writing(tmp_path, op_model_bytes, subgraphs, named):
    model = tmp_path / "bad.tflite"
    model.write_bytes(op_model_bytes(subgraphs))
    out = tmp_path / "fw"
    with pytest.raises(UnsupportedModelError) as info:
        export_tflm(model, out)
    message = str(info.value)
    assert named in message and "TensorFlow Lite Micro" in message and "\n" not in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [model]  # no temporary directory left behind


def test_refusal_leaves_an_existing_directory_alone_even_with_force(tmp_path, op_model_bytes):
    model = tmp_path / "bad.tflite"
    model.write_bytes(op_model_bytes([["TOPK_V2"]]))
    out = tmp_path / "fw"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UnsupportedModelError):
        export_tflm(model, out, force=True)
    assert (out / "keep.txt").read_text() == "mine"


def test_hybrid_model_tflm_cannot_prepare_is_refused(tmp_path):
    # kws_ref_float32 has int8 weights and float activations: TFLite Micro's
    # CONV_2D refuses hybrid models when it prepares the graph.
    out = tmp_path / "fw"
    with pytest.raises(UnsupportedModelError, match="TensorFlow Lite Micro cannot prepare"):
        export_tflm(KWS_FLOAT, out)
    assert not out.exists()


def test_wrong_schema_version_is_refused(tmp_path, fc_model_bytes):
    import flatbuffers

    s = schema()
    model_t = s.ModelT.InitFromPackedBuf(fc_model_bytes, 0)
    model_t.version = 2
    builder = flatbuffers.Builder(1024)
    builder.Finish(model_t.Pack(builder), file_identifier=b"TFL3")
    model = tmp_path / "v2.tflite"
    model.write_bytes(bytes(builder.Output()))
    assert load_model(model).version == 2
    with pytest.raises(UnsupportedModelError, match="schema version 2"):
        export_tflm(model, tmp_path / "fw")


def test_existing_directory_needs_force(tmp_path, fc_model_bytes):
    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_model_bytes)
    out = tmp_path / "fw"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--force"):
        export_tflm(model, out)
    assert (out / "old.txt").exists() and not (out / "main.cc").exists()
    export_tflm(model, out, force=True)
    assert not (out / "old.txt").exists() and (out / "main.cc").exists()


def test_output_over_the_model_is_refused_even_with_force(tmp_path, fc_model_bytes):
    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_model_bytes)
    with pytest.raises(OutputPathError):
        export_tflm(model, tmp_path, force=True)
    assert model.read_bytes() == fc_model_bytes


# --- labels -------------------------------------------------------------------------


def _model_with_labels(tmp_path: Path, fc_model_bytes: bytes, labels_text: str | None) -> Path:
    model = tmp_path / "m" / "fc.tflite"
    model.parent.mkdir()
    model.write_bytes(fc_model_bytes)
    if labels_text is not None:
        (model.parent / "labels.json").write_text(labels_text, encoding="utf-8")
    return model


def test_labels_json_beside_the_model_is_used(tmp_path, fc_model_bytes):
    model = _model_with_labels(tmp_path, fc_model_bytes, '["cat", "dog"]')
    result = export_tflm(model, tmp_path / "fw")
    assert result.labels == ("cat", "dog") and "labels.json" in (result.labels_source or "")
    assert '"dog",' in (tmp_path / "fw" / "model_settings.h").read_text()
    given = export_tflm(model, tmp_path / "fw2", labels=["a", "b"])
    assert given.labels == ("a", "b")


@pytest.mark.parametrize(
    ("labels_text", "given", "error", "message"),
    [
        ('{"a": 1}', None, InputFileError, "JSON list"),
        ("[not json", None, InputFileError, "not valid"),
        ('["a", 2]', None, InputDataError, "strings"),
        ('["a", "b", "c"]', None, InputDataError, "3 labels .* 2 classes"),
        ("[]", None, InputDataError, "empty"),
        (None, ["only one"], InputDataError, "1 labels"),
    ],
)
def test_bad_labels_are_refused_before_writing(
    tmp_path, fc_model_bytes, labels_text, given, error, message
):
    model = _model_with_labels(tmp_path, fc_model_bytes, labels_text)
    with pytest.raises(error, match=message):
        export_tflm(model, tmp_path / "fw", labels=given)
    assert not (tmp_path / "fw").exists()


# --- the CLI wiring ---------------------------------------------------------------


def test_cli_export_runs_the_library(tmp_path, capsys, fc_model_bytes):
    from edgedeploy.cli import main

    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_model_bytes)
    labels = tmp_path / "labels.txt"
    labels.write_text("first\nsecond\n")
    argv = ["export", str(model), "--runtime", "tflm", "--labels", str(labels)]
    assert main([*argv, "--out", str(tmp_path / "fw")]) == 0
    assert "tensor arena" in capsys.readouterr().out
    assert (tmp_path / "fw" / "arduino" / "fc" / "fc.ino").is_file()
    assert main([*argv, "--out", str(tmp_path / "fw")]) == OutputExistsError.exit_code
    shutil.rmtree(tmp_path / "fw")
