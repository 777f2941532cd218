"""Pictures of the graph that backpropagation walks, and of the walk itself.

:func:`draw_dot` turns the graph behind a :class:`~microgrid.engine.Value` into a
:class:`graphviz.Digraph` (which a Jupyter notebook displays inline on its own):

* one *record* per value, showing its label (if any), its ``data`` and its ``grad`` (4 significant
  digits, :func:`format_number`);
* one small oval per operation, between the operands and the result;
* one edge per operand, in argument order (``a + a`` draws two edges from ``a``).

Every value has a **role**, shown by its border and fill and explained in a legend:

* ``output``    — the root (double border);
* ``parameter`` — a leaf you train (bold border), only when ``params=`` (a list of Values, or a
  module with ``parameters()``) says so;
* ``input``     — with ``params=``, any other labelled leaf; or one listed in ``inputs=``;
* ``leaf``      — without ``params=``, a labelled leaf (a value you set);
* ``constant``  — an unlabelled leaf, such as the ``2`` in ``2 * a`` (dashed border);
* ``intermediate`` — everything computed on the way.

``color_by_grad=True`` fills each value by ``|grad|`` on a log scale (one colour per two decades),
so vanishing and exploding gradients stand out.

Networks from :mod:`microgrid.nn` get readable with ``group="neurons"`` (a cluster per neuron,
inside a cluster per layer, the neuron's parameters as the rows of one table) or
``group="collapse"`` (one box per neuron, a column per layer).  Neurons are found from
the parameter names ``...neurons.{j}.w.{k}`` / ``...neurons.{j}.b`` (``named_parameters()`` of a
module, else the labels): a neuron's *pre-activation* is a node whose operands include all of the
neuron's parameters (the ``dot`` node), and its *activation* is a relu/leaky_relu/tanh/sigmoid node
that is the pre-activation's only consumer.

Graphs above ``max_nodes`` drawn nodes raise :class:`GraphTooLarge` instead of being handed to
``dot`` (which would take minutes and draw a hairball).

:func:`write_backward_steps` writes one SVG per step of the backward walk (numbered from 1; a
collapsed neuron is one step), in exactly the order :meth:`Value.backward` uses, plus an
``index.html`` to step through them.

:func:`write_explorer` writes one self-contained HTML page to step through the walk and ask any
node how its gradient was summed (``microgrid graph ... --html FILE``).
"""

from __future__ import annotations

from microgrid.viz.draw import (
    DEFAULT_MAX_NODES,
    GROUPS,
    INSTALL_HINT,
    OUTPUT_FORMATS,
    GraphTooLarge,
    GraphvizNotFound,
    dot_available,
    draw_dot,
    render,
    try_render,
)
from microgrid.viz.explorer import write_explorer
from microgrid.viz.steps import (
    DEFAULT_MAX_STEPS,
    BackwardStep,
    StepFiles,
    backward_steps,
    write_backward_steps,
)
from microgrid.viz.style import GRAD_BINS, ROLES, format_number, grad_color

__all__ = [
    "draw_dot",
    "write_backward_steps",
    "write_explorer",
    "backward_steps",
    "render",
    "try_render",
    "format_number",
    "grad_color",
    "dot_available",
    "GraphTooLarge",
    "GraphvizNotFound",
    "BackwardStep",
    "StepFiles",
    "ROLES",
    "GRAD_BINS",
    "GROUPS",
    "OUTPUT_FORMATS",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_STEPS",
    "INSTALL_HINT",
]
