"""The embedded model array: compiled as C and C++, written back out, compared byte for byte."""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path

import numpy as np
import pytest

from edgedeploy.errors import InputDataError
from edgedeploy.firmware_export.c_array import render_c_array
from edgedeploy.firmware_export.cgen import BANNER
from tests.firmware_export.conftest import C_FLAGS, CXX_FLAGS
from tests.paths import KWS_INT8

# Writes the array back out and fails unless it is 16-byte aligned; valid C and C++.
DUMP_MAIN = """\
#include <stdint.h>
#include <stdio.h>
#include "model_data.h"

int main(void) {
  if (((uintptr_t)g_model_data) % 16 != 0) {
    fprintf(stderr, "misaligned\\n");
    return 3;
  }
  return fwrite(g_model_data, 1, g_model_data_len, stdout) == g_model_data_len ? 0 : 1;
}
"""


def _round_trip(tmp: Path, data: bytes, language: str, build, label: str = "model.tflite") -> bytes:
    """Generate the array for ``data``, build the dump program, return what it writes."""
    source_name = "model_data.cc" if language == "c++" else "model_data.c"
    arr = render_c_array(data, source_label=label, source_name=source_name, language=language)
    (tmp / arr.header_name).write_text(arr.header, encoding="utf-8")
    (tmp / arr.source_name).write_text(arr.source, encoding="utf-8")
    main = tmp / ("main.cc" if language == "c++" else "main.c")
    main.write_text(DUMP_MAIN)
    if language == "c++":
        exe = build([main, tmp / source_name], tmp / "dump")
    else:
        exe = build([main, tmp / source_name], tmp / "dump", compiler="gcc", flags=C_FLAGS)
    proc = subprocess.run([str(exe)], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("language", ["c++", "c"])
def test_kws_model_round_trips_byte_for_byte(tmp_path, build_program, language):
    data = KWS_INT8.read_bytes()
    assert _round_trip(tmp_path, data, language, build_program) == data


@pytest.mark.parametrize("std", ["-std=c11", "-std=c17"])
def test_c_variant_aligns_with_c11_alignas(tmp_path, build_program, std):
    data = bytes(range(256)) * 3 + b"\x07"
    flags = (std, *C_FLAGS[1:])
    arr = render_c_array(data, source_label="x", source_name="model_data.c", language="c")
    assert "_Alignas(16)" in arr.source
    (tmp_path / "model_data.h").write_text(arr.header)
    (tmp_path / "model_data.c").write_text(arr.source)
    (tmp_path / "main.c").write_text(DUMP_MAIN)
    exe = build_program(
        [tmp_path / "main.c", tmp_path / "model_data.c"],
        tmp_path / "dump",
        compiler="gcc",
        flags=flags,
    )
    assert subprocess.run([str(exe)], capture_output=True, check=True).stdout == data


@pytest.mark.parametrize("length", [1, 13, 4099])
def test_odd_lengths_round_trip(tmp_path, build_program, length):
    data = np.random.default_rng(length).integers(0, 256, length, dtype=np.uint8).tobytes()
    assert _round_trip(tmp_path, data, "c", build_program) == data
    (tmp_path / "cxx").mkdir()
    assert _round_trip(tmp_path / "cxx", data, "c++", build_program) == data


HOSTILE_NAME = 'evil*/ name\\\n??/ "quoted" %41 café.tflite'


@pytest.mark.parametrize("language", ["c++", "c"])
def test_hostile_file_name_cannot_escape_the_comment(tmp_path, build_program, language):
    data = b"\x01\x02\x03"
    assert _round_trip(tmp_path, data, language, build_program, label=HOSTILE_NAME) == data
    arr = render_c_array(data, source_label=HOSTILE_NAME)
    header_lines = [line for line in arr.header.splitlines() if "%" in line]
    assert header_lines, arr.header
    # The escaped name decodes back to the original: nothing was lost, only encoded.
    encoded = header_lines[0].split(": ", 1)[1].rsplit(" (", 1)[0]
    assert urllib.parse.unquote(encoded) == HOSTILE_NAME
    for text in (arr.header, arr.source):  # C++ files: only // comments, no */ at all
        assert "*/" not in text and "??" not in text and "\\" not in text


def test_header_names_source_sha256_and_version(tmp_path):
    data = KWS_INT8.read_bytes()
    arr = render_c_array(data, source_label=KWS_INT8.name)
    assert BANNER in arr.header and BANNER in arr.source
    assert "do not edit" in BANNER and "edgedeploy" in BANNER
    sha = "aeea436800704fce17b17292e4412630ad856e9d777c044c64ef748a880bd0ae"
    for text in (arr.header, arr.source):
        assert sha in text and KWS_INT8.name in text
    assert "alignas(16) const unsigned char g_model_data[]" in arr.source
    assert "const unsigned int g_model_data_len = 53936;" in arr.source
    assert "#ifndef EDGEDEPLOY_MODEL_DATA_H" in arr.header


def test_custom_symbol_and_header(tmp_path, build_program):
    arr = render_c_array(
        b"abc",
        source_label="in.bin",
        symbol="g_sample",
        header_name="sample.h",
        source_name="sample.cc",
    )
    (tmp_path / "sample.h").write_text(arr.header)
    (tmp_path / "sample.cc").write_text(arr.source)
    (tmp_path / "main.cc").write_text(
        '#include "sample.h"\nint main() { return g_sample_len == 3 && g_sample[2] == 99 ? 0 : 1; }\n'
    )
    exe = build_program([tmp_path / "main.cc", tmp_path / "sample.cc"], tmp_path / "m")
    assert subprocess.run([str(exe)], check=False).returncode == 0
    assert "EDGEDEPLOY_SAMPLE_H" in arr.header


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbol": "int"}, "keyword"),
        ({"symbol": "1abc"}, "not a C identifier"),
        ({"symbol": "g model"}, "not a C identifier"),
        ({"symbol": "__reserved"}, "reserved"),
        ({"symbol": "_Capital"}, "reserved"),
        ({"header_name": "../model.h"}, "plain file name"),
        ({"header_name": 'a"b.h'}, "plain file name"),
        ({"header_name": "model.hpp"}, "ending in .h"),
        ({"source_name": "model.c"}, "ending in .cc"),
        ({"language": "rust"}, "unknown language"),
        ({"alignment": 24}, "power of two"),
    ],
)
def test_bad_generator_arguments_are_refused(kwargs, message):
    with pytest.raises(InputDataError, match=message):
        render_c_array(b"x", source_label="m", **kwargs)


def test_empty_data_is_refused():
    with pytest.raises(InputDataError, match="empty"):
        render_c_array(b"", source_label="empty.tflite")


def test_flags_are_strict():
    # The compile checks above are only as good as these flags.
    for flags in (CXX_FLAGS, C_FLAGS):
        assert {"-Wall", "-Wextra", "-Werror"} <= set(flags)
