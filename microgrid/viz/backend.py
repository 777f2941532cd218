"""Which program turns DOT source into pictures: Graphviz's ``dot``, else ``graphviz-pure`` (pip,
or this package's ``render`` extra; SVG and PNG only), on the PATH or beside the running Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz

__all__ = ["Renderer", "Digraph", "GraphvizNotFound", "RenderError", "find_renderer", "dot_available",
           "why_not", "pipe", "INSTALL_HINT", "PROGRAMS"]

#: The programs tried, in order, and the formats each can write.
PROGRAMS: dict[str, frozenset[str]] = {"dot": frozenset({"svg", "png", "pdf"}),
                                        "graphviz-pure": frozenset({"svg", "png"})}
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
                "conda: conda install graphviz) or, for SVG and PNG, pip install graphviz-pure")


class GraphvizNotFound(RuntimeError):
    """No program that can draw this format is installed, so only DOT source can be written."""


class RenderError(RuntimeError):
    """The drawing program ran and failed (its first error line is in the message)."""


@dataclass(frozen=True)
class Renderer:
    """A drawing program found on this machine: ``program`` is a key of :data:`PROGRAMS`."""

    program: str
    path: str

    @property
    def formats(self) -> frozenset[str]:
        return PROGRAMS[self.program]


def _search_dirs() -> list[str]:
    """The PATH, then the directory of the running interpreter (a virtual environment's bin)."""
    return [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + [str(Path(sys.executable).parent)]


#: Environment variable naming the one program to use (``dot`` or ``graphviz-pure``), or ``none``
#: to draw nothing (as on a machine without either); unset or empty: the first found.
CHOICE_VARIABLE = "MICROGRID_RENDERER"


def find_renderer(search: Sequence[str | os.PathLike[str]] | None = None) -> Renderer | None:
    """The first of :data:`PROGRAMS` found in ``search`` (default: PATH, then the interpreter's
    directory), or None when neither is installed; ``MICROGRID_RENDERER`` narrows the choice."""
    path = os.pathsep.join([os.fspath(d) for d in search] if search is not None else _search_dirs())
    choice = os.environ.get(CHOICE_VARIABLE, "").strip().lower()
    if choice and choice not in (*PROGRAMS, "none"):
        raise GraphvizNotFound(f"{CHOICE_VARIABLE} must be one of {', '.join(PROGRAMS)}, none; "
                               f"got {choice!r}")
    found = ((p, shutil.which(p, path=path)) for p in PROGRAMS if choice in ("", p))
    return next((Renderer(p, where) for p, where in found if where is not None), None)


def dot_available() -> bool:
    """True when a program can draw pictures."""
    return find_renderer() is not None


def _renderer_for(fmt: str) -> Renderer:
    """The program that will draw ``fmt``; else :class:`GraphvizNotFound` saying what to install."""
    renderer = find_renderer()  # raises it too when MICROGRID_RENDERER names no program
    if renderer is None:
        raise GraphvizNotFound(f"drawing {fmt.upper()} needs Graphviz's 'dot' program, which is not "
                               f"installed: {INSTALL_HINT}")
    if fmt not in renderer.formats:
        drawn = " and ".join(f.upper() for f in sorted(renderer.formats))
        raise GraphvizNotFound(f"drawing {fmt.upper()} needs Graphviz's 'dot' program ({renderer.program}, "
                               f"which is installed, draws only {drawn}): {INSTALL_HINT.split(' or, ')[0]}")
    return renderer


def why_not(fmt: str) -> str | None:
    """None when a program here can draw ``fmt``; else one sentence saying what to install."""
    try:
        _renderer_for(fmt)
    except GraphvizNotFound as exc:
        return str(exc)
    return None


def pipe(source: str, fmt: str) -> bytes:
    """``source`` (DOT text) drawn as ``fmt`` (svg, png, pdf); :class:`GraphvizNotFound` (saying what
    to install) when no program here can, :class:`RenderError` when it fails (warnings are dropped)."""
    renderer = _renderer_for(fmt)
    done = subprocess.run([renderer.path, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                          check=False)
    if done.returncode != 0 or not done.stdout:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = lines[0] if lines else f"exit status {done.returncode}"
        raise RenderError(f"{renderer.program} could not draw the graph: {why}")
    return done.stdout


class Digraph(graphviz.Digraph):
    """What :func:`microgrid.viz.draw_dot` returns: a notebook shows it with whichever program
    :func:`pipe` finds, and without one says how to get one instead of a traceback."""

    def _repr_mimebundle_(self, *_: Any, **__: Any) -> dict[str, str]:  # IPython applies include/exclude
        try:
            return {"image/svg+xml": pipe(self.source, "svg").decode("utf-8")}
        except GraphvizNotFound as exc:
            return {"text/plain": f"(no picture: {exc}; or write the DOT source: "
                                  "microgrid.viz.render(graph, 'graph.dot'))"}
