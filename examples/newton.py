"""Newton's method vs gradient descent on logistic regression, with the Hessian from the engine.

The model: 9 weights ``w`` and a bias ``b`` on the min-max scaled Wisconsin scores ``x_i`` (each
feature mapped to [0, 1]); with ``s_i = +1`` for malignant and ``-1`` for benign, the loss is the
mean binary cross-entropy plus a small L2 term on the weights (not the bias)::

    L(w, b) = (1/n) sum_i softplus(-s_i (w . x_i + b)) + (l2 / 2) |w|^2

``softplus(-s z) = log(1 + e^(-s z))`` is the cross-entropy of the logit ``z`` written without
overflow.  ``L`` is convex; the small L2 term makes its minimum unique and keeps its Hessian
well conditioned (the run prints the condition number), so Newton's method converges fast.

* Newton: ``theta <- theta - H^-1 grad L`` with ``grad L`` and ``H`` computed by microgrid on the
  scalar graph (:func:`microgrid.higher.value_grad_hessian`: the gradient recorded with
  ``create_graph=True``, then differentiated once per parameter) and the 10x10 system solved
  with ``numpy.linalg.solve``.
* Gradient descent: ``theta <- theta - grad L / C`` with the gradient from ``microgrid.grad``
  (the ordinary float path) and ``C`` the largest eigenvalue of the engine's Hessian at
  ``theta = 0``.  Because ``sigmoid' <= 1/4`` with equality at 0, that Hessian bounds the
  curvature everywhere, so ``1 / C`` is a safe step.

Gradient descent runs until it is within ``--loss-tol`` of Newton's minimum loss and
``--weight-tol`` of its parameters (a stopping rule that only exists because Newton found the
minimum).  To see the graph that computes a derivative, draw one with
``microgrid.viz.draw_dot(microgrid.grad(loss, params, create_graph=True)[0])`` on a few rows.

    python examples/newton.py                 # all 683 complete rows (about 15 s, nearly all GD)
    python examples/newton.py --rows 150      # a seeded random subset
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from microgrid.data import load_wisconsin
from microgrid.data.preprocessing import MinMaxScaler
from microgrid.engine import Value, dot, grad, vsum
from microgrid.higher import value_grad_hessian

N_FEATURES = 9
N_PARAMS = N_FEATURES + 1  # the weights, then the bias


class NotConverged(RuntimeError):
    """An optimizer hit its iteration limit (or a non-finite loss) before converging."""


@dataclass
class Run:
    """One optimizer's trajectory: ``losses[k]`` is the loss after ``k`` steps."""

    name: str
    losses: list[float]
    params: list[float]
    seconds: float

    @property
    def steps(self) -> int:
        return len(self.losses) - 1


@dataclass
class Comparison:
    n_rows: int
    l2: float
    newton: Run
    gd: Run
    gd_step: float


def signed_rows(X: np.ndarray, y: np.ndarray) -> list[list[float]]:
    """Rows ``-s_i [x_i, 1]``, so that ``-s_i z_i = theta . row_i`` (``s_i = +1`` if ``y_i = 1``)."""
    sign = np.where(y == 1, -1.0, 1.0)
    return (np.hstack([X, np.ones((len(X), 1))]) * sign[:, None]).tolist()


def logistic_loss(rows: Sequence[Sequence[float]], l2: float) -> Callable[..., Value]:
    """``f(*theta) -> L`` on the given signed rows: mean cross-entropy + ``l2/2 |w|^2``.

    The rows become constant leaves once, shared by every evaluation (half the time of making
    new constants from the floats at each step).
    """
    inv_n = 1.0 / len(rows)
    constants = [[Value(x) for x in row] for row in rows]

    def loss(*theta: Value) -> Value:
        weights = theta[:N_FEATURES]
        data_term = vsum([dot(theta, row).softplus() for row in constants]) * inv_n
        return data_term + (0.5 * l2) * dot(weights, weights)

    return loss


def _value_and_grad(f: Callable[..., Value], theta: Sequence[float]) -> tuple[float, list[float]]:
    params = [Value(t) for t in theta]
    loss = f(*params)
    return loss.data, grad(loss, params)


def _check_finite(name: str, step: int, loss: float) -> None:
    if not np.isfinite(loss):
        raise NotConverged(f"{name}: the loss became {loss} at step {step}")


def newton(f: Callable[..., Value], n_params: int, grad_tol: float = 1e-10, max_steps: int = 20,
           log: Callable[[str], None] = print) -> Run:
    """Full Newton steps from 0 until ``max |grad L| <= grad_tol``."""
    start = time.perf_counter()
    theta = np.zeros(n_params)
    losses: list[float] = []
    log(f"{'iteration':>9}  {'loss':>20}  {'max |grad|':>10}")
    for step in range(max_steps + 1):
        loss, g, H = value_grad_hessian(f, theta.tolist())
        _check_finite("Newton", step, loss)
        losses.append(loss)
        g_max = max(abs(gi) for gi in g)
        log(f"{step:>9}  {loss:>20.15f}  {g_max:>10.2e}")
        if g_max <= grad_tol:
            return Run("Newton", losses, theta.tolist(), time.perf_counter() - start)
        theta = theta - np.linalg.solve(np.array(H), np.array(g))
    raise NotConverged(f"Newton: max |grad| still {g_max:.2e} > {grad_tol} after {max_steps} steps")


