"""Drawings of the graph (read back from the DOT source and from dot's SVG), the step-by-step
backward view, and the ``microgrid graph`` command."""

from __future__ import annotations

import html
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import viz
from microgrid.app.cli import main
from microgrid.engine import Value, dot, topological_order, vsum
from microgrid.safety.overwrite import OutputTaken, written_by_microgrid
from microgrid.viz import GRAD_BINS, ROLES, GraphTooLarge, GraphvizNotFound, backend, draw_dot, format_number

from strategies import ExprProgram, any_floats, expr_programs, finite_floats

needs_renderer = pytest.mark.usefixtures("needs_renderer")  # skips without dot or graphviz-pure (conftest)
SVG = "{http://www.w3.org/2000/svg}"


# --------------------------------------------------------------------------------------------
# Reading DOT source back (as written by the graphviz package: one statement per line)
# --------------------------------------------------------------------------------------------


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    cluster_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # node -> enclosing clusters
    graph: dict[str, str] = field(default_factory=dict)

    def edges_into(self, head: str) -> list[str]:
        return [t for t, h, a in self.edges if h == head and a.get("style") != "invis"]

    def edges_from(self, tail: str) -> list[str]:
        return [h for t, h, a in self.edges if t == tail and a.get("style") != "invis"]

    def values(self) -> dict[str, dict[str, str]]:
        """Value nodes (records or neuron boxes), legend excluded."""
        return {n: a for n, a in self.nodes.items() if re.fullmatch(r"v\d+|box\d+", n)}

    def ops(self) -> dict[str, dict[str, str]]:
        return {n: a for n, a in self.nodes.items() if re.fullmatch(r"v\d+_op", n)}


def _attrs(text: str) -> dict[str, str]:
    """``key=value`` pairs; values are bare words, "quoted strings" or <html labels>."""
    attrs, i = {}, 0
    while i < len(text):
        m = re.compile(r"\s*(\w+)=").match(text, i)
        if not m:
            break
        key, i = m.group(1), m.end()
        if text[i] == '"':
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            attrs[key], i = text[i + 1 : j], j + 1
        elif text[i] == "<":
            depth, j = 0, i
            while True:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            attrs[key], i = text[i + 1 : j - 1], j
        else:
            m = re.compile(r"[^\s\]]+").match(text, i)
            attrs[key], i = m.group(0), m.end()
    return attrs


def parse_dot(source: str) -> Dot:
    out, clusters = Dot(), []
    for line in source.splitlines()[1:]:
        s = line.strip()
        if m := re.fullmatch(r"subgraph (\w*) ?\{", s):
            clusters.append(m.group(1))
        elif s == "}":
            if clusters:
                clusters.pop()
        elif m := re.fullmatch(r"(\w+) -> (\w+)(?: \[(.*)\])?", s):
            out.edges.append((m.group(1), m.group(2), _attrs(m.group(3) or "")))
        elif m := re.fullmatch(r"graph \[(.*)\]", s):
            out.graph.update(_attrs(m.group(1)))
        elif re.fullmatch(r"(node|edge) \[.*\]", s):
            continue
        elif m := re.fullmatch(r"(\w+) \[(.*)\]", s):
            out.nodes[m.group(1)] = _attrs(m.group(2))
            out.cluster_of[m.group(1)] = tuple(c for c in clusters if c.startswith("cluster"))
        elif not clusters:
            out.graph.update(_attrs(s))
    return out


def fields(attrs: dict[str, str]) -> list[str]:
    """The text fields of a record label ``{ a | data 2 | grad 1 }`` or of an HTML-table label."""
    label = attrs["label"]
    if label.startswith("<table"):
        return [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", label)]
    inner = label.strip()[1:-1]
    parts = re.split(r"(?<!\\)\|", inner)
    return [re.sub(r"\\(.)", r"\1", p).strip() for p in parts]


def table_rows(attrs: dict[str, str]) -> list[list[str]]:
    """The cells of each row of an HTML-table label."""
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
            for row in re.findall(r"<tr>(.*?)</tr>", attrs["label"])]


def node_of(d: Dot, label: str) -> str:
    (name,) = [n for n, a in d.values().items() if fields(a)[0] == label]
    return name


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def tanh_expression() -> tuple[Value, Value, Value, Value]:
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    o = (a * b + c).tanh()
    o.label = "o"
    return a, b, c, o


def hand_mlp(x: list[Value], dims: list[int], seed: int = 0) -> tuple[Value, list[Value]]:
    """An MLP built directly with engine.dot, named as microgrid.nn names its parameters."""
    import numpy as np

    rng = np.random.default_rng(seed)
    params, h = [], x
    for i, (nin, nout) in enumerate(zip(dims[:-1], dims[1:])):
        outs = []
        for j in range(nout):
            w = [Value(rng.normal(), label=f"layers.{i}.neurons.{j}.w.{k}") for k in range(nin)]
            b = Value(0.1, label=f"layers.{i}.neurons.{j}.b")
            params += [*w, b]
            z = dot(w, h, bias=b)
            outs.append(z.relu() if i < len(dims) - 2 else z.sigmoid())
        h = outs
    return h[0], params


# --------------------------------------------------------------------------------------------
# Numbers and colours
# --------------------------------------------------------------------------------------------


def test_format_number_examples() -> None:
    cases = {2.0: "2", -3.0: "-3", 0.999329299739067: "0.9993", -0.0040234: "-0.004023", 1e20: "1e+20",
             -1.23456e-7: "-1.235e-7", 0.0: "0", math.inf: "inf", -math.inf: "-inf",
             math.nan: "nan", 123456.0: "1.235e+5"}
    for x, text in cases.items():
        assert format_number(x) == text, x
    assert format_number(-0.0) == "0"


@given(x=any_floats)
def test_format_number_is_short_and_close(x: float) -> None:
    text = format_number(x)
    assert len(text) <= 11
    if math.isnan(x):
        assert text == "nan"
    else:
        # four significant digits (Decimal: 1.798e+308 is a fine label for 1.7975e308 but not a float)
        if math.isfinite(x):
            assert abs(Decimal(text) - Decimal(x)) <= Decimal("5e-4") * abs(Decimal(x))
        else:
            assert float(text) == x


@given(g=any_floats)
def test_grad_colour_bin_contains_the_gradient(g: float) -> None:
    (match,) = [b for b in GRAD_BINS if b.fill == viz.grad_color(g)]
    if not math.isfinite(g):
        assert match is GRAD_BINS[-1]
    elif g == 0.0:
        assert match is GRAD_BINS[0]
    else:
        assert match.lower <= abs(g) < match.upper


# --------------------------------------------------------------------------------------------
# draw_dot: nodes, edges, labels, roles
# --------------------------------------------------------------------------------------------


