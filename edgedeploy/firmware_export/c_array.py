"""Embedding a file (a .tflite model, a test input) in firmware as an aligned C array.

The generated header declares ``const unsigned char SYMBOL[]`` and
``const unsigned int SYMBOL_len`` with C linkage, so C and C++ code can both use
it; the source file is C++ (``alignas``) for TFLite Micro projects or C (``_Alignas``
in C11, GCC's ``aligned`` attribute in C99) for the plain-C runtime.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from edgedeploy.errors import InputDataError
from edgedeploy.firmware_export.cgen import (
    bytes_initializer,
    check_identifier,
    comment_text,
    render_template,
)

__all__ = ["DEFAULT_ALIGNMENT", "CArray", "include_guard", "render_c_array"]

#: TFLite Micro wants the model flatbuffer 16-byte aligned: the converter aligns
#: tensor buffers to 16 bytes inside the file, which only holds if the file does.
DEFAULT_ALIGNMENT = 16
#: Largest alignment accepted (a page); more is never needed for a model.
MAX_ALIGNMENT = 4096

_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SOURCE_SUFFIX = {"c++": (".cc", ".cpp"), "c": (".c",)}


@dataclass(frozen=True)
class CArray:
    """A header and a source file that together define one byte array."""

    header_name: str
    header: str
    source_name: str
    source: str


def include_guard(header_name: str) -> str:
    """The include-guard macro for a generated header, e.g. ``EDGEDEPLOY_MODEL_DATA_H``."""
    stem = re.sub(r"[^A-Za-z0-9]+", "_", header_name).strip("_").upper()
    return check_identifier(f"EDGEDEPLOY_{stem}", "include guard")


def _check_file_name(name: str, suffixes: tuple[str, ...], what: str) -> str:
    if not _FILE_NAME.fullmatch(name) or not name.endswith(suffixes):
        raise InputDataError(
            f"{what} {name!r} must be a plain file name ending in {' or '.join(suffixes)}"
        )
    return name


def render_c_array(
    data: bytes,
    *,
    source_label: str,
    symbol: str = "g_model_data",
    header_name: str = "model_data.h",
    source_name: str = "model_data.cc",
    language: Literal["c++", "c"] = "c++",
    alignment: int = DEFAULT_ALIGNMENT,
    what: str = "Model",
) -> CArray:
    """Render ``data`` as a header plus a C++ or C source file.

    ``source_label`` names where the bytes came from (a file name) in the header
    comment, next to their SHA-256; it is escaped, as it may come from a user.
    """
    if not data:
        raise InputDataError(f"cannot embed {source_label!r}: it is empty")
    if language not in _SOURCE_SUFFIX:
        raise InputDataError(f"unknown language {language!r} (use 'c++' or 'c')")
    if alignment < 1 or alignment > MAX_ALIGNMENT or alignment & (alignment - 1):
        raise InputDataError(f"alignment {alignment} must be a power of two up to {MAX_ALIGNMENT}")
    check_identifier(symbol, "array name")
    _check_file_name(header_name, (".h",), "header name")
    _check_file_name(source_name, _SOURCE_SUFFIX[language], f"{language} source name")
    values = {
        "what": comment_text(what),
        "source_name": comment_text(source_label),
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "guard": include_guard(header_name),
        "alignment": alignment,
        "symbol": symbol,
        "header_name": header_name,
    }
    source_template = "c_array.cc.tmpl" if language == "c++" else "c_array.c.tmpl"
    return CArray(
        header_name=header_name,
        header=render_template("c_array.h.tmpl", values),
        source_name=source_name,
        source=render_template(source_template, {**values, "initializer": bytes_initializer(data)}),
    )
