"""A model VectorizedMLP cannot express, written on Values and trained at NumPy speed by tracing.

    python examples/skip_connection.py               # 10,000 steps of gradient descent
    python examples/skip_connection.py --iters 2000

The tutorial's 9-15-1 network on the Wisconsin data, changed twice:

* a **skip connection**: the inputs also reach the output directly, through weights of their own,
  so the logit is ``z = w2 . relu(W1 x + b1) + b2 + v . x``;
* a **loss of its own**: binary cross-entropy from the logit in which a malignant row counts
  ``--weight`` times (default 3): missing a malignant tumour costs more than a false alarm.

``VectorizedMLP`` has neither; its backward pass was derived by hand for one architecture and one
loss.  Here the model is a few lines of ``Value`` code for one example, the engine differentiates
it, and ``microgrid.trace`` replays the graph of one example over all 500 training rows with
NumPy.  The script prints the program the engine wrote, checks on the first rows that the graph
is the same for every row (the loss is written without a branch on the label), trains, and
reports the time per step and the test metrics.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from microgrid import Value, dot
from microgrid.data import load_wisconsin
from microgrid.data.metrics import binary_metrics
from microgrid.data.preprocessing import MinMaxScaler, tutorial_split
from microgrid.nn import Layer, Module
from microgrid.trace import trace


class SkipModel(Module):
    """The 9-15-1 network plus a skip connection, and its class-weighted BCE for one example."""

    def __init__(self, weight: float = 3.0) -> None:
        self.weight = weight
        self.hidden = Layer(9, 15, "relu", seed=0)
        self.output = Layer(15, 1, "linear", seed=1)
        self.skip = [Value(0.0, f"skip.{k}") for k in range(9)]  # input k straight to the output

    def logit(self, x: list[Value]) -> Value:
        """One example's score: z = w2 . relu(W1 x + b1) + b2 + v . x."""
        return self.output.logits(self.hidden(x))[0] + dot(self.skip, x)

    def example_loss(self, x: list[Value], y: Value) -> Value:
        """BCE from the logit, softplus((1 - 2y) z), a malignant row (y = 1) counted ``weight``
        times; no ``if`` on the label, so one trace serves every row."""
        return (1.0 + (self.weight - 1.0) * y) * ((1.0 - 2.0 * y) * self.logit(x)).softplus()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=10_000, help="gradient-descent steps (default 10000)")
    parser.add_argument("--lr", type=float, default=0.07, help="learning rate (default 0.07)")
    parser.add_argument("--weight", type=float, default=3.0,
                        help="how many times a malignant row counts in the loss (default 3)")
    args = parser.parse_args(argv)

    data = load_wisconsin()
    train, test = tutorial_split(len(data))  # rows 0-499 train, 501-682 test, as the tutorial
    scaler = MinMaxScaler().fit(data.X[train])
    X_train, y_train = scaler.transform(data.X[train]), data.y[train].astype(float)
    X_test, y_test = scaler.transform(data.X[test]), data.y[test]

    model = SkipModel(args.weight)
    program = trace(model.example_loss, X_train[0], y_train[0], params=model.parameters())
    print(f"{program!r}, traced on one example; the program it replays over the {len(train)} rows:\n")
    print(program.source(len(train)))
    program.check(X_train, y_train, rows=20)  # raises if a row builds another graph
    print("\nthe first 20 rows build the traced graph: no branch on the data")

    start = time.perf_counter()
    history = program.fit(X_train, y_train, lr=args.lr, iters=args.iters)
    seconds = time.perf_counter() - start
    step = 1e6 * seconds / args.iters
    print(f"\n{args.iters:,} steps of gradient descent in {seconds:.2f} s ({step:.0f} µs a step): "
          f"weighted loss {history[0]:.4f} -> {history[-1]:.4f}")
    print(f"skip weights: {' '.join(f'{v.data:+.2f}' for v in model.skip)}")

    scores = trace(model.logit, X_test[0], params=model.parameters()).forward(X_test)  # trained logits
    probabilities = 1.0 / (1.0 + np.exp(-scores))
    m = binary_metrics(y_test, probabilities)
    print(f"test: accuracy {m['accuracy']:.4f}  sensitivity {m['recall']:.4f}  specificity "
          f"{m['specificity']:.4f}  ROC AUC {m['roc_auc']:.4f}  ({m['fn']} of {int(y_test.sum())} malignant "
          f"missed, {m['fp']} false alarms)")


if __name__ == "__main__":
    main()
