"""Pictures of the graph that backpropagation walks, and of the walk itself.

:func:`draw_dot` turns the graph behind a :class:`~microgrid.engine.Value` into a
:class:`graphviz.Digraph` (which a Jupyter notebook displays inline on its own):

* one *record* per value, showing its label (if any), its ``data`` and its ``grad`` (4 significant
  digits, :func:`format_number`);
* one small oval per operation, between the operands and the result;
* one edge per operand, in argument order (``a + a`` draws two edges from ``a``).

Every value has a **role**, shown by its border and fill and explained in a legend:

* ``output``    — the root (double border);
* ``parameter`` — a leaf you train (bold border).  Pass ``params=`` (a list of Values, or a module
  with ``parameters()``) to say which leaves these are.  Without it the rule is: *a leaf with a
  label is a parameter* (unless listed in ``inputs=``);
* ``input``     — any other labelled leaf, or one listed in ``inputs=``;
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

:func:`write_backward_steps` writes one SVG per step of the backward walk, in exactly the order
:meth:`Value.backward` uses, plus an ``index.html`` to step through them.
"""

from __future__ import annotations

import html
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from microgrid import render as _render
from microgrid.engine import Value, topological_order
from microgrid.render import INSTALL_HINT, GraphvizNotFound

__all__ = [
    "draw_dot",
    "write_backward_steps",
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

DEFAULT_MAX_NODES = 600  #: drawn nodes (values + operations) above which draw_dot refuses
DEFAULT_MAX_STEPS = 400  #: backward steps above which write_backward_steps refuses
GROUPS = (None, "neurons", "collapse")
#: file extension -> Graphviz output format (None: the DOT source itself, no ``dot`` needed)
OUTPUT_FORMATS: dict[str, str | None] = {
    ".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None, ".gv": None}


class GraphTooLarge(ValueError):
    """The graph has more nodes than ``max_nodes`` (or its backward walk more steps than
    ``max_steps``); draw it grouped or raise the limit.  ``what`` (``"nodes"`` or ``"steps"``),
    ``count`` and ``limit`` say which limit and by how much."""

    def __init__(self, message: str, what: str, count: int, limit: int) -> None:
        super().__init__(message)
        self.what = what
        self.count = count
        self.limit = limit


# --------------------------------------------------------------------------------------------
# Numbers and colours
# --------------------------------------------------------------------------------------------


def format_number(x: float, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits, short exponent, and ``inf``/``-inf``/``nan``.

    >>> format_number(2.0), format_number(-0.000123456), format_number(1e20), format_number(float("nan"))
    ('2', '-0.0001235', '1e+20', 'nan')
    """
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0.0:
        return "0"  # -0.0 too: the sign of zero only distracts in a drawing
    text = f"{x:.{digits}g}"
    mantissa, e, exponent = text.partition("e")
    if e:
        sign, number = exponent[0], exponent[1:].lstrip("0") or "0"
        text = f"{mantissa}e{sign}{number}"
    return text


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


def _grad_bin(g: float) -> GradBin:
    if not math.isfinite(g):
        return GRAD_BINS[-1]
    m = abs(g)
    if m == 0.0:
        return GRAD_BINS[0]
    for b in GRAD_BINS[1:-1]:
        if m < b.upper:
            return b
    return GRAD_BINS[-2]  # unreachable for finite m (the last finite bin is unbounded)


def grad_color(g: float) -> str:
    """The fill colour for a gradient ``g`` on the log scale of :data:`GRAD_BINS`."""
    return _grad_bin(g).fill


# --------------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Role:
    name: str
    attrs: Mapping[str, str]
    legend: str


#: How each kind of value is drawn (border colour/width/style, fill) and its legend text.
ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role("output", {"color": "#2b8a3e", "fillcolor": "#d3f9d8", "peripheries": "2", "style": "filled"},
             "output (the root)"),
        Role("parameter", {"color": "#d9480f", "fillcolor": "#ffe8cc", "penwidth": "2.5", "style": "filled"},
             "parameter (trained leaf)"),
        Role("input", {"color": "#1c7ed6", "fillcolor": "#d0ebff", "style": "filled"}, "input (data leaf)"),
        Role("constant", {"color": "#868e96", "fillcolor": "#f1f3f5", "style": "filled,dashed"},
             "constant (unlabelled leaf)"),
        Role("intermediate", {"color": "#495057", "fillcolor": "white", "style": "filled"},
             "intermediate value"),
    )
}
_OP_ATTRS = {"shape": "ellipse", "style": "filled", "fillcolor": "#f8f9fa", "color": "#adb5bd",
             "fontsize": "10", "width": "0.3", "height": "0.25", "margin": "0.03,0.01"}
_PORTS = {"LR": ("e", "w"), "RL": ("w", "e"), "TB": ("s", "n"), "BT": ("n", "s")}  # edges leave/enter here
_HIGHLIGHT = {"color": "#e03131", "penwidth": "4"}
_ACTIVATION_OPS = frozenset({"relu", "leaky_relu", "tanh", "sigmoid"})
_NEURON_PARAM = re.compile(r"^(?P<neuron>(?:(?P<layer>.+)\.)?neurons\.(?P<j>\d+))\.(?:w\.\d+|b)$")


def _parameter_names(params: Any) -> dict[int, str] | None:
    """``id(value) -> name`` for the given parameters (a module or an iterable of Values)."""
    if params is None:
        return None
    if hasattr(params, "named_parameters"):
        return {id(v): name for name, v in params.named_parameters()}
    if hasattr(params, "parameters"):
        params = params.parameters()
    if isinstance(params, Value):
        params = [params]
    names = {}
    for i, v in enumerate(params):
        if not isinstance(v, Value):
            raise TypeError(f"params[{i}] must be a Value, got {type(v).__name__}")
        names[id(v)] = v.label
    return names


def _roles(order: list[Value], root: Value, param_names: dict[int, str] | None,
           input_ids: set[int]) -> dict[int, str]:
    roles = {}
    for v in order:
        if v is root:
            role = "output"
        elif not v.is_leaf:
            role = "intermediate"
        elif id(v) in input_ids:
            role = "input"
        elif param_names is not None:
            role = "parameter" if id(v) in param_names else ("input" if v.label else "constant")
        else:
            role = "parameter" if v.label else "constant"
        roles[id(v)] = role
    return roles


# --------------------------------------------------------------------------------------------
# Neurons
# --------------------------------------------------------------------------------------------


@dataclass
class _Neuron:
    """One neuron of a network: its parameters and each time it was applied (pre, out)."""

    name: str
    layer: str
    params: list[Value] = field(default_factory=list)
    uses: list[tuple[Value, Value]] = field(default_factory=list)  # (pre-activation, output)


def _find_neurons(order: list[Value], param_names: Mapping[int, str],
                  consumers: Mapping[int, list[Value]]) -> list[_Neuron]:
    neurons: dict[str, _Neuron] = {}
    neuron_of: dict[int, _Neuron] = {}
    for v in reversed(order):  # creation order: parameters first
        if not v.is_leaf or id(v) not in param_names:
            continue
        m = _NEURON_PARAM.match(param_names[id(v)] or "")
        if m:
            n = neurons.setdefault(m["neuron"], _Neuron(m["neuron"], m["layer"] or ""))
            n.params.append(v)
            neuron_of[id(v)] = n
    for v in reversed(order):
        if v.is_leaf:
            continue
        owners = {id(neuron_of[id(p)]): neuron_of[id(p)] for p in v.parents if id(p) in neuron_of}
        if len(owners) != 1:
            continue
        (n,) = owners.values()
        operand_ids = {id(p) for p in v.parents}
        if not all(id(p) in operand_ids for p in n.params):
            continue
        out = v
        users = consumers.get(id(v), [])
        if len(users) == 1 and users[0].op in _ACTIVATION_OPS and len(users[0].parents) == 1:
            out = users[0]
        n.uses.append((v, out))
    return [n for n in neurons.values() if n.uses]


# --------------------------------------------------------------------------------------------
# The scene: what is drawn, computed once and then emitted with any set of gradients
# --------------------------------------------------------------------------------------------


def _escape_record(text: str) -> str:
    """``text`` on one line, with the characters that structure a record label escaped."""
    text = " ".join(str(text).split())  # one line
    return re.sub(r'([\\{}|<>"])', r"\\\1", text)


def _html_cells(fields: list[str]) -> str:
    """An HTML-like label: the fields side by side, separated by vertical rules."""
    cells = "".join(f"<td>{html.escape(f, quote=False)}</td>" for f in fields)
    table = '<table border="0" cellborder="0" cellspacing="0" cellpadding="3" columns="*">'
    return f"<{table}<tr>{cells}</tr></table>>"


@dataclass
class _Box:
    """One application of a neuron in the collapsed view, drawn as one rounded box."""

    number: int
    key: str
    neuron: _Neuron
    pre: Value
    out: Value
    inputs: list[Value]  # operands of pre that stay visible, in argument order


class _Scene:
    """The structure of one drawing: nodes, roles, groups; :meth:`emit` makes the Digraph."""

    def __init__(self, root: Value, *, rankdir: str, show_grad: bool, color_by_grad: bool, group: str | None,
                 params: Any, inputs: Iterable[Value] | None, max_nodes: int, legend: bool,
                 title: str | None) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"draw_dot: root must be a Value, got {type(root).__name__}")
        if group not in GROUPS:
            raise ValueError(f"draw_dot: group must be one of {', '.join(map(repr, GROUPS))}, got {group!r}")
        if rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"draw_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
        self.root = root
        self.rankdir, self.show_grad, self.color_by_grad = rankdir, show_grad, color_by_grad
        self.group, self.legend, self.title = group, legend, title
        self.order = topological_order(root)  # root first: the backward processing order
        self.index = {id(v): i for i, v in enumerate(reversed(self.order))}  # creation order: stable ids
        self.consumers: dict[int, list[Value]] = {}
        for v in self.order:
            for p in v.parents:
                self.consumers.setdefault(id(p), []).append(v)
        param_names = _parameter_names(params)
        input_ids = {id(v) for v in inputs} if inputs is not None else set()
        self.roles = _roles(self.order, root, param_names, input_ids)

        self.neurons: list[_Neuron] = []
        self.boxes: list[_Box] = []
        self.box_of: dict[int, _Box] = {}  # hidden value id -> its box (collapse view)
        self.row_of: dict[int, tuple[int, int, str]] = {}  # neurons view: param id -> (neuron, row, name)
        if group is not None:
            names = param_names if param_names is not None else {
                id(v): v.label for v in self.order if v.is_leaf and self.roles[id(v)] == "parameter"}
            self.neurons = _find_neurons(self.order, names, self.consumers)
            if not self.neurons:
                raise ValueError(
                    f"draw_dot(group={group!r}): no neurons found; grouping needs parameters named like "
                    "'layers.0.neurons.3.w.0' / '...neurons.3.b' (pass params=mlp, or label the leaves so)")
        if group == "collapse":
            self._collapse()
        if group == "neurons":  # a neuron's parameters are the rows of one table, in order
            for ni, n in enumerate(self.neurons):
                for k, p in enumerate(n.params):
                    self.row_of[id(p)] = (ni, k, names[id(p)].removeprefix(n.name + "."))
        self.visible = [v for v in self.order if id(v) not in self.box_of and id(v) not in self.row_of]
        n_nodes = (len(self.visible) + sum(1 for v in self.visible if not v.is_leaf) + len(self.boxes)
                   + (len(self.neurons) if group == "neurons" else 0))
        if n_nodes > max_nodes:
            hint = ("draw it with group='collapse' (one box per neuron) or group='neurons'"
                    if group is None else "draw a smaller graph (one sample, a smaller network)")
            raise GraphTooLarge(
                f"the graph has {n_nodes} nodes to draw, more than max_nodes={max_nodes}: {hint}, "
                "or raise max_nodes (dot gets slow and the picture unreadable)", "nodes", n_nodes, max_nodes)

    def _collapse(self) -> None:
        for n in self.neurons:
            for k, (pre, out) in enumerate(n.uses):
                suffix = f" #{k + 1}" if len(n.uses) > 1 else ""
                short = n.name.removeprefix(f"{n.layer}.") if n.layer else n.name  # the column names layers
                box = _Box(len(self.boxes), f"{short}{suffix}", n, pre, out, [])
                self.boxes.append(box)
                self.box_of[id(pre)] = box
                self.box_of[id(out)] = box
        for n in self.neurons:  # a parameter disappears into the box if only its neuron uses it
            pre_ids = {id(pre) for pre, _ in n.uses}
            for p in n.params:
                if all(id(c) in pre_ids for c in self.consumers.get(id(p), [])) and n.uses:
                    self.box_of[id(p)] = self.box_of[id(n.uses[0][0])]
        for box in self.boxes:
            box.inputs = [p for p in box.pre.parents if self.box_of.get(id(p)) is not box]

    # -- names --------------------------------------------------------------------------------
    def node_id(self, v: Value) -> str:
        box = self.box_of.get(id(v))
        if box is not None:
            return f"box{box.number}"
        if id(v) in self.row_of:
            return f"params{self.row_of[id(v)][0]}"
        return f"v{self.index[id(v)]}"

    def op_id(self, v: Value) -> str:
        return f"v{self.index[id(v)]}_op"

    # -- emitting -----------------------------------------------------------------------------
    def emit(self, grads: Mapping[int, float | None] | None = None, pending: Mapping[int, int] | None = None,
             current: Value | None = None, flows: Mapping[int, list[float]] | None = None,
             caption: str | None = None) -> graphviz.Digraph:
        """The Digraph with ``grads`` (id -> grad, None = not reached yet; default: ``.grad``).

        For the step view: ``pending`` counts contributions a value still waits for, ``current``
        is highlighted and ``flows`` (parent id -> amounts) labels the edges it sends along.
        """
        g = _render.Digraph("microgrid", graph_attr={
            "rankdir": self.rankdir, "ordering": "in", "nodesep": "0.15", "ranksep": "0.3",
            "fontname": "Helvetica", "fontsize": "12"},
            node_attr={"shape": "record", "fontname": "Helvetica", "fontsize": "11", "height": "0.3"},
            edge_attr={"color": "#495057", "arrowsize": "0.6", "tailport": _PORTS[self.rankdir][0],
                       "headport": _PORTS[self.rankdir][1]})
        label = caption if caption is not None else self.title
        if label:
            g.attr(label=label, labelloc="t", labeljust="l")
        self._grads, self._pending, self._current = grads, pending, current
        in_cluster: set[int] = set()  # values drawn inside a neuron's cluster
        if self.group == "neurons":
            for n in self.neurons:
                for pre, out in n.uses:
                    in_cluster.update((id(pre), id(out)))
        # values outside clusters (creation order: dot keeps it where it can, so inputs read x0, x1, ...)
        for v in reversed(self.visible):
            if id(v) not in in_cluster:
                self._value_node(g, v)
        # neurons view: a cluster per layer holding a cluster per neuron
        layers: dict[str, list[_Neuron]] = {}
        for n in self.neurons:
            layers.setdefault(n.layer, []).append(n)
        for li, (layer, neurons) in enumerate(layers.items()):
            count = f"{len(neurons)} neuron{'s' if len(neurons) > 1 else ''}"
            if self.group == "neurons":
                with g.subgraph(name=f"cluster_layer{li}") as lg:
                    lg.attr(label=f"{layer or 'neurons'} ({count})", style="rounded,dashed", color="#adb5bd",
                            fontcolor="#495057")
                    for n in neurons:
                        with lg.subgraph(name=f"cluster_neuron{self.neurons.index(n)}") as ng:
                            ng.attr(label=n.name, style="rounded", color="#ced4da", fontsize="10")
                            self._param_table(ng, n)
                            for pre, out in n.uses:
                                for v in {id(pre): pre, id(out): out}.values():
                                    self._value_node(ng, v)
                                    self._op_node(ng, v)
            else:
                # collapse view: a column per layer, headed by its name, neurons 0, 1, 2, ... in order.
                # (A same-rank subgraph with invisible edges keeps the order; inside a cluster dot
                # 2.43 ignores such edges, so the column is not a cluster.)
                with g.subgraph(name=f"layer{li}") as lg:
                    lg.attr(rank="same")
                    header = f"layer{li}_header"
                    lg.node(header, f"{layer or 'neurons'}\\n{count}", shape="plaintext", fontsize="11",
                            fontcolor="#495057")
                    chain = [header]
                    for box in self.boxes:
                        if box.neuron in neurons:
                            self._box_node(lg, box)
                            chain.append(self.node_id(box.pre))
                    for tail, head in zip(chain, chain[1:]):
                        lg.edge(tail, head, style="invis")
        # op nodes outside clusters, and every edge
        for v in reversed(self.visible):
            if v.is_leaf:
                continue
            if id(v) not in in_cluster:
                self._op_node(g, v)
            self._edges(g, v, self.op_id(v), v.parents, flows if current is v else None)
        for box in self.boxes:
            hot = current is not None and self.box_of.get(id(current)) is box
            self._edges(g, box.pre, self.node_id(box.pre), box.inputs, flows if hot else None)
        if self.legend:
            self._legend(g)
        return g

    def _grad(self, v: Value) -> float | None:
        if self._grads is None:
            return v.grad
        return self._grads.get(id(v))

    def _grad_text(self, v: Value) -> str:
        g = self._grad(v)
        if g is None:
            return "grad —"
        waiting = self._pending is not None and self._pending.get(id(v), 0) > 0
        return f"grad {format_number(g)}" + (" …" if waiting else "")

    def _fill(self, v: Value, attrs: dict[str, str]) -> None:
        if self.color_by_grad:
            g = self._grad(v)
            if g is None:
                attrs["fillcolor"] = "white"
            else:
                b = _grad_bin(g)
                attrs["fillcolor"], attrs["fontcolor"] = b.fill, b.font

    def _value_node(self, g: graphviz.Digraph, v: Value) -> None:
        fields = [_escape_record(v.label)] if v.label else []
        fields.append(f"data {format_number(v.data)}")
        if self.show_grad:
            fields.append(self._grad_text(v))
        attrs = dict(ROLES[self.roles[id(v)]].attrs)
        self._fill(v, attrs)
        if self._current is v:
            attrs.update(_HIGHLIGHT)
        g.node(self.node_id(v), "{ " + " | ".join(fields) + " }", **attrs)

    def _op_node(self, g: graphviz.Digraph, v: Value) -> None:
        attrs = dict(_OP_ATTRS)
        if self._current is v:
            attrs.update(_HIGHLIGHT)
        g.node(self.op_id(v), _escape_record(v.op), **attrs)
        g.edge(self.op_id(v), self.node_id(v), color="#adb5bd")

    def _box_node(self, g: graphviz.Digraph, box: _Box) -> None:
        # An HTML-like label, not a record: dot cannot order records with the invisible
        # same-rank edges that keep the neurons of a layer in reading order.
        if box.pre.op == "dot":
            formula = "w·x + b" if len(box.pre.parents) % 2 == 1 else "w·x"
        else:
            formula = f"{box.pre.op}(…)"
        if box.out is not box.pre:
            formula = f"{box.out.op}({formula})"
        fields = [box.key, formula, f"data {format_number(box.out.data)}"]
        if self.show_grad:
            fields.append(self._grad_text(box.out))
        role = "output" if self.roles[id(box.out)] == "output" else "intermediate"
        attrs = dict(ROLES[role].attrs)
        attrs.update(shape="box", style="rounded,filled", margin="0.02")
        self._fill(box.out, attrs)
        current = self._current
        if current is not None and self.box_of.get(id(current)) is box:
            attrs.update(_HIGHLIGHT)
        g.node(self.node_id(box.pre), _html_cells(fields), **attrs)

    def _param_table(self, g: graphviz.Digraph, n: _Neuron) -> None:
        """A neuron's parameters as one table, a row each (name, data, grad); edges leave from rows."""
        style = ROLES["parameter"].attrs
        rows = []
        for p in n.params:
            _, k, name = self.row_of[id(p)]
            cells = [name, f"data {format_number(p.data)}"] + ([self._grad_text(p)] if self.show_grad else [])
            bg, font = style["fillcolor"], "black"
            grad = self._grad(p)
            if self.color_by_grad and grad is not None:
                b = _grad_bin(grad)
                bg, font = b.fill, b.font
            ports = [""] * (len(cells) - 1) + [f' port="p{k}"']  # edges leave from the last cell
            tds = "".join(f'<td bgcolor="{bg}"{port}><font color="{font}">{html.escape(text, quote=False)}'
                          "</font></td>" for text, port in zip(cells, ports))
            rows.append(f"<tr>{tds}</tr>")
        table = (f'<table border="2" cellborder="1" cellspacing="0" cellpadding="3" color="{style["color"]}">'
                 f'{"".join(rows)}</table>')
        g.node(self.node_id(n.params[0]), f"<{table}>", shape="plain")

    def _edges(self, g: graphviz.Digraph, v: Value, head: str, parents: Iterable[Value],
               flows: Mapping[int, list[float]] | None) -> None:
        sent = {k: list(a) for k, a in flows.items()} if flows else {}
        for p in parents:
            tail = self.node_id(p)
            port = {}
            if id(p) in self.row_of:  # a row of a parameter table
                port["tailport"] = f"p{self.row_of[id(p)][1]}:{_PORTS[self.rankdir][0]}"
            amounts = sent.get(id(p))
            if amounts:
                g.edge(tail, head, xlabel=format_number(amounts.pop(0)), color="#e03131", fontcolor="#e03131",
                       fontsize="10", penwidth="2", dir="back", arrowtail="normal", **port)
            else:
                g.edge(tail, head, **port)

    def _legend(self, g: graphviz.Digraph) -> None:
        present = {self.roles[id(v)] for v in self.visible}
        present.update(self.roles[id(b.out)] for b in self.boxes)
        if self.row_of:
            present.add("parameter")
        with g.subgraph(name="cluster_legend") as lg:
            lg.attr(label="legend", style="rounded", color="#ced4da", fontsize="10", rank="sink")
            for name, role in ROLES.items():
                if name in present:
                    lg.node(f"legend_{name}", role.legend, shape="box", fontsize="10", **role.attrs)
            lg.node("legend_op", "operation", **_OP_ATTRS)
            if self.boxes:
                lg.node("legend_neuron", _html_cells(["neuron", "act(w·x + b)"]), fontsize="10",
                        **{**ROLES["intermediate"].attrs, "shape": "box", "style": "rounded,filled",
                           "margin": "0.02"})
            if self.show_grad and self._pending is not None:
                lg.node("legend_pending", "grad — : not reached yet\\lgrad 0.5 … : more to come\\l",
                        shape="note", fontsize="10", color="#adb5bd")
            if self.color_by_grad:
                rows = "".join(f'<tr><td bgcolor="{b.fill}" width="18"></td>'
                               f'<td align="left">{html.escape(b.text)}</td></tr>' for b in GRAD_BINS)
                lg.node("legend_grad", f'<<table border="0" cellspacing="1" cellpadding="2">'
                        f'<tr><td colspan="2"><b>|grad|</b></td></tr>{rows}</table>>', shape="plain",
                        fontsize="10")


# --------------------------------------------------------------------------------------------
# Public drawing API
# --------------------------------------------------------------------------------------------


def draw_dot(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    color_by_grad: bool = False,
    group: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    *,
    params: Any = None,
    inputs: Iterable[Value] | None = None,
    legend: bool = True,
    title: str | None = None,
) -> graphviz.Digraph:
    """The graph that ``root`` was computed by, as a :class:`graphviz.Digraph`.

    ``group``: None (every value), ``"neurons"`` (a cluster per neuron inside a cluster per
    layer) or ``"collapse"`` (one box per neuron showing its activation's data and grad).
    ``params``: the trained leaves (Values, or a module with ``parameters()``); ``inputs``: leaves
    to draw as data.  Raises :class:`GraphTooLarge` above ``max_nodes`` drawn nodes.
    """
    scene = _Scene(root, rankdir=rankdir, show_grad=show_grad, color_by_grad=color_by_grad, group=group,
                   params=params, inputs=inputs, max_nodes=max_nodes, legend=legend, title=title)
    return scene.emit()


def dot_available() -> bool:
    """True when a program can draw pictures: Graphviz's ``dot``, or the pip-installable
    ``graphviz-pure`` (SVG and PNG only); see :mod:`microgrid.render`."""
    return _render.find_renderer() is not None


def render(graph: graphviz.Digraph, path: str | Path) -> Path:
    """Write ``graph`` to ``path`` in the format its extension names (.svg .png .pdf .dot .gv).

    ``.dot``/``.gv`` write the DOT source and need no Graphviz; the others need the ``dot``
    program (or ``graphviz-pure`` for .svg and .png) and raise :class:`GraphvizNotFound` (with
    install instructions) without it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"cannot tell the output format from {str(path)!r}: use one of "
                         f"{', '.join(OUTPUT_FORMATS)}")
    fmt = OUTPUT_FORMATS[suffix]
    if fmt is None:
        path.write_text(graph.source, encoding="utf-8")
        return path
    try:
        picture = _render.pipe(graph.source, fmt)
    except GraphvizNotFound as exc:
        raise GraphvizNotFound(f"{path}: {exc}; or write the DOT source with a .dot file name") from None
    path.write_bytes(picture)
    return path


def try_render(graph: graphviz.Digraph, path: str | Path) -> Path | None:
    """:func:`render`, except that when no program can draw pictures it writes nothing, prints one
    line on stderr saying what to install, and returns None (so a script goes on)."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    problem = None if fmt is None else _render.why_not(fmt)
    if problem is not None:
        print(f"microgrid.viz: {path} not drawn: {problem}", file=sys.stderr)
        return None
    return render(graph, path)


# --------------------------------------------------------------------------------------------
# The backward walk, step by step
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackwardStep:
    """The state after one step of the backward walk.

    Step 0 seeds ``d root / d root = 1``.  Step ``k >= 1`` processes ``node`` (the k-th operation
    in :func:`~microgrid.engine.topological_order`): its gradient is complete, and it adds
    ``node.grad * d node / d parent`` to each parent (``sent``: one ``(parent, local, amount)``
    per operand).  ``grads`` maps ``id(value)`` to the gradient summed so far (absent = not
    reached); ``pending`` maps ``id(value)`` to the number of contributions still to come.
    """

    index: int
    node: Value
    sent: tuple[tuple[Value, float, float], ...]
    grads: dict[int, float]
    pending: dict[int, int]


def backward_steps(root: Value, seed: float = 1.0) -> Iterator[BackwardStep]:
    """Replay :meth:`Value.backward` one operation at a time, without touching any ``.grad``.

    Same order and same float operations as the engine, so the last step's gradients equal what
    ``root.backward()`` adds to ``.grad``, bit for bit.
    """
    order = topological_order(root)
    pending = dict.fromkeys(map(id, order), 0)
    for v in order:
        for p in v.parents:
            pending[id(p)] += 1
    grads: dict[int, float] = {id(root): float(seed)}
    yield BackwardStep(0, root, (), dict(grads), dict(pending))
    k = 0
    for node in order:
        if node.is_leaf:
            continue  # a leaf has nothing to pass on
        k += 1
        g = grads[id(node)]
        sent = []
        for p, d in zip(node.parents, node.local_grads):
            amount = g * d
            grads[id(p)] = grads[id(p)] + amount if id(p) in grads else 0.0 + amount
            pending[id(p)] -= 1
            sent.append((p, d, amount))
        yield BackwardStep(k, node, tuple(sent), dict(grads), dict(pending))


def _name(v: Value) -> str:
    if v.is_leaf:
        return repr(v.label) if v.label else f"the constant {format_number(v.data)}"
    return f"{v.label!r} ({v.op})" if v.label else f"the {v.op} node"


def _caption(step: BackwardStep, total: int) -> str:
    """One line saying what the step does, e.g. ``'o' (tanh) ... 'n' += 1 × 0.42``."""
    head = f"step {step.index} of {total - 1}: "
    g = step.grads[id(step.node)]
    if step.index == 0:
        return head + f"the output {_name(step.node)} starts with grad d out / d out = {format_number(g)}"
    parts = [f"{_name(p)} += {format_number(g)} × {format_number(d)}" for p, d, _ in step.sent[:3]]
    more = f"; and {len(step.sent) - 3} more" if len(step.sent) > 3 else ""
    return (head + f"{_name(step.node)} has its full grad {format_number(g)} and passes grad × local "
            "derivative to its inputs: " + "; ".join(parts) + more)


@dataclass(frozen=True)
class StepFiles:
    """What :func:`write_backward_steps` wrote: the page, the pictures, their captions."""

    index: Path
    svgs: list[Path]
    captions: list[str]


_STEP_FILE = re.compile(r"^step_\d+\.svg$")


def write_backward_steps(
    root: Value,
    out_dir: str | Path,
    rankdir: str = "LR",
    color_by_grad: bool = False,
    group: str | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    max_steps: int = DEFAULT_MAX_STEPS,
    *,
    params: Any = None,
    inputs: Iterable[Value] | None = None,
    title: str = "microgrid: the backward pass, step by step",
) -> StepFiles:
    """One SVG per backward step (``step_000.svg`` …) and an ``index.html`` to page through them.

    The node being processed is highlighted and the edges it sends gradient along are labelled
    with the amount; gradients show as summed so far (``—`` = not reached, ``…`` = more to come).
    The user's ``.grad`` values are not read or changed.  Earlier ``step_*.svg`` files in
    ``out_dir`` are replaced.  Needs the Graphviz ``dot`` program (or ``graphviz-pure``).
    """
    scene = _Scene(root, rankdir=rankdir, show_grad=True, color_by_grad=color_by_grad, group=group,
                   params=params, inputs=inputs, max_nodes=max_nodes, legend=True, title=None)
    n_steps = 1 + sum(1 for v in scene.order if not v.is_leaf)
    if n_steps > max_steps:
        raise GraphTooLarge(f"the backward walk has {n_steps} steps, more than max_steps={max_steps}: "
                            "use a smaller graph or raise max_steps", "steps", n_steps, max_steps)
    if not dot_available():
        raise GraphvizNotFound(f"writing the step pictures needs the Graphviz 'dot' program, which is not "
                               f"installed: {INSTALL_HINT}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        if _STEP_FILE.match(old.name):
            old.unlink()
    width = max(3, len(str(n_steps - 1)))
    svgs, captions = [], []
    for step in backward_steps(root):
        caption = _caption(step, n_steps)
        flows: dict[int, list[float]] = {}
        for p, _, amount in step.sent:
            flows.setdefault(id(p), []).append(amount)
        graph = scene.emit(grads=step.grads, pending=step.pending,
                           current=step.node if step.index else None, flows=flows,
                           caption=caption if len(caption) < 160 else caption[:157] + "…")
        path = out / f"step_{step.index:0{width}d}.svg"
        path.write_bytes(_render.pipe(graph.source, "svg"))
        svgs.append(path)
        captions.append(caption)
    index = out / "index.html"
    index.write_text(_index_html(title, [p.name for p in svgs], captions), encoding="utf-8")
    return StepFiles(index, svgs, captions)


def _index_html(title: str, files: list[str], captions: list[str]) -> str:
    """A self-contained page (inline CSS and script, no network) stepping through the SVGs."""
    data = json.dumps({"files": files, "captions": captions}, ensure_ascii=False).replace("</", "<\\/")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
#bar {{ display: flex; gap: 0.5em; align-items: center; margin-bottom: 0.5em; }}
#caption {{ margin: 0.5em 0; min-height: 2.5em; }}
#picture {{ max-width: 100%; border: 1px solid #dee2e6; }}
button {{ font-size: 1em; padding: 0.2em 0.8em; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<div id="bar">
<button id="prev" type="button" title="previous step (left arrow)">&#9664; previous</button>
<span id="counter">1 / {len(files)}</span>
<button id="next" type="button" title="next step (right arrow)">next &#9654;</button>
<span>keys: &larr; / &rarr; (Home / End)</span>
</div>
<p id="caption">{html.escape(captions[0])}</p>
<img id="picture" src="{html.escape(files[0])}" alt="backward step">
<script>
const steps = {data};
let current = 0;
function show(k) {{
  current = Math.max(0, Math.min(steps.files.length - 1, k));
  document.getElementById("picture").src = steps.files[current];
  document.getElementById("caption").textContent = steps.captions[current];
  document.getElementById("counter").textContent = (current + 1) + " / " + steps.files.length;
  document.getElementById("prev").disabled = current === 0;
  document.getElementById("next").disabled = current === steps.files.length - 1;
}}
document.getElementById("prev").addEventListener("click", () => show(current - 1));
document.getElementById("next").addEventListener("click", () => show(current + 1));
document.addEventListener("keydown", (e) => {{
  if (e.key === "ArrowLeft") show(current - 1);
  else if (e.key === "ArrowRight") show(current + 1);
  else if (e.key === "Home") show(0);
  else if (e.key === "End") show(steps.files.length - 1);
}});
show(0);
</script>
</body>
</html>
"""
