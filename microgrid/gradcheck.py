"""Checking gradients: the engine against finite differences, and the two networks against
each other.

* :func:`gradcheck` — for any function of :class:`~microgrid.engine.Value` inputs, the engine's
  derivatives against central differences ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``,
  whose error is ``O(eps^2)`` for smooth ``f`` plus rounding of order ``1e-16 |f| / eps``.
  Input ``i`` passes when ``|analytical - numerical| <= atol + rtol |numerical|``, both finite.
* :func:`gradgradcheck` — the same one order up: :func:`~microgrid.higher.hessian` against
  central differences of the first derivatives.
* :func:`check_manual_gradient` — for any function of Values and *your own* hand-derived
  gradient: hand-derived vs autograd vs central differences, one row per input, in a
  :class:`ManualGradientReport` (the table of ``microgrid check``, for your function).
* :func:`compare_gradients` — for one network, weights and data: the scalar MLP's autograd
  gradients, the vectorized MLP's hand-derived gradients, and central differences of the
  vectorized loss, compared per parameter tensor in a :class:`GradientReport`.

A failed :func:`gradcheck` raises :class:`GradcheckError`, a subclass of ``AssertionError`` (a
check that did not hold, as in a test), whose message is a table of every input's numerical and
analytical derivative.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from microgrid.arrays import check_dims, check_weights, finite_point
from microgrid.engine import Value, grad, no_grad, to_float
from microgrid.higher import hessian, numerical_hessian
from microgrid.nn import MLP, initial_weights
from microgrid.vectorized import VectorizedMLP

__all__ = [
    "GradcheckError",
    "gradcheck",
    "gradgradcheck",
    "check_tolerances",
    "RELATIVE_FLOOR",
    "format_table",
    "Difference",
    "TensorComparison",
    "GradientReport",
    "compare_gradients",
    "ManualGradientReport",
    "check_manual_gradient",
]


# -- the tolerance rule and the table of a failed check --------------------------------------------


class GradcheckError(AssertionError):
    """Analytical and numerical derivatives disagree; the message holds a table of them."""


def cell(x: object) -> str:
    """One table cell: a float with 10 significant digits (inf/nan as words), anything else as ``str``."""
    if isinstance(x, float):
        return f"{x:.10g}" if math.isfinite(x) else str(x)
    return str(x)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: a header line, a rule, one line per row; floats shown with 10 digits."""
    cells = [[str(h) for h in headers], *([cell(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def check_tolerances(who: str, eps: float, atol: float, rtol: float) -> None:
    """ValueError unless ``eps > 0`` and ``atol, rtol >= 0``, all finite (a negative tolerance
    would make every check fail, whatever the derivatives)."""
    for name, value, low_ok in (("eps", eps, False), ("atol", atol, True), ("rtol", rtol, True)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
        if not (math.isfinite(value) and (value >= 0.0 if low_ok else value > 0.0)):
            raise ValueError(f"{who}: {name} must be {'non-negative' if low_ok else 'positive'} and finite, "
                             f"got {value}")


def check_tol(who: str, tol: float) -> None:
    """ValueError unless ``tol`` (the relative tolerance between two exact gradients) is a positive
    finite number."""
    tol_is_number = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(tol, bool)
    if not (tol_is_number and math.isfinite(tol) and tol > 0):
        raise ValueError(f"{who}: tol must be a positive finite number, got {tol!r}")


def input_labels(inputs: Sequence[object]) -> list[str]:
    """Each input's label if it is a labelled Value, else ``inputs[i]``: the rows of a check's table."""
    return [x.label if isinstance(x, Value) and x.label else f"inputs[{i}]" for i, x in enumerate(inputs)]


def compare(analytical: float, numerical: float, atol: float, rtol: float) -> tuple[float, float, bool]:
    """``(|analytical - numerical|, atol + rtol |numerical|, passed)``; passing needs both finite."""
    diff = abs(analytical - numerical)
    allowed = atol + rtol * abs(numerical)
    return diff, allowed, math.isfinite(numerical) and math.isfinite(analytical) and diff <= allowed


# -- gradcheck ------------------------------------------------------------------------------------


def _call(f: Callable[..., Value], args: Sequence[Value], who: str = "gradcheck") -> Value:
    out = f(*args)
    if not isinstance(out, Value):
        raise TypeError(f"{who}: f must return a Value, got {type(out).__name__}")
    return out


def _central_difference(f: Callable[..., Value], point: Sequence[float], i: int, eps: float) -> float:
    """``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``, ``f`` evaluated on fresh leaves, no graph kept."""
    plus, minus = list(point), list(point)
    plus[i], minus[i] = point[i] + eps, point[i] - eps
    with no_grad():
        up, down = _call(f, [Value(v) for v in plus]).data, _call(f, [Value(v) for v in minus]).data
    return (up - down) / (2.0 * eps)


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
    labels = input_labels(inputs)
    leaves = [Value(v) for v in point]
    analytical = grad(_call(f, leaves), leaves) if leaves else []

    rows, failures = [], 0
    for i, x in enumerate(point):
        numerical = _central_difference(f, point, i, eps)
        diff, allowed, ok = compare(analytical[i], numerical, atol, rtol)
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


def gradgradcheck(
    f: Callable[..., Value],
    inputs: Sequence[Value | float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the engine's second derivatives of ``f`` at ``inputs`` against central differences
    of its first derivatives: :func:`gradcheck`, one order up.

    ``inputs`` are Values or numbers (only their values are used; a Value's label names its row
    in the table).  Entry ``(i, j)``, ``d/dx_j (df/dx_i)``, passes when
    ``|analytical - numerical| <= atol + rtol |numerical|``, both finite.  Returns True when every
    entry passes; otherwise raises :class:`GradcheckError` with a table of all
    ``n^2`` entries, the failing ones marked (or returns False if ``raise_exception`` is False).
    """
    check_tolerances("gradgradcheck", eps, atol, rtol)
    inputs = list(inputs)
    labels = input_labels(inputs)
    analytical = hessian(f, inputs)
    numerical = numerical_hessian(f, inputs, eps)
    rows, failures = [], 0
    for i, j in itertools.product(range(len(inputs)), repeat=2):
        a, num = analytical[i][j], numerical[i][j]
        diff, allowed, ok = compare(a, num, atol, rtol)
        failures += not ok
        rows.append((labels[i], labels[j], num, a, diff, allowed, "" if ok else "<-- mismatch"))
    if failures:
        if not raise_exception:
            return False
        name = getattr(f, "__name__", "f")
        table = format_table(("df/d", "then d/d", "numerical", "analytical", "abs diff", "allowed", ""), rows)
        raise GradcheckError(
            f"gradgradcheck: {failures} of {len(rows)} second derivatives of {name} disagree with central "
            f"differences of its gradient (eps={eps}, atol={atol}, rtol={rtol}):\n{table}"
        )
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
    def between(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> Difference:
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
    check_tol("compare_gradients", tol)
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


# -- your own hand-derived gradient vs autograd vs finite differences ------------------------------


def _relative(a: float, b: float, floor: float) -> float:
    """``|a - b| / max(|a|, |b|, floor)``: 0 when both are 0; nan when either is nan."""
    return Difference.between(a, b, floor).max_rel


@dataclass(frozen=True, eq=False)
class ManualGradientReport:
    """Result of :func:`check_manual_gradient`, one entry per input; ``str(report)`` is :meth:`table`.

    ``manual``, ``autograd`` and ``numeric`` are the three gradients (lists of floats, in the order
    of the inputs); ``value`` is ``f`` at ``point``.
    """

    name: str
    labels: tuple[str, ...]
    point: tuple[float, ...]
    value: float
    manual: list[float]
    autograd: list[float]
    numeric: list[float]
    eps: float
    tol: float
    atol: float
    rtol: float

    @property
    def _floor(self) -> float:
        return RELATIVE_FLOOR * max(0.0, *(abs(g) for g in self.autograd + self.manual if math.isfinite(g)))

    def rel_autograd_vs_manual(self) -> list[float]:
        """Per input: ``|autograd - manual| / max(|autograd|, |manual|, floor)``, where the floor is
        :data:`RELATIVE_FLOOR` times the largest gradient entry (so a partial that is ~0 by
        cancellation is not judged relative to its own rounding noise)."""
        return [_relative(a, m, self._floor) for a, m in zip(self.autograd, self.manual)]

    @property
    def worst_autograd_vs_manual(self) -> float:
        """The largest of :meth:`rel_autograd_vs_manual` (nan if any is nan)."""
        rels = self.rel_autograd_vs_manual()
        return math.nan if any(r != r for r in rels) else max(rels)

    def _numeric_ok(self, i: int) -> bool:
        fd = self.numeric[i]
        return all(compare(g, fd, self.atol, self.rtol)[2] for g in (self.autograd[i], self.manual[i]))

    @property
    def exact_ok(self) -> bool:
        """Your gradient equals autograd's to ``tol`` relative, for every input."""
        return all(r <= self.tol for r in self.rel_autograd_vs_manual())

    @property
    def numeric_ok(self) -> bool:
        """Both gradients agree with central differences within ``atol + rtol |fd|``, every input."""
        return all(self._numeric_ok(i) for i in range(len(self.point)))

    @property
    def ok(self) -> bool:
        """Both :attr:`exact_ok` and :attr:`numeric_ok`."""
        return self.exact_ok and self.numeric_ok

    def table(self) -> str:
        """The report as text: the point and value, a row per input, a legend and the verdicts."""
        at = ", ".join(f"{lab}={cell(x)}" for lab, x in zip(self.labels, self.point))
        head = [
            f"gradient check of {self.name} at ({at}): hand-derived vs autograd vs finite differences, "
            "float64",
            f"value: {self.name} = {self.value:.17g}",
            f"finite differences: central, eps {self.eps:g}",
            "",
        ]
        rels = self.rel_autograd_vs_manual()
        floor = self._floor
        rows: list[tuple[object, ...]] = []
        for i, lab in enumerate(self.labels):
            m, a, n = self.manual[i], self.autograd[i], self.numeric[i]
            bad = rels[i] > self.tol or rels[i] != rels[i] or not self._numeric_ok(i)
            rows.append((lab, self.point[i], m, a, n,
                         f"{abs(a - m):.1e}", f"{rels[i]:.1e}",
                         f"{abs(a - n):.1e}", f"{_relative(a, n, floor):.1e}",
                         f"{abs(m - n):.1e}", f"{_relative(m, n, floor):.1e}",
                         "<-- mismatch" if bad else ""))
        headers: tuple[str, ...] = ("input", "value", "hand", "autograd", "fd", "auto-hand abs", "rel",
                                    "auto-fd abs", "rel", "hand-fd abs", "rel", "")
        if not any(row[-1] for row in rows):  # no mismatch: no marker column
            headers, rows = headers[:-1], [row[:-1] for row in rows]
        body = "\n".join(line.rstrip() for line in format_table(headers, rows).splitlines())
        legend = (f"d{self.name}/d(input): hand = your hand-derived formula, autograd = microgrid's backward "
                  "pass, fd = finite differences;\nrel = abs diff / the larger |value| of the two "
                  f"(or {RELATIVE_FLOOR:g} x the largest gradient entry, if larger)")
        verdict = [
            f"autograd vs hand-derived: worst rel diff {self.worst_autograd_vs_manual:.1e} "
            f"(tolerance {self.tol:g}): {'OK' if self.exact_ok else 'MISMATCH'}",
            f"both vs finite differences (|g - fd| <= {self.atol:g} + {self.rtol:g} |fd|): "
            f"{'OK' if self.numeric_ok else 'MISMATCH'}",
        ]
        return "\n".join([*head, body, "", legend, "", *verdict])

    __str__ = table


def _input_names(f: Callable[..., Value], inputs: Sequence[object]) -> list[str]:
    """Each input's label if it is a labelled Value, else the name of ``f``'s parameter in its
    place (``def L(a, b)`` gives ``a``, ``b``), else ``inputs[i]``."""
    try:
        params = [p for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):  # a builtin or other callable without a signature
        params = []
    names = [p.name for p in params] if len(params) == len(inputs) else []
    return [x.label if isinstance(x, Value) and x.label else (names[i] if names else f"inputs[{i}]")
            for i, x in enumerate(inputs)]


def _partials(result: object, n: int, who: str) -> list[float]:
    """``manual_grad``'s answer as ``n`` floats: a sequence or 1-D array of ``n`` numbers (a bare
    number is accepted when there is one input)."""
    if isinstance(result, np.ndarray) and result.ndim <= 1:
        result = result.tolist()
    if n == 1 and not isinstance(result, (Sequence, np.ndarray, Value)):
        result = [result]
    if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
        raise TypeError(f"{who}: manual_grad must return a sequence of {n} numbers (one partial derivative "
                        f"per input), got {type(result).__name__}")
    if len(result) != n:
        raise ValueError(f"{who}: manual_grad returned {len(result)} partial derivative"
                         f"{'' if len(result) == 1 else 's'} for {n} input{'' if n == 1 else 's'}")
    return [to_float(g, f"{who}: manual_grad(...)[{i}]") for i, g in enumerate(result)]


def check_manual_gradient(
    f: Callable[..., Value],
    manual_grad: Callable[..., Sequence[float] | float],
    point: Sequence[Value | float],
    *,
    eps: float = 1e-6,
    tol: float = 1e-10,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> ManualGradientReport:
    """Check your hand-derived gradient of ``f`` against autograd and central differences.

    ``f`` takes one :class:`Value` per input and returns a Value (``lambda a, b: a * b + a``);
    ``manual_grad`` takes the same inputs as floats and returns the partial derivatives
    ``[df/dx_0, df/dx_1, ...]`` (a bare number when there is one input); ``point`` holds the
    inputs (numbers, or Values whose ``data`` is used; nothing's ``.grad`` is touched).

    The report's :attr:`~ManualGradientReport.ok` holds when, for every input, your partial equals
    autograd's to ``tol`` relative (both are exact formulas, so only rounding separates them) and
    both are within ``atol + rtol |fd|`` of the central difference ``fd`` with step ``eps``.
    ``print(report)`` shows the table.
    """
    who = "check_manual_gradient"
    for name, fn in (("f", f), ("manual_grad", manual_grad)):
        if not callable(fn):
            raise TypeError(f"{who}: {name} must be a function, got {type(fn).__name__}")
    check_tolerances(who, eps, atol, rtol)
    check_tol(who, tol)
    values = finite_point(point, f"{who}: point")
    inputs = list(point)
    for name, fn in (("f", f), ("manual_grad", manual_grad)):
        try:
            inspect.signature(fn).bind(*values)
        except TypeError as e:  # the arity is wrong (a callable without a signature raises ValueError)
            raise TypeError(f"{who}: {name} cannot take the {len(values)} input{'s' * (len(values) != 1)} "
                            f"of point: {e}") from None
        except ValueError:
            pass
    leaves = [Value(v) for v in values]
    out = _call(f, leaves, who)
    autograd = grad(out, leaves)
    manual = _partials(manual_grad(*values), len(values), who)
    numeric = [_central_difference(f, values, i, eps) for i in range(len(values))]
    return ManualGradientReport(
        name=getattr(f, "__name__", "f") if getattr(f, "__name__", "<lambda>") != "<lambda>" else "f",
        labels=tuple(_input_names(f, inputs)), point=tuple(values), value=out.data,
        manual=manual, autograd=autograd, numeric=numeric, eps=float(eps), tol=float(tol),
        atol=float(atol), rtol=float(rtol),
    )
