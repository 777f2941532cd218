"""The picture of a graph: which values are drawn, as what (roles, neurons, collapsed boxes), and the
:class:`graphviz.Digraph` that :func:`draw_dot` returns; :func:`render` writes it to a file."""

from __future__ import annotations

import html
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz

from microgrid.engine import Value, topological_order
from microgrid.safety.atomic import write_bytes, write_text
from microgrid.safety.overwrite import DOT_MARK, PASS_FORCE, check_picture, mark_dot, mark_png, mark_svg
from microgrid.viz import backend
from microgrid.viz.backend import GraphvizNotFound
from microgrid.viz.style import BOX_ATTRS, GRAD_BINS, OP_ATTRS, PORTS, RED, ROLES, format_number, grad_bin

__all__ = ["draw_dot", "render", "try_render", "GraphTooLarge", "GROUPS", "OUTPUT_FORMATS",
           "DEFAULT_MAX_NODES"]

DEFAULT_MAX_NODES = 600  #: drawn nodes (values + operations) above which draw_dot refuses
GROUPS = (None, "neurons", "collapse")
#: file extension -> Graphviz output format (None: the DOT source itself, no ``dot`` needed)
OUTPUT_FORMATS: dict[str, str | None] = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": None,
                                         ".gv": None}


class GraphTooLarge(ValueError):
    """The graph has more nodes than ``max_nodes`` (or its walk more steps than ``max_steps``):
    ``what`` (``"nodes"`` or ``"steps"``), ``count`` and ``limit`` say which and by how much."""

    def __init__(self, message: str, what: str, count: int, limit: int) -> None:
        super().__init__(message)
        self.what, self.count, self.limit = what, count, limit


ACTIVATION_OPS = frozenset({"relu", "leaky_relu", "tanh", "sigmoid"})
_NEURON_PARAM = re.compile(r"^(?P<neuron>(?:(?P<layer>.+)\.)?neurons\.(?P<j>\d+))\.(?:w\.\d+|b)$")


def _parameter_names(params: Any) -> dict[int, str] | None:
    """``id(value) -> name`` for the given parameters (a module or an iterable of Values)."""
    if params is None:
        return None
    if hasattr(params, "named_parameters"):
        return {id(v): name for name, v in params.named_parameters()}
    names = {}
    for i, v in enumerate(params.parameters() if hasattr(params, "parameters") else params):
        if not isinstance(v, Value):
            raise TypeError(f"params[{i}] must be a Value, got {type(v).__name__}")
        names[id(v)] = v.label
    return names


def _role(v: Value, root: Value, param_names: dict[int, str] | None, input_ids: set[int]) -> str:
    if v is root:
        return "output"
    if not v.is_leaf:
        return "intermediate"
    if id(v) in input_ids:
        return "input"
    if param_names is not None:
        return "parameter" if id(v) in param_names else ("input" if v.label else "constant")
    return "leaf" if v.label else "constant"  # nobody said which leaves are trained: just a leaf


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
    neuron_of: dict[int, str] = {}  # parameter id -> its neuron's name
    for v in reversed(order):  # creation order: parameters first
        m = _NEURON_PARAM.match(param_names.get(id(v)) or "") if v.is_leaf else None
        if m:
            neurons.setdefault(m["neuron"], _Neuron(m["neuron"], m["layer"] or "")).params.append(v)
            neuron_of[id(v)] = m["neuron"]
    for v in reversed(order):  # an application: an operation on all of one neuron's parameters
        owners = {neuron_of[id(p)] for p in v.parents if id(p) in neuron_of}
        owner = neurons[owners.pop()] if len(owners) == 1 else None
        if owner is None or not {id(p) for p in owner.params} <= {id(p) for p in v.parents}:
            continue
        users = consumers.get(id(v), [])
        act = len(users) == 1 and users[0].op in ACTIVATION_OPS and len(users[0].parents) == 1
        owner.uses.append((v, users[0] if act else v))
    return [n for n in neurons.values() if n.uses]


