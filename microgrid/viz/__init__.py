"""Pictures of the graph that backpropagation walks, and of the walk: :func:`draw_dot` (the graph,
see docs/visualization.md), :func:`write_backward_steps` (a picture per step) and :func:`explore`
(one self-contained page to step through the walk and ask any node how its gradient was summed)."""

from __future__ import annotations

from microgrid.viz.backend import INSTALL_HINT, GraphvizNotFound, dot_available
from microgrid.viz.draw import (
    DEFAULT_MAX_NODES,
    GROUPS,
    OUTPUT_FORMATS,
    GraphTooLarge,
    draw_dot,
    render,
    try_render,
)
from microgrid.viz.explorer import DrawingSize, Explorer, drawing_size, explore, write_explorer
from microgrid.viz.steps import (
    DEFAULT_MAX_STEPS,
    BackwardStep,
    StepFiles,
    backward_steps,
    write_backward_steps,
)
from microgrid.viz.style import GRAD_BINS, ROLES, format_number, grad_color

__all__ = ["draw_dot", "write_backward_steps", "write_explorer", "explore", "Explorer", "drawing_size",
           "DrawingSize", "backward_steps", "render", "try_render", "format_number", "grad_color",
           "dot_available", "GraphTooLarge", "GraphvizNotFound", "BackwardStep", "StepFiles", "ROLES",
           "GRAD_BINS", "GROUPS", "OUTPUT_FORMATS", "DEFAULT_MAX_NODES", "DEFAULT_MAX_STEPS", "INSTALL_HINT"]
