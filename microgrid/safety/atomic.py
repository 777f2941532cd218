"""All-or-nothing writes: a file or a folder appears complete under its name, or not at all.

A file is written to a temporary name in its own folder (``.NAME.XXXX.microgrid-tmp``), flushed
and synced to the disk, then renamed over ``NAME`` in one step (``os.replace``).  A folder is built
beside its final name and then swapped in as a unit (on Linux by exchanging the two names in one
``renameat2(RENAME_EXCHANGE)`` call; elsewhere by two renames with Ctrl-C and SIGTERM held off).
So a full disk, an interrupt or a crash leaves either the old file or folder untouched or the
complete new one, never a mix and never a truncated file.  On an error the temporary is removed
and the ``OSError`` names the file the user asked for, not the temporary.

A symbolic link at ``NAME`` is replaced by the new file or folder; its target is never written.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["TEMP_SUFFIX", "atomic_file", "write_bytes", "write_text", "atomic_folder", "probe_folder",
           "naming", "is_temporary", "signals_held"]

#: Every temporary file or folder microgrid makes ends with this (and starts with a dot).
TEMP_SUFFIX = ".microgrid-tmp"


def is_temporary(name: str) -> bool:
    """True for the name of a temporary file or folder made by this module."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _named(exc: OSError, path: Path) -> OSError:
    """``exc`` again, naming ``path`` (the user's name) instead of a temporary one."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


@contextlib.contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Give an ``OSError`` raised in the block without a file name (a failed ``write``) the name
    ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:
            raise _named(exc, Path(path)) from None
        raise


def _new_mode(path: Path, folder: bool = False) -> int:
    """The permission bits for a new ``path``: those of the file (or folder) it replaces, else
    those of a new one (``0o666 & ~umask``, or ``0o777 & ~umask`` for a folder)."""
    try:
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode) if folder else stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if folder else 0o666) & ~umask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system allows opening a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_DEFERRED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM off while the block runs (they arrive right after it): for making
    and removing temporaries, and the swap of two folders, which must not stop half-way."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an error it
    is synced and renamed to ``path``, otherwise removed (``path`` untouched).

    ``mode`` is ``"w"`` (text, with ``encoding`` and ``newline``) or ``"wb"``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    tmp = None
    try:
        with signals_held():  # no temporary without its name in ``tmp``
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
        text = mode == "w"
        with open(fd, mode, encoding=encoding if text else None, newline=newline if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _new_mode(path))  # mkstemp makes the file private
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with signals_held(), contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _named(exc, path) from None
        raise
    _fsync_dir(path.parent)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` all-or-nothing; returns ``path``."""
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
               newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` all-or-nothing; returns ``path``."""
    with atomic_file(path, "w", encoding=encoding, newline=newline) as f:
        f.write(text)
    return Path(path)


# -- folders ------------------------------------------------------------------------------------

def probe_folder(folder: str | os.PathLike[str]) -> None:
    """``OSError`` naming ``folder`` unless a temporary can be made (and removed) there."""
    with signals_held():
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".probe.", suffix=TEMP_SUFFIX, dir=folder))
        except OSError as exc:
            raise _named(exc, Path(folder)) from None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step (Linux ``renameat2``); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove(path: Path) -> None:
    """Remove a file, link or folder (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _sync_tree(folder: Path) -> None:
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            fd = os.open(entry, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give an empty folder beside ``path`` to fill; when the block ends without an error it
    replaces ``path`` (whatever was there) as a unit, otherwise it is removed (``path`` untouched).

    An ``OSError`` about a file in the temporary folder names the same file under ``path``.
    """
    path = Path(path)
    staging = None
    try:
        with signals_held():  # no temporary without its name in ``staging``
            staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent))
        try:
            yield staging
            _sync_tree(staging)
            os.chmod(staging, _new_mode(path, folder=True))  # mkdtemp makes the folder private
        except OSError as exc:
            name = exc.filename
            if name is not None and str(name).startswith(str(staging)):
                raise _named(exc, path / Path(name).relative_to(staging)) from None
            raise
        with signals_held():
            if not os.path.lexists(path):
                os.rename(staging, path)
            elif _exchange(staging, path):
                _remove(staging)  # the old folder, now under the temporary name
            else:
                old = staging.with_name(staging.name[:-len(TEMP_SUFFIX)] + ".old" + TEMP_SUFFIX)
                os.rename(path, old)
                try:
                    os.rename(staging, path)
                except BaseException:
                    os.rename(old, path)
                    raise
                _remove(old)
        _fsync_dir(path.parent)
    except BaseException as exc:
        if staging is not None:
            with signals_held():
                shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and staging is None:
            raise _named(exc, path) from None
        raise