LABEL_LIMIT = 1_000  #: characters of one text drawn; dot refuses a quoted string over 16,384 bytes
# what no picture may hold: control characters (SVG cannot) other than tab and line breaks, which
# the labels turn into spaces and lines; lone surrogates (UTF-8 cannot); U+FFFE and U+FFFF (SVG cannot)
_UNDRAWABLE = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def _drawable(text: object) -> str:
    """``text`` cut to :data:`LABEL_LIMIT` characters (with a note of its length), and what no
    picture may hold written as ``\\xNN`` or ``\\uNNNN``."""
    text = str(text)
    if len(text) > LABEL_LIMIT:
        text = f"{text[:LABEL_LIMIT]}… ({len(text):,} characters)"
    return _UNDRAWABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if m[0] < "\u0100" else f"\\u{ord(m[0]):04x}",
                           text)


def _escape_record(text: str) -> str:
    """``text`` on one line (:func:`_drawable`), with the characters that structure a record label escaped."""
    return re.sub(r'([\\{}|<>"])', r"\\\1", _drawable(" ".join(str(text).split())))


def escape_label(text: str) -> str:
    """``text`` as a plain (never HTML-like) Graphviz label that shows it as written: line breaks
    kept, a tab as a space, :func:`_drawable`, backslashes doubled (none starts an escape)."""
    lines = _drawable(text).replace("\t", " ").splitlines() or [""]
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def _html_cells(fields: list[str]) -> str:
    """An HTML-like label: the fields side by side, separated by vertical rules."""
    cells = "".join(f"<td>{html.escape(_drawable(f), quote=False)}</td>" for f in fields)
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


