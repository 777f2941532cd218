"""The backward walk one step at a time: :func:`backward_steps` replays :meth:`Value.backward`, and
:func:`write_backward_steps` draws each step as an SVG with an ``index.html`` to page through them."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microgrid.engine import Value, topological_order
from microgrid.viz.draw import (
    DEFAULT_MAX_NODES,
    INSTALL_HINT,
    GraphTooLarge,
    GraphvizNotFound,
    _Scene,
    dot_available,
)
from microgrid.viz.style import format_number

__all__ = ["backward_steps", "write_backward_steps", "BackwardStep", "StepFiles", "DEFAULT_MAX_STEPS"]

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
    ``out_dir`` are replaced.  Needs the Graphviz ``dot`` program.
    """
    scene = _Scene(root, rankdir=rankdir, show_grad=True, color_by_grad=color_by_grad, group=group,
                   params=params, inputs=inputs, max_nodes=max_nodes, legend=True, title=None)
    n_steps = 1 + sum(1 for v in scene.order if not v.is_leaf)
    if n_steps > max_steps:
        raise GraphTooLarge(f"the backward walk has {n_steps} steps, more than max_steps={max_steps}: "
                            "use a smaller graph or raise max_steps", "steps", n_steps, max_steps)
    if not dot_available():
        raise GraphvizNotFound(f"writing the step pictures needs the Graphviz 'dot' program: {INSTALL_HINT}")
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
        path.write_bytes(graph.pipe(format="svg"))
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
