"""All-or-nothing writes: a file or a folder appears complete under its name, or not at all.

A write to ``NAME`` claims it (:func:`claim`: one process at a time), builds the new file or
folder beside it as ``.new.NAME.microgrid-tmp``, syncs it and puts it in place in one step
(``os.replace`` for a file, an exchange of the two names for a folder).  The temporaries have fixed
names, unlike :mod:`tempfile`'s, so that the next write to ``NAME`` finds and removes what a killed
one left.  An ``OSError`` names the file the user asked for, not a temporary.  A symbolic link at
``NAME`` is replaced, its target never written; a device, pipe or socket (or a link to one) never.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from microgrid.safety.overwrite import OutputTaken, refuse_special

try:
    import fcntl
except ImportError:  # Windows: writes are not claimed there
    fcntl = None  # type: ignore[assignment]

__all__ = ["TEMP_SUFFIX", "Busy", "claim", "atomic_file", "write_bytes", "write_text", "atomic_folder",
           "is_temporary", "signals_held"]

#: Every temporary file or folder microgrid makes ends with this (and starts with a dot).
TEMP_SUFFIX = ".microgrid-tmp"
#: Bytes of ``NAME`` kept in a temporary's name, so that any name that fits a folder (255 bytes)
#: has temporaries that fit too.
NAME_BYTES = 200


class Busy(OutputTaken):
    """Another process is writing the same output."""


def is_temporary(name: str) -> bool:
    """True for the name of a temporary file or folder made by this module."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _temp(path: Path, role: str) -> Path:
    """The temporary ``role`` (``new``, ``old`` or ``lock``) of a write to ``path``."""
    return path.with_name(f".{role}.{os.fsdecode(os.fsencode(path.name)[:NAME_BYTES])}{TEMP_SUFFIX}")


def _named(exc: OSError, path: Path, staging: Path | None = None) -> OSError:
    """``exc`` naming ``path`` instead of a temporary; with ``staging``, only an error about a file
    in that temporary folder is renamed, as the same file under ``path``."""
    if exc.errno is None:
        return exc
    if staging is not None:
        try:
            path = path / Path(exc.filename).relative_to(staging)
        except (TypeError, ValueError):  # no name, or not in the temporary folder
            return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


_DEFERRED = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM off while the block runs (they arrive right after it): for making
    and removing temporaries, and the swap of two folders, which must not stop half-way."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# -- claims ---------------------------------------------------------------------------------------

_claimed: set[Path] = set()  # the outputs this process holds


@contextlib.contextmanager
def claim(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``path`` for this process while the block runs; :class:`Busy` when another process
    holds it.  A claim is an ``flock`` on ``.lock.NAME.microgrid-tmp``, which the system releases
    when its process ends, however it ends.  So whatever else is beside ``NAME`` under a temporary
    name was left by a write that was killed: taking the claim removes it (putting back a folder
    that a killed swap had moved aside).  Claims nest: a process may claim what it holds.  Where
    there is no ``flock`` (Windows), the leftovers are removed all the same, unclaimed.
    """
    path = Path(os.path.abspath(path))
    if path in _claimed:
        yield
        return
    fd = None
    try:
        with contextlib.suppress(FileNotFoundError):
            os.lstat(path)  # a name too long for its folder fails here, before any work
        if fcntl is not None:
            with signals_held():
                fd = _lock(path)
    except OSError as exc:
        raise _named(exc, path) from None
    _claimed.add(path)
    try:
        _clean(path)
        yield
    finally:
        _claimed.discard(path)
        if fd is not None:
            with signals_held():
                with contextlib.suppress(OSError):
                    os.unlink(_temp(path, "lock"))
                os.close(fd)


def _lock(path: Path) -> int:
    """A descriptor holding the lock of ``path`` (with this process's id in it)."""
    lock = _temp(path, "lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(lock)):  # not unlinked by the holder before us
                with contextlib.suppress(OSError):  # (a full disk: no process id to show)
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{os.getpid()}\n".encode())
                return fd
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise Busy(f"{path} is being written by another microgrid process"
                       f"{f' (pid {owner})' if owner.isdigit() else ''}; wait for it to end, or choose "
                       "another name") from None
        except FileNotFoundError:
            pass
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _clean(path: Path) -> None:
    """Remove the temporaries a killed write to ``path`` left, after putting back the old folder
    that a swap by two renames had moved aside, if it never got its successor."""
    old = _temp(path, "old")
    with signals_held():
        if os.path.lexists(old) and not os.path.lexists(path):
            os.rename(old, path)
    for dead in (old, _temp(path, "new")):
        if os.path.lexists(dead):
            _remove(dead)


# -- files ----------------------------------------------------------------------------------------

def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the system allows opening a folder)."""
    with contextlib.suppress(OSError):
        _fsync(folder)


@contextlib.contextmanager
def _replacing(path: Path, folder: bool) -> Iterator[int]:
    """Claim ``path`` and make its temporary, a folder or a file (its descriptor is yielded), with
    the permission bits of what it replaces; when the block ends without an error the temporary is
    synced and put in place, otherwise removed.  An OSError names ``path`` (or the file under it)."""
    tmp, made, fd = _temp(path, "new"), False, -1
    with claim(path):
        try:
            with signals_held():  # no temporary without ``made``
                if folder:
                    os.mkdir(tmp)
                else:
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                made = True
            with contextlib.suppress(FileNotFoundError):  # the permission bits of what it replaces
                mode = os.lstat(path).st_mode
                if stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode):
                    os.chmod(tmp if folder else fd, stat.S_IMODE(mode))
            yield fd
            if folder:
                for entry in tmp.iterdir():
                    if entry.is_file() and not entry.is_symlink():
                        _fsync(entry)
                _fsync_dir(tmp)
            with signals_held():
                refuse_special(path)  # again: one may have been put there since the caller's check
                if folder:
                    _swap(tmp, path)
                else:
                    os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException as exc:
            if made:
                with signals_held(), contextlib.suppress(OSError):
                    _remove(tmp)
            if isinstance(exc, OSError):
                raise _named(exc, path, tmp if folder else None) from None
            raise


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w", *,
                newline: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing (``mode`` ``"w"``, UTF-8 text, or ``"wb"``);
    when the block ends without an error it is synced and renamed to ``path``, otherwise removed."""
    text = mode == "w"
    with _replacing(Path(path), folder=False) as fd:
        with open(fd, mode, encoding="utf-8" if text else None, newline=newline if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` all-or-nothing; returns ``path``."""
    with atomic_file(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str, *, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` all-or-nothing, as UTF-8; returns ``path``."""
    with atomic_file(path, "w", newline=newline) as f:
        f.write(text)
    return Path(path)


# -- folders --------------------------------------------------------------------------------------

def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step (Linux ``renameat2``); False where unsupported.
    The standard library has no such call: two renames leave a moment with nothing at ``b``."""
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


def _swap(staging: Path, path: Path) -> None:
    """Put the folder ``staging`` at ``path``, removing what was there."""
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif _exchange(staging, path):
        _remove(staging)  # the old folder, under the temporary name
    else:
        old = _temp(path, "old")
        os.rename(path, old)
        try:
            os.rename(staging, path)
        except BaseException:
            os.rename(old, path)
            raise
        _remove(old)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Give an empty folder beside ``path`` to fill; when the block ends without an error it
    replaces ``path`` (whatever was there) as a unit, otherwise it is removed (``path`` untouched)."""
    path = Path(path)
    with _replacing(path, folder=True):
        yield _temp(path, "new")
