"""Turning user input into float64 arrays, with an error that names the input.

``np.asarray(x, dtype=np.float64)`` alone would parse text (``"1"`` becomes 1.0), drop the
imaginary part of complex numbers with only a warning, and let ``OverflowError`` escape for
huge Python integers; :func:`real_array` refuses all three.
"""

from __future__ import annotations

import numpy as np

__all__ = ["real_array"]


def real_array(x: object, what: str) -> np.ndarray:
    """``x`` as a new float64 array; ValueError naming ``what`` for text, complex or non-numbers."""
    try:
        a = np.asarray(x)
    except ValueError as exc:  # e.g. ragged nested lists
        raise ValueError(f"{what} must be an array of numbers ({exc})") from None
    if a.dtype.kind in "USV":
        raise ValueError(f"{what} must be numbers, got text ({a.dtype})")
    if a.dtype.kind == "c":
        raise ValueError(f"{what} must be real numbers, got complex values")
    if a.dtype.kind == "O":
        odd = next((v for v in a.flat if isinstance(v, (str, bytes, complex))), None)
        if odd is not None:
            raise ValueError(f"{what} must be real numbers, got {type(odd).__name__} {odd!r}")
    try:
        return a.astype(np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{what} must be an array of numbers ({exc})") from None
