"""Writing outputs so that a failure never leaves a half-written file behind.

Every file or directory edgedeploy produces is first written under a temporary
name beside its destination and renamed into place only once complete; an
existing destination is replaced only with ``force``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgedeploy.errors import InputFileError, OutputExistsError, OutputPathError

__all__ = ["atomic_output_dir", "check_output_path", "read_input_file", "write_bytes", "write_text"]


def check_output_path(path: Path, force: bool, protect: tuple[Path, ...] = ()) -> None:
    """Raise unless ``path`` may be (re)written.

    ``protect`` lists input files that must survive: an output that is, or
    contains, one of them is refused even with ``force``. Both the input's own
    path and the file it resolves to count, so replacing the directory that
    holds a symbolic link to the model is refused as well.
    """
    if path.is_symlink():
        raise OutputPathError(
            f"output path {path} is a symbolic link; refusing to write through it"
        )
    resolved = path.resolve()
    outputs = {resolved, Path(os.path.abspath(path))}
    for keep in protect:
        for kept in {Path(keep).resolve(), Path(os.path.abspath(keep))}:
            if any(out == kept or out in kept.parents for out in outputs):
                raise OutputPathError(f"output path {path} would overwrite the input {keep}")
    if path.exists() and not force:
        raise OutputExistsError(f"output path {path} already exists (use --force to replace it)")
    parent = resolved.parent
    if not parent.is_dir():
        raise OutputPathError(f"the directory {parent} for output {path} does not exist")


def _ordinary_mode(path: Path, base: int) -> None:
    """Give a mkstemp/mkdtemp path (private, 0600/0700) the mode a plain open() would."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(base & ~umask)


def _replace(tmp: Path, dest: Path) -> None:
    """Move ``tmp`` onto ``dest``; an existing directory is swapped out, then deleted.

    Should the second rename fail, the old directory is moved back, so ``dest``
    never ends up missing.
    """
    if dest.is_dir():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
        try:
            os.replace(tmp, dest)
        except OSError:
            os.replace(old, dest)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


def _temporary(path: Path, directory: bool) -> Path:
    """A private temporary file or directory beside ``path``, or `OutputPathError`."""
    parent = path.resolve().parent
    try:
        if directory:
            return Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent))
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(name)


def write_bytes(
    path: Path, data: bytes, force: bool = False, protect: tuple[Path, ...] = ()
) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    check_output_path(path, force, protect)
    tmp = _temporary(path, directory=False)
    try:
        _ordinary_mode(tmp, 0o666)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str, force: bool = False, protect: tuple[Path, ...] = ()) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), force=force, protect=protect)


@contextlib.contextmanager
def atomic_output_dir(
    path: Path, force: bool = False, protect: tuple[Path, ...] = ()
) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    On any exception the temporary directory is removed and ``path`` is left as
    it was. Disk-full and permission errors become `OutputPathError`.
    """
    path = Path(path)
    check_output_path(path, force, protect)
    tmp = _temporary(path, directory=True)
    try:
        _ordinary_mode(tmp, 0o777)
        yield tmp
        _replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_input_file(path: Path, what: str = "input file", max_bytes: int | None = None) -> bytes:
    """Read a whole input file, turning OS errors into one clear `InputFileError`.

    Only regular files are read: a FIFO, socket or device (``/dev/zero``) would
    block or never end. ``max_bytes`` refuses a larger file before reading it.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(f"{what} {path} is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(f"{what} {path} is not a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise InputFileError(
            f"{what} {path} is {info.st_size} bytes, over the limit of {max_bytes}"
        )
    try:
        with open(path, "rb") as handle:
            # read(n) reserves n bytes up front, so ask for what stat() saw plus
            # one byte: enough to notice a file that grows while it is read.
            data = handle.read() if max_bytes is None else handle.read(info.st_size + 1)
    except OSError as exc:
        raise InputFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    if max_bytes is not None and len(data) != info.st_size:
        raise InputFileError(f"{what} {path} changed size while it was read")
    return data
