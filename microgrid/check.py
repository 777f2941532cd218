"""Checking gradients: the engine against finite differences, and the two networks against
each other.

* :func:`gradcheck` — for any function of :class:`~microgrid.engine.Value` inputs, the engine's
  derivatives against central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``,
  whose error is ``O(eps^2)`` for smooth ``f`` plus rounding of order ``1e-16 |f| / eps``.
  Input ``i`` passes when ``|analytical - numerical| <= atol + rtol |numerical|``.
* :func:`compare_gradients` — for one network, weights and data: the scalar MLP's autograd
  gradients, the vectorized MLP's hand-derived gradients, and central differences of the
  vectorized loss, compared per parameter tensor in a :class:`GradientReport`.

A failed :func:`gradcheck` raises :class:`GradcheckError`, a subclass of ``AssertionError`` (a
check that did not hold, as in a test), whose message is a table of every input's numerical and
analytical derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from microgrid.engine import Value, _to_float, grad, no_grad
from microgrid.nn import MLP, check_dims, check_weights, initial_weights
from microgrid.vectorized import VectorizedMLP

__all__ = [
    "GradcheckError",
    "gradcheck",
    "check_tolerances",
    "RELATIVE_FLOOR",
    "format_table",
    "Difference",
    "TensorComparison",
    "GradientReport",
    "compare_gradients",
]


class GradcheckError(AssertionError):
    """Analytical and numerical derivatives disagree; the message holds a table of them."""


def _cell(x: object) -> str:
    if isinstance(x, float):
        return f"{x:.10g}" if math.isfinite(x) else str(x)
    return str(x)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: a header line, a rule, one line per row; floats shown with 10 digits."""
    cells = [[str(h) for h in headers], *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- gradcheck ------------------------------------------------------------------------------------


def check_tolerances(who: str, eps: float, atol: float, rtol: float) -> None:
    """ValueError unless ``eps > 0`` and ``atol, rtol >= 0``, all finite (a negative tolerance
    would make every check fail, whatever the derivatives)."""
    for name, value, low_ok in (("eps", eps, False), ("atol", atol, True), ("rtol", rtol, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and (value >= 0.0 if low_ok else value > 0.0)):
            raise ValueError(f"{who}: {name} must be {'non-negative' if low_ok else 'positive'} and finite, "
                             f"got {value}")


def finite_point(xs: Iterable[Value | float], what: str) -> list[float]:
    """The values of ``xs`` (numbers, or Values whose data is used) as floats; TypeError or
    ValueError naming ``what[i]`` unless each is a finite real number."""
    if isinstance(xs, (Value, str, bytes)) or not isinstance(xs, Iterable):
        raise TypeError(f"{what} must be a sequence of Values or numbers, got {type(xs).__name__}")
    point = []
    for i, x in enumerate(xs):
        data = x.data if isinstance(x, Value) else _to_float(x, f"{what}[{i}]")
        if not math.isfinite(data):
            raise ValueError(f"{what}[{i}] is {data}: derivatives need a finite point")
        point.append(data)
    if not point:
        raise ValueError(f"{what} is empty: f needs at least one input")
    return point


def _labels(inputs: Sequence[object]) -> list[str]:
    """Each input's label if it is a labelled Value, else ``inputs[i]``: the rows of a check's table."""
    return [x.label if isinstance(x, Value) and x.label else f"inputs[{i}]" for i, x in enumerate(inputs)]


def _compare(analytical: float, numerical: float, atol: float, rtol: float) -> tuple[float, float, bool]:
    """``(|analytical - numerical|, atol + rtol |numerical|, passed)``; passing needs both finite."""
    diff = abs(analytical - numerical)
    allowed = atol + rtol * abs(numerical)
    return diff, allowed, math.isfinite(numerical) and math.isfinite(analytical) and diff <= allowed


def _call(f: Callable[..., Value], args: Sequence[Value]) -> Value:
    out = f(*args)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    return out


def gradcheck(
    f: Callable[..., Value],
    inputs: Sequence[Value | float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the engine's gradient of ``f(*inputs)`` against central differences.

    ``f`` takes one :class:`Value` per input and returns a Value; ``inputs`` are Values or
    numbers (only their values are used: ``f`` runs on fresh leaves, no ``.grad`` is touched).
    Returns True when every input passes; otherwise raises :class:`GradcheckError` with a table of
    numerical vs analytical derivatives (or returns False if ``raise_exception`` is False).
    """
    check_tolerances("gradcheck", eps, atol, rtol)
    point = finite_point(inputs, "gradcheck: inputs")
    inputs = list(inputs)
    labels = _labels(inputs)
    leaves = [Value(v) for v in point]
    analytical = grad(_call(f, leaves), leaves) if leaves else []

    def f_at(values: list[float]) -> float:
        with no_grad():
            return _call(f, [Value(v) for v in values]).data

    rows, failures = [], 0
    for i, x in enumerate(point):
        plus, minus = list(point), list(point)
        plus[i], minus[i] = x + eps, x - eps
        numerical = (f_at(plus) - f_at(minus)) / (2.0 * eps)
        diff, allowed, ok = _compare(analytical[i], numerical, atol, rtol)
        failures += not ok
        rows.append((labels[i], x, numerical, analytical[i], diff, allowed, "" if ok else "<-- mismatch"))
    if failures:
        if not raise_exception:
            return False
        name = getattr(f, "__name__", "f")
        table = format_table(("input", "value", "numerical", "analytical", "abs diff", "allowed", ""), rows)
        raise GradcheckError(f"gradcheck: {failures} of {len(point)} derivatives of {name} disagree with "
                             f"central differences (eps={eps}, atol={atol}, rtol={rtol}):\n{table}")
    return True


# -- autograd vs hand-derived vs finite differences ------------------------------------------------


#: A tensor's differences are measured relative to its own largest entry, but never relative to
#: less than this fraction of the largest gradient entry in the whole network: where a tensor's
#: exact gradient is ~0 (its terms cancel), each path is left with rounding noise of the size
#: of the terms, and that is no disagreement.
RELATIVE_FLOOR = 1e-6


@dataclass(frozen=True)
class Difference:
    """How far apart two gradient tensors are: the largest absolute difference, and that
    difference relative to ``max(largest |entry| of either tensor, floor)`` (0 if both are 0)."""

    max_abs: float
    max_rel: float

    @staticmethod
    def between(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> Difference:
        max_abs = float(np.max(np.abs(a - b), initial=0.0))
        scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), floor)
        return Difference(max_abs, max_abs / scale if scale > 0.0 else (0.0 if max_abs == 0.0 else math.inf))


@dataclass(frozen=True)
class TensorComparison:
    """One parameter tensor (``W1``, ``b1``, ...) compared three ways."""

    name: str
    shape: tuple[int, ...]
    scale: float  # largest |autograd gradient| in the tensor
    autograd_vs_manual: Difference
    autograd_vs_numeric: Difference
    manual_vs_numeric: Difference
    numeric_ok: bool  # both analytic gradients within atol + rtol |numeric| of every finite difference


@dataclass(frozen=True, eq=False)
class GradientReport:
    """Result of :func:`compare_gradients`; ``str(report)`` is :meth:`table`."""

    dims: tuple[int, ...]
    activations: tuple[str, ...]
    loss_name: str
    n_rows: int
    loss_autograd: float
    loss_manual: float
    tensors: tuple[TensorComparison, ...]
    eps: float
    tol: float
    atol: float
    rtol: float
    kink_distance: float | None  # smallest |distance| of a pre-activation/margin to a kink (None: no kinks)
    autograd: list[np.ndarray] = field(repr=False)
    manual: list[np.ndarray] = field(repr=False)
    numeric: list[np.ndarray] = field(repr=False)

    @property
    def worst_autograd_vs_manual(self) -> float:
        """The largest relative difference between autograd and hand-derived, over all tensors."""
        return max(t.autograd_vs_manual.max_rel for t in self.tensors)

    @property
    def exact_ok(self) -> bool:
        """Autograd and hand-derived agree (gradients and loss) to ``tol`` relative."""
        loss_ok = abs(self.loss_autograd - self.loss_manual) <= self.tol * max(1.0, abs(self.loss_autograd))
        return loss_ok and self.worst_autograd_vs_manual <= self.tol

    @property
    def numeric_ok(self) -> bool:
        """Both analytic gradients agree with finite differences within ``atol + rtol |fd|``."""
        return all(t.numeric_ok for t in self.tensors)

    @property
    def ok(self) -> bool:
        """Both :attr:`exact_ok` and :attr:`numeric_ok`."""
        return self.exact_ok and self.numeric_ok

    def table(self) -> str:
        """The report as text: setup and losses, a row per tensor, a legend and the verdicts."""
        arch = "-".join(map(str, self.dims))
        head = [
            f"gradient check: {arch} ({', '.join(self.activations)}), mean {self.loss_name} over "
            f"{self.n_rows} rows, float64",
            f"loss: autograd {self.loss_autograd:.17g}, hand-derived {self.loss_manual:.17g} "
            f"(abs diff {abs(self.loss_autograd - self.loss_manual):.1e})",
            f"finite differences: central, eps {self.eps:g}"
            + ("" if self.kink_distance is None else f"; nearest kink at distance {self.kink_distance:.1e}"),
            "",
        ]
        rows = [
            (t.name, "x".join(map(str, t.shape)), f"{t.scale:.1e}",
             f"{t.autograd_vs_manual.max_abs:.1e}", f"{t.autograd_vs_manual.max_rel:.1e}",
             f"{t.autograd_vs_numeric.max_abs:.1e}", f"{t.autograd_vs_numeric.max_rel:.1e}",
             f"{t.manual_vs_numeric.max_abs:.1e}", f"{t.manual_vs_numeric.max_rel:.1e}")
            for t in self.tensors
        ]
        body = format_table(("tensor", "shape", "max|grad|", "auto-hand abs", "rel", "auto-fd abs", "rel",
                             "hand-fd abs", "rel"), rows)
        legend = ("auto = scalar autograd (nn.MLP), hand = hand-derived NumPy (VectorizedMLP), "
                  "fd = finite differences;\nrel = max abs diff / largest |entry| of the tensor "
                  f"(or {RELATIVE_FLOOR:g} x the network's largest gradient entry, if larger)")
        verdict = [
            f"autograd vs hand-derived: worst rel diff {self.worst_autograd_vs_manual:.1e} "
            f"(tolerance {self.tol:g}): {'OK' if self.exact_ok else 'MISMATCH'}",
            f"both vs finite differences (|g - fd| <= {self.atol:g} + {self.rtol:g} |fd|): "
            f"{'OK' if self.numeric_ok else 'MISMATCH'}",
        ]
        if self.kink_distance is not None and self.kink_distance < 10.0 * self.eps:
            verdict.append("note: a pre-activation lies near a kink, where finite differences are unreliable")
        return "\n".join([*head, body, "", legend, "", *verdict])

    __str__ = table


def _kink_distance(net: VectorizedMLP, X: np.ndarray, y: np.ndarray, loss: str) -> float | None:
    """How close the data puts any relu/leaky_relu pre-activation (or hinge margin) to its kink."""
    Zs = net.preactivations(X)
    distances = [float(np.min(np.abs(Z)))
                 for Z, act in zip(Zs, net.activations) if act in ("relu", "leaky_relu")]
    if loss == "hinge":
        signs = 2.0 * np.asarray(y, dtype=np.float64).reshape(len(X), -1) - 1.0
        distances.append(float(np.min(np.abs(1.0 - signs * net.forward(X)))))
    return min(distances) if distances else None


def compare_gradients(
    model: MLP | VectorizedMLP | Sequence[int],
    weights: Sequence[np.ndarray] | None,
    X: np.ndarray,
    y: np.ndarray,
    *,
    activations: str | Sequence[str] | None = None,
    loss: str = "bce",
    eps: float = 1e-6,
    tol: float = 1e-10,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> GradientReport:
    """Gradients of the mean ``loss`` on ``(X, y)`` three ways, per parameter tensor.

    ``model`` is an :class:`~microgrid.nn.MLP` or :class:`~microgrid.vectorized.VectorizedMLP`
    (its architecture, and its weights unless ``weights`` is given) or the layer widths ``dims``
    (with ``activations``; weights drawn from ``seed`` if not given).  The model itself is not
    modified: both networks are built afresh with the same weights.
    """
    check_tolerances("compare_gradients", eps, atol, rtol)
    tol_is_number = isinstance(tol, (int, float, np.floating)) and not isinstance(tol, bool)
    if not (tol_is_number and math.isfinite(tol) and tol > 0):
        raise ValueError(f"compare_gradients: tol must be a positive finite number, got {tol!r}")
    if isinstance(model, (MLP, VectorizedMLP)):
        if activations is not None:
            raise ValueError("activations come from the model; pass dims to choose them")
        dims, activations = model.dims, model.activations
        if weights is None:
            weights = model.get_weights()
    else:
        dims = check_dims(model)
        if weights is None:
            weights = initial_weights(dims, seed=seed)
    if not (eps > 0.0 and math.isfinite(eps)):
        raise ValueError(f"eps must be positive, got {eps}")
    weights = check_weights(dims, weights)

    mlp = MLP(dims[0], dims[1:], activations=activations)
    mlp.set_weights(weights)
    net = VectorizedMLP(dims, activations=mlp.activations)
    net.set_weights(weights)

    graph = mlp.loss(X, y, loss)  # also validates X and y
    graph.backward()  # a fresh network: its .grad fields start at 0
    autograd_arrays = mlp.get_grads()
    loss_manual, manual = net.loss_and_grads(X, y, loss)
    numeric = net.numerical_grads(X, y, loss, eps=eps)

    floor = RELATIVE_FLOOR * max(float(np.max(np.abs(g), initial=0.0)) for g in autograd_arrays + manual)
    tensors = []
    for k, (a, m, n) in enumerate(zip(autograd_arrays, manual, numeric)):
        allowed = atol + rtol * np.abs(n)
        numeric_ok = bool(np.all(np.abs(a - n) <= allowed) and np.all(np.abs(m - n) <= allowed))
        tensors.append(TensorComparison(
            name=f"{'Wb'[k % 2]}{k // 2 + 1}", shape=a.shape, scale=float(np.max(np.abs(a), initial=0.0)),
            autograd_vs_manual=Difference.between(a, m, floor),
            autograd_vs_numeric=Difference.between(a, n, floor),
            manual_vs_numeric=Difference.between(m, n, floor), numeric_ok=numeric_ok,
        ))
    return GradientReport(
        dims=tuple(dims), activations=tuple(mlp.activations), loss_name=loss, n_rows=len(X),
        loss_autograd=graph.data, loss_manual=loss_manual, tensors=tuple(tensors), eps=eps, tol=tol,
        atol=atol, rtol=rtol, kink_distance=_kink_distance(net, X, y, loss),
        autograd=autograd_arrays, manual=manual, numeric=numeric,
    )


def __getattr__(name: str) -> object:
    # gradgradcheck lives in microgrid.higher (which imports this module); offer it here too,
    # beside gradcheck, without an import cycle.
    if name == "gradgradcheck":
        from microgrid.higher import gradgradcheck

        return gradgradcheck
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