def test_expression_graph_nodes_edges_and_labels() -> None:
    a, b, c, o = tanh_expression()
    o.backward()
    d = parse_dot(draw_dot(o).source)
    assert len(d.values()) == 6 and len(d.ops()) == 3
    # labels, data and closed-form gradients: do/dx = (1 - tanh(ab + c)^2) * dz/dx
    t = math.tanh(2.0 * -3.0 + 10.0)
    dz = 1.0 - t * t
    expected = {"a": (2.0, dz * -3.0), "b": (-3.0, dz * 2.0), "c": (10.0, dz), "o": (t, 1.0)}
    for label, (data, grad) in expected.items():
        assert fields(d.nodes[node_of(d, label)]) == [label, f"data {format_number(data)}",
                                                      f"grad {format_number(grad)}"]
    # edges: operands (in argument order) -> op node -> result
    mul_op = [n for n, attrs in d.ops().items() if attrs["label"] == '"*"' or attrs["label"] == "*"]
    assert len(mul_op) == 1
    assert d.edges_into(mul_op[0]) == [node_of(d, "a"), node_of(d, "b")]
    tanh_op = [n for n, attrs in d.ops().items() if attrs["label"] == "tanh"][0]
    assert d.edges_from(tanh_op) == [node_of(d, "o")]
    (plus,) = d.edges_into(tanh_op)
    assert fields(d.nodes[plus]) == ["data 4", f"grad {format_number(dz)}"]
    assert len(d.edges) == 3 + 5  # op -> result, plus one per operand


def test_every_operand_is_one_edge_so_a_plus_a_has_two() -> None:
    a = Value(3.0, label="a")
    s = a + a
    d = parse_dot(draw_dot(s).source)
    (op,) = d.ops()
    assert d.edges_into(op) == [node_of(d, "a"), node_of(d, "a")]
    v = vsum([a, a, a])
    d = parse_dot(draw_dot(v).source)
    (op,) = d.ops()
    assert len(d.edges_into(op)) == 3


def test_operand_order_is_kept_for_non_commutative_ops() -> None:
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    for node, first in ((a - b, "a"), (b - a, "b"), (b / a, "b"), (a**b, "a")):
        d = parse_dot(draw_dot(node).source)
        (op,) = d.ops()
        assert d.edges_into(op)[0] == node_of(d, first)
        assert d.graph["ordering"] == "in"  # dot keeps in-edges in this order


def test_show_grad_false_leaves_out_gradients() -> None:
    *_, o = tanh_expression()
    d = parse_dot(draw_dot(o, show_grad=False).source)
    assert all(not any(f.startswith("grad") for f in fields(attrs)) for attrs in d.values().values())


def test_record_labels_escape_special_characters() -> None:
    a = Value(1.0, label='x{1}|<y> "z"')
    d = parse_dot(draw_dot(a * 2).source)
    assert fields(d.nodes[node_of(d, 'x{1}|<y> "z"')])[0] == 'x{1}|<y> "z"'


def role_of(d: Dot, name: str) -> str:
    attrs = d.nodes[name]
    (role,) = [r for r, spec in ROLES.items()
               if all(attrs.get(k, "").strip('"') == v for k, v in spec.attrs.items())]
    return role


def test_roles_without_params_no_leaf_is_called_a_parameter() -> None:
    w, x = Value(0.5, label="w"), Value(3.0, label="x")
    out = (w * x + 1.0) * 2.0
    d = parse_dot(draw_dot(out).source)
    assert role_of(d, node_of(d, "w")) == "leaf"  # only params= makes a parameter
    assert role_of(d, node_of(d, "x")) == "leaf"
    assert "legend_parameter" not in d.nodes and "legend_leaf" in d.nodes
    consts = [n for n, a in d.values().items() if fields(a)[0] in ("data 1", "data 2")]
    assert sorted(role_of(d, n) for n in consts) == ["constant", "constant"]
    root = [n for n, a in d.values().items() if fields(a)[0].startswith("data 5")]
    assert role_of(d, root[0]) == "output" and d.nodes[root[0]]["peripheries"] == "2"
    d = parse_dot(draw_dot(out, inputs=[x]).source)
    assert role_of(d, node_of(d, "x")) == "input"


def test_roles_with_params_and_the_legend() -> None:
    w, b, x = Value(0.5, label="w"), Value(0.1, label="b"), Value(3.0, label="x")
    out = (w * x + b - 1.0).relu()
    d = parse_dot(draw_dot(out, params=[w, b]).source)
    assert role_of(d, node_of(d, "w")) == role_of(d, node_of(d, "b")) == "parameter"
    assert role_of(d, node_of(d, "x")) == "input"  # labelled but not a parameter
    # the role styles differ pairwise, and the legend shows exactly the roles present
    styles = {r: tuple(sorted(s.attrs.items())) for r, s in ROLES.items()}
    assert len(set(styles.values())) == len(styles)
    legend = {n.removeprefix("legend_") for n in d.nodes if n.startswith("legend_")}
    assert legend == {"output", "parameter", "input", "constant", "intermediate", "op"}
    assert all(d.cluster_of[f"legend_{r}"] == ("cluster_legend",) for r in legend)


def test_params_accepts_a_module() -> None:
    w, x = Value(0.5, label="layers.0.neurons.0.w.0"), Value(3.0, label="x")

    class Module:
        def named_parameters(self) -> list[tuple[str, Value]]:
            return [("layers.0.neurons.0.w.0", w)]

    d = parse_dot(draw_dot(w * x, params=Module()).source)
    assert role_of(d, node_of(d, "layers.0.neurons.0.w.0")) == "parameter"
    assert role_of(d, node_of(d, "x")) == "input"


def test_colour_by_grad_uses_the_log_scale_and_has_a_legend() -> None:
    grads = {"zero": 0.0, "tiny": 1e-7, "small": 3e-3, "big": 5e5, "bad": math.nan}
    leaves = {k: Value(1.0, label=k) for k in grads}
    out = vsum([leaves[k] * g for k, g in grads.items()])
    out.backward()
    d = parse_dot(draw_dot(out, color_by_grad=True).source)
    expected = {"zero": "0 (no gradient)", "tiny": "< 1e-6 (vanishing)", "small": "1e-4 … 0.01",
                "big": "≥ 1e4 (exploding)", "bad": "inf or nan"}
    for k, text in expected.items():
        (b,) = [b for b in GRAD_BINS if b.text == text]
        assert d.nodes[node_of(d, k)]["fillcolor"].strip('"') == b.fill, k
    legend = d.nodes["legend_grad"]["label"]
    assert all(b.fill in legend and html.escape(b.text) in legend for b in GRAD_BINS)
    assert "legend_grad" not in parse_dot(draw_dot(out).source).nodes


