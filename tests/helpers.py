"""Helpers the test modules share: running the CLI in-process, and the checks on its errors."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from microgrid.app.cli import main


def run_cli(argv):
    """``main(argv)`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse errors
            status = exc.code
    return status, out.getvalue(), err.getvalue()


def one_line_error(status, out, err, *needles):
    assert status == 2, (out, err)
    assert "Traceback" not in err and out == ""
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


def optimizer_trace(optimizer, p0: float, grads: list[float]) -> list[float]:
    """One parameter ``p0`` stepped by ``optimizer`` through ``grads``: its value after each step."""
    p = np.array([p0])
    trace = []
    for g in grads:
        optimizer.step([p], [np.array([g])])
        trace.append(float(p[0]))
    return trace