def gradient_descent(f: Callable[..., Value], n_params: int, step_size: float, target: Run,
                     loss_tol: float, weight_tol: float, max_steps: int,
                     log: Callable[[str], None] = print) -> Run:
    """Fixed-step descent from 0 until within ``loss_tol`` / ``weight_tol`` of ``target``'s minimum."""
    start = time.perf_counter()
    theta = np.zeros(n_params)
    best = np.array(target.params)
    best_loss = target.losses[-1]
    losses: list[float] = []
    shown = {0, 1, 2, 5} | {m * 10**e for e in range(1, 7) for m in (1, 2, 5)}
    log(f"{'iteration':>9}  {'loss':>20}  {'loss - Newton':>13}")
    for step in range(max_steps + 1):
        loss, g = _value_and_grad(f, theta.tolist())
        _check_finite("gradient descent", step, loss)
        losses.append(loss)
        done = loss - best_loss <= loss_tol and np.abs(theta - best).max() <= weight_tol
        if step in shown or done:
            log(f"{step:>9}  {loss:>20.15f}  {loss - best_loss:>13.2e}")
        if done:
            return Run("gradient descent", losses, theta.tolist(), time.perf_counter() - start)
        theta = theta - step_size * np.array(g)
    raise NotConverged(f"gradient descent: not within loss {loss_tol} / weights {weight_tol} of "
                       f"Newton's minimum after {max_steps} steps (loss gap {loss - best_loss:.2e})")


def load_data(n_rows: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The complete Wisconsin rows (or a seeded random subset): min-max scaled ``X`` and ``y``."""
    data = load_wisconsin()
    X, y = data.X, data.y
    if n_rows is not None:
        if not 2 <= n_rows <= len(y):
            raise ValueError(f"--rows must be between 2 and {len(y)}, got {n_rows}")
        keep = np.sort(np.random.default_rng(seed).choice(len(y), size=n_rows, replace=False))
        X, y = X[keep], y[keep]
    return MinMaxScaler().fit_transform(X), y


def run(n_rows: int | None = None, l2: float = 1e-3, seed: int = 0, loss_tol: float = 1e-8,
        weight_tol: float = 1e-4, max_gd_steps: int = 20_000,
        log: Callable[[str], None] = print) -> Comparison:
    """Fit the same model both ways, print both loss curves, and return them."""
    rows = signed_rows(*load_data(n_rows, seed))
    f = logistic_loss(rows, l2)
    which = "all complete rows" if n_rows is None else f"a random subset, seed {seed}"
    log(f"Logistic regression on {len(rows)} Wisconsin rows ({which}), "
        f"features min-max scaled to [0, 1]; loss = mean BCE + {l2:g}/2 |w|^2 (bias not penalised; the "
        "small L2 term keeps the Hessian well conditioned).")
    log("\nNewton's method (gradient and 10x10 Hessian by microgrid's create_graph=True backward pass, "
        "step by numpy.linalg.solve):")
    newton_run = newton(f, N_PARAMS, log=log)
    eigenvalues = np.linalg.eigvalsh(np.array(value_grad_hessian(f, newton_run.params)[2]))
    log(f"Hessian at the minimum: eigenvalues {eigenvalues[0]:.2e} to {eigenvalues[-1]:.2e}, "
        f"condition number {eigenvalues[-1] / eigenvalues[0]:.0f}")

    curvature_bound = max(np.linalg.eigvalsh(np.array(value_grad_hessian(f, [0.0] * N_PARAMS)[2])))
    step_size = 1.0 / curvature_bound
    log(f"\nGradient descent (gradient by microgrid.grad; step 1/{curvature_bound:.4f} = {step_size:.4f}, "
        f"the inverse of the largest Hessian eigenvalue at 0, which bounds the curvature everywhere):")
    gd_run = gradient_descent(f, N_PARAMS, step_size, newton_run, loss_tol, weight_tol, max_gd_steps, log=log)

    weight_gap = np.abs(np.array(gd_run.params) - np.array(newton_run.params)).max()
    log(f"\nNewton:           {newton_run.steps:>6} steps, {newton_run.seconds:6.2f} s, "
        f"loss {newton_run.losses[-1]:.12f}")
    log(f"gradient descent: {gd_run.steps:>6} steps, {gd_run.seconds:6.2f} s, loss {gd_run.losses[-1]:.12f} "
        f"(max weight difference {weight_gap:.1e})")
    best_loss = newton_run.losses[-1]
    loss_reached = next(k for k, loss in enumerate(gd_run.losses) if loss - best_loss <= loss_tol)
    ratio = gd_run.steps / max(newton_run.steps, 1)
    log(f"gradient descent was within {loss_tol:g} of Newton's loss from step {loss_reached} and within "
        f"{weight_tol:g} of its parameters at step {gd_run.steps}: {ratio:.0f} times as many steps as Newton")
    log("parameters (w1..w9, b): " + " ".join(f"{t:+.4f}" for t in newton_run.params))
    return Comparison(len(rows), l2, newton_run, gd_run, step_size)


def main(argv: Sequence[str] | None = None) -> Comparison:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="use a random subset of this many rows")
    parser.add_argument("--seed", type=int, default=0, help="seed of the subset (default 0)")
    parser.add_argument("--l2", type=float, default=1e-3, help="L2 strength on the weights (default 1e-3)")
    parser.add_argument("--loss-tol", type=float, default=1e-8)
    parser.add_argument("--weight-tol", type=float, default=1e-4)
    parser.add_argument("--max-gd-steps", type=int, default=20_000)
    args = parser.parse_args(argv)
    return run(args.rows, args.l2, args.seed, args.loss_tol, args.weight_tol, args.max_gd_steps)


if __name__ == "__main__":
    main()
