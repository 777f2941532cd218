"""The explorer: one self-contained HTML page (inline SVG, CSS and script; no network) to step
through the backward walk and ask any node how its gradient was summed.  Its JSON (as described in
docs/visualization.md) holds each number as computed and as drawn: the script does no arithmetic."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microgrid.engine import Value
from microgrid.safety.atomic import write_text
from microgrid.safety.overwrite import PASS_FORCE, check_page
from microgrid.viz.draw import DEFAULT_MAX_NODES, Scene
from microgrid.viz.steps import DEFAULT_MAX_STEPS, DrawnStep, drawn_steps, fill_page, make_stage
from microgrid.viz.style import format_number

__all__ = ["explore", "Explorer", "write_explorer", "drawing_size", "DrawingSize", "explorer_data"]


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else format_number(x)


def _both(key: str, x: float) -> dict[str, float | str]:  # x for JSON, and as the pictures show it
    return {key: _number(x), f"{key}_text": format_number(x)}


def explorer_data(scene: Scene, steps: list[DrawnStep], title: str) -> dict[str, Any]:
    """The JSON the page draws from: per node ``terms`` (``grad = Σ consumer grad × local``), per
    step what the firing node ``adds`` to each parent."""
    vid = scene.key
    final = steps[-1].walk[-1].grads
    terms: dict[int, list[dict[str, Any]]] = {}
    running: dict[int, float] = {}  # the walk's sums replayed, so a node used twice (a * a) shows both
    step_records = []
    for step in steps:
        adds = []
        for walk in step.walk:
            g = walk.grads[id(walk.node)]
            if walk.index == 0:  # the seed
                running[id(walk.node)] = g
                adds.append({"to": vid[id(walk.node)], "from": None, "local": None, "amount": None,
                             **_both("grad", g), "pending": 0})
            for p, d, amount in walk.sent:
                # the parent's grad after this contribution: the engine's sum, in the engine's order
                after = running[id(p)] = running[id(p)] + amount if id(p) in running else 0.0 + amount
                term = {"from": vid[id(walk.node)], **_both("grad", g), **_both("local", d),
                        **_both("amount", amount), "step": step.number}
                terms.setdefault(id(p), []).append(term)
                adds.append({"to": vid[id(p)], **term, **_both("grad", after), **_both("from_grad", g),
                             "pending": walk.pending[id(p)]})
        step_records.append({"number": step.number, "caption": step.caption, "adds": adds,
                             "highlight": vid[id(step.highlight)], "firing": vid.get(id(step.firing))})
    nodes = [{"id": vid[id(v)], "label": v.label, "op": v.op or None, "role": scene.roles[id(v)],
              **_both("data", v.data), **_both("grad", final.get(id(v), 0.0)), "root": v is scene.root,
              "parents": [vid[id(p)] for p in v.parents], "local": list(map(_number, v.local_grads)),
              "local_text": list(map(format_number, v.local_grads)), "terms": terms.get(id(v), [])}
             for v in reversed(scene.order)]  # creation order
    neurons = [{"box": f"box{b.number}", "key": b.key, "layer": b.neuron.layer, "name": b.neuron.name,
                "pre": vid[id(b.pre)], "out": vid[id(b.out)], "params": [vid[id(p)] for p in b.neuron.params]}
               for b in scene.boxes]
    return {"title": title, "group": scene.group, "nodes": nodes, "neurons": neurons, "steps": step_records}


def _view(scene: Scene, steps: list[DrawnStep], prefix: str) -> dict[str, Any]:
    """The drawing (laid out as the step pictures are) and which SVG node shows each value."""
    import xml.etree.ElementTree as ET

    stage = make_stage(scene, steps, prefix)
    for size in ("width", "height"):  # the page sizes it: zoom and pan
        del stage.svg.attrib[size]
    stage.svg.set("class", "graph")
    return {**stage.view, "svg": ET.tostring(stage.svg, "unicode")}


@dataclass(frozen=True)
class DrawingSize:
    """The drawing that a graph's pictures take, counted before any is drawn: ``nodes`` and ``edges``
    per picture, the ``steps`` pictures and the explorer's ``views`` (collapsed: one more per neuron)."""

    nodes: int
    edges: int
    steps: int
    views: int


