"""Hostile text inside a model never changes the meaning of the generated C.

The same small int8 model is built twice: once with plain names and once with
tensor, subgraph, signature and metadata names, a description and labels that
hold ``*/ #include <evil.h> /*``, quotes, backslashes, newlines, trigraphs and
non-ASCII text. Both are exported with both runtimes (and as qemu-m4
firmware). Every generated file must lex cleanly with the model's text only
inside comments and string literals (every hostile string contains ``evil``, so
a leak shows in the code), compile with ``-Wall -Wextra -Werror``, carry names
and labels back byte for byte, and compute exactly what the plain model computes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgedeploy.modelfile import load_model, schema
from tests.security.clex import split_code
from tests.security.mutations import pack, unpack
from tests.security.seeds import small_int8_model
from tests.toolhelpers import require_module, require_tool

HOSTILE = [
    "*/ #include <evil.h> /*",
    'evil "quoted" \\"; system("rm -rf /"); "',
    "evil backslash at the end \\",
    "evil\nnewline\n#define main evil_main\n",
    "evil caf\u00e9 \u2603 \u0438\u043c\u044f \u65e5\u672c",
    "evil ??/ trigraph ??= and ??' ",
    "evil\r\ttab\x01\x7f control",
    "// evil line comment",
    "evil %s%n printf",
    "evil " + "x" * 300,
]
_TENSORS = [
    "input",
    "fc1/weights",
    "fc1/bias",
    "fc1/out",
    "relu/out",
    "fc2/weights",
    "fc2/bias",
    "logits",
    "probabilities",
]
HOSTILE_NAMES = {
    **{name: f"{HOSTILE[i % len(HOSTILE)]} {i}" for i, name in enumerate(_TENSORS)},
    "main": HOSTILE[0],
    "description": HOSTILE[3],
}
HOSTILE_LABELS = [HOSTILE[i] for i in (0, 1, 2, 3)]
PLAIN_LABELS = ["a", "b", "c", "d"]
_SOURCES = (".c", ".h", ".cc", ".cpp", ".ino")
CXX = ("-std=c++17", "-Wall", "-Wextra", "-Werror", "-pedantic")


def _with_extras(data: bytes, texts: list[str]) -> bytes:
    """Add a signature and a metadata entry named by ``texts`` (op-level names of a model)."""
    s = schema()
    model = unpack(data)
    sig = s.SignatureDefT()
    sig.signatureKey = texts[0].encode()
    sig.subgraphIndex = 0
    for field, tensor in (("inputs", 0), ("outputs", 8)):
        m = s.TensorMapT()
        m.name, m.tensorIndex = texts[1].encode(), tensor
        setattr(sig, field, [m])
    model.signatureDefs = [sig]
    buf = s.BufferT()
    buf.data = np.frombuffer(texts[2].encode(), dtype=np.uint8)
    model.buffers.append(buf)
    meta = s.MetadataT()
    meta.name, meta.buffer = texts[3].encode(), len(model.buffers) - 1
    model.metadata = [meta]
    return pack(model)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The plain and the hostile model, as files whose names are plain (the file name is ours)."""
    d = tmp_path_factory.mktemp("names")
    plain = _with_extras(small_int8_model(), ["serving_default", "x", "meta", "meta_name"])
    hostile = _with_extras(small_int8_model(names=HOSTILE_NAMES), HOSTILE[:4])
    paths = {"plain": d / "plain.tflite", "hostile": d / "hostile.tflite"}
    paths["plain"].write_bytes(plain)
    paths["hostile"].write_bytes(hostile)
    t = load_model(paths["hostile"]).tensors
    assert t[0].name == HOSTILE_NAMES["input"] and "\n" in t[3].name
    return paths


def _generated(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.suffix in _SOURCES)


def _assert_no_leak(out: Path) -> None:
    files = _generated(out)
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        split = split_code(text)
        where = f"{path.relative_to(out)}"
        assert "evil" not in split.code, f"model text outside a literal or comment in {where}"
        assert split.code.isascii(), f"non-ASCII code in {where}"
        for line in text.splitlines():
            # A splice is for the templates' multi-line macros, never a comment or string.
            if line.rstrip().endswith("\\"):
                assert not re.search(r'//|/\*|"', line), f"line splice {line!r} in {where}"
        for literal in split.literals:
            assert literal.isascii(), f"unescaped non-ASCII literal {literal!r} in {where}"
        for comment in split.comments:
            assert "\r" not in comment and "\x01" not in comment, where


