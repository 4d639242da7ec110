"""Finding the tools a test needs: skip locally with the tool's name, fail in CI.

CI must never turn green because a compiler, emulator or package was missing, so
when ``CI=true`` a missing tool fails the test instead of skipping it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest

__all__ = ["in_ci", "require_module", "require_tool", "unavailable"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(message: str) -> None:
    """Skip with ``message`` locally; fail in CI, where everything a test needs must be there."""
    if in_ci():
        pytest.fail(f"{message}; CI=true, so this fails instead of skipping")
    pytest.skip(message)


def _missing(what: str) -> None:
    unavailable(f"{what} is not installed (run ./scripts/setup.sh)")


def require_tool(name: str) -> str:
    """Return the path of executable ``name``, or skip (fail in CI) when it is absent."""
    path = shutil.which(name)
    if path is None:
        _missing(f"the tool {name!r}")
    return str(path)


def require_module(name: str) -> None:
    """Skip (fail in CI) when Python module ``name`` cannot be imported."""
    if importlib.util.find_spec(name) is None:
        _missing(f"the Python package {name!r}")
