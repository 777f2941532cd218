"""The backward walk one step at a time: :func:`backward_steps` replays :meth:`Value.backward`, and
:func:`write_backward_steps` draws each step as an SVG with an ``index.html`` to page through them,
all painted on one :class:`Stage` (as the explorer page is), so nodes keep their places and sizes."""

from __future__ import annotations

import copy
import html
import json
import re
import textwrap
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microgrid.engine import Value, topological_order
from microgrid.safety.atomic import atomic_folder, write_bytes, write_text
from microgrid.safety.overwrite import GENERATOR, PASS_FORCE, check_step_folder, mark_svg
from microgrid.viz import backend
from microgrid.viz.draw import DEFAULT_MAX_NODES, Scene, escape_label
from microgrid.viz.style import RED, format_number, grad_bin

if TYPE_CHECKING:  # loaded where pictures are made: it loads pyexpat, in whose import a Ctrl-C can be lost
    import xml.etree.ElementTree as ET

__all__ = ["backward_steps", "write_backward_steps", "drawn_steps", "fill_page", "make_stage", "paint",
           "BackwardStep", "DrawnStep", "Stage", "StepFiles", "DEFAULT_MAX_STEPS"]

DEFAULT_MAX_STEPS = 400  #: backward steps above which write_backward_steps refuses
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class BackwardStep:
    """The state after one step of the backward walk: step 0 seeds ``d root / d root = 1``; step
    ``k`` has the k-th operation ``node`` add ``node.grad * d node / d parent`` to each parent
    (``sent``: ``(parent, local, amount)`` per operand).  ``grads``: ``id(value)`` -> the gradient
    summed so far (absent: not reached); ``pending``: -> the contributions still to come."""

    index: int
    node: Value
    sent: tuple[tuple[Value, float, float], ...]
    grads: dict[int, float]
    pending: dict[int, int]


def backward_steps(root: Value, seed: float = 1.0) -> Iterator[BackwardStep]:
    """Replay :meth:`Value.backward` one operation at a time, without touching any ``.grad``: the
    engine's order and float operations, so the last step's gradients are its, bit for bit."""
    order = topological_order(root)
    pending = dict.fromkeys(map(id, order), 0) | Counter(id(p) for v in order for p in v.parents)
    grads: dict[int, float] = {id(root): float(seed)}
    yield BackwardStep(0, root, (), dict(grads), dict(pending))
    for k, node in enumerate((v for v in order if not v.is_leaf), start=1):  # a leaf passes nothing on
        g = grads[id(node)]
        sent = []
        for p, d in zip(node.parents, node.local_grads):
            amount = g * d if g and d else 0.0  # the engine's zero rule: a 0 factor passes nothing
            grads[id(p)] = grads[id(p)] + amount if id(p) in grads else 0.0 + amount
            pending[id(p)] -= 1
            sent.append((p, d, amount))
        yield BackwardStep(k, node, tuple(sent), dict(grads), dict(pending))


def _name(scene: Scene, v: Value) -> str:
    """How a caption names ``v``: as the drawing labels it."""
    if id(v) in scene.row_of:  # a row of a neuron's parameter table (neurons view)
        ni, _, short = scene.row_of[id(v)]
        return f"{short!r} of {scene.neurons[ni].name!r}"
    box = scene.box_of.get(id(v))
    if box is not None:  # inside a collapsed neuron: the box is what is drawn
        return f"{box.key} of {box.neuron.layer or 'the network'}"
    if v.label:
        return repr(v.label)
    return f"the constant {format_number(v.data)}" if v.is_leaf else f"the {v.op} node"


@dataclass(frozen=True)
class DrawnStep:
    """One step as the pictures show it, numbered ``number`` from 1: ``walk``, the steps of
    :func:`backward_steps` it covers (a collapsed neuron's activation and ``w·x + b`` are one step);
    ``highlight``, the value outlined; ``firing``, the operation (None for the seed) whose edges into
    ``head`` carry ``labels[edge]`` from ``receivers`` (drawn nodes); ``note``, the box's slope."""

    number: int
    walk: tuple[BackwardStep, ...]
    highlight: Value
    firing: Value | None
    head: str | None
    labels: dict[str, str]
    receivers: list[str]
    note: str | None
    caption: str


