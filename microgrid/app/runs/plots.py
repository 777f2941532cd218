"""The pictures of a run folder as PNG bytes (matplotlib, imported only when drawing): loss curves,
confusion matrix."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from microgrid.app.runs.config import TrainConfig

__all__ = ["plot_loss", "plot_confusion"]


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
