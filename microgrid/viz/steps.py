"""The backward walk one step at a time: :func:`backward_steps` replays :meth:`Value.backward`, and
:func:`write_backward_steps` draws each step as an SVG with an ``index.html`` to page through them."""

from __future__ import annotations

import html
import json
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphviz

from microgrid.engine import Value, topological_order
from microgrid.safety.atomic import atomic_folder
from microgrid.safety.overwrite import GENERATOR, PASS_FORCE, check_step_folder, mark_svg
from microgrid.viz import backend
from microgrid.viz.draw import (
    DEFAULT_MAX_NODES,
    INSTALL_HINT,
    GraphTooLarge,
    GraphvizNotFound,
    _Scene,
    dot_available,
    escape_label,
)
from microgrid.viz.style import format_number

__all__ = [
    "backward_steps", "write_backward_steps", "BackwardStep", "DrawnStep", "StepFiles", "DEFAULT_MAX_STEPS",
]

DEFAULT_MAX_STEPS = 400  #: backward steps above which write_backward_steps refuses


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


def _name(scene: _Scene, v: Value) -> str:
    """How a caption names ``v``: as the drawing labels it."""
    if id(v) in scene.row_of:  # a row of a neuron's parameter table (neurons view)
        ni, _, short = scene.row_of[id(v)]
        return f"{short!r} of {scene.neurons[ni].name!r}"
    box = scene.box_of.get(id(v))
    if box is not None:  # inside a collapsed neuron: the box is what is drawn
        return f"{box.key} of {box.neuron.layer or 'the network'}"
    if v.is_leaf:
        return repr(v.label) if v.label else f"the constant {format_number(v.data)}"
    return repr(v.label) if v.label else f"the {v.op} node"


@dataclass(frozen=True)
class DrawnStep:
    """One step as the pictures show it, numbered ``number`` from 1.

    ``walk`` holds the steps of :func:`backward_steps` it covers: one, except that a collapsed
    neuron's activation and its ``w·x + b`` are one step (they are one box).  ``highlight`` is the
    value whose node is outlined, ``firing`` the operation whose edges carry gradient (None for
    the seed), ``edge_labels`` the text on each of those edges (operand id -> texts in operand
    order) and ``note`` an extra field of the highlighted box.
    """

    number: int
    walk: tuple[BackwardStep, ...]
    highlight: Value
    firing: Value | None
    edge_labels: dict[int, list[str]]
    note: str | None
    caption: str

    @property
    def grads(self) -> dict[int, float]:
        return self.walk[-1].grads

    @property
    def pending(self) -> dict[int, int]:
        return self.walk[-1].pending


def _drawn_steps(scene: _Scene) -> list[DrawnStep]:
    """The backward walk of ``scene.root`` grouped and captioned as ``scene`` draws it."""
    walk = list(backward_steps(scene.root))
    groups: list[list[BackwardStep]] = [[walk[0]]]
    for s in walk[1:]:
        box, prev = scene.box_of.get(id(s.node)), groups[-1][-1]
        if box is not None and prev.index > 0 and scene.box_of.get(id(prev.node)) is box:
            groups[-1].append(s)
        else:
            groups.append([s])
    total = len(groups)
    neuron_of_pre = {id(pre): n for n in scene.neurons for pre, _ in n.uses}
    steps = []
    for number, group in enumerate(groups, start=1):
        head = f"step {number} of {total}: "
        last = group[-1]
        if last.index == 0:
            root = scene.root
            seed = format_number(last.grads[id(root)])
            name = _name(scene, root)
            name = f"the output {name}" if root.label or root.is_leaf else f"the output ({name})"
            caption = (head + f"the walk starts at {name}: d output / d output = {seed}, "
                       f"so its grad is {seed}")
            steps.append(DrawnStep(number, tuple(group), root, None, {}, None, caption))
            continue
        node = last.node
        amounts: dict[int, list[str]] = {}  # operand id -> the amounts it receives, in operand order
        for p, _, amount in last.sent:
            amounts.setdefault(id(p), []).append(format_number(amount))
        box = scene.box_of.get(id(node))
        if box is not None:  # a collapsed neuron: its activation (if any) and its w·x + b
            g = last.grads[id(box.out)]
            act = next((s for s in group if s.node is box.out and box.out is not box.pre), None)
            note = None
            factor = ""
            if act is not None:
                note = f"{box.out.op}'(z) = {format_number(act.sent[0][1])}"
                factor = f"·{box.out.op}'(z)"
            bias = f" and g{factor} to its bias" if len(box.pre.parents) % 2 == 1 else ""
            what = (f"passes g{factor}·x_i to its weights and g{factor}·w_i to its inputs{bias}"
                    if node is box.pre and node.op == "dot" else "passes grad × local derivative on")
            caption = (head + f"{_name(scene, node)} has its full grad g = {format_number(g)}"
                       + (f", {note}," if note else "") + f" and {what} (the amounts on the red edges)")
            steps.append(DrawnStep(number, tuple(group), box.out, node, amounts, note, caption))
            continue
        g = last.grads[id(node)]
        gt = format_number(g)
        neuron = neuron_of_pre.get(id(node))
        labels = amounts  # the amounts alone, but for an operation of at most three operands
        if node.op == "dot":
            of = f" of {neuron.name!r}" if neuron is not None and scene.group == "neurons" else ""
            bias = " and g to the bias" if len(node.parents) % 2 == 1 else ""
            what = (f"passes g·x_i to each weight w_i, g·w_i to each input x_i{bias} (the amounts on the red "
                    "edges)")
            caption = head + f"the dot node (w·x + b){of} has its full grad g = {gt} and {what}"
        elif len(node.parents) > 3:
            caption = (head + f"{_name(scene, node)} ({node.op}) has its full grad {gt} and passes grad × "
                       "local derivative to each operand (the amounts on the red edges)")
        else:
            labels, parts = {}, []
            for p, d, amount in last.sent:
                text = f"{gt} × {format_number(d)} = {format_number(amount)}"
                labels.setdefault(id(p), []).append(text)
                parts.append(f"{_name(scene, p)} += {text}")
            own = f"{_name(scene, node)} ({node.op})" if node.label else _name(scene, node)
            caption = (head + f"{own} has its full grad {gt} and passes grad × local derivative to "
                       f"{'each operand' if len(parts) > 1 else 'its operand'}: " + "; ".join(parts))
        steps.append(DrawnStep(number, tuple(group), node, node, labels, None, caption))
    return steps


