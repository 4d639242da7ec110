"""Where outputs go: no writing through symlinks, over the model, or half a directory.

Each case runs the CLI in-process and checks three things: one
``edgedeploy: error:`` line, a non-zero exit, and the previous contents of the
output (and the model) byte for byte as they were, with no temporary
directory left behind. The disk-full case runs on a real 64 KiB tmpfs when
this process may mount one (root), and always with a write mocked to fail
halfway through.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edgedeploy import cli
from tests.paths import KWS_INT8
from tests.security.seeds import small_int8_model
from tests.toolhelpers import unavailable

RUNTIMES = ("tflm", "c")


def _cli(*argv: str) -> tuple[int, list[str]]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(list(argv))
    return code, err.getvalue().splitlines()


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry under ``root`` (not following links): file bytes, link targets, dirs."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = f"-> {os.readlink(path)}"
        elif path.is_dir():
            found[key] = "dir"
        else:
            found[key] = path.read_bytes()
    return found


@pytest.fixture
def model(tmp_path: Path) -> Path:
    d = tmp_path / "models"
    d.mkdir()
    path = d / "small.tflite"
    path.write_bytes(small_int8_model())
    (d / "labels.txt").write_text("a\nb\nc\nd\n")
    return path


def _assert_one_line(code: int, lines: list[str], needle: str) -> None:
    assert code != 0
    assert len(lines) == 1 and lines[0].startswith("edgedeploy: error: "), lines
    assert needle in lines[0], lines


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_symlinked_out_is_refused(model: Path, tmp_path: Path, runtime: str) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    link = tmp_path / "out"
    link.symlink_to(target, target_is_directory=True)
    before = _snapshot(tmp_path)
    code, lines = _cli("export", str(model), "--runtime", runtime, "--out", str(link), "--force")
    _assert_one_line(code, lines, "is a symbolic link")
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("where", ["model_dir", "parent_of_model_dir", "model_file"])
def test_out_over_the_models_directory_is_refused(
    model: Path, tmp_path: Path, runtime: str, where: str
) -> None:
    out = {"model_dir": model.parent, "parent_of_model_dir": tmp_path, "model_file": model}[where]
    before = _snapshot(tmp_path)
    code, lines = _cli("export", str(model), "--runtime", runtime, "--out", str(out), "--force")
    _assert_one_line(code, lines, "would overwrite the input")
    assert _snapshot(tmp_path) == before


def test_out_over_a_symlink_to_the_model_is_refused(model: Path, tmp_path: Path) -> None:
    """The model given through a link in another directory: that directory is protected too."""
    links = tmp_path / "links"
    links.mkdir()
    (links / "m.tflite").symlink_to(model)
    before = _snapshot(tmp_path)
    code, lines = _cli("export", str(links / "m.tflite"), "--out", str(links), "--force")
    _assert_one_line(code, lines, "would overwrite the input")
    assert _snapshot(tmp_path) == before


def test_run_output_over_the_model_is_refused(model: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 8), np.int8))
    before = _snapshot(tmp_path)
    code, lines = _cli(
        "run", str(model), "--input", str(tmp_path / "x.npy"), "--output", str(model), "--force"
    )
    _assert_one_line(code, lines, "would overwrite the input")
    assert _snapshot(tmp_path) == before


def _previous_export(out: Path) -> None:
    out.mkdir()
    (out / "model.h").write_text("/* the previous export */\n")
    (out / "notes.txt").write_text("kept")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_write_failing_halfway_leaves_the_previous_export(
    model: Path, tmp_path: Path, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _previous_export(out)
    before = _snapshot(tmp_path)
    real_write_text = Path.write_text
    written: list[str] = []

    def failing_write_text(self: Path, text: str, *args: object, **kwargs: object) -> int:
        written.append(self.name)
        if len(written) == 3:  # the third file: half of it, then the disk is full
            real_write_text(self, text[: len(text) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    code, lines = _cli("export", str(model), "--runtime", runtime, "--out", str(out), "--force")
    _assert_one_line(code, lines, "No space left on device")
    assert len(written) == 3
    assert _snapshot(tmp_path) == before


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards; skipped locally (failed in CI) where mounting is refused."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        unavailable(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_disk_full_on_a_real_tmpfs_leaves_the_previous_export(
    tiny_tmpfs: Path, runtime: str
) -> None:
    """kws_ref_int8 as C text is several times the 64 KiB the file system holds."""
    out = tiny_tmpfs / "out"
    _previous_export(out)
    before = _snapshot(tiny_tmpfs)
    code, lines = _cli("export", str(KWS_INT8), "--runtime", runtime, "--out", str(out), "--force")
    _assert_one_line(code, lines, "No space left on device")
    assert _snapshot(tiny_tmpfs) == before