def drawing_size(root: Value, rankdir: str = "LR", group: str | None = None,
                 max_nodes: int = DEFAULT_MAX_NODES, max_steps: int | None = None, *, params: Any = None,
                 inputs: Iterable[Value] | None = None) -> DrawingSize:
    """The :class:`DrawingSize` of ``root``'s pictures with these arguments, and their limits
    (:class:`GraphTooLarge`; ``max_steps`` only when given)."""
    scene = Scene(root, rankdir=rankdir, group=group, params=params, inputs=inputs, max_nodes=max_nodes,
                  max_steps=max_steps)
    ops = [v for v in scene.visible if not v.is_leaf]  # each: an edge per operand, one to its result
    edges = sum(len(v.parents) + 1 for v in ops) + sum(len(b.inputs) + 1 for b in scene.boxes)
    merged = sum(1 for b in scene.boxes if b.out is not b.pre)  # activation and w·x + b: one step
    return DrawingSize(scene.n_nodes, edges, scene.n_walk - merged, 1 + len(scene.boxes))


class Explorer:
    """The explorer page of one graph (``page``: the whole HTML): Jupyter shows it inline, in a frame
    of its own (pages side by side never share ids or keys), and :meth:`save` writes it."""

    def __init__(self, page: str, title: str) -> None:
        self.page, self.title = page, title

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.page)}" title="{html.escape(self.title)}" '
                'sandbox="allow-scripts" style="width: 100%; height: 640px; border: 1px solid #dee2e6">'
                "</iframe>")

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the page to ``path`` all at once (a temporary file renamed over it); a file there that
        microgrid did not write is replaced only with ``force`` (else :class:`OutputTaken`)."""
        check_page(path, force, PASS_FORCE)
        return write_text(Path(path), self.page)


def explore(root: Value, rankdir: str = "LR", group: str | None = None, max_nodes: int = DEFAULT_MAX_NODES,
            max_steps: int = DEFAULT_MAX_STEPS, *, params: Any = None, inputs: Iterable[Value] | None = None,
            title: str = "microgrid: explore the backward pass") -> Explorer:
    """The explorer page for the graph of ``root``, to show in Jupyter or save: the arguments and
    limits of :func:`write_backward_steps`, whose walk it replays (``.grad`` is not read or changed)."""
    scene = Scene(root, rankdir=rankdir, group=group, params=params, inputs=inputs, max_nodes=max_nodes,
                  max_steps=max_steps)
    steps = drawn_steps(scene)
    data = explorer_data(scene, steps, title)
    views = {"main": _view(scene, steps, "m-")}
    for box in scene.boxes:  # collapsed neurons: each one's view expanded to its weights
        one = Scene(root, rankdir=rankdir, group=group, params=params, inputs=inputs,
                    max_nodes=max_nodes + 64, expanded=[box.neuron.name])
        views[f"box{box.number}"] = _view(one, drawn_steps(one), f"box{box.number}-")
    svgs = "\n".join(f'<div class="view" data-view="{name}" hidden>{view.pop("svg")}</div>'
                     for name, view in views.items())
    data["views"] = views
    script = (Path(__file__).parent / "explorer.js").read_text(encoding="utf-8")
    return Explorer(fill_page("explorer.html", title, len(steps), data, SCRIPT=script, SVGS=svgs), title)


def write_explorer(root: Value, path: str | Path, *args: Any, force: bool = False, **kwargs: Any) -> Path:
    """Write the explorer page for the graph of ``root`` to ``path``: :func:`explore` (with the
    other arguments), then :meth:`Explorer.save` (checked first, so a refusal costs nothing)."""
    check_page(path, force, PASS_FORCE)
    return explore(root, *args, **kwargs).save(path, force=force)

