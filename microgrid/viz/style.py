"""How the drawings look: the number format, the gradient colour scale, and the role of each value
(its border and fill), shared by the static pictures and the explorer page."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["format_number", "grad_color", "grad_bin", "GradBin", "GRAD_BINS", "Role", "ROLES", "BOX_ATTRS",
           "OP_ATTRS", "PORTS", "RED"]


def format_number(x: float) -> str:
    """``x`` with 4 significant digits, short exponent, and ``inf``/``-inf``/``nan``.

    >>> format_number(2.0), format_number(-0.000123456), format_number(1e20), format_number(float("nan"))
    ('2', '-0.0001235', '1e+20', 'nan')
    """
    if x == 0.0:
        return "0"  # -0.0 too: the sign of zero only distracts in a drawing
    return re.sub(r"e([+-])0*(?=\d)", r"e\1", f"{x:.4g}")  # 1e-5, not 1e-05; nan unsigned


@dataclass(frozen=True)
class GradBin:
    """One colour of the gradient scale: ``lower <= |grad| < upper``."""

    lower: float
    upper: float
    fill: str
    font: str
    text: str


#: Fill colours by |grad| (two decades per colour): blue = vanishing, red = exploding.
GRAD_BINS: tuple[GradBin, ...] = (
    GradBin(0.0, 0.0, "#dee2e6", "black", "0 (no gradient)"),
    GradBin(0.0, 1e-6, "#4575b4", "white", "< 1e-6 (vanishing)"),
    GradBin(1e-6, 1e-4, "#91bfdb", "black", "1e-6 … 1e-4"),
    GradBin(1e-4, 1e-2, "#e0f3f8", "black", "1e-4 … 0.01"),
    GradBin(1e-2, 1.0, "#ffffbf", "black", "0.01 … 1"),
    GradBin(1.0, 1e2, "#fee090", "black", "1 … 100"),
    GradBin(1e2, 1e4, "#fc8d59", "black", "100 … 1e4"),
    GradBin(1e4, math.inf, "#d73027", "white", "≥ 1e4 (exploding)"),
    GradBin(math.nan, math.nan, "#ae3ec9", "white", "inf or nan"),
)


def grad_bin(g: float) -> GradBin:
    if g == 0.0:
        return GRAD_BINS[0]
    return next((b for b in GRAD_BINS[1:-1] if abs(g) < b.upper), GRAD_BINS[-1])  # inf and nan: the last


def grad_color(g: float) -> str:
    """The fill colour for a gradient ``g`` on the log scale of :data:`GRAD_BINS`."""
    return grad_bin(g).fill


@dataclass(frozen=True)
class Role:
    attrs: Mapping[str, str]
    legend: str


#: How each kind of value is drawn (border colour/width/style, fill) and its legend text.
ROLES: dict[str, Role] = {
    "output": Role({"color": "#2b8a3e", "fillcolor": "#d3f9d8", "peripheries": "2", "style": "filled"},
                   "output (the root)"),
    "parameter": Role({"color": "#d9480f", "fillcolor": "#ffe8cc", "penwidth": "2.5", "style": "filled"},
                      "parameter (trained leaf)"),
    "input": Role({"color": "#1c7ed6", "fillcolor": "#d0ebff", "style": "filled"}, "input (data leaf)"),
    "leaf": Role({"color": "#5f3dc4", "fillcolor": "#f3f0ff", "style": "filled"}, "leaf (a value you set)"),
    "constant": Role({"color": "#868e96", "fillcolor": "#f1f3f5", "style": "filled,dashed"},
                     "constant (unlabelled leaf)"),
    "intermediate": Role({"color": "#495057", "fillcolor": "white", "style": "filled"}, "intermediate value"),
}
BOX_ATTRS = {"shape": "box", "style": "rounded,filled", "margin": "0.02"}  # a collapsed neuron
OP_ATTRS = {"shape": "ellipse", "style": "filled", "fillcolor": "#f8f9fa", "color": "#adb5bd",
             "fontsize": "10", "width": "0.3", "height": "0.25", "margin": "0.03,0.01"}
PORTS = {"LR": ("e", "w"), "RL": ("w", "e"), "TB": ("s", "n"), "BT": ("n", "s")}  # edges leave/enter here
RED = "#e03131"  #: what fires: the highlighted node, its edges and what they carry
