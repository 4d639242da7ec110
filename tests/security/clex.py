"""Just enough of a C/C++ lexer to see what generated code means, not how it looks.

`split_code` follows the first translation phases: trigraphs (C99 has them; a
``??/`` in a comment is a backslash), line splices (a backslash before a
newline joins two lines, so it extends a ``//`` comment or a string), then
comments and string and character literals. What remains, the code, is what
the compiler acts on: a model's text leaking out of a literal or a comment
shows up there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Split", "split_code"]

_TRIGRAPHS = {
    "??=": "#",
    "??/": "\\",
    "??'": "^",
    "??(": "[",
    "??)": "]",
    "??!": "|",
    "??<": "{",
    "??>": "}",
    "??-": "~",
}


@dataclass
class Split:
    """A file's code (literals and comments blanked) and the literals and comments themselves."""

    code: str
    literals: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def split_code(text: str) -> Split:
    """Split C or C++ source; `AssertionError` for an unterminated comment or literal."""
    for trigraph, replacement in _TRIGRAPHS.items():
        text = text.replace(trigraph, replacement)
    text = text.replace("\\\n", "")
    out: list[str] = []
    split = Split(code="")
    i, n = 0, len(text)
    while i < n:
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            split.comments.append(text[i + 2 : end])
            out.append(" ")
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            assert end >= 0, f"unterminated comment at {i}"
            split.comments.append(text[i + 2 : end])
            out.append(" ")
            i = end + 2
        elif text[i] in "\"'":
            quote, j = text[i], i + 1
            while j < n and text[j] != quote:
                assert text[j] != "\n", f"newline inside a literal at {i}: {text[i:j]!r}"
                j += 2 if text[j] == "\\" else 1
            assert j < n, f"unterminated literal at {i}"
            split.literals.append(text[i : j + 1])
            out.append(quote * 2)
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    split.code = "".join(out)
    return split