def drawn_steps(scene: Scene) -> list[DrawnStep]:
    """The backward walk of ``scene.root`` grouped and captioned as ``scene`` draws it: the steps of a
    collapsed neuron (its activation, its ``w·x + b``) are one."""
    box = lambda s: scene.box_of.get(id(s.node), s.index) if s.index else 0  # the seed on its own
    groups = [list(run) for _, run in groupby(backward_steps(scene.root), box)]
    return [_drawn_step(scene, number, group, f"step {number} of {len(groups)}: ")
            for number, group in enumerate(groups, start=1)]


def _drawn_step(scene: Scene, number: int, group: list[BackwardStep], head: str) -> DrawnStep:
    """The drawn step ``number`` covering the walk's steps ``group``, its caption after ``head``."""
    last = group[-1]
    if last.index == 0:
        root, seed = scene.root, format_number(last.grads[id(scene.root)])
        name = _name(scene, root)
        name = f"the output {name}" if root.label or root.is_leaf else f"the output ({name})"
        caption = head + f"the walk starts at {name}: d output / d output = {seed}, so its grad is {seed}"
        return DrawnStep(number, tuple(group), root, None, None, {}, [], None, caption)
    node = last.node
    box = scene.box_of.get(id(node))
    target, operands = (scene.node_id(box.pre), box.inputs) if box else (scene.op_id(node), node.parents)
    receivers = [scene.node_id(p) for p in operands]
    gt = format_number(last.grads[id(node)])
    small = box is None and node.op != "dot" and len(node.parents) <= 3
    sent = [(p, f"{gt} × {format_number(d)} = {format_number(amount)}" if small else format_number(amount))
            for p, d, amount in last.sent]
    drawn = [text for p, text in sent if box is None or scene.box_of.get(id(p)) is not box]  # as operands
    labels = {f"e_{target}_{k}": text for k, text in enumerate(drawn)}
    if box is not None:  # a collapsed neuron: its activation (if any) and its w·x + b
        act = next((s for s in group if s.node is box.out and box.out is not box.pre), None)
        note = f"{box.out.op}'(z) = {format_number(act.sent[0][1])}" if act else None
        factor = f"·{box.out.op}'(z)" if act else ""
        bias = f" and g{factor} to its bias" if len(box.pre.parents) % 2 == 1 else ""
        what = (f"passes g{factor}·x_i to its weights and g{factor}·w_i to its inputs{bias}"
                if node is box.pre and node.op == "dot" else "passes grad × local derivative on")
        g = format_number(last.grads[id(box.out)])
        caption = (head + f"{_name(scene, node)} has its full grad g = {g}" + (f", {note}," if note else "")
                   + f" and {what} (the amounts on the red edges)")
        return DrawnStep(number, tuple(group), box.out, node, target, labels, receivers, note, caption)
    if node.op == "dot":
        neuron = next((n for n in scene.neurons if any(pre is node for pre, _ in n.uses)), None)
        of = f" of {neuron.name!r}" if neuron is not None and scene.group == "neurons" else ""
        bias = " and g to the bias" if len(node.parents) % 2 == 1 else ""
        caption = (head + f"the dot node (w·x + b){of} has its full grad g = {gt} and passes g·x_i to "
                   f"each weight w_i, g·w_i to each input x_i{bias} (the amounts on the red edges)")
    elif len(node.parents) > 3:
        caption = (head + f"{_name(scene, node)} ({node.op}) has its full grad {gt} and passes grad × "
                   "local derivative to each operand (the amounts on the red edges)")
    else:
        own = f"{_name(scene, node)} ({node.op})" if node.label else _name(scene, node)
        caption = (head + f"{own} has its full grad {gt} and passes grad × local derivative to "
                   f"{'each operand' if len(sent) > 1 else 'its operand'}: "
                   + "; ".join(f"{_name(scene, p)} += {text}" for p, text in sent))
    return DrawnStep(number, tuple(group), node, node, target, labels, receivers, None, caption)


@dataclass
class Stage:
    """A walk's graph drawn once: ``svg`` with grad fields at their widest, edge amounts placed and
    ``lines`` caption lines; ``view``: :func:`_view`; ``values``: key ``v<k>`` -> Value."""

    scene: Scene
    svg: ET.Element
    view: dict[str, Any]
    values: dict[str, Value]
    lines: int


