"""What microgrid may replace without asking: only what it wrote itself.

A page microgrid writes (the explorer, a step folder's ``index.html``) carries the mark
:data:`GENERATOR`; a page without it, or any other file where a page goes, is the user's and is
replaced only when asked (``force``).  A folder microgrid replaces as a unit must hold nothing but
its own output names: anything else in it is the user's, and the folder is never replaced.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["GENERATOR", "STEP_FILE", "PREDICTIONS_HEADER", "OutputTaken", "written_by_microgrid",
           "check_page", "check_step_folder", "check_predictions_file"]

#: The mark in the ``<head>`` of every HTML page microgrid writes.
GENERATOR = '<meta name="generator" content="microgrid">'
#: The names of the step pictures in a step folder.
STEP_FILE = re.compile(r"step_\d+\.svg")


#: The first line of every predictions file ``microgrid predict`` writes (how it knows its own).
PREDICTIONS_HEADER = "id,class,probability"


class OutputTaken(Exception):
    """The output name holds something microgrid did not write (or may not replace unasked); the
    message says what and what to do."""


def written_by_microgrid(path: Path) -> bool:
    """True when ``path`` is a regular file (not a link) whose beginning carries :data:`GENERATOR`."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return GENERATOR.encode() in head


def check_page(path: str | os.PathLike[str], force: bool = False) -> None:
    """:class:`OutputTaken` unless a page may be written at ``path``: nothing there, a page microgrid
    wrote, or (with ``force``) any file or link."""
    path = Path(path)
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        raise OutputTaken(f"{path} is a folder; give a file name such as explorer.html")
    if not force and not written_by_microgrid(path):
        raise OutputTaken(f"{path} exists and was not written by microgrid; add --force to replace it, or "
                          "choose another name")


def check_step_folder(folder: str | os.PathLike[str], force: bool = False) -> None:
    """:class:`OutputTaken` unless ``folder`` may be replaced by a new step folder: absent, empty, or
    holding only step pictures and an ``index.html`` that microgrid wrote (any ``index.html`` with
    ``force``).  A folder holding anything else is never replaced.  ``NotADirectoryError`` when
    ``folder`` is a file."""
    folder = Path(folder)
    if folder.is_symlink():
        raise OutputTaken(f"{folder} is a symbolic link; microgrid does not write through links: give the "
                          "folder itself or a new name")
    if not folder.exists():
        return
    if not folder.is_dir():
        raise NotADirectoryError(20, "exists and is not a folder", str(folder))
    for name in sorted(os.listdir(folder)):
        entry = folder / name
        plain = entry.is_file() and not entry.is_symlink()
        if name == "index.html" and not plain:
            raise OutputTaken(f"{folder} holds an index.html that is not a file; choose another folder")
        if name == "index.html" and not force and not written_by_microgrid(entry):
            raise OutputTaken(f"{folder} holds an index.html that microgrid did not write; add --force to "
                              "replace the folder, or choose another one")
        if name != "index.html" and not (plain and STEP_FILE.fullmatch(name)):
            raise OutputTaken(f"{folder} holds {name!r}, which microgrid did not write; the step pictures "
                              "replace their folder as a whole, so choose a new or empty folder")


def check_predictions_file(path: str | os.PathLike[str], inputs: tuple[Path, ...],
                           force: bool = False) -> None:
    """:class:`OutputTaken` unless predictions may be written at ``path``: nothing there, or a file
    whose first line is :data:`PREDICTIONS_HEADER` (one ``microgrid predict`` wrote), or with
    ``force`` any file or link; never one of ``inputs`` (the data or the model being read).
    ``FileNotFoundError`` (naming the folder) when the folder of ``path`` does not exist."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(2, "does not exist", str(path.parent))
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        raise OutputTaken(f"{path} is a folder; give a file name such as predictions.csv")
    for given in inputs:
        if path.exists() and given.exists() and os.path.samefile(path, given):
            raise OutputTaken(f"{path} is the file being read ({given}); choose another name")
    if force:
        return
    ours = False
    if path.is_file() and not path.is_symlink():
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                ours = f.readline().rstrip("\r\n") == PREDICTIONS_HEADER
        except OSError:
            ours = False
    if not ours:
        raise OutputTaken(f"{path} exists and is not a predictions file microgrid wrote; add --force to "
                          "replace it, or choose another name")
