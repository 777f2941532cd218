"""Draw what backprop walks: an expression, vanishing gradients, a network, and the backward pass.

    python examples/visualize_graph.py              # writes into graphs/
    python examples/visualize_graph.py docs/img     # (re)makes the pictures of docs/visualization.md

Writes, into the output directory:

* ``expression.svg``     — ``o = tanh(a*b + c)`` with a=2, b=-3, c=10, after ``o.backward()``;
* ``vanishing.svg``      — eight sigmoids in a row, coloured by |grad|: each sigmoid multiplies the
  gradient by sigma'(z) <= 1/4, so it fades from yellow to blue on the way back;
* ``mlp_neurons.svg``    — a 3-2-1 network with a cluster per neuron and per layer;
* ``mlp_collapsed.svg``  — one Wisconsin sample through a fresh 9-15-1 network, one box per neuron
  (made with the ``microgrid graph`` command);
* ``steps/``             — the backward pass of the expression, one SVG per step, and
  ``steps/index.html`` to page through them with the arrow keys.

Without Graphviz's ``dot`` program only DOT source can be written, so each picture is saved as
``.dot`` instead (and the steps are skipped).
"""

from __future__ import annotations

import sys
from pathlib import Path

from microgrid import viz
from microgrid.app.cli import main as microgrid_cli
from microgrid.engine import Value
from microgrid.functional import bce
from microgrid.nn import MLP


def save(graph, out_dir: Path, name: str) -> Path:
    """Render as SVG, or write the DOT source when Graphviz is missing."""
    path = out_dir / (f"{name}.svg" if viz.dot_available() else f"{name}.dot")
    viz.render(graph, path)
    print(f"wrote {path}")
    return path


def expression() -> Value:
    a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    n = a * b + c
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


def sigmoid_chain(depth: int = 8) -> tuple[Value, Value]:
    x = Value(0.5, label="x")
    h = x
    for _ in range(depth):
        h = h.sigmoid()
    h.label = "out"
    return x, h


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)

    o = expression()
    o.backward()
    save(viz.draw_dot(o, title="o = tanh(a*b + c)"), out_dir, "expression")

    x, chain = sigmoid_chain()
    chain.backward()
    save(viz.draw_dot(chain, color_by_grad=True, inputs=[x], title="eight sigmoids: the gradient fades"),
         out_dir, "vanishing")

    net = MLP(3, [2, 1], activations=["relu", "sigmoid"], seed=0)  # bce takes a probability
    x = [Value(v, label=f"x{i}") for i, v in enumerate((5.0, 1.0, 3.0))]
    loss = bce(net(x), 1)
    loss.label = "loss"
    loss.backward()
    save(viz.draw_dot(loss, group="neurons", params=net, inputs=x, title="a 3-2-1 network, one sample"),
         out_dir, "mlp_neurons")

    suffix = ".svg" if viz.dot_available() else ".dot"
    microgrid_cli(["graph", "--mlp", "9,15,1", "--sample", "0", "--color-by-grad",
                   "-o", str(out_dir / f"mlp_collapsed{suffix}")])

    if viz.dot_available():
        files = viz.write_backward_steps(expression(), out_dir / "steps",
                                         title="backward pass of tanh(a*b + c)")
        print(f"wrote {len(files.svgs)} steps; open {files.index} in a browser")
    else:
        print(f"skipped the step-by-step pictures: {viz.INSTALL_HINT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("graphs"))