def make_stage(scene: Scene, steps: list[DrawnStep], prefix: str = "", captions: bool = False) -> Stage:
    """Lay out the graph of ``steps`` once (with room for their ``captions``, wrapped, above it)."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", SVG[1:-1])
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    texts: dict[int, str] = {}
    for step in steps:
        for i, g in step.walk[-1].grads.items():
            texts[i] = max(texts.get(i, "grad —"), f"grad {format_number(g)} …", key=len)
    labels = {name: text for step in steps for name, text in step.labels.items()}
    notes = {scene.box_of[id(s.highlight)].number: s.note for s in steps if s.note}
    wrapped = [_caption_lines(s.caption) for s in steps] if captions else [[]]
    widest = max((line for lines in wrapped for line in lines), key=len, default="")
    lines = max(map(len, wrapped))
    caption = (escape_label(widest) + "\\l") * lines or None
    graph = scene.emit(grad_texts=texts, edge_labels=labels, notes=notes, caption=caption, ids=prefix)
    svg = ET.fromstring(backend.pipe(graph.source, "svg"))
    edges = {g.get("id"): g for g in svg.iter(f"{SVG}g") if g.get("class") == "edge"}
    nodes = [b for g in svg.iter(f"{SVG}g") if g.get("class") == "node" and (b := _bounds(g))]
    for step in steps:  # what each edge carries, placed where it is read and apart from the step's others
        placed: list[tuple[float, ...]] = []
        for name, text in step.labels.items():
            edge = edges[prefix + name]
            curve = _curve(next(edge.iter(f"{SVG}path")).get("d", ""))
            z, z1 = complex(*curve[0]), complex(*curve[1])  # points as x + iy
            u = (z - z1) / max(1e-9, abs(z - z1))  # back into the operand: the gradient's arrow
            tip = " ".join(f"{p.real:.2f},{p.imag:.2f}" for p in (z, z - u * (6 - 2.5j), z - u * (6 + 2.5j)))
            ET.SubElement(edge, f"{SVG}polygon", {"class": "back", "fill": RED, "stroke": RED, "points": tip})
            if edge.find(f"{SVG}text") is not None:  # dot made room for it
                continue
            width = 6.2 * len(text)  # wider than Helvetica's 10-point digits (5.6)
            boxes = [(x + dx, y + dy - 10, x + dx + width, y + dy + 3) for dy in (-3, -15, 25)  # on, above,
                     for x, y in curve[1:len(curve) * 3 // 4] for dx in (3, -3 - width)]  # below the edge
            apart = [b for b in boxes if not any(_overlap(b, o) for o in placed)]
            box = next((b for b in apart if not any(_overlap(b, n) for n in nodes)), (apart or boxes)[0])
            placed.append(box)
            ET.SubElement(edge, f"{SVG}text", {
                "class": "amount", "x": f"{box[0]:.2f}", "y": f"{box[3] - 3:.2f}", "font-size": "10.00",
                "font-family": "Helvetica,sans-Serif", "fill": RED, "stroke": "white", "stroke-width": "3",
                "paint-order": "stroke"}).text = text
    return Stage(scene, svg, _view(scene, prefix), {scene.key[id(v)]: v for v in scene.order}, lines)


def _numbers(text: str | None) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?", text or "")]


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def _bounds(group: ET.Element) -> tuple[float, ...] | None:
    """The box around an SVG group's shapes, in graph coordinates: (left, top, right, bottom)."""
    xs, ys = [], []
    for e in group.iter():
        nums = _numbers(e.get("points") or e.get("d"))
        if e.tag == f"{SVG}ellipse":
            cx, cy, rx, ry = (float(e.get(k, 0)) for k in ("cx", "cy", "rx", "ry"))
            nums = [cx - rx, cy - ry, cx + rx, cy + ry]
        xs += nums[::2]
        ys += nums[1::2]
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def _curve(d: str, n: int = 12) -> list[tuple[float, float]]:
    """Points along an SVG path of cubic Bézier segments (``M p0 C p1 p2 p3 p4 p5 p6 …``), from its start."""
    nums = _numbers(d)
    pts = list(zip(nums[::2], nums[1::2]))
    return [((1 - t) ** 3 * a[0] + 3 * (1 - t) ** 2 * t * b[0] + 3 * (1 - t) * t * t * c[0] + t ** 3 * e[0],
             (1 - t) ** 3 * a[1] + 3 * (1 - t) ** 2 * t * b[1] + 3 * (1 - t) * t * t * c[1] + t ** 3 * e[1])
            for i in range(0, len(pts) - 3, 3) for a, b, c, e in [pts[i:i + 4]]
            for t in (k / n for k in range(n))] or pts


