"""The run folder: ``metrics.json``, ``history.csv``, ``model.npz`` and the plots (PNG, drawn with
matplotlib, imported only then), written as a unit."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from microgrid.app.model_io import save_model
from microgrid.app.runs.config import TrainConfig
from microgrid.app.runs.report import learning_warnings
from microgrid.app.runs.run import CVResult, HoldoutResult
from microgrid.safety.atomic import atomic_folder, claim, signals_held, write_bytes, write_text
from microgrid.safety.overwrite import OutputTaken, special

__all__ = ["OUTPUT_FILES", "PLOT_HINT", "metrics_document", "check_output_dir", "write_outputs"]

PLOT_HINT = 'plots skipped: matplotlib is not installed (pip install "microgrid-autograd[plot]")'


def _jsonable(x: object) -> object:
    """Plain JSON: NaN/inf become null (undefined metric), numpy scalars become numbers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.ndarray, np.generic)):
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def metrics_document(result: HoldoutResult | CVResult) -> dict[str, object]:
    """Everything ``metrics.json`` records about a run."""
    from microgrid import __version__

    config = asdict(result.config)
    if result.config.split != "stratified" or result.config.cv is not None:
        del config["test_size"]  # not used by this run
    d = result.dataset
    data = {"source": d.source, "format": d.format, "rows": len(d), "class_counts": d.class_counts(),
            "rows_dropped_for_missing_values": d.n_missing_rows}
    doc: dict[str, object] = {"microgrid_version": __version__, "config": config, "data": data}
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


OUTPUT_FILES = ("metrics.json", "history.csv", "model.npz", "loss.png", "confusion.png")


def check_output_dir(out_dir: str | Path, force: bool = False) -> None:
    """:class:`~microgrid.safety.overwrite.OutputTaken`, or an ``OSError`` naming the file, unless a run
    may replace the folder ``out_dir``: checked before training, so that it cannot end in "cannot write"."""
    out = Path(out_dir)
    if out.is_symlink():
        raise OutputTaken(f"{out} is a symbolic link; microgrid does not write through links: give the "
                          "folder itself or a new name")
    if not out.exists():
        return
    if not out.is_dir():
        raise NotADirectoryError(20, "exists and is not a directory", str(out))
    held = sorted(os.listdir(out))
    for name in held:
        entry = out / name
        if name not in OUTPUT_FILES:
            raise OutputTaken(f"{out} holds {name!r}, which is not a file of a microgrid run; a run "
                              "replaces its folder as a whole, so choose a new or empty folder")
        if entry.is_dir() and not entry.is_symlink():
            raise IsADirectoryError(21, "is a directory, not a file of a run", str(entry))
        what = special(entry)
        if what is not None:
            raise OutputTaken(f"{out} holds {name!r}, {what} of a run; choose another folder")
    if held and not force:
        raise OutputTaken(f"{out} already holds a run ({', '.join(held)}); add --force to replace it, "
                          "or choose another folder")
    if not os.access(out, os.W_OK):
        raise PermissionError(13, "Permission denied", str(out))


def _matplotlib() -> bool:
    """Whether matplotlib is installed.  Its C extensions load with Ctrl-C and SIGTERM held off: a
    signal in one's init function leaves a half-made module that fails later or aborts the exit.
    Any other ImportError propagates (matplotlib is there but broken)."""
    try:
        with signals_held():
            import matplotlib.backends.backend_agg  # noqa: F401
            import matplotlib.figure  # noqa: F401
    except ModuleNotFoundError:
        return False
    return True


def write_outputs(out_dir: str | Path, result: HoldoutResult | CVResult, force: bool = False) -> list[str]:
    """Write ``metrics.json``, ``history.csv``, ``model.npz`` (for cross-validation, of the model
    refit on all rows, if any) and with matplotlib the plots, as one folder: afterwards ``out_dir``
    holds the complete new run or, after an error or interrupt, what it held before.  An existing
    run is replaced only with ``force``.  Returns a message per file written, and :data:`PLOT_HINT`
    when matplotlib is missing."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with claim(out):
        check_output_dir(out, force)
        plots = _matplotlib()
        with atomic_folder(out) as tmp:
            names = _write_run(tmp, result, plots)
    messages = [f"wrote {out / name}" for name in names]
    return messages if plots else messages + [PLOT_HINT]


def _write_run(tmp: Path, result: HoldoutResult | CVResult, plots: bool) -> list[str]:
    cv = isinstance(result, CVResult)
    if isinstance(result, CVResult):
        final = result.final
        runs = [(str(k), f.history) for k, f in enumerate(result.folds, start=1)]
        runs += [("all", final.history)] if final is not None else []
    else:
        final, runs = result, [("", result.history)]
    history = io.StringIO()
    w = csv.writer(history)
    w.writerow(["fold", "iteration", "loss"] if cv else ["iteration", "loss"])
    for label, losses in runs:
        w.writerows([label, i, repr(float(loss))] if cv else [i, repr(float(loss))]
                    for i, loss in enumerate(losses, start=1))
    write_text(tmp / "metrics.json", json.dumps(metrics_document(result), indent=2, allow_nan=False) + "\n")
    write_text(tmp / "history.csv", history.getvalue(), newline="")
    names = ["metrics.json", "history.csv"]
    if final is not None:
        save_model(tmp / "model.npz", final.model)
        names.append("model.npz")
    if plots:
        what = "out-of-fold predictions" if cv else "test rows"
        confusion = plot_confusion(result.confusion, result.dataset.target_names, what)
        write_bytes(tmp / "loss.png", plot_loss(runs, result.config))
        write_bytes(tmp / "confusion.png", confusion)
        names += ["loss.png", "confusion.png"]
    return names


def _png(fig: Any) -> bytes:
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    return png.getvalue()


def plot_loss(runs: list[tuple[str, np.ndarray]], config: TrainConfig) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for label, history in runs:
        name = "training loss" if not label else ("all rows" if label == "all" else f"fold {label}")
        ax.plot(np.arange(1, len(history) + 1), history, lw=1.2 if len(runs) == 1 else 0.8, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("mean binary cross-entropy")
    ax.set_title(f"{'-'.join(str(d) for d in config.dims(9))}, {config.optimizer} lr {config.lr:g}")
    if 1 < len(runs) <= 12:
        ax.legend(fontsize="small", ncols=2)
    ax.grid(True, which="both", alpha=0.3)
    return _png(fig)


def plot_confusion(cm: np.ndarray, names: Sequence[str], what: str) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(cm, cmap="Blues")
    for (i, j), count in np.ndenumerate(cm):
        ax.text(j, i, str(int(count)), ha="center", va="center",
                color="white" if count > cm.max() / 2 else "black", fontsize=14)
    ax.set_xticks([0, 1], [f"predicted\n{n}" for n in names])
    ax.set_yticks([0, 1], [f"true\n{n}" for n in names])
    ax.set_title(f"confusion matrix ({what})")
    return _png(fig)
