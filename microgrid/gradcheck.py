"""Checking gradients: the engine against finite differences (:func:`gradcheck`,
:func:`gradgradcheck`), and hand-derived gradients against both (:func:`compare_gradients` for a
network, :func:`check_manual_gradient` for your own function; a :class:`GradientReport` each).

An analytical derivative passes when ``|analytical - numerical| <= atol + rtol |numerical|``, both
finite, where ``numerical`` is the central difference ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``
(error ``O(eps^2)`` for smooth ``f``, plus rounding of order ``1e-16 |f| / eps``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from microgrid.arrays import central_differences, check_dims, check_number, evaluate, finite_point
from microgrid.engine import Value, grad, no_grad, to_float, topological_order
from microgrid.functional import check_data, uses_logits
from microgrid.higher import hessian, numerical_hessian
from microgrid.nn import MLP, initial_weights
from microgrid.vectorized import VectorizedMLP

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "check_tolerances", "RELATIVE_FLOOR",
           "format_table", "Difference", "TensorComparison", "GradientReport", "compare_gradients",
           "check_manual_gradient"]


class GradcheckError(AssertionError):
    """Analytical and numerical derivatives disagree; the message holds a table of them."""


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: a header line, a rule, one line per row; floats shown with 10 digits."""
    cells = [[str(h) for h in headers],
             *([f"{c:.10g}" if isinstance(c, float) else str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths).rstrip())
    return "\n".join(lines)


def check_tolerances(who: str, eps: float, atol: float, rtol: float, tol: float | None = None) -> None:
    """TypeError unless numbers; ValueError unless finite, ``eps, tol > 0`` and ``atol, rtol >= 0``
    (a negative tolerance would fail every check, whatever the derivatives)."""
    check_number(eps, f"{who}: eps", 0.0, open_low=True)
    check_number(atol, f"{who}: atol", 0.0)
    check_number(rtol, f"{who}: rtol", 0.0)
    if tol is not None:
        check_number(tol, f"{who}: tol", 0.0, open_low=True)


def _passes(analytical: Any, numerical: Any, atol: float, rtol: float) -> Any:
    """``|analytical - numerical| <= atol + rtol |numerical|``, both finite (elementwise)."""
    with np.errstate(invalid="ignore"):
        ok = np.abs(np.subtract(analytical, numerical)) <= atol + rtol * np.abs(numerical)
    return ok & np.isfinite(analytical) & np.isfinite(numerical)


def _labels(inputs: Sequence[object], names: Sequence[str] = ()) -> list[str]:
    """Each input's label if it is a labelled Value, else ``names[i]``, else ``inputs[i]``."""
    return [x.label if isinstance(x, Value) and x.label else (names[i] if names else f"inputs[{i}]")
            for i, x in enumerate(inputs)]


def _first_order(f: Callable[..., Value], point: Sequence[float], eps: float, who: str) -> np.ndarray:
    """Central differences of ``f`` at ``point``, ``f`` evaluated on fresh leaves, no graph kept."""
    with no_grad():
        return central_differences(lambda x: evaluate(f, [Value(v) for v in x.tolist()], who).data,
                                   np.array(point), eps)


def _judge(who: str, f: Callable[..., Value], what: str, headers: Sequence[str], rows: Sequence[tuple],
           analytical: np.ndarray, numerical: np.ndarray, eps: float, atol: float, rtol: float,
           raise_exception: bool) -> bool:
    """True when every analytical derivative passes; else GradcheckError with a row per derivative
    (``rows`` gives its first columns), or False without ``raise_exception``."""
    ok = _passes(analytical, numerical, atol, rtol)
    if ok.all():
        return True
    if not raise_exception:
        return False
    columns = (numerical, analytical, np.abs(analytical - numerical), atol + rtol * np.abs(numerical), ok)
    table = format_table((*headers, "numerical", "analytical", "abs diff", "allowed", ""), [
        (*row, n, a, d, w, "" if good else "<-- mismatch")
        for row, n, a, d, w, good in zip(rows, *(c.tolist() for c in columns))])
    raise GradcheckError(f"{who}: {int((~ok).sum())} of {ok.size} {what} of {getattr(f, '__name__', 'f')} "
                         f"disagree with central differences{' of its gradient' * (who == 'gradgradcheck')} "
                         f"(eps={eps}, atol={atol}, rtol={rtol}):\n{table}")


def gradcheck(f: Callable[..., Value], inputs: Sequence[Value | float], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check the engine's gradient of ``f(*inputs)`` against central differences: True when every
    input passes, else :class:`GradcheckError` with the table (or False without
    ``raise_exception``).  ``f`` runs on fresh leaves at the inputs' values; no ``.grad`` is touched.
    """
    check_tolerances("gradcheck", eps, atol, rtol)
    point = finite_point(inputs, "gradcheck: inputs")
    leaves = [Value(v) for v in point]
    analytical = np.array(grad(evaluate(f, leaves, "gradcheck"), leaves))
    rows = list(zip(_labels(list(inputs)), point))
    return _judge("gradcheck", f, "derivatives", ("input", "value"), rows, analytical,
                  _first_order(f, point, eps, "gradcheck"), eps, atol, rtol, raise_exception)


def gradgradcheck(f: Callable[..., Value], inputs: Sequence[Value | float], eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """:func:`gradcheck` one order up: each ``d/dx_j (df/dx_i)`` against central differences of
    the first derivatives, by the same rule (a failure's table lists all ``n^2`` entries)."""
    check_tolerances("gradgradcheck", eps, atol, rtol)
    inputs = list(inputs)
    labels = _labels(inputs)
    rows = [(a, b) for a in labels for b in labels]
    return _judge("gradgradcheck", f, "second derivatives", ("df/d", "then d/d"), rows,
                  np.array(hessian(f, inputs)).ravel(), np.array(numerical_hessian(f, inputs, eps)).ravel(),
                  eps, atol, rtol, raise_exception)


# -- autograd vs hand-derived vs finite differences ------------------------------------------------

#: A tensor's differences are measured relative to its own largest entry, but never relative to
#: less than this fraction of the largest finite gradient entry overall: where a tensor's exact
#: gradient is ~0 (its terms cancel), each path is left with rounding noise of the size of the
#: terms, and that is no disagreement.  With ``tol`` 1e-10 this allows ~10 ulps of the largest entry
#: (d/dy of x tanh(y) - sigmoid(yz) at (-0.5, -1, -2) is 0 with terms of 0.21: 9 ulps apart).
RELATIVE_FLOOR = 1e-5


@dataclass(frozen=True)
class Difference:
    """How far apart two gradient tensors are: the largest absolute difference, and that
    difference relative to ``max(largest |entry| of either tensor, floor)`` (0 if both are 0)."""

    max_abs: float
    max_rel: float

    @staticmethod
    def between(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> Difference:
        with np.errstate(invalid="ignore"):  # inf - inf is nan, as with floats
            max_abs = float(np.max(np.abs(np.subtract(a, b)), initial=0.0))
        scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), floor)
        return Difference(max_abs, max_abs / scale if scale > 0.0 else (0.0 if max_abs == 0.0 else math.inf))


@dataclass(frozen=True)
class TensorComparison:
    """One parameter tensor (``W1``, ``b1``, ...) or one input compared three ways."""

    name: str
    shape: tuple[int, ...]
    scale: float  # largest |autograd gradient| in the tensor
    autograd_vs_manual: Difference
    autograd_vs_numeric: Difference
    manual_vs_numeric: Difference
    autograd_fd_ok: bool  # every entry within atol + rtol |fd| of its finite difference
    manual_fd_ok: bool
    autograd_vs_traced: Difference | None = None  # a network's traced program (None: not traced)

    @property
    def numeric_ok(self) -> bool:
        return self.autograd_fd_ok and self.manual_fd_ok


@dataclass(frozen=True, eq=False)
class GradientReport:
    """Autograd vs hand-derived vs finite differences, a row per parameter tensor of a network
    (:func:`compare_gradients`) or per input of a function (:func:`check_manual_gradient`, whose
    ``point`` holds the inputs' values); ``str(report)`` is :meth:`table`.

    ``autograd``, ``manual`` and ``numeric`` hold the three gradients, a row each (arrays for
    tensors, floats for inputs); ``value`` is the loss (autograd's) or ``f`` at the point."""

    head: tuple[str, ...] = field(repr=False)  # what was checked, where: the lines above the table
    labels: tuple[str, ...]
    autograd: list[Any] = field(repr=False)
    manual: list[Any] = field(repr=False)
    numeric: list[Any] = field(repr=False)
    value: float
    eps: float
    tol: float
    atol: float
    rtol: float
    loss_manual: float | None = None  # a network's hand-derived loss
    point: tuple[float, ...] = ()
    kink_distance: float | None = None  # a network's smallest |pre-activation or margin| at a kink
    notes: tuple[str, ...] = ()  # the kinks near the point, below the verdicts
    legend: str = field(default="", repr=False)
    name: str = ""  # the function's name (check_manual_gradient)
    traced: list[Any] | None = field(default=None, repr=False)  # a network's, by MLP.compile
    loss_traced: float | None = None
    untraced: str = ""  # why a network's loss was not traced

    @cached_property
    def tensors(self) -> tuple[TensorComparison, ...]:
        """A :class:`TensorComparison` per row."""
        finite = [np.abs(g[np.isfinite(g)]) for g in map(np.asarray, self.autograd + self.manual)]
        floor = RELATIVE_FLOOR * max(float(np.max(g, initial=0.0)) for g in finite)
        rows: list[TensorComparison] = []
        for name, *grads in zip(self.labels, self.autograd, self.manual, self.numeric):
            a, m, n = map(np.asarray, grads)
            rows.append(TensorComparison(
                name, a.shape, float(np.max(np.abs(a), initial=0.0)), Difference.between(a, m, floor),
                Difference.between(a, n, floor), Difference.between(m, n, floor),
                autograd_fd_ok=bool(_passes(a, n, self.atol, self.rtol).all()),
                manual_fd_ok=bool(_passes(m, n, self.atol, self.rtol).all()),
                autograd_vs_traced=None if self.traced is None else
                Difference.between(a, np.asarray(self.traced[len(rows)]), floor)))
        return tuple(rows)

    def rel_autograd_vs_manual(self) -> list[float]:
        """Per row: ``|autograd - manual| / max(|autograd|, |manual|, floor)``, the floor being
        :data:`RELATIVE_FLOOR` times the largest finite gradient entry."""
        return [t.autograd_vs_manual.max_rel for t in self.tensors]

    @property
    def worst_autograd_vs_manual(self) -> float:
        """The largest of :meth:`rel_autograd_vs_manual` (nan if any is nan)."""
        return float(np.max(self.rel_autograd_vs_manual()))

    @property
    def worst_autograd_vs_traced(self) -> float | None:
        """The largest relative difference between autograd and the traced program (None: not
        traced)."""
        rels = [t.autograd_vs_traced.max_rel for t in self.tensors if t.autograd_vs_traced is not None]
        return None if self.traced is None else float(np.max(rels))

    def _loss_ok(self, loss: float | None) -> bool:
        """``loss`` agrees with autograd's to ``tol``, relative above 1."""
        return loss is not None and abs(self.value - loss) <= self.tol * max(1.0, abs(self.value))

    @property
    def traced_ok(self) -> bool:
        """Autograd and the traced program (gradients and loss) agree to ``tol`` relative; True
        when nothing was traced."""
        worst = self.worst_autograd_vs_traced
        return worst is None or (worst <= self.tol and self._loss_ok(self.loss_traced))

    @property
    def manual_ok(self) -> bool:
        """Autograd and hand-derived (gradients, and a network's loss) agree to ``tol`` relative."""
        return ((self.loss_manual is None or self._loss_ok(self.loss_manual))
                and all(r <= self.tol for r in self.rel_autograd_vs_manual()))

    @property
    def exact_ok(self) -> bool:
        return self.manual_ok and self.traced_ok

    @property
    def numeric_ok(self) -> bool:
        """Both gradients agree with central differences within ``atol + rtol |fd|``, every row."""
        return all(t.numeric_ok for t in self.tensors)

    @property
    def ok(self) -> bool:
        return self.exact_ok and self.numeric_ok

    def table(self) -> str:
        """The report as text: what was checked, a row per tensor or input, a legend, the verdicts."""
        rows: list[tuple[object, ...]] = []
        for i, t in enumerate(self.tensors):
            first = ((self.point[i], self.manual[i], self.autograd[i], self.numeric[i]) if self.point
                     else ("x".join(map(str, t.shape)), f"{t.scale:.1e}"))
            traced = [] if t.autograd_vs_traced is None else [t.autograd_vs_traced]
            bad = not (t.autograd_vs_manual.max_rel <= self.tol and t.numeric_ok
                       and all(d.max_rel <= self.tol for d in traced))
            diffs = (t.autograd_vs_manual, *traced, t.autograd_vs_numeric, t.manual_vs_numeric)
            rows.append((t.name, *first, *(f"{x:.1e}" for d in diffs for x in (d.max_abs, d.max_rel)),
                         "<-- mismatch" if bad else ""))
        first_headers = ("input", "value", "hand", "autograd", "fd") if self.point else ("tensor", "shape",
                                                                                          "max|grad|")
        traced_headers = ("auto-trace abs", "rel") if self.traced is not None else ()
        headers = (*first_headers, "auto-hand abs", "rel", *traced_headers, "auto-fd abs", "rel",
                   "hand-fd abs", "rel", "")  # the last column marks mismatches (empty: none)
        fd = {(True, True): "OK", (False, False): "MISMATCH in both",
              (True, False): "MISMATCH in the hand-derived gradient only (autograd agrees)",
              (False, True): "MISMATCH in autograd only (the hand-derived gradient agrees)"}[
            all(t.autograd_fd_ok for t in self.tensors), all(t.manual_fd_ok for t in self.tensors)]
        worst = self.worst_autograd_vs_traced
        verdicts = [f"autograd vs traced: worst rel diff {worst:.1e} (tolerance {self.tol:g}): "
                    f"{'OK' if self.traced_ok else 'MISMATCH'}"] if worst is not None else \
            [f"autograd vs traced: not traced ({self.untraced})"] if self.untraced else []
        verdicts += [f"autograd vs hand-derived: worst rel diff {self.worst_autograd_vs_manual:.1e} "
                     f"(tolerance {self.tol:g}): {'OK' if self.manual_ok else 'MISMATCH'}",
                     f"both vs finite differences (|g - fd| <= {self.atol:g} + {self.rtol:g} |fd|): {fd}"]
        return "\n".join([*self.head, "", format_table(headers, rows), "", self.legend, "", *verdicts,
                          *self.notes])

    __str__ = table


def _kink_distance(net: VectorizedMLP, X: np.ndarray, y: np.ndarray, loss: str) -> float | None:
    """How close the data puts any relu/leaky_relu pre-activation (or hinge margin) to its kink."""
    distances = [float(np.min(np.abs(Z)))
                 for Z, act in zip(net.preactivations(X), net.activations) if act in ("relu", "leaky_relu")]
    if loss == "hinge":
        signs = 2.0 * np.asarray(y, dtype=np.float64).reshape(len(X), -1) - 1.0
        distances.append(float(np.min(np.abs(1.0 - signs * net.forward(X)))))
    return min(distances) if distances else None


def compare_gradients(model: MLP | VectorizedMLP | Sequence[int], weights: Sequence[np.ndarray] | None,
                      X: np.ndarray, y: np.ndarray, *, activations: str | Sequence[str] | None = None,
                      loss: str = "bce", eps: float = 1e-6, tol: float = 1e-10, atol: float = 1e-5,
                      rtol: float = 1e-3, seed: int = 0) -> GradientReport:
    """Gradients of the mean ``loss`` on ``(X, y)`` four ways, per parameter tensor: the scalar
    engine, the hand-derived NumPy pass, the traced program (:meth:`~microgrid.nn.MLP.compile`; not
    for BCE on an output that is neither linear nor a sigmoid) and central finite differences.
    ``model`` is an ``MLP`` or ``VectorizedMLP`` (its architecture, and its weights unless
    ``weights`` is given) or the widths ``dims`` (with ``activations``, weights drawn from
    ``seed``); both networks are built afresh, so ``model`` is not modified."""
    check_tolerances("compare_gradients", eps, atol, rtol, tol)
    if isinstance(model, (MLP, VectorizedMLP)):
        if activations is not None:
            raise ValueError("activations come from the model; pass dims to choose them")
        dims, activations = model.dims, model.activations
        weights = model.get_weights() if weights is None else weights
    else:
        dims = check_dims(model)
        weights = initial_weights(dims, seed=seed) if weights is None else weights
    mlp = MLP(dims, activations=activations)
    mlp.set_weights(weights)  # checked against dims
    net = VectorizedMLP.from_scalar(mlp)
    graph = mlp.loss(X, y, loss)  # also validates X and y
    graph.backward()  # a fresh network: its .grad fields start at 0
    loss_manual, manual = net.loss_and_grads(X, y, loss)
    loss_traced, traced, untraced = None, None, ""
    if loss == "bce" and not uses_logits(loss, mlp.activations[-1]):
        untraced = f"bce on a {mlp.activations[-1]} output clamps the probability, a choice on the data"
    else:
        loss_traced, flat = mlp.compile(loss).loss_and_grads(*check_data(X, y, dims, loss))
        traced = mlp.as_arrays(flat)
    kink = _kink_distance(net, X, y, loss)
    head = (f"gradient check: {'-'.join(map(str, dims))} ({', '.join(mlp.activations)}), mean {loss} over "
            f"{len(X)} rows, float64",
            f"loss: autograd {graph.data:.17g}, hand-derived {loss_manual:.17g}"
            + ("" if loss_traced is None else f", traced {loss_traced:.17g}")
            + f" (abs diff: hand {abs(graph.data - loss_manual):.1e}"
            + ("" if loss_traced is None else f", traced {abs(graph.data - loss_traced):.1e}") + ")",
            f"finite differences: central, eps {eps:g}"
            + ("" if kink is None else f"; nearest kink at distance {kink:.1e}"))
    legend = ("auto = scalar autograd (nn.MLP), hand = hand-derived NumPy (VectorizedMLP), trace = the "
              "graph of one example replayed over the rows (MLP.compile), fd = finite differences;\n"
              "rel = max abs diff / largest |entry| of the tensor "
              f"(or {RELATIVE_FLOOR:g} x the network's largest gradient entry, if larger)")
    names = tuple(f"{'Wb'[k % 2]}{k // 2 + 1}" for k in range(len(weights)))
    notes = ("note: a pre-activation lies near a kink, where finite differences are unreliable",)
    return GradientReport(head, names, mlp.get_grads(), manual, net.numerical_grads(X, y, loss, eps=eps),
                          graph.data, eps, tol, atol, rtol, loss_manual=loss_manual, kink_distance=kink,
                          notes=notes if kink is not None and kink < 10.0 * eps else (), legend=legend,
                          traced=traced, loss_traced=loss_traced, untraced=untraced)


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


#: the derivative each kinked op takes at its kink (the engine's convention)
KINKS = {"relu": "relu'(0) = 0", "leaky_relu": "leaky_relu'(0) = alpha", "abs": "abs'(0) = 0"}


def _kinks(out: Value, eps: float) -> tuple[str, ...]:
    """A note for each relu, leaky_relu or abs in ``out``'s graph whose input lies within ``10 eps``
    of 0, its kink."""
    return tuple(
        f"note: the input of {v.op} is {v.parents[0].data:g} here, at its kink, where the derivative is a "
        f"convention ({KINKS[v.op]}) and finite differences straddle the kink"
        for v in topological_order(out) if v.op in KINKS and abs(v.parents[0].data) < 10.0 * eps)


def check_manual_gradient(f: Callable[..., Value], manual_grad: Callable[..., Sequence[float] | float],
                          point: Sequence[Value | float], *, eps: float = 1e-6, tol: float = 1e-10,
                          atol: float = 1e-5, rtol: float = 1e-3) -> GradientReport:
    """Check your hand-derived gradient of ``f`` against autograd and central differences.

    ``f`` takes one :class:`Value` per input and returns a Value (``lambda a, b: a * b + a``);
    ``manual_grad`` takes the inputs as floats and returns ``[df/dx_0, df/dx_1, ...]`` (a bare
    number for one input); ``point`` holds numbers or Values (only their data is used).  The
    report is :attr:`~GradientReport.ok` when every partial equals autograd's to ``tol`` relative
    and both are within ``atol + rtol |fd|`` of the central difference ``fd`` (step ``eps``);
    ``print(report)`` shows the table, which side disagrees, and any kink at the point."""
    who = "check_manual_gradient"
    check_tolerances(who, eps, atol, rtol, tol)
    values = finite_point(point, f"{who}: point")
    params: list[str] = []
    for name, fn in (("f", f), ("manual_grad", manual_grad)):
        if not callable(fn):
            raise TypeError(f"{who}: {name} must be a function, got {type(fn).__name__}")
        try:
            signature = inspect.signature(fn)
            signature.bind(*values)
        except TypeError as e:  # the arity is wrong
            raise TypeError(f"{who}: {name} cannot take the {len(values)} input{'s' * (len(values) != 1)} "
                            f"of point: {e}") from None
        except ValueError:  # a callable without a signature
            continue
        if fn is f:  # its positional parameters name the inputs
            params = [p.name for p in signature.parameters.values() if p.kind <= p.POSITIONAL_OR_KEYWORD]
    leaves = [Value(v) for v in values]
    out = evaluate(f, leaves, who)
    fname = getattr(f, "__name__", "f").replace("<lambda>", "f")
    labels = _labels(list(point), params if len(params) == len(values) else ())
    at = ", ".join(f"{lab}={x:.10g}" for lab, x in zip(labels, values))
    head = (f"gradient check of {fname} at ({at}): hand-derived vs autograd vs finite differences, float64",
            f"value: {fname} = {out.data:.17g}", f"finite differences: central, eps {eps:g}")
    legend = (f"d{fname}/d(input): hand = your hand-derived formula, autograd = microgrid's backward pass, "
              "fd = finite differences;\nrel = abs diff / the larger |value| of the two "
              f"(or {RELATIVE_FLOOR:g} x the largest gradient entry, if larger)")
    manual = _partials(manual_grad(*values), len(values), who)
    numeric = _first_order(f, values, eps, who).tolist()
    return GradientReport(head, tuple(labels), grad(out, leaves), manual, numeric, out.data, float(eps),
                          float(tol), float(atol), float(rtol), point=tuple(values), notes=_kinks(out, eps),
                          legend=legend, name=fname)