def _view(scene: Scene, prefix: str) -> dict[str, Any]:
    """Which SVG node shows each value's grad, and which node its incoming edges point at."""
    shows: dict[str, str] = {}
    head: dict[str, str] = {}
    tables: dict[str, list[str]] = {}
    for v in scene.order:
        key, box = scene.key[id(v)], scene.box_of.get(id(v))
        if id(v) in scene.row_of:
            tables.setdefault(scene.node_id(v), []).append(key)
            continue
        if box is None or v is box.out:
            shows[key] = scene.node_id(v)
        head[key] = scene.node_id(box.pre) if box else scene.op_id(v)
    return {"prefix": prefix, "shows": shows, "head": head, "tables": tables}


def paint(stage: Stage, step: DrawnStep) -> ET.Element:
    """The stage as it looks at ``step``: grads summed so far, the firing node and edges in red."""
    svg = copy.deepcopy(stage.svg)
    scene, view, pre = stage.scene, stage.view, stage.view["prefix"]
    groups = {g.get("id"): g for g in svg.iter(f"{SVG}g")}
    last = step.walk[-1]

    def grad(key: str) -> tuple[str, float | None]:
        v = stage.values[key]
        g = last.grads.get(id(v))
        return ("grad —" if g is None else f"grad {format_number(g)}" + " …" * (last.pending[id(v)] > 0), g)

    def fill(shape: ET.Element | None, texts: list[ET.Element], g: float | None) -> None:
        if scene.color_by_grad and shape is not None:
            b = grad_bin(g) if g is not None else None
            shape.set("fill", b.fill if b else "white")
            for t in texts:
                t.set("fill", b.font if b else "black")

    for key, name in view["shows"].items():
        node, (text, g) = groups[pre + name], grad(key)
        texts = list(node.iter(f"{SVG}text"))
        for t in (t for t in texts if (t.text or "").startswith("grad ")):
            t.text = text
        fill(next((e for e in node if e.tag in (f"{SVG}polygon", f"{SVG}path")), None), texts, g)
    for name, keys in view["tables"].items():
        cells = list(groups[pre + name])
        rows = [i for i, e in enumerate(cells) if (e.text or "").startswith("grad ")]
        for key, i in zip(keys, rows):
            cells[i].text, g = grad(key)
            fill(next((e for e in reversed(cells[:i]) if e.tag == f"{SVG}polygon"), None), [cells[i]], g)
    for name in filter(None, [scene.node_id(step.highlight), step.head]):  # outlined: the first shape
        outline = next(e for e in groups[pre + name] if e.tag[len(SVG):] in ("polygon", "path", "ellipse"))
        outline.attrib.update({"stroke": RED, "stroke-width": "4"})
    _fire(svg[0], None if step.head is None else f"{pre}e_{step.head}_")
    lines = [t for t in svg[0] if t.tag == f"{SVG}text"][:stage.lines]
    for line, caption in zip(lines, _caption_lines(step.caption) + [""] * len(lines)):
        line.text = caption
    return svg


def _fire(top: ET.Element, prefix: str | None) -> None:
    """Edges whose ids start with ``prefix``: red, arrows back, drawn last, amounts on top; the rest bare."""
    carried: list[tuple[ET.Element, ET.Element]] = []
    for edge in [g for g in top if g.get("class") == "edge"]:
        on = prefix is not None and edge.get("id", "").startswith(prefix)
        for e in list(edge):
            back = e.tag == f"{SVG}text" or e.get("class") == "back"  # shown only while the edge fires
            if e.tag == f"{SVG}path" and on:
                e.attrib.update({"stroke": RED, "stroke-width": "2"})
            elif back != on and (back or e.tag == f"{SVG}polygon"):
                edge.remove(e)
        if on:  # drawn last, over the other edges, and what they carry over them all
            top.remove(edge)
            top.append(edge)
            carried += [(edge, label) for label in edge.findall(f"{SVG}text")]
    for edge, label in carried:
        edge.remove(label)
        label.set("class", "amount")
        top.append(label)


