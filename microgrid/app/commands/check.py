"""``microgrid check``: autograd vs hand-derived vs traced vs finite-difference gradients on
Wisconsin rows."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from microgrid.app.budgets import check_estimate
from microgrid.app.cli import UsageError
from microgrid.app.commands import options
from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import MinMaxScaler
from microgrid.functional import ACTIVATIONS, LOSSES
from microgrid.gradcheck import compare_gradients
from microgrid.nn import initial_weights

DESCRIPTION = """\
Build the same network twice from the same weights — as a graph of scalar Values (gradients by
the autograd engine) and in NumPy (gradients by the hand-derived backward pass) — and trace the
graph of one example to replay it over every row (gradients by the traced program), and compare
their gradients of the mean loss on the first N complete Wisconsin rows (features min-max scaled)
with each other and with central finite differences, per parameter tensor.  Weights are drawn
with He initialization from --seed; biases are drawn N(0, 0.1^2) rather than zero so that no
pre-activation sits exactly on the ReLU kink, where the derivative is undefined.  Exits 1 when
the gradients disagree, 0 otherwise."""

EPILOG = """\
examples:
  microgrid check                                   # 9-15-1, ReLU, 50 rows
  microgrid check --hidden 16,8 --activation tanh --samples 200
  microgrid check --loss mse --eps 1e-5 --tol 1e-12"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("check",
                              help="compare autograd, hand-derived, traced and finite-difference gradients",
                              description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--hidden", type=options.widths, default=(15,), metavar="WIDTHS",
                   help="hidden layer widths, e.g. 15 (default) or 16,8")
    p.add_argument("--activation", choices=tuple(ACTIVATIONS), default="relu",
                   help="activation of the hidden layers (default relu; the output is a sigmoid)")
    p.add_argument("--loss", choices=tuple(LOSSES), default="bce", help="loss (default bce)")
    p.add_argument("--samples", type=options.positive_int, default=50, metavar="N",
                   help="how many Wisconsin rows (the first N of the 683 complete ones; default 50)")
    p.add_argument("--seed", type=options.seed, default=0, help="seed of the weights (default 0)")
    p.add_argument("--eps", type=options.step_size, default=1e-6,
                   help="finite-difference step (default 1e-6)")
    p.add_argument("--tol", type=options.positive_float, default=1e-10,
                   help="largest relative difference allowed between autograd and the hand-derived "
                        "and traced gradients (default 1e-10)")
    options.add_budget_options(p, "a scalar-engine run")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    data = load_wisconsin()
    if not 1 <= args.samples <= len(data.X):
        raise UsageError(f"--samples must be between 1 and {len(data.X)} (the complete rows), "
                         f"got {args.samples}")
    dims = [data.X.shape[1], *args.hidden, 1]
    options.within_budget(check_estimate(dims, args.samples), args)  # before building anything
    X = MinMaxScaler().fit(data.X).transform(data.X[: args.samples])
    y = data.y[: args.samples]

    weights = initial_weights(dims, init="he", seed=args.seed)
    bias_rng = np.random.default_rng([args.seed, 1])
    for b in weights[1::2]:
        b[:] = 0.1 * bias_rng.standard_normal(b.shape)
    activations = [args.activation] * len(args.hidden) + ["sigmoid"]
    report = compare_gradients(dims, weights, X, y, activations=activations, loss=args.loss,
                               eps=args.eps, tol=args.tol)
    print(report.table())
    return 0 if report.ok else 1
