"""Outputs are written whole or not at all, and never over something without --force."""

from __future__ import annotations

import pytest

from edgedeploy.errors import OutputExistsError, OutputPathError
from edgedeploy.fsutil import atomic_output_dir, write_bytes


def test_existing_file_needs_force(tmp_path):
    p = tmp_path / "out.bin"
    p.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="--force"):
        write_bytes(p, b"new")
    assert p.read_bytes() == b"old"
    write_bytes(p, b"new", force=True)
    assert p.read_bytes() == b"new"


def test_failed_directory_leaves_previous_contents(tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    (out / "keep.txt").write_text("previous")
    with pytest.raises(RuntimeError), atomic_output_dir(out, force=True) as tmp:
        (tmp / "half.c").write_text("int x;")
        raise RuntimeError("generator failed halfway")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["fw"]


def test_directory_replaced_on_success(tmp_path):
    out = tmp_path / "fw"
    out.mkdir()
    (out / "old.txt").write_text("previous")
    with atomic_output_dir(out, force=True) as tmp:
        (tmp / "new.txt").write_text("fresh")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw"]


def test_symlink_output_refused(tmp_path):
    target = tmp_path / "real"
    target.mkdir()
    link = tmp_path / "link"
    link.symlink_to(target)
    with (
        pytest.raises(OutputPathError, match="symbolic link"),
        atomic_output_dir(link, force=True),
    ):
        pass


def test_output_over_protected_input_refused(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model")
    with (
        pytest.raises(OutputPathError, match="would overwrite"),
        atomic_output_dir(tmp_path, force=True, protect=(model,)),
    ):
        pass
    assert model.read_bytes() == b"model"


def test_missing_parent_directory(tmp_path):
    with pytest.raises(OutputPathError, match="does not exist"):
        write_bytes(tmp_path / "no" / "such" / "dir" / "f.bin", b"x")
