"""The run folder: ``metrics.json``, ``history.csv``, ``model.npz`` and the plots."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from microgrid.datasets import Dataset
from microgrid.model_io import save_model
from microgrid.runs.learning import learning_warnings
from microgrid.runs.plots import plot_confusion, plot_loss
from microgrid.runs.results import CVResult, HoldoutResult

__all__ = ["OUTPUT_FILES", "PLOT_HINT", "metrics_document", "check_output_dir", "write_outputs"]

PLOT_HINT = 'plots skipped: matplotlib is not installed (pip install "microgrid-autograd[plot]")'


def _jsonable(x: object) -> object:
    """Plain JSON: NaN/inf become null (undefined metric), numpy scalars become numbers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _data_info(dataset: Dataset) -> dict[str, object]:
    return {"source": dataset.source, "format": dataset.format, "rows": len(dataset),
            "class_counts": dataset.class_counts(), "rows_dropped_for_missing_values": dataset.n_missing_rows}


def metrics_document(result: HoldoutResult | CVResult) -> dict[str, object]:
    """Everything ``metrics.json`` records about a run."""
    from microgrid import __version__

    config = asdict(result.config)
    if result.config.split != "stratified" or result.config.cv is not None:
        del config["test_size"]  # not used by this run
    doc: dict[str, object] = {"microgrid_version": __version__, "config": config,
                              "data": _data_info(result.dataset)}
    if isinstance(result, HoldoutResult):
        doc.update(kind="holdout", train_rows=len(result.train_rows), test_rows=len(result.test_rows),
                   iterations=len(result.history), final_loss=result.final_loss,
                   seconds=result.seconds, train=result.train, test=result.test,
                   confusion_matrix_test=result.confusion)
    else:
        doc.update(kind="cross-validation", folds=[
            {"fold": k, "train_rows": len(f.train_rows), "test_rows": len(f.test_rows),
             "final_loss": f.final_loss, "seconds": f.seconds, "train": f.train, "test": f.test}
            for k, f in enumerate(result.folds, start=1)],
            mean=result.mean, std=result.std, confusion_matrix_out_of_fold=result.confusion)
        if result.final is not None:
            doc["model_trained_on_all_rows"] = {"rows": len(result.final.train_rows),
                                                "final_loss": result.final.final_loss,
                                                "train": result.final.train}
    doc["warnings"] = learning_warnings(result)
    return _jsonable(doc)  # type: ignore[return-value]


def _histories(result: HoldoutResult | CVResult) -> list[tuple[str, np.ndarray]]:
    if isinstance(result, HoldoutResult):
        return [("", result.history)]
    runs = [(str(k), f.history) for k, f in enumerate(result.folds, start=1)]
    return runs + ([("all", result.final.history)] if result.final is not None else [])


OUTPUT_FILES = ("metrics.json", "history.csv", "model.npz", "loss.png", "confusion.png")


def check_output_dir(out_dir: str | Path) -> None:
    """Create ``out_dir`` if needed and make sure every output file can be written there.

    Meant for before training, so that a long run cannot end in "cannot write"; raises
    ``OSError`` (with ``filename``) otherwise.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_FILES:
        if (out / name).is_dir():
            raise IsADirectoryError(21, "is a directory, not a file", str(out / name))
    probe = out / f".microgrid-write-test-{os.getpid()}"
    probe.touch()  # a read-only directory or file system fails here
    probe.unlink()


def write_outputs(out_dir: str | Path, result: HoldoutResult | CVResult) -> list[str]:
    """Write ``metrics.json``, ``history.csv``, ``model.npz`` and (with matplotlib) the plots.

    Returns one message per file written, plus :data:`PLOT_HINT` when matplotlib is missing.
    For cross-validation the model is the one refit on all rows (``result.final``), if any.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with open(out / "metrics.json", "w") as f:
        json.dump(metrics_document(result), f, indent=2, allow_nan=False)
        f.write("\n")
    written.append(str(out / "metrics.json"))
    runs = _histories(result)
    with open(out / "history.csv", "w", newline="") as f:
        w = csv.writer(f)
        cv = isinstance(result, CVResult)
        w.writerow(["fold", "iteration", "loss"] if cv else ["iteration", "loss"])
        for label, history in runs:
            for i, loss in enumerate(history, start=1):
                w.writerow([label, i, repr(float(loss))] if cv else [i, repr(float(loss))])
    written.append(str(out / "history.csv"))
    final = result if isinstance(result, HoldoutResult) else result.final
    if final is not None:
        save_model(out / "model.npz", final.model)
        written.append(str(out / "model.npz"))
    messages = [f"wrote {p}" for p in written]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return messages + [PLOT_HINT]
    plot_loss(out / "loss.png", runs, result.config)
    plot_confusion(out / "confusion.png", result.confusion, result.dataset.target_names,
                    "test rows" if isinstance(result, HoldoutResult) else "out-of-fold predictions")
    return messages + [f"wrote {out / 'loss.png'}", f"wrote {out / 'confusion.png'}"]