def _caption_lines(caption: str) -> list[str]:
    """A step's caption as its picture shows it: at most 20 lines of 110 characters."""
    return textwrap.wrap(caption, 110, max_lines=20)


@dataclass(frozen=True)
class StepFiles:
    """What :func:`write_backward_steps` wrote: the page, the pictures, their captions."""

    index: Path
    svgs: list[Path]
    captions: list[str]


def write_backward_steps(root: Value, out_dir: str | Path, rankdir: str = "LR", color_by_grad: bool = False,
                         group: str | None = None, max_nodes: int = DEFAULT_MAX_NODES,
                         max_steps: int = DEFAULT_MAX_STEPS, *, params: Any = None,
                         inputs: Iterable[Value] | None = None,
                         title: str = "microgrid: the backward pass, step by step",
                         force: bool = False) -> StepFiles:
    """One SVG per backward step (``step_001.svg`` …) and an ``index.html`` to page through them, as
    docs/visualization.md shows; ``.grad`` is not read or changed.  ``out_dir`` is written as a unit;
    a folder holding other files is refused (:class:`OutputTaken`), an ``index.html`` that microgrid
    did not write is replaced only with ``force``.  Needs ``dot`` (or ``graphviz-pure``)."""
    scene = Scene(root, rankdir=rankdir, color_by_grad=color_by_grad, group=group, params=params,
                  inputs=inputs, max_nodes=max_nodes, max_steps=max_steps)
    import xml.etree.ElementTree as ET

    steps = drawn_steps(scene)
    out = Path(out_dir)
    check_step_folder(out, force, PASS_FORCE)
    stage = make_stage(scene, steps, captions=True)
    digits = max(3, len(str(len(steps))))
    names = [f"step_{step.number:0{digits}d}.svg" for step in steps]
    captions = [step.caption for step in steps]
    _, _, width, height = _numbers(stage.svg.get("viewBox"))
    dx, dy = _numbers(stage.svg[0].get("transform"))[-2:]  # dot's translate(dx dy) of the whole graph

    def extent(ids: set[str]) -> list[float]:
        """The box around ``ids`` (nodes, edges) as fractions of the picture: [left, top, right, bottom]."""
        left, top, right, bottom = zip(*[b for g in stage.svg.iter(f"{SVG}g") if g.get("id") in ids
                                         and (b := _bounds(g))])
        return [round(x, 5) for x in ((min(left) + dx) / width, (min(top) + dy) / height,
                                      (max(right) + dx) / width, (max(bottom) + dy) / height)]

    end = max(float(t.get("y", 0)) + 6 for t in stage.svg[0] if t.tag == f"{SVG}text")  # below the caption
    view = {"files": names, "captions": captions, "top": round((end + dy) / height, 5),
            "boxes": [extent({scene.node_id(step.highlight)}) for step in steps],
            "areas": [extent({scene.node_id(step.highlight), *step.labels, *step.receivers})
                      for step in steps]}
    with atomic_folder(out) as tmp:
        for name, step in zip(names, steps):  # one write each: a full disk names the file
            write_bytes(tmp / name, mark_svg(ET.tostring(paint(stage, step), "utf-8", xml_declaration=True)))
        page = fill_page("steps.html", title, len(steps), view, FIRST_FILE=html.escape(names[0]),
                         FIRST_CAPTION=html.escape(captions[0]), WIDTH=f"{width:g}")
        write_text(tmp / "index.html", page)
    return StepFiles(out / "index.html", [out / name for name in names], captions)


def fill_page(template: str, title: str, n: int, data: Any, **extra: str) -> str:
    """The page ``template`` (a file beside this module) with each ``{{NAME}}`` filled in: GENERATOR,
    TITLE (``title``, escaped), N (``n``), DATA (``data`` as JSON) and ``extra`` as given."""
    text = (Path(__file__).parent / template).read_text(encoding="utf-8")
    # no "<" at all inside the script: "</script>" would end it, "<!--<script>" would make it swallow the page
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    parts = {"GENERATOR": GENERATOR, "TITLE": html.escape(title), "N": str(n), "DATA": payload, **extra}
    page = re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], text)  # one pass: no re-substitution
    # a lone surrogate (UTF-8 cannot encode it) as its escape, which in the JSON is the same string
    return page.encode("utf-8", "backslashreplace").decode("utf-8")