class Scene:
    """What one drawing shows (nodes, roles, groups), computed once and emitted (:meth:`emit`) with any
    gradients; :class:`GraphTooLarge` above ``max_nodes`` drawn nodes or ``max_steps`` backward steps."""

    def __init__(self, root: Value, *, rankdir: str = "LR", show_grad: bool = True,
                 color_by_grad: bool = False, group: str | None = None, params: Any = None,
                 inputs: Iterable[Value] | None = None, max_nodes: int = DEFAULT_MAX_NODES,
                 max_steps: int | None = None, legend: bool = True, title: str | None = None,
                 expanded: Iterable[str] = ()) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"draw_dot: root must be a Value, got {type(root).__name__}")
        if group not in GROUPS:
            raise ValueError(f"draw_dot: group must be one of {', '.join(map(repr, GROUPS))}, got {group!r}")
        if rankdir not in ("LR", "RL", "TB", "BT"):
            raise ValueError(f"draw_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
        self.root, self.rankdir, self.show_grad, self.color_by_grad = root, rankdir, show_grad, color_by_grad
        self.group, self.legend, self.title = group, legend, title
        self.expanded = set(expanded)  # collapse view: neurons (by name) drawn value by value
        self.order = topological_order(root)  # root first: the backward processing order
        self.key = {id(v): f"v{i}" for i, v in enumerate(reversed(self.order))}  # creation order: stable
        self.consumers: dict[int, list[Value]] = {}
        for v in self.order:
            for p in v.parents:
                self.consumers.setdefault(id(p), []).append(v)
        param_names = _parameter_names(params)
        input_ids = {id(v) for v in inputs} if inputs is not None else set()
        self.roles = {id(v): _role(v, root, param_names, input_ids) for v in self.order}

        self.neurons: list[_Neuron] = []
        self.boxes: list[_Box] = []
        self.box_of: dict[int, _Box] = {}  # hidden value id -> its box (collapse view)
        self.row_of: dict[int, tuple[int, int, str]] = {}  # neurons view: param id -> (neuron, row, name)
        if group is not None:
            names = param_names if param_names is not None else {
                id(v): v.label for v in self.order if v.is_leaf and v.label and id(v) not in input_ids}
            self.neurons = _find_neurons(self.order, names, self.consumers)
            if not self.neurons:
                raise ValueError(
                    f"draw_dot(group={group!r}): no neurons found; grouping needs parameters named like "
                    "'layers.0.neurons.3.w.0' / '...neurons.3.b' (pass params=mlp, or label the leaves so)")
        if group == "collapse":
            self._collapse()
        if group == "neurons":  # a neuron's parameters are the rows of one table, in order
            self.row_of = {id(p): (ni, k, names[id(p)].removeprefix(n.name + "."))
                           for ni, n in enumerate(self.neurons) for k, p in enumerate(n.params)}
        self.visible = [v for v in self.order if id(v) not in self.box_of and id(v) not in self.row_of]
        self.n_nodes = n_nodes = (len(self.visible) + sum(1 for v in self.visible if not v.is_leaf)
                                  + len(self.boxes) + (len(self.neurons) if group == "neurons" else 0))
        if n_nodes > max_nodes:
            hint = ("draw it with group='collapse' (one box per neuron) or group='neurons'"
                    if group is None else "draw a smaller graph (one sample, a smaller network)")
            raise GraphTooLarge(
                f"the graph has {n_nodes} nodes to draw, more than max_nodes={max_nodes}: {hint}, "
                "or raise max_nodes (dot gets slow and the picture unreadable)", "nodes", n_nodes, max_nodes)
        self.n_walk = n_walk = 1 + sum(1 for v in self.order if not v.is_leaf)
        if max_steps is not None and n_walk > max_steps:
            raise GraphTooLarge(f"the backward walk has {n_walk} steps, more than max_steps={max_steps}: "
                                "use a smaller graph or raise max_steps", "steps", n_walk, max_steps)

    def _collapse(self) -> None:
        number = 0  # counts expanded neurons too, so a box keeps its name in every view
        for n in self.neurons:
            number += len(n.uses)
            if n.name in self.expanded:
                continue
            for k, (pre, out) in enumerate(n.uses):
                key = f"neuron {n.name.rsplit('.', 1)[1]}"  # the column names the layer
                key += f" #{k + 1}" if len(n.uses) > 1 else ""
                box = _Box(number - len(n.uses) + k, key, n, pre, out, [])
                self.boxes.append(box)
                self.box_of[id(pre)] = self.box_of[id(out)] = box
            pre_ids = {id(pre) for pre, _ in n.uses}
            for p in n.params:  # a parameter disappears into the box if only its neuron uses it
                if all(id(c) in pre_ids for c in self.consumers.get(id(p), [])):
                    self.box_of[id(p)] = self.box_of[id(n.uses[0][0])]
        for box in self.boxes:
            box.inputs = [p for p in box.pre.parents if self.box_of.get(id(p)) is not box]

    def node_id(self, v: Value) -> str:
        box = self.box_of.get(id(v))
        if box is not None:
            return f"box{box.number}"
        if id(v) in self.row_of:
            return f"params{self.row_of[id(v)][0]}"
        return self.key[id(v)]

    def op_id(self, v: Value) -> str:
        return self.key[id(v)] + "_op"

    def emit(self, grad_texts: Mapping[int, str] | None = None, edge_labels: Mapping[str, str] | None = None,
             notes: Mapping[int, str] | None = None, caption: str | None = None,
             ids: str | None = None) -> graphviz.Digraph:
        """The Digraph showing each ``.grad``; for a stage, ``grad_texts`` (id -> widest grad text),
        ``edge_labels`` (``e_<head>_<k>`` -> what the k-th edge into ``head`` carries), ``notes`` (box
        number -> an extra field), ``caption`` (the graph's label), ``ids`` (a prefix of SVG ids)."""
        g = backend.Digraph("microgrid", comment=DOT_MARK.removeprefix("// "), graph_attr={
            "rankdir": self.rankdir, "ordering": "in", "nodesep": "0.15", "ranksep": "0.3",
            "fontname": "Helvetica", "fontsize": "12"},
            node_attr={"shape": "record", "fontname": "Helvetica", "fontsize": "11", "height": "0.3"},
            edge_attr={"color": "#495057", "arrowsize": "0.6", "fontname": "Helvetica",
                       "tailport": PORTS[self.rankdir][0], "headport": PORTS[self.rankdir][1]})
        label = caption if caption is not None else (escape_label(self.title) if self.title else None)
        if label:
            g.attr(label=label, labelloc="t", labeljust="l")
        self._texts, self._notes, self._ids = grad_texts, notes or {}, ids
        wide = self.boxes or any(len(v.parents) > 3 for v in self.visible)
        self._labels = {} if wide else edge_labels or {}
        if wide and edge_labels is not None:  # room beside the operands for what they receive
            g.attr(ranksep="1.1")
        in_cluster = ({id(v) for n in self.neurons for use in n.uses for v in use}
                      if self.group == "neurons" else set())  # values drawn inside a neuron's cluster
        # values outside clusters (creation order: dot keeps it where it can, so inputs read x0, x1, ...)
        for v in (v for v in reversed(self.visible) if id(v) not in in_cluster):
            self._value_node(g, v)
        for li, layer in enumerate(dict.fromkeys(n.layer for n in self.neurons)):  # in order of appearance
            self._layer(g, li, layer, [n for n in self.neurons if n.layer == layer])
        # op nodes outside clusters, and every edge
        for v in (v for v in reversed(self.visible) if not v.is_leaf):
            if id(v) not in in_cluster:
                self._op_node(g, v)
            self._edges(g, self.op_id(v), v.parents)
        for box in self.boxes:
            self._edges(g, self.node_id(box.pre), box.inputs)
        if self.legend:
            self._legend(g)
        return g

    def _layer(self, g: graphviz.Digraph, li: int, layer: str, neurons: list[_Neuron]) -> None:
        """Neurons view: a cluster for the layer holding a cluster per neuron.  Collapse view: a column
        headed by the layer's name, neurons 0, 1, 2, ... in order (a same-rank subgraph with invisible
        edges keeps the order; inside a cluster dot 2.43 ignores such edges, so it is no cluster)."""
        count = f"{len(neurons)} neuron{'s' if len(neurons) > 1 else ''}"
        if self.group == "neurons":
            with g.subgraph(name=f"cluster_layer{li}") as lg:
                lg.attr(label=escape_label(f"{layer or 'neurons'} ({count})"), style="rounded,dashed",
                        color="#adb5bd", fontcolor="#495057")
                for n in neurons:
                    with lg.subgraph(name=f"cluster_neuron{self.neurons.index(n)}") as ng:
                        ng.attr(label=escape_label(n.name), style="rounded", color="#ced4da", fontsize="10")
                        self._param_table(ng, n)
                        for pre, out in n.uses:
                            for v in {id(pre): pre, id(out): out}.values():
                                self._value_node(ng, v)
                                self._op_node(ng, v)
            return
        with g.subgraph(name=f"layer{li}") as lg:
            lg.attr(rank="same")
            chain = [f"layer{li}_header"]
            lg.node(chain[0], escape_label(f"{layer or 'neurons'}\n{count}"), shape="plaintext",
                    fontsize="11", fontcolor="#495057")
            for box in self.boxes:
                if box.neuron in neurons:
                    self._box_node(lg, box)
                    chain.append(self.node_id(box.pre))
            for tail, head in zip(chain, chain[1:]):
                lg.edge(tail, head, style="invis")

    def _id(self, name: str) -> dict[str, str]:
        return {"id": self._ids + name} if self._ids is not None else {}

    def _fields(self, v: Value) -> list[str]:
        """``v``'s data and, with ``show_grad``, its grad (or the stage's widest text of it)."""
        grad = f"grad {format_number(v.grad)}" if self._texts is None else self._texts.get(id(v), "grad —")
        return [f"data {format_number(v.data)}"] + ([grad] if self.show_grad else [])

    def _colors(self, v: Value) -> dict[str, str]:
        b = grad_bin(v.grad)
        return {"fillcolor": b.fill, "fontcolor": b.font} if self.color_by_grad else {}

    def _value_node(self, g: graphviz.Digraph, v: Value) -> None:
        fields = ([_escape_record(v.label)] if v.label else []) + self._fields(v)
        attrs = {**ROLES[self.roles[id(v)]].attrs, **self._colors(v)}
        g.node(self.node_id(v), "{ " + " | ".join(fields) + " }", **attrs, **self._id(self.node_id(v)))

    def _op_node(self, g: graphviz.Digraph, v: Value) -> None:
        g.node(self.op_id(v), _escape_record(v.op), **OP_ATTRS, **self._id(self.op_id(v)))
        g.edge(self.op_id(v), self.node_id(v), color="#adb5bd", **self._id(f"r_{self.node_id(v)}"))

    def _box_node(self, g: graphviz.Digraph, box: _Box) -> None:
        # An HTML-like label, not a record: dot cannot order records with the invisible
        # same-rank edges that keep the neurons of a layer in reading order.
        pre = box.pre
        formula = f"{pre.op}(…)" if pre.op != "dot" else "w·x + b" if len(pre.parents) % 2 else "w·x"
        if box.out is not box.pre:
            formula = f"{box.out.op}({formula})"
        extra = [text for text in (self._notes.get(box.number), box.out.label) if text]
        fields = [box.key, formula, *self._fields(box.out), *extra]
        role = "output" if self.roles[id(box.out)] == "output" else "intermediate"
        attrs = {**ROLES[role].attrs, **BOX_ATTRS, **self._colors(box.out)}
        g.node(self.node_id(box.pre), _html_cells(fields), **attrs, **self._id(self.node_id(box.pre)))

    def _param_table(self, g: graphviz.Digraph, n: _Neuron) -> None:
        """A neuron's parameters as one table, a row each (name, data, grad); edges leave from rows."""
        style = ROLES["parameter"].attrs
        rows = []
        for p in n.params:
            _, k, name = self.row_of[id(p)]
            cells = [name, *self._fields(p)]
            b = grad_bin(p.grad) if self.color_by_grad else None
            bg, font = (b.fill, b.font) if b else (style["fillcolor"], "black")
            ports = [""] * (len(cells) - 1) + [f' port="p{k}"']  # edges leave from the last cell
            tds = "".join(f'<td bgcolor="{bg}"{port}><font color="{font}">{html.escape(text, quote=False)}'
                          "</font></td>" for text, port in zip(cells, ports))
            rows.append(f"<tr>{tds}</tr>")
        table = (f'<table border="2" cellborder="1" cellspacing="0" cellpadding="3" color="{style["color"]}">'
                 f'{"".join(rows)}</table>')
        g.node(self.node_id(n.params[0]), f"<{table}>", shape="plain", **self._id(self.node_id(n.params[0])))

    def _edges(self, g: graphviz.Digraph, head: str, parents: Iterable[Value]) -> None:
        for k, p in enumerate(parents):
            attrs = self._id(f"e_{head}_{k}")
            if id(p) in self.row_of:  # a row of a parameter table
                attrs["tailport"] = f"p{self.row_of[id(p)][1]}:{PORTS[self.rankdir][0]}"
            text = self._labels.get(f"e_{head}_{k}")
            if text:
                attrs.update(label=escape_label(text.replace(" = ", "\n= ")), fontcolor=RED, fontsize="10")
            g.edge(self.node_id(p), head, **attrs)

    def _legend(self, g: graphviz.Digraph) -> None:
        present = {self.roles[id(v)] for v in self.visible + [b.out for b in self.boxes]}
        if self.row_of:
            present.add("parameter")
        with g.subgraph(name="cluster_legend") as lg:
            lg.attr(label="legend", style="rounded", color="#ced4da", fontsize="10", rank="sink")
            for name, role in ((n, r) for n, r in ROLES.items() if n in present):
                lg.node(f"legend_{name}", role.legend, shape="box", fontsize="10", **role.attrs)
            lg.node("legend_op", "operation", **OP_ATTRS)
            if self.boxes:
                lg.node("legend_neuron", _html_cells(["neuron", "act(w·x + b)"]), fontsize="10",
                        **{**ROLES["intermediate"].attrs, **BOX_ATTRS})
            if self.show_grad and self._texts is not None:
                lg.node("legend_pending", "grad — : not reached yet\\lgrad 0.5 … : more to come\\l",
                        shape="note", fontsize="10", color="#adb5bd")
            if self.color_by_grad:
                rows = "".join(f'<tr><td bgcolor="{b.fill}" width="18"></td>'
                               f'<td align="left">{html.escape(b.text)}</td></tr>' for b in GRAD_BINS)
                lg.node("legend_grad", f'<<table border="0" cellspacing="1" cellpadding="2">'
                        f'<tr><td colspan="2"><b>|grad|</b></td></tr>{rows}</table>>', shape="plain",
                        fontsize="10")


def draw_dot(root: Value, rankdir: str = "LR", show_grad: bool = True, color_by_grad: bool = False,
             group: str | None = None, max_nodes: int = DEFAULT_MAX_NODES, *, params: Any = None,
             inputs: Iterable[Value] | None = None, legend: bool = True,
             title: str | None = None) -> graphviz.Digraph:
    """The graph that ``root`` was computed by.  ``group``: None (every value), ``"neurons"`` (a
    cluster per neuron inside a cluster per layer) or ``"collapse"`` (one box per neuron showing its
    activation's data and grad); ``params``: the trained leaves (Values, or a module with
    ``parameters()``); ``inputs``: leaves drawn as data.  :class:`GraphTooLarge` above ``max_nodes``."""
    return Scene(root, rankdir=rankdir, show_grad=show_grad, color_by_grad=color_by_grad, group=group,
                 params=params, inputs=inputs, max_nodes=max_nodes, legend=legend, title=title).emit()


def render(graph: graphviz.Digraph, path: str | Path, *, force: bool = False) -> Path:
    """Write ``graph`` to ``path`` in the format its extension names (.svg .png .pdf; .dot .gv: the
    DOT source, no Graphviz needed; else :class:`GraphvizNotFound`), all at once with microgrid's
    mark (not a PDF); a file there that microgrid did not write, a link, or any PDF is replaced only
    with ``force`` (else :class:`~microgrid.safety.overwrite.OutputTaken`)."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise ValueError(f"cannot tell the output format from {str(path)!r}: use one of "
                         f"{', '.join(OUTPUT_FORMATS)}")
    check_picture(path, force, PASS_FORCE)
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    if fmt is None:
        return write_text(path, mark_dot(graph.source))
    try:
        picture = backend.pipe(graph.source, fmt)
    except GraphvizNotFound as exc:
        raise GraphvizNotFound(f"{path}: {exc}; or write the DOT source with a .dot file name") from None
    write_bytes(path, mark_svg(picture) if fmt == "svg" else mark_png(picture) if fmt == "png" else picture)
    return path


def try_render(graph: graphviz.Digraph, path: str | Path, *, force: bool = False) -> Path | None:
    """:func:`render`, except that when no program can draw pictures it writes nothing, prints one
    line on stderr saying what to install, and returns None (so a script goes on)."""
    fmt = OUTPUT_FORMATS.get(Path(path).suffix.lower())
    if fmt is not None and (problem := backend.why_not(fmt)) is not None:
        print(f"microgrid.viz: {path} not drawn: {problem}", file=sys.stderr)
        return None
    return render(graph, path, force=force)
