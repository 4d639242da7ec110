"""The literal helpers: what the compiler reads back must be exactly what the model held."""

from __future__ import annotations

import subprocess
import urllib.parse

import numpy as np
import pytest

from edgedeploy.errors import InputDataError
from edgedeploy.firmware_export.cgen import (
    c_float,
    c_string_literal,
    check_identifier,
    comment_text,
    sketch_name,
)
from tests.firmware_export.conftest import C_FLAGS

# Every byte value (as Latin-1 code points), multi-byte UTF-8, trigraph starts,
# escapes that would swallow following digits, and comment ends.
STRINGS = [
    "".join(chr(c) for c in range(256)),
    "??/??=??(??)??!??<??>??-??'",
    "\x01" + "23 \x7f" + "abc",
    'quote " backslash \\ end */ start /* //',
    "日本語 🎉 café",
    "",
]


def test_string_literals_compile_back_to_the_utf8_bytes(tmp_path, build_program):
    table = ",\n".join(c_string_literal(s) for s in STRINGS)
    (tmp_path / "main.c").write_text(
        "#include <stdio.h>\n#include <string.h>\n"
        f"static const char *const kStrings[] = {{\n{table}\n}};\n"
        "int main(void) {\n"
        "  size_t i, j;\n"
        "  for (i = 0; i < sizeof kStrings / sizeof kStrings[0]; ++i) {\n"
        '    for (j = 0; j < strlen(kStrings[i]); ++j) printf("%02x", (unsigned char)kStrings[i][j]);\n'
        '    printf("\\n");\n'
        "  }\n  return 0;\n}\n"
    )
    # -std=c99 turns trigraphs on: an unescaped "??/" would change the string.
    exe = build_program([tmp_path / "main.c"], tmp_path / "s", compiler="gcc", flags=C_FLAGS)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    got = out.split("\n")[: len(STRINGS)]
    # C strings stop at NUL: compare up to the first zero byte.
    want = [s.encode("utf-8").split(b"\0")[0].hex() for s in STRINGS]
    assert got == want


def test_float_literals_are_bit_exact(tmp_path, build_program):
    values = np.array(
        [0.5847029089927673, 0.00390625, 1e-45, 3.4028235e38, -2.5e-7, 0.1, 1 / 3, 0.0],
        dtype=np.float32,
    )
    table = ", ".join(c_float(float(v)) for v in values)
    (tmp_path / "main.c").write_text(
        "#include <stdio.h>\n#include <string.h>\n#include <stdint.h>\n"
        f"static const float kValues[] = {{{table}}};\n"
        "int main(void) {\n  size_t i;\n"
        "  for (i = 0; i < sizeof kValues / sizeof kValues[0]; ++i) {\n"
        "    uint32_t bits; memcpy(&bits, &kValues[i], sizeof bits);\n"
        '    printf("%08lx\\n", (unsigned long)bits);\n  }\n  return 0;\n}\n'
    )
    exe = build_program([tmp_path / "main.c"], tmp_path / "f", compiler="gcc", flags=C_FLAGS)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()
    assert out == [f"{b:08x}" for b in values.view(np.uint32)]


def test_non_finite_floats_are_refused():
    for bad in (float("nan"), float("inf"), 1e40):
        with pytest.raises(InputDataError, match="not a finite float32"):
            c_float(bad)


@pytest.mark.parametrize("text", STRINGS)
def test_comment_text_is_safe_and_reversible(text):
    safe = comment_text(text)
    assert all(ch.isalnum() or ch in " _-.+,:;=()[]{}#@!~^&$'\"<>|`%" for ch in safe), safe
    assert "*/" not in safe and "/*" not in safe and "//" not in safe
    assert "\\" not in safe and "??" not in safe and "\n" not in safe
    assert urllib.parse.unquote(safe, errors="strict") == text


@pytest.mark.parametrize("name", ["g_model_data", "kLabels", "x", "_lower", "a" * 63])
def test_identifiers_accepted(name):
    assert check_identifier(name) == name


@pytest.mark.parametrize(
    "name", ["", "9a", "a-b", "a b", "while", "class", "_Bool", "a__b", "_X", "a" * 64, "é"]
)
def test_identifiers_refused(name):
    with pytest.raises(InputDataError):
        check_identifier(name)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("kws_ref_int8", "kws_ref_int8"),
        ("my model-v2.final", "my_model_v2_final"),
        ("2024_model", "model_2024_model"),
        ("...", "model"),
        ("ünï", "n"),
        ("x" * 80, "x" * 63),
    ],
)
def test_sketch_names(stem, expected):
    assert sketch_name(stem) == expected
