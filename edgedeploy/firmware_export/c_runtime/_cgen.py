"""Small C literals: identifiers, comments, numbers and arrays.

Everything a model supplies (tensor and op names) reaches the generated C only
through these helpers: names become identifiers only after `c_identifier`
and appear in comments only after `c_comment`, so no model can inject code.
Whole files come from the templates; these build the pieces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["c_array", "c_comment", "c_double", "c_float", "c_identifier", "c_struct"]

_C_KEYWORDS = frozenset(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_Bool",
        "_Complex",
        "_Imaginary",
    ]
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def c_identifier(name: str, prefix: str = "t") -> str:
    """A valid, non-reserved C identifier derived from ``name`` (at most 63 characters)."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    ident = re.sub(r"_+", "_", ident).strip("_")
    if not ident or ident[0].isdigit():
        ident = f"{prefix}_{ident}"
    ident = ident[:63]
    if ident in _C_KEYWORDS or ident.startswith("__") or re.match(r"_[A-Z]", ident):
        ident = f"{prefix}_{ident}"[:63]
    if not _IDENT.fullmatch(ident):
        raise ValueError(f"cannot make a C identifier from {name!r}")
    return ident


def c_comment(text: str, limit: int = 120) -> str:
    """``text`` made safe inside a /* */ comment: printable ASCII, no comment delimiters."""
    safe = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    safe = safe.replace("*/", "* /").replace("/*", "/ *").replace("\\", "/")
    if len(safe) > limit:
        safe = safe[: limit - 3] + "..."
    return safe


def c_float(value: float) -> str:
    """An exact float literal (hexadecimal, C99) for a float32 value."""
    v = float(np.float32(value))
    if not np.isfinite(v):
        raise ValueError(f"non-finite scale {value!r}")
    return f"{v.hex()}f" if v != 0 else "0.0f"


def c_double(value: float) -> str:
    """An exact double literal (hexadecimal, C99)."""
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"non-finite value {value!r}")
    return v.hex() if v != 0 else "0.0"


def _int_literal(v: int, ctype: str) -> str:
    if ctype == "int32_t" and v == -(1 << 31):
        return "INT32_MIN"
    return str(int(v))


def c_array(name: str, ctype: str, values: Iterable[int], per_line: int = 16) -> str:
    """A ``static const`` array definition (so it stays in flash)."""
    items = list(map(str, map(int, values)))
    if ctype == "int32_t" and "-2147483648" in items:
        items = [_int_literal(int(v), ctype) for v in items]
    if not items:
        raise ValueError(f"empty array {name}")
    lines = [
        "    " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line)
    ]
    return f"static const {ctype} {name}[{len(items)}] = {{\n" + "\n".join(lines) + "\n};"


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | np.integer):
        return _int_literal(int(v), "int32_t")
    if isinstance(v, Sequence) and not isinstance(v, str):
        return "{" + ", ".join(_value(x) for x in v) + "}"
    if isinstance(v, dict):
        return "{" + ", ".join(f".{k} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no C literal for {v!r}")


def c_struct(ctype: str, name: str, fields: dict[str, object]) -> str:
    """A ``static const`` struct with designated initializers."""
    body = ",\n".join(f"    .{k} = {_value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{\n{body}\n}};"