def test_bad_arguments_are_clear_errors() -> None:
    a = Value(1.0)
    with pytest.raises(ValueError, match="group must be one of"):
        draw_dot(a, group="layers")
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(a, rankdir="XY")
    with pytest.raises(TypeError, match="root must be a Value"):
        draw_dot(1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no neurons found"):
        draw_dot(a * 2, group="collapse")


# --------------------------------------------------------------------------------------------
# Size limit and grouped views
# --------------------------------------------------------------------------------------------


def test_graphs_above_the_node_limit_are_refused_with_a_hint() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(99):
        y = y.tanh()
    assert len(parse_dot(draw_dot(y, max_nodes=199).source).values()) == 100  # 100 values + 99 ops
    with pytest.raises(GraphTooLarge, match=r"199 nodes.*max_nodes=198.*group='collapse'"):
        draw_dot(y, max_nodes=198)
    assert issubclass(GraphTooLarge, ValueError)


def test_neurons_view_clusters_each_neuron_inside_its_layer() -> None:
    x = [Value(float(i + 1), label=f"x{i}") for i in range(3)]
    out, params = hand_mlp(x, [3, 2, 1])
    out.backward()
    d = parse_dot(draw_dot(out, group="neurons", params=params, inputs=x).source)
    clusters = {d.cluster_of[n] for n in d.nodes if d.cluster_of[n] and n.startswith(("v", "params"))}
    assert clusters == {("cluster_layer0", "cluster_neuron0"), ("cluster_layer0", "cluster_neuron1"),
                        ("cluster_layer1", "cluster_neuron2")}
    # each neuron cluster: one table of its parameters (a row each, in order), its dot node and
    # the dot's result, its activation node and output
    for ni, (i, j, nin) in enumerate(((0, 0, 3), (0, 1, 3), (1, 0, 2))):
        cluster = (f"cluster_layer{i}", f"cluster_neuron{ni}")
        members = sorted(n for n in d.nodes if d.cluster_of[n] == cluster)
        assert len(members) == 5 and f"params{ni}" in members
        own = [p for p in params if p.label.startswith(f"layers.{i}.neurons.{j}.")]
        assert table_rows(d.nodes[f"params{ni}"]) == [
            [p.label.removeprefix(f"layers.{i}.neurons.{j}."), f"data {format_number(p.data)}",
             f"grad {format_number(p.grad)}"] for p in own]
        assert [r[0] for r in table_rows(d.nodes[f"params{ni}"])] == [f"w.{k}" for k in range(nin)] + ["b"]
        ops = sorted(d.nodes[m]["label"] for m in members if m.endswith("_op"))
        assert ops == ["dot", "relu" if i == 0 else "sigmoid"]
        (dot_op,) = [m for m in members if m.endswith("_op") and d.nodes[m]["label"] == "dot"]
        # operands of the dot node: the weight rows, the inputs, the bias row, each in order
        into = [(t, a.get("tailport", "")) for t, h, a in d.edges if h == dot_op]
        rows = [(f"params{ni}", f"p{k}:e") for k in range(nin + 1)]
        if i == 0:
            sources = [node_of(d, f"x{k}") for k in range(3)]
        else:  # the outputs of the relu nodes of neurons 0 and 1
            sources = [d.edges_from(r)[0] for r, a in d.ops().items() if a["label"] == "relu"]
        assert into == rows[:nin] + [(s, "") for s in sources] + rows[nin:]
    assert all(d.cluster_of[node_of(d, f"x{i}")] == () for i in range(3))
    assert "legend_parameter" in d.nodes


def test_collapsed_view_draws_one_box_per_neuron() -> None:
    x = [Value(float(i + 1), label=f"x{i}") for i in range(3)]
    out, params = hand_mlp(x, [3, 2, 1])
    loss = (out - 1.0) ** 2
    loss.backward()
    d = parse_dot(draw_dot(loss, group="collapse", params=params, inputs=x).source)
    boxes = {n: fields(a) for n, a in d.values().items() if n.startswith("box")}
    assert [f[:2] for f in boxes.values()] == [["neuron 0", "relu(w·x + b)"], ["neuron 1", "relu(w·x + b)"],
                                               ["neuron 0", "sigmoid(w·x + b)"]]
    assert boxes["box2"][2:] == [f"data {format_number(out.data)}", f"grad {format_number(out.grad)}"]
    assert not any(fields(a)[0].startswith(("layers", "w.", "b")) for a in d.values().values())
    assert d.edges_into("box0") == d.edges_into("box1") == [node_of(d, f"x{i}") for i in range(3)]
    assert d.edges_into("box2") == ["box0", "box1"]
    # a column per layer: its name on top, then the neurons in order (kept by invisible edges)
    assert d.nodes["layer0_header"]["label"] == "layers.0\\n2 neurons"
    invisible = [(t, h) for t, h, a in d.edges if a.get("style") == "invis"]
    assert invisible == [("layer0_header", "box0"), ("box0", "box1"), ("layer1_header", "box2")]
    assert len(d.values()) == 3 + 3 + 1 + 1 + 1  # inputs, boxes, constant 1, out - 1, loss


def test_collapsed_view_without_an_activation_node() -> None:
    w, b, x = Value(0.5, label="neurons.0.w.0"), Value(0.1, label="neurons.0.b"), Value(2.0, label="x")
    out = dot([w], [x], bias=b) * 3.0
    d = parse_dot(draw_dot(out, group="collapse", params=[w, b], inputs=[x]).source)
    assert fields(d.nodes["box0"])[:2] == ["neuron 0", "w·x + b"]


# --------------------------------------------------------------------------------------------
# Rendering with dot, formats, missing Graphviz, Jupyter
# --------------------------------------------------------------------------------------------


def svg_node_titles(svg: bytes | str) -> list[str]:
    root = ET.fromstring(svg)
    return [g.find(f"{SVG}title").text for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


@needs_renderer
def test_render_svg_png_pdf_and_dot(tmp_path: Path) -> None:
    *_, o = tanh_expression()
    o.backward()
    graph = draw_dot(o)
    svg = viz.render(graph, tmp_path / "g.svg").read_text()
    titles = svg_node_titles(svg)
    expected = set(parse_dot(graph.source).nodes)
    assert set(titles) == expected
    texts = {t.text for t in ET.fromstring(svg).iter(f"{SVG}text")}
    assert {"a", "data 0.9993", "grad 1", "tanh"} <= texts
    assert viz.render(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    if "pdf" in backend.find_renderer().formats:
        assert viz.render(graph, tmp_path / "g.pdf").read_bytes().startswith(b"%PDF")
    else:  # graphviz-pure
        with pytest.raises(GraphvizNotFound, match="drawing PDF needs Graphviz's 'dot' program"):
            viz.render(graph, tmp_path / "g.pdf")
        assert not (tmp_path / "g.pdf").exists()
    assert viz.render(graph, tmp_path / "g.dot").read_text() == graph.source
    with pytest.raises(ValueError, match="use one of .svg"):
        viz.render(graph, tmp_path / "g.jpg")


@needs_renderer
def test_grouped_views_render(tmp_path: Path) -> None:
    x = [Value(float(i + 1), label=f"x{i}") for i in range(3)]
    out, params = hand_mlp(x, [3, 2, 1])
    out.backward()
    for group in ("neurons", "collapse"):
        graph = draw_dot(out, group=group, params=params, inputs=x, color_by_grad=True)
        titles = svg_node_titles(viz.render(graph, tmp_path / f"{group}.svg").read_text())
        assert set(titles) == set(parse_dot(graph.source).nodes)


@pytest.mark.usefixtures("no_renderer")
def test_without_dot_only_dot_source_can_be_written(tmp_path: Path) -> None:
    assert not viz.dot_available()
    *_, o = tanh_expression()
    graph = draw_dot(o)
    assert viz.render(graph, tmp_path / "g.dot").read_text() == graph.source
    for name in ("g.svg", "g.png", "g.pdf"):
        with pytest.raises(GraphvizNotFound, match=r"apt-get install graphviz.*brew install graphviz"):
            viz.render(graph, tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        viz.write_backward_steps(o, tmp_path / "steps")


@needs_renderer
def test_jupyter_displays_the_digraph_as_svg() -> None:
    *_, o = tanh_expression()
    graph = draw_dot(o)
    bundle = graph._repr_mimebundle_()  # what IPython calls to show a cell's result
    assert set(svg_node_titles(bundle["image/svg+xml"])) == set(parse_dot(graph.source).nodes)


# --------------------------------------------------------------------------------------------
# The backward walk, step by step
# --------------------------------------------------------------------------------------------


def build_program(program: ExprProgram) -> tuple[list[Value], Value]:
    leaves = [Value(x) for x in program.inputs]
    nodes = program.on_values(leaves)
    return leaves, vsum(nodes[len(leaves):])


@given(program=expr_programs())
def test_steps_replay_backward_exactly_without_touching_grad(program: ExprProgram) -> None:
    leaves, root = build_program(program)
    steps = list(viz.backward_steps(root))
    order = topological_order(root)
    assert all(v.grad == 0.0 for v in order)  # .grad untouched
    ops = [v for v in order if not v.is_leaf]
    assert len(steps) == 1 + len(ops)
    assert [s.node for s in steps[1:]] == ops  # the engine's processing order
    for step in steps[1:]:
        assert step.pending[id(step.node)] == 0  # a node is processed once its grad is complete
        assert [p for p, _, _ in step.sent] == list(step.node.parents)
    last = steps[-1]
    assert all(n == 0 for n in last.pending.values())
    root.backward()
    for v in order:  # bit for bit what backward() adds
        assert last.grads[id(v)] == v.grad or (math.isnan(v.grad) and math.isnan(last.grads[id(v)]))


def test_steps_of_a_shared_node_show_partial_sums() -> None:
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    out = a * b + a
    s0, s1, s2 = viz.backward_steps(out)
    assert s0.grads == {id(out): 1.0}
    assert s1.node is out and s1.grads[id(a)] == 1.0 and s1.pending[id(a)] == 1  # from + only
    assert id(b) not in s1.grads
    assert s2.grads[id(a)] == 1.0 + 3.0 and s2.grads[id(b)] == 2.0 and s2.pending[id(a)] == 0
    assert [(p.label, d, amount) for p, d, amount in s2.sent] == [("a", 3.0, 3.0), ("b", 2.0, 2.0)]


@needs_renderer
def test_write_backward_steps_files_and_page(tmp_path: Path) -> None:
    a, b, c, o = tanh_expression()
    for v in (a, b, c, o):
        v.grad = 7.0  # must survive
    (tmp_path / "step_999.svg").write_text("stale")
    (tmp_path / "notes.txt").write_text("keep me")
    way_on = rf"\(force=True does not change that\): choose a new or empty folder, such as {tmp_path}/steps$"
    with pytest.raises(OutputTaken, match=r"holds 'notes.txt', which microgrid did not write.*" + way_on):
        viz.write_backward_steps(o, tmp_path)  # the folder is replaced as a whole: the user's file stays
    assert sorted(os.listdir(tmp_path)) == ["notes.txt", "step_999.svg"]
    (tmp_path / "notes.txt").unlink()
    files = viz.write_backward_steps(o, tmp_path)
    names = sorted(p.name for p in tmp_path.glob("step_*.svg"))
    assert names == ["step_001.svg", "step_002.svg", "step_003.svg", "step_004.svg"]  # seed + 3 ops
    assert [p.name for p in files.svgs] == names
    assert sorted(os.listdir(tmp_path)) == ["index.html", *names]  # the stale picture went with the old set
    assert all(v.grad == 7.0 for v in (a, b, c, o))
    for k, path in enumerate(files.svgs, start=1):
        svg = path.read_text()
        assert written_by_microgrid(path)  # its mark: `graph -o` onto a step picture may replace it
        assert "#e03131" in svg  # the seeded output, then the processed node, is highlighted
        assert f"step {k} of 4" in svg and files.captions[k - 1].startswith(f"step {k} of 4: ")
    texts = [{t.text for t in ET.fromstring(p.read_text()).iter(f"{SVG}text")} for p in files.svgs]
    t = math.tanh(4.0)
    assert {"grad 1", "grad —"} <= texts[0]
    assert f"grad {format_number(1 - t * t)}" in texts[1]
    assert f"grad {format_number((1 - t * t) * -3.0)}" in texts[3]  # a's grad arrives last
    page = files.index.read_text()
    assert files.index == tmp_path / "index.html"
    for name in names:
        assert name in page
    assert 'id="prev"' in page and 'id="next"' in page
    assert "ArrowLeft" in page and "ArrowRight" in page
    assert "http" not in page and "<link" not in page and not re.search(r"<script[^>]*src", page)
    assert 'id="counter">step 1 of 4<' in page and 'max="4"' in page
    # the caption is drawn in the picture; the page shows it above the picture and as its alt text
    assert page.count(html.escape(files.captions[0])) == 2


RED = "#e03131"
NUMBER = re.compile(r"(?<![\w.])-?(?:\d+(?:\.\d+)?(?:e[+-]\d+)?|inf|nan)(?![\w.])")


def wisconsin_sample_graph(sample: int = 0) -> tuple[Value, object, list[Value]]:
    """A fresh 9-15-1 MLP's BCE loss (from the logit) on one min-max scaled Wisconsin sample."""
    from microgrid.data import load_wisconsin
    from microgrid.functional import bce_with_logits
    from microgrid.nn import MLP

    data = load_wisconsin()
    lo, hi = data.X.min(axis=0), data.X.max(axis=0)
    x = [Value(float(v), label=f"x{i}") for i, v in enumerate((data.X[sample] - lo) / (hi - lo))]
    mlp = MLP(9, [15, 1], seed=0)
    loss = bce_with_logits(mlp.logits(x), int(data.y[sample]))
    loss.label = "loss"
    return loss, mlp, x


def step_scenes():
    from microgrid.viz.draw import Scene

    *_, o = tanh_expression()
    yield "expression", Scene(o, rankdir="LR", show_grad=True, color_by_grad=False, group=None, params=None,
                              inputs=None, max_nodes=600, legend=True, title=None)
    loss, mlp, x = wisconsin_sample_graph()
    for group in ("collapse", "neurons", None):
        yield f"mlp {group}", Scene(loss, rankdir="LR", show_grad=True, color_by_grad=False, group=group,
                                    params=mlp, inputs=x, max_nodes=600, legend=True, title=None)


def painted(scene) -> list[tuple[object, ET.Element]]:
    """Each drawn step of ``scene`` with its picture: the stage painted as the step shows it."""
    from microgrid.viz.steps import drawn_steps, make_stage, paint

    steps = drawn_steps(scene)
    stage = make_stage(scene, steps, captions=True)
    return [(step, paint(stage, step)) for step in steps]


def svg_groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    """The nodes (or edges) of a dot SVG by their title: a node's name, ``tail->head`` for an edge."""
    return {re.sub(r":\w+", "", g.find(f"{SVG}title").text): g for g in svg.iter(f"{SVG}g")
            if g.get("class") == kind}


def red_parts(svg: ET.Element) -> tuple[list[str], list[str], list[str]]:
    """The outlined nodes, the tails of the red edges, and what the red edges carry."""
    hot = [n for n, g in svg_groups(svg, "node").items()
           if any(e.get("stroke") == RED and e.get("stroke-width") == "4" for e in g)]
    tails = [e.split("->")[0] for e, g in svg_groups(svg, "edge").items()
             if g.find(f"{SVG}path").get("stroke") == RED]
    amounts = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "amount"]
    return hot, tails, amounts


def texts_of(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


@needs_renderer
@pytest.mark.slow
def test_every_caption_says_only_what_its_step_draws() -> None:
    """Each step of tanh(a*b + c) and of a 9-15-1 sample (collapsed, neurons, every value): the
    caption's numbers are drawn in the highlighted node or on its red edges (or the nodes those
    edges come from), the grad it names is the highlighted node's, and each name it uses is drawn."""
    counts = {}
    for what, scene in step_scenes():
        steps = painted(scene)
        counts[what] = len(steps)
        for step, svg in steps:
            caption = step.caption
            head = f"step {step.number} of {len(steps)}: "
            assert caption.startswith(head) and "…" not in caption, caption
            assert caption.startswith(" ".join(t for t in texts_of(svg.find(f"{SVG}g"))[:1]))  # drawn above
            nodes = svg_groups(svg, "node")
            hot, tails, amounts = red_parts(svg)
            shown = [t for n in hot + sorted(set(tails)) for t in texts_of(nodes[n])] + amounts
            body = re.sub(r"\w+'\(z\)", "ACTPRIME", caption[len(head):])  # relu'(z) is no quote
            # the grad the caption gives is the one the highlighted box shows
            m = re.search(r"(?:full grad (?:g = )?|its grad is )(\S+?)[,;]?(?: |$)", body)
            assert m, caption
            highlighted_value = [n for n in hot if not n.endswith("_op")]
            assert len(highlighted_value) == 1, (caption, hot)
            assert f"grad {m.group(1)}" in texts_of(nodes[highlighted_value[0]]), (caption, hot)
            everything = texts_of(svg)
            for name in re.findall(r"'([^']*)'", body):  # a node's field, a table cell or a cluster's label
                assert name in shown or name in everything, (name, caption)
            for op in re.findall(r"the (\S+) node", body):
                assert any(texts_of(g) == [op] for n, g in nodes.items() if n.endswith("_op")), (op, caption)
            for key, layer in re.findall(r"(neuron \d+) of (\S+?)[ )]", body):
                assert key in shown and layer in everything, caption
            body = re.sub(r"'[^']*'|neuron \d+ of [^\s)]+|ACTPRIME|[xw]_i", "", body)
            drawn = {n for text in shown for n in NUMBER.findall(text)}
            for number in NUMBER.findall(body):
                assert number in drawn, (number, caption, shown)
    # one step per drawn box: the seed, the loss, then each neuron once (collapsed) or its dot and relu
    assert counts == {"expression": 4, "mlp collapse": 1 + 1 + 16, "mlp neurons": 1 + 1 + 1 + 2 * 15,
                      "mlp None": 1 + 1 + 1 + 2 * 15}


@needs_renderer
def test_a_collapsed_neuron_step_shows_the_contradiction_free_numbers() -> None:
    """The merged step of a hidden relu neuron: its box shows g (its output's grad) and relu'(z), and
    the red edges carry g·relu'(z)·w_i to the inputs, as Python's chain rule gives them."""
    (_, scene), = [s for s in step_scenes() if s[0] == "mlp collapse"]
    scene.root.backward()
    inputs = [v for v in reversed(scene.order) if scene.roles[id(v)] == "input"]  # x0 … x8
    checked = 0
    for step, svg in painted(scene)[2:]:
        box = scene.box_of[id(step.highlight)]
        if box.neuron.layer != "layers.0":
            continue
        weights = [p for p in box.neuron.params if p is not box.neuron.params[-1]]
        z = sum(w.data * xi.data for w, xi in zip(weights, inputs)) + box.neuron.params[-1].data
        slope = 1.0 if z > 0 else 0.0
        g = box.out.grad  # complete now: the engine's own backward()
        texts = texts_of(svg_groups(svg, "node")[f"box{box.number}"])
        assert texts[3:] == [f"grad {format_number(g)}", f"relu'(z) = {format_number(slope)}"]
        assert red_parts(svg)[2] == [format_number(g * slope * w.data) for w in weights]
        assert f"full grad g = {format_number(g)}, relu'(z) = {format_number(slope)}," in step.caption
        checked += 1
    assert checked == 15


@needs_renderer
def test_red_edge_labels_are_inside_the_picture_and_apart() -> None:
    """The output neuron sends to 15 hidden neurons at once: 15 labels, none clipped or overlapping."""
    (_, scene), = [s for s in step_scenes() if s[0] == "mlp collapse"]
    for step, svg in painted(scene):
        _, _, width, height = map(float, svg.get("viewBox").split())
        dx, dy = map(float, re.findall(r"translate\(([-\d.]+) ([-\d.]+)\)", ET.tostring(svg, "unicode"))[0])
        boxes = []
        for text in svg.iter(f"{SVG}text"):
            if text.get("class") == "amount":
                x, y = float(text.get("x")) + dx, float(text.get("y")) + dy
                size = float(text.get("font-size"))
                w = 0.6 * size * len(text.text)  # generous: Helvetica digits are ~0.56 em
                boxes.append((x, y - size, x + w, y))
        assert len(boxes) == len(step.labels) == {1: 0, 2: 1, 3: 15}.get(step.number, 9)
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_too_many_steps_are_refused(tmp_path: Path) -> None:
    x = Value(0.1, label="x")
    y = x
    for _ in range(30):
        y = y * 1.01
    with pytest.raises(GraphTooLarge, match="31 steps"):
        viz.write_backward_steps(y, tmp_path, max_steps=30)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# microgrid graph
# --------------------------------------------------------------------------------------------


@needs_renderer
def test_cli_expression_to_svg(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "graph.svg"
    assert main(["graph", "--expr", "tanh(a*b + c)", "--set", "a=2", "--set", "b=-3", "--set", "c=10",
                 "-o", str(out)]) == 0
    texts = {t.text for t in ET.fromstring(out.read_text()).iter(f"{SVG}text")}
    t = math.tanh(4.0)
    assert {"a", "b", "c", "data 2", "data -3", "data 10", f"grad {format_number((1 - t * t) * -3)}"} <= texts
    assert "wrote" in capsys.readouterr().out


def test_cli_dot_output_no_grad_and_group(tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    assert main(["graph", "--expr", "a*a + 2", "--set", "a=3", "--no-grad", "-o", str(out)]) == 0
    d = parse_dot(out.read_text())
    assert not any(f.startswith("grad") for a in d.values().values() for f in fields(a))
    (mul,) = [n for n, a in d.ops().items() if a["label"].strip('"') == "*"]
    assert d.edges_into(mul) == [node_of(d, "a")] * 2


@pytest.mark.usefixtures("no_renderer")
def test_cli_without_dot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["graph", "--expr", "a + 1", "--set", "a=1"]
    assert main([*args, "-o", str(tmp_path / "g.dot")]) == 0
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "g.svg")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install graphviz" in err and "g.dot" in err
    assert "pip install graphviz-pure" in err and "Traceback" not in err
    assert main([*args, "--steps", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "apt-get install graphviz" in err and "pip install graphviz-pure" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "g.dot"]  # no g.svg, no s/


@pytest.mark.parametrize("argv, message", [
    (["--expr", "__import__('os').system('echo hacked')", "-o", "g.dot"], "attribute access"),
    (["--expr", "a.__class__", "--set", "a=1", "-o", "g.dot"], "attribute access"),
    (["--expr", "a + b", "--set", "a=1", "-o", "g.dot"], "'b' has no value: add --set b="),
    (["--expr", "a", "--set", "a=1", "--set", "z=2", "-o", "g.dot"], "'z' does not appear"),
    (["--expr", "a", "--set", "a=x", "-o", "g.dot"], "not a number"),
    (["--expr", "a", "--set", "a=1", "--set", "a=2", "-o", "g.dot"], "given twice"),
    (["--expr", "a", "-o", "g.dot"], "'a' has no value"),
    (["--expr", "a", "--set", "a=1", "-o", "g.jpeg"], "from the extension '.jpeg'; use one of .svg"),
    (["--expr", "a", "--set", "a=1", "-o", "g"], "-o g: cannot tell the format from a name without an"),
    (["--expr", "a", "--set", "a=1"], "nothing to write"),
    (["--expr", "a*2", "--set", "a=1", "--group", "collapse", "-o", "g.dot"], "an --expr graph has none"),
    (["--expr", "a*2", "--set", "a=1", "--group", "neurons", "-o", "g.dot"], "--group neurons groups"),
    (["--expr", "a", "--set", "a=1", "--no-grad", "--color-by-grad", "-o", "g.dot"], "needs gradients"),
    (["--expr", "tanh(a)", "--set", "a=1", "--max-nodes", "2", "-o", "g.dot"],
     "the graph has 3 nodes to draw, more than --max-nodes 2: draw it with a smaller graph, or a larger"),
    (["--mlp", "9,15,1", "--group", "none", "--max-nodes", "100", "-o", "g.dot"],
     "more than --max-nodes 100: draw it with --group collapse (one box per neuron)"),
    (["--mlp", "9,200,1", "--steps", "st"], "the backward walk has 403 steps, more than the 400"),
    (["--mlp", "9,3,1", "--activations", " ", "-o", "g.dot"], "--activations is empty"),
    (["--mlp", "4,3,1", "-o", "g.dot"], "first size must be 9"),
    (["--mlp", "9,3,2", "-o", "g.dot"], "last size must be 1"),
    (["--mlp", "9,x", "-o", "g.dot"], "argument --mlp: expected positive integers separated by commas"),
    (["--mlp", "9,3,1", "--sample", "5000", "-o", "g.dot"], "numbered 0 to"),
    (["--mlp", "9,3,1", "--sample", "683", "-o", "g.dot"],
     "--sample 683: there are 683 samples, numbered 0 to 682"),
    (["--mlp", "9,3,1", "--set", "a=1", "-o", "g.dot"], "--set"),
    (["--expr", "a", "--set", "a=1", "--sample", "3", "-o", "g.dot"], "--sample is an option of --mlp"),
    (["--expr", "a", "--set", "a=1", "--seed", "0", "-o", "g.dot"], "--seed is an option of --mlp"),
    (["--expr", "a", "--set", "a=1", "--root", "output", "-o", "g.dot"], "--root is an option of --mlp"),
    (["--expr", "a", "--set", "a=1", "--activations", "tanh", "-o", "g.dot"], "--activations is an option"),
    (["--expr", "a", "--set", "a=1", "-o", "no/such/dir/g.dot"], "'no/such/dir' does not exist"),
    (["--expr", "a", "--set", "a=1", "-o", "/dev/null/g.dot"], "'/dev/null' is not a directory"),
    (["--mlp", "9,3,1", "--seed", "-1", "-o", "g.dot"],
     "argument --seed: expected a non-negative integer, got '-1'"),
    # a relu output outside (0, 1): BCE clamps it to a constant that no longer depends on the net
    (["--mlp", "9,15,1", "--activations", "tanh,relu", "--raw-inputs", "-o", "g.dot"],
     "is not a probability"),
])
def test_cli_user_errors_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    if "--steps" in argv and not viz.dot_available():  # that is said first
        message = "the step pictures are SVG; drawing SVG needs Graphviz's 'dot' program"
    assert main(["graph", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("microgrid graph: error:"), err
    assert message in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_cli_unwritable_outputs_are_one_line_errors(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "taken.dot").mkdir()  # -o names a directory
    (tmp_path / "taken").write_text("")  # --steps names a file
    (tmp_path / "st").mkdir()  # -o inside the --steps folder, which is replaced as a whole
    expr = ["graph", "--expr", "a*b", "--set", "a=2", "--set", "b=3"]
    cases = [([*expr, "-o", str(tmp_path / "taken.dot")], f"-o {tmp_path / 'taken.dot'} is a folder"),
             ([*expr, "--steps", str(tmp_path / "taken")],
              f"--steps {tmp_path / 'taken'}: exists and is not a folder"),
             ([*expr, "--steps", str(tmp_path / "st"), "-o", str(tmp_path / "st" / "g.svg")],
              f"-o {tmp_path / 'st' / 'g.svg'} is inside the --steps folder {tmp_path / 'st'}")]
    for argv, message in cases:
        if "--steps" in argv and not viz.dot_available():
            continue
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"microgrid graph: error: {message}"), err


def test_cli_activations_may_have_spaces(tmp_path: Path) -> None:
    out = tmp_path / "g.dot"
    assert main(["graph", "--mlp", "9,3,1", "--activations", "tanh, sigmoid", "-o", str(out)]) == 0
    assert "tanh" in out.read_text()


@needs_renderer
def test_cli_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", "--expr", "a*b + a", "--set", "a=2", "--set", "b=3", "--steps", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("step_*.svg"))) == 3 and (tmp_path / "index.html").exists()
    assert "3 step pictures" in capsys.readouterr().out


@given(st.lists(finite_floats, min_size=1, max_size=3))
def test_draw_dot_never_fails_on_any_numbers(xs: list[float]) -> None:
    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(xs)]
    out = vsum([v * v for v in leaves]).tanh() / leaves[0]
    out.backward()
    d = parse_dot(draw_dot(out, color_by_grad=True).source)
    assert len(d.values()) == 2 * len(xs) + 3


# --------------------------------------------------------------------------------------------
# Networks from microgrid.nn
# --------------------------------------------------------------------------------------------


def test_cli_mlp_graph_at_the_values_limit_is_built_and_one_more_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from microgrid.app.commands import graph

    # 9,3,1 for one sample: 9 inputs, 3·(9+1) + 1·(3+1) weights and biases, 2 per neuron, 4 for the loss
    n_values = 9 + 3 * 10 + 1 * 4 + 2 * 4 + 4
    argv = ["graph", "--mlp", "9,3,1", "--sample", "682", "-o", str(tmp_path / "g.dot")]
    monkeypatch.setattr(graph, "MAX_MLP_VALUES", n_values)
    assert main(argv) == 0  # the last sample, and a graph of exactly the limit
    monkeypatch.setattr(graph, "MAX_MLP_VALUES", n_values - 1)
    capsys.readouterr()
    assert main(argv) == 2
    assert f"would hold about {n_values:,} Values, more than the {n_values - 1:,}" in capsys.readouterr().err


@pytest.mark.parametrize("raw", [False, True])
def test_cli_wisconsin_sample_through_9_15_1_is_one_box_per_neuron(
        raw: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    from microgrid.data import load_wisconsin
    from microgrid.nn import MLP

    out = tmp_path / "mlp.dot"
    argv = ["graph", "--mlp", "9,15,1", "--sample", "3", "--seed", "2", "-o", str(out)]
    assert main(argv + (["--raw-inputs"] if raw else [])) == 0
    said = capsys.readouterr().out
    assert ("raw 1-10 scores" in said) and (("min-max scaled" in said) != raw)
    d = parse_dot(out.read_text())
    boxes = [n for n in d.nodes if n.startswith("box")]
    assert len(boxes) == 16 and len(d.values()) + len(d.ops()) <= 40  # legible: ~30 nodes, not ~250
    data = load_wisconsin()
    inputs = [node_of(d, f"x{i}: {name}") for i, name in enumerate(data.feature_names)]
    for box in boxes[:15]:
        assert d.edges_into(box) == inputs  # every hidden neuron reads the nine features, in order
    assert d.edges_into(boxes[15]) == boxes[:15]
    # the numbers: a NumPy forward pass with the same initial weights (BCE from the logit, y = label)
    W1, b1, W2, b2 = MLP(9, [15, 1], init="he", seed=2).get_weights()  # training's init
    x, y = data.X[3], data.y[3]
    if not raw:  # what training feeds: each feature mapped from [min, max] to [0, 1]
        lo, hi = data.X.min(axis=0), data.X.max(axis=0)
        x = (x - lo) / (hi - lo)
    for i, node in enumerate(inputs):
        assert fields(d.nodes[node])[1] == f"data {format_number(x[i])}"
    h = np.maximum(W1 @ x + b1, 0.0)
    z = (W2 @ h + b2)[0]
    loss = np.logaddexp(0.0, -z if y == 1 else z)
    # the loss says what it computes, from the logit z; the output neuron shows z and the probability
    (root,) = [n for n, a in d.values().items() if fields(a)[0].startswith("loss = ")]
    assert fields(d.nodes[root]) == [f"loss = BCE(sigmoid(z), y) = softplus(z) − y·z; y = {y}",
                                     f"data {format_number(loss)}", "grad 1"]
    for j in range(15):
        expected = [f"neuron {j}", "relu(w·x + b)", f"data {format_number(h[j])}"]
        assert fields(d.nodes[boxes[j]])[:3] == expected
    p = 1 / (1 + math.exp(-z))
    assert fields(d.nodes[boxes[15]])[:3] + fields(d.nodes[boxes[15]])[4:] == [
        "neuron 0", "w·x + b", f"data {format_number(z)}",
        f"z (logit): p(malignant) = sigmoid(z) = {format_number(p)}"]


def test_neurons_view_of_an_mlp_has_one_table_row_per_parameter() -> None:
    from microgrid.nn import MLP

    mlp = MLP(4, [3, 1], seed=1)
    x = [Value(float(i), label=f"x{i}") for i in range(4)]
    out = mlp(x)
    out.backward()
    d = parse_dot(draw_dot(out, group="neurons", params=mlp, inputs=x).source)
    tables = {n: table_rows(a) for n, a in d.nodes.items() if n.startswith("params")}
    assert sum(len(rows) for rows in tables.values()) == len(mlp.parameters()) == 4 * 3 + 3 + 3 + 1
    grads = sorted(format_number(p.grad) for p in mlp.parameters())
    assert sorted(r[2].removeprefix("grad ") for rows in tables.values() for r in rows) == grads


def test_a_parameter_used_outside_its_neuron_stays_visible() -> None:
    from microgrid.nn import MLP

    mlp = MLP(2, [1], activations=["tanh"], seed=0)
    x = [Value(1.0, label="x0"), Value(2.0, label="x1")]
    w0 = mlp.layers[0].neurons[0].w[0]
    loss = mlp(x) + 0.1 * w0**2  # a weight penalty on one weight
    d = parse_dot(draw_dot(loss, group="collapse", params=mlp, inputs=x).source)
    w_node = node_of(d, "layers.0.neurons.0.w.0")
    assert d.edges_into("box0") == [w_node, node_of(d, "x0"), node_of(d, "x1")]
    (pow_op,) = [n for n, a in d.ops().items() if a["label"] == '"**"' or a["label"] == "**"]
    assert d.edges_into(pow_op) == [w_node]
    assert fields(d.nodes["box0"])[:2] == ["neuron 0", "tanh(w·x + b)"]


@needs_renderer
def test_backward_steps_of_a_collapsed_network(tmp_path: Path) -> None:
    from microgrid.nn import MLP

    mlp = MLP(2, [2, 1], seed=0)
    x = [Value(1.0, label="x0"), Value(-1.0, label="x1")]
    out = mlp(x)
    files = viz.write_backward_steps(out, tmp_path, group="collapse", params=mlp, inputs=x)
    assert len(files.svgs) == 1 + 3  # the seed, then one step per neuron (activation and dot together)
    for k, path in enumerate(files.svgs):
        svg = ET.fromstring(path.read_text())
        highlighted = [g.find(f"{SVG}title").text for g in svg.iter(f"{SVG}g") if g.get("class") == "node"
                       and any(e.get("stroke") == "#e03131" for e in g)]
        assert highlighted == [f"box{[2, 2, 1, 0][k]}"]  # the output neuron (seeded, then firing), then back


def test_docs_pictures_exist() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "visualization.md").read_text()
    pictures = re.findall(r"\]\((img/[^)]+\.svg)\)", text)
    assert len(pictures) >= 5
    for rel in pictures:
        svg = (docs / rel).read_text()
        assert svg_node_titles(svg), rel  # a real dot drawing
        assert (docs / rel).stat().st_size < 120_000, rel  # small enough to commit


@needs_renderer
def test_example_script_writes_every_picture(tmp_path: Path) -> None:
    import runpy

    example = Path(__file__).resolve().parents[1] / "examples" / "visualize_graph.py"
    runpy.run_path(str(example))["main"](tmp_path)
    for name in ("expression", "vanishing", "mlp_neurons", "mlp_collapsed"):
        assert svg_node_titles((tmp_path / f"{name}.svg").read_text()), name
    assert len(list((tmp_path / "steps").glob("step_*.svg"))) == 4
    assert (tmp_path / "steps" / "index.html").exists()


# --------------------------------------------------------------------------------------------
# Which program draws: dot, else graphviz-pure, else a clear message
# --------------------------------------------------------------------------------------------


def fake_program(directory: Path, name: str, script: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def test_dot_is_preferred_and_graphviz_pure_is_the_fallback(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(backend.CHOICE_VARIABLE, raising=False)  # the first found, whatever is set here
    both, pure, neither = tmp_path / "both", tmp_path / "pure", tmp_path / "neither"
    fake_program(both, "dot", "exit 0")
    fake_program(both, "graphviz-pure", "exit 0")
    fake_program(pure, "graphviz-pure", "exit 0")
    fake_program(neither, "dotty", "exit 0")
    assert backend.find_renderer([pure, both]) == backend.Renderer("dot", str(both / "dot"))  # dot wins
    fallback = backend.Renderer("graphviz-pure", str(pure / "graphviz-pure"))
    assert backend.find_renderer([neither, pure]) == fallback
    assert backend.find_renderer([neither]) is None
    # an environment that is not activated: graphviz-pure sits next to its python, not on the PATH
    monkeypatch.setenv("PATH", str(neither))
    monkeypatch.setattr("sys.executable", str(pure / "python"))
    assert backend.find_renderer() == fallback
    # MICROGRID_RENDERER picks one program, or none at all (as on a machine without either)
    monkeypatch.setenv("MICROGRID_RENDERER", "graphviz-pure")
    assert backend.find_renderer([both]) == backend.Renderer("graphviz-pure", str(both / "graphviz-pure"))
    monkeypatch.setenv("MICROGRID_RENDERER", "dot")
    assert backend.find_renderer([pure]) is None and backend.find_renderer([both]).program == "dot"
    monkeypatch.setenv("MICROGRID_RENDERER", "none")
    assert backend.find_renderer([both]) is None and not viz.dot_available()
    monkeypatch.setenv("MICROGRID_RENDERER", "cairo")
    with pytest.raises(GraphvizNotFound, match="MICROGRID_RENDERER must be one of dot, graphviz-pure, "
                                               "none; got 'cairo'"):
        backend.find_renderer([both])


def test_the_program_s_failure_is_reported_and_its_warnings_are_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    talky = fake_program(tmp_path / "ok", "graphviz-pure",
                         'cat >/dev/null; echo "Warning: no value for width" >&2; printf "<svg/>"')
    found = backend.Renderer("graphviz-pure", str(talky))
    monkeypatch.setattr(backend, "find_renderer", lambda search=None: found)
    assert backend.pipe("digraph { a }", "svg") == b"<svg/>"
    assert capfd.readouterr() == ("", "")
    failing = 'echo "Error: <stdin>: syntax error in line 1" >&2; exit 1'
    broken = backend.Renderer("dot", str(fake_program(tmp_path / "bad", "dot", failing)))
    monkeypatch.setattr(backend, "find_renderer", lambda search=None: broken)
    with pytest.raises(backend.RenderError, match=r"^dot could not draw the graph: Error: <stdin>: syntax"):
        backend.pipe("digraph {", "svg")


@pytest.mark.usefixtures("no_renderer")
def test_without_any_program_notebooks_and_try_render_say_what_to_install(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    *_, o = tanh_expression()
    graph = draw_dot(o)
    bundle = graph._repr_mimebundle_()
    assert set(bundle) == {"text/plain"} and "apt-get install graphviz" in bundle["text/plain"]
    assert viz.try_render(graph, tmp_path / "g.svg") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "g.svg not drawn" in err and "pip install graphviz-pure" in err
    assert not list(tmp_path.iterdir())
    assert viz.try_render(graph, tmp_path / "g.dot").read_text() == graph.source  # needs no program


@needs_renderer
def test_try_render_draws_when_it_can(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    *_, o = tanh_expression()
    graph = draw_dot(o)
    assert set(svg_node_titles(viz.try_render(graph, tmp_path / "g.svg").read_text())) == set(
        parse_dot(graph.source).nodes)
    assert capsys.readouterr().err == ""


def test_graphviz_pure_draws_every_kind_of_picture(graphviz_pure: backend.Renderer, tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    from microgrid.nn import MLP

    *_, o = tanh_expression()
    o.backward()
    graph = draw_dot(o, color_by_grad=True)  # the legend has non-ASCII text (…, ≥)
    assert set(svg_node_titles(viz.render(graph, tmp_path / "g.svg").read_text())) == set(
        parse_dot(graph.source).nodes)
    assert viz.render(graph, tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    shown = graph._repr_mimebundle_()["image/svg+xml"]  # what a notebook shows
    assert set(svg_node_titles(shown)) == set(parse_dot(graph.source).nodes)
    with pytest.raises(GraphvizNotFound, match=r"graphviz-pure, which is installed, draws only PNG and SVG"):
        viz.render(graph, tmp_path / "g.pdf")
    mlp = MLP(3, [4, 1], seed=0)
    x = [Value(v, label=f"x{i}") for i, v in enumerate((0.5, -1.0, 2.0))]
    loss = mlp(x)
    loss.backward()
    for group in ("neurons", "collapse"):
        graph = draw_dot(loss, group=group, params=mlp, inputs=x)
        svg = viz.render(graph, tmp_path / f"{group}.svg").read_text()
        assert set(svg_node_titles(svg)) == set(parse_dot(graph.source).nodes)
    files = viz.write_backward_steps(loss, tmp_path / "steps", group="collapse", params=mlp, inputs=x)
    # the seed, then one step per drawn neuron box: the output neuron and the 4 hidden ones
    assert len(files.svgs) == 1 + 1 + 4 and all(svg_node_titles(p.read_text()) for p in files.svgs)
    assert capfd.readouterr().err == ""  # graphviz-pure's warnings about non-ASCII widths are not shown


def test_graphviz_pure_through_the_cli(graphviz_pure: backend.Renderer, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    args = ["graph", "--expr", "a*b + a", "--set", "a=2", "--set", "b=3"]
    assert main([*args, "-o", str(tmp_path / "g.svg"), "--steps", str(tmp_path / "s")]) == 0
    assert svg_node_titles((tmp_path / "g.svg").read_text())
    assert len(list((tmp_path / "s").glob("step_*.svg"))) == 3
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "g.pdf")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "draws only PNG and SVG" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "g.pdf").exists()


def test_viz_modules_import_no_private_name_of_another_module() -> None:
    import ast

    package = Path(viz.__file__).parent
    private = [f"{path.name}: {node.module}.{alias.name}" for path in sorted(package.glob("*.py"))
               for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
               if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("microgrid")
               for alias in node.names if alias.name.startswith("_")]
    assert private == []
