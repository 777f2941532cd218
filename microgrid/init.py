"""Initial weights for both networks: the same seed gives :class:`~microgrid.nn.MLP` and
:class:`~microgrid.vectorized.VectorizedMLP` the same numbers.

A layer with ``fan_in`` inputs and ``fan_out`` outputs draws ``W ~ N(0, 1) * std`` with ``std``
from :data:`INITS` (``he``: ``sqrt(2 / fan_in)``, ``xavier``: ``sqrt(2 / (fan_in + fan_out))``,
``scaled_normal``: ``1 / sqrt(fan_in)``) and starts ``b`` at zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from microgrid.arrays import check_dims
from microgrid.optim import check_seed

__all__ = ["INITS", "initial_weights"]

#: weight standard deviation for a layer with ``fan_in`` inputs and ``fan_out`` outputs
INITS: dict[str, Callable[[int, int], float]] = {
    "he": lambda fan_in, fan_out: math.sqrt(2.0 / fan_in),  # keeps the variance through ReLUs
    "xavier": lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out)),  # Glorot, normal form
    "scaled_normal": lambda fan_in, fan_out: 1.0 / math.sqrt(fan_in),  # the classic tutorial's
}


def initial_weights(dims: Sequence[int], init: str = "he", seed: int = 0) -> list[np.ndarray]:
    """``[W1, b1, W2, b2, ...]`` for layer widths ``dims``: zero biases and weights drawn
    ``N(0, 1) * std`` (``std`` from :data:`INITS`), layer after layer, each ``W`` as an
    ``(n_out, n_in)`` block from ``numpy.random.default_rng(seed)``."""
    dims = check_dims(dims)
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {', '.join(INITS)}")
    rng = np.random.default_rng(check_seed(seed))
    weights: list[np.ndarray] = []
    for fan_in, fan_out in zip(dims[:-1], dims[1:]):
        W = rng.standard_normal((fan_out, fan_in))
        if init == "scaled_normal":
            W /= math.sqrt(fan_in)  # exactly N(0,1)/sqrt(fan_in)
        else:
            W *= INITS[init](fan_in, fan_out)
        weights += [W, np.zeros(fan_out)]
    return weights