def _inputs(count: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(-128, 128, size=(1, 8), dtype=np.int8) for _ in range(count)]


def test_names_really_reach_the_generators(models: dict[str, Path]) -> None:
    from edgedeploy.runtime import Model

    assert Model(models["hostile"]).inputs[0].name == HOSTILE_NAMES["input"]


def test_c_runtime_export_is_escaped_compiles_and_computes_the_same(
    models: dict[str, Path], tmp_path: Path
) -> None:
    require_tool("gcc")
    require_tool("make")
    require_module("tflite_micro")
    from edgedeploy.runtime import MicroModel
    from tests.firmware_export.c_runtime_helpers import build_exported, run_host

    built = {k: build_exported(p, tmp_path / k) for k, p in models.items()}  # make host: -Werror
    _assert_no_leak(tmp_path / "hostile")
    header = (tmp_path / "hostile" / "model.h").read_text()
    assert "hostile.tflite" in header and load_model(models["hostile"]).sha256 in header
    micro = MicroModel(models["plain"])
    for x in _inputs():
        plain, hostile = (
            run_host(built["plain"].binary, [x]),
            run_host(built["hostile"].binary, [x]),
        )
        assert hostile == plain
        assert plain == micro.run_raw([x])[0].tobytes()


def _names_program(n_labels: int) -> str:
    """A program printing what model_settings.h and the model array hold, in hex."""
    lines = [
        "#include <cstdio>",
        "#include <cstring>",
        '#include "model_data.h"',
        '#include "model_settings.h"',
        "static void hex(const char* tag, const char* s) {",
        '  std::printf("%s ", tag);',
        '  for (const char* p = s; *p; ++p) std::printf("%02x", (unsigned char)*p);',
        '  std::printf("\\n");',
        "}",
        "int main() {",
        '  hex("in", kInput0Name);',
        '  hex("out", kOutput0Name);',
        f'  for (int i = 0; i < {n_labels}; ++i) hex("label", CategoryLabel(i));',
        '  std::printf("model ");',
        '  for (unsigned i = 0; i < g_model_data_len; ++i) std::printf("%02x", g_model_data[i]);',
        '  std::printf("\\n");',
        "  return 0;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def test_tflm_export_is_escaped_compiles_and_carries_names_labels_and_model(
    models: dict[str, Path], tmp_path: Path
) -> None:
    gxx = require_tool("g++")
    require_module("tflite_micro")
    from edgedeploy.firmware_export import export_tflm
    from edgedeploy.runtime import MicroModel

    outs = {}
    for kind, labels in (("plain", PLAIN_LABELS), ("hostile", HOSTILE_LABELS)):
        outs[kind] = tmp_path / kind
        export_tflm(models[kind], outs[kind], labels=labels)
    _assert_no_leak(outs["hostile"])
    out = outs["hostile"]
    (tmp_path / "main.cc").write_text(_names_program(len(HOSTILE_LABELS)))
    exe = tmp_path / "names"
    cmd = [gxx, *CXX, f"-I{out}", str(tmp_path / "main.cc"), str(out / "model_data.cc")]
    cmd += [str(out / "test_input.cc"), "-o", str(exe)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    printed = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split(" ", 1) for line in printed.stdout.splitlines()]
    values = [bytes.fromhex(v) if len(r) > 1 else b"" for r in rows for v in r[1:2]] or []
    tags = [r[0] for r in rows]
    assert tags == ["in", "out", *["label"] * len(HOSTILE_LABELS), "model"]
    assert values[0].decode() == HOSTILE_NAMES["input"]
    assert values[1].decode() == HOSTILE_NAMES["probabilities"]
    assert [v.decode() for v in values[2:-1]] == HOSTILE_LABELS
    recovered = values[-1]
    assert recovered == models["hostile"].read_bytes()
    plain, hostile = MicroModel(models["plain"]), MicroModel(recovered)
    for x in _inputs():
        assert hostile.run_raw([x])[0].tobytes() == plain.run_raw([x])[0].tobytes()
    for name in ("main.cc", "inference.cc", "model_settings.h", "model_op_resolver.h"):
        assert (out / name).exists()


def test_qemu_firmware_export_is_escaped(models: dict[str, Path], tmp_path: Path) -> None:
    from edgedeploy.firmware_export.firmware import export_firmware

    export_firmware(models["hostile"], tmp_path / "fw", device="qemu-m4")
    _assert_no_leak(tmp_path / "fw")