def _wrap(caption: str, width: int = 110) -> str:
    r"""``caption`` as left-justified Graphviz lines (``\l``) of at most ``width`` characters."""
    return "".join(escape_label(line) + "\\l" for line in textwrap.wrap(caption, width))


@dataclass(frozen=True)
class StepFiles:
    """What :func:`write_backward_steps` wrote: the page, the pictures, their captions."""

    index: Path
    svgs: list[Path]
    captions: list[str]


def _check_walk(scene: _Scene, max_steps: int, what: str) -> None:
    """:class:`GraphTooLarge` when the backward walk of ``scene`` has more than ``max_steps``
    steps; :class:`GraphvizNotFound` when no program here can draw ``what``."""
    n_walk = 1 + sum(1 for v in scene.order if not v.is_leaf)
    if n_walk > max_steps:
        raise GraphTooLarge(f"the backward walk has {n_walk} steps, more than max_steps={max_steps}: "
                            "use a smaller graph or raise max_steps", "steps", n_walk, max_steps)
    if not dot_available():
        raise GraphvizNotFound(f"writing {what} needs the Graphviz 'dot' program, which is not "
                               f"installed: {INSTALL_HINT}")


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
    force: bool = False,
) -> StepFiles:
    """One SVG per backward step (``step_001.svg`` …) and an ``index.html`` to page through them.

    Step 1 seeds the output's grad with 1; each later step is one drawn node (a collapsed neuron's
    activation and ``w·x + b`` are one step) whose grad is complete, passing grad × local
    derivative along its edges, which are red and labelled with the amounts.  Gradients show as
    summed so far (``—`` = not reached, ``…`` = more to come); every number in a caption is drawn
    in the highlighted node or on its red edges.  The user's ``.grad`` values are not read or
    changed.  ``out_dir`` is written as a unit (built beside, then swapped in) and replaces an
    earlier step folder; a folder holding other files is refused (:class:`OutputTaken`), and an
    ``index.html`` that microgrid did not write is replaced only with ``force``.  Needs Graphviz's
    ``dot``.
    """
    scene = _Scene(root, rankdir=rankdir, show_grad=True, color_by_grad=color_by_grad, group=group,
                   params=params, inputs=inputs, max_nodes=max_nodes, legend=True, title=None)
    _check_walk(scene, max_steps, "the step pictures")
    steps = _drawn_steps(scene)
    out = Path(out_dir)
    check_step_folder(out, force, PASS_FORCE)
    width = max(3, len(str(len(steps))))
    svgs, captions = [], []
    with atomic_folder(out) as tmp:
        for step in steps:
            name = f"step_{step.number:0{width}d}.svg"
            (tmp / name).write_bytes(mark_svg(backend.pipe(_step_graph(scene, step).source, "svg")))
            svgs.append(out / name)
            captions.append(step.caption)
        page = _index_html(title, [p.name for p in svgs], captions)
        (tmp / "index.html").write_text(page, encoding="utf-8")
    index = out / "index.html"
    return StepFiles(index, svgs, captions)


def _step_graph(scene: _Scene, step: DrawnStep) -> graphviz.Digraph:
    """The picture of one drawn step (caption included, wrapped, never cut)."""
    return scene.emit(grads=step.grads, pending=step.pending, highlight=step.highlight, firing=step.firing,
                      edge_labels=step.edge_labels, note=step.note, caption=_wrap(step.caption))


def _index_html(title: str, files: list[str], captions: list[str]) -> str:
    """The page: ``steps.html`` (layout, CSS and script, no network) filled in to step through the SVGs.

    The caption is part of each picture; the page shows it once, as the picture's text
    alternative, and counts "step k of n" as the pictures and file names do."""
    return _fill_page("steps.html", title, len(files), {"files": files, "captions": captions},
                      FIRST_FILE=html.escape(files[0]), FIRST_CAPTION=html.escape(captions[0]))


def _fill_page(template: str, title: str, n: int, data: Any, **extra: str) -> str:
    """The page ``template`` (a file beside this module) with each ``{{NAME}}`` filled in: GENERATOR,
    TITLE (``title``, escaped), N (``n``), DATA (``data`` as JSON) and ``extra`` as given."""
    text = (Path(__file__).parent / template).read_text(encoding="utf-8")
    # no "<" at all inside the script: "</script>" would end it, "<!--<script>" would make it swallow the page
    payload = json.dumps(data, ensure_ascii=False, allow_nan=False).replace("<", "\\u003c")
    parts = {"GENERATOR": GENERATOR, "TITLE": html.escape(title), "N": str(n), "DATA": payload, **extra}
    return re.sub(r"\{\{(\w+)\}\}", lambda m: parts[m.group(1)], text)  # one pass: no re-substitution
