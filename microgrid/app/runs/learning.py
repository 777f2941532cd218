"""Did a run learn anything?  One warning, with a hint, per model that ranks rows like a coin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from microgrid.app.runs.config import TrainConfig
from microgrid.app.runs.run import CVResult, HoldoutResult, SeedsResult

__all__ = ["CHANCE_AUC", "learning_warnings"]

#: A model whose ROC AUC on its evaluation rows is at most this ranks them little better than
#: a coin (0.5), and is reported by :func:`learning_warnings`.
CHANCE_AUC = 0.55


def _nothing_learned(metrics: Mapping[str, float], names: Sequence[str], rows: str) -> str | None:
    """Why a model with these ``metrics`` on its evaluation ``rows`` learned nothing, or None.

    Nothing learned: one class predicted for every row, or ROC AUC <= :data:`CHANCE_AUC`.
    """
    n = int(metrics["n"])
    if n == 0:
        return None
    reasons = []
    positive = int(metrics["tp"] + metrics["fp"])
    if positive in (0, n):
        reasons.append(f"it predicts {names[1] if positive else names[0]} for all {n} {rows}")
    auc = metrics["roc_auc"]
    if math.isfinite(auc) and auc <= CHANCE_AUC:
        reasons.append(f"its ROC AUC there is {auc:.4f} (0.5 is a coin toss)")
    return " and ".join(reasons) if reasons else None


def _hint(config: TrainConfig, history: np.ndarray, final_loss: float) -> str:
    """What to try, from the way the training loss moved (``history[0]``: before the first step)."""
    start = float(history[0]) if len(history) else final_loss
    smaller = f"a smaller --lr (e.g. --lr {config.lr / 10:g})"
    if not final_loss < start:  # rose, or nan
        why = {"gd": "the steps overshoot",
               "momentum": "the steps overshoot (momentum 0.9 makes them up to 10 times lr)",
               "adam": "the steps overshoot (Adam moves every weight by about lr per step)"}[config.optimizer]
        return f"the training loss rose from {start:.4g} to {final_loss:.4g}: {why}; try {smaller}"
    if final_loss > 0.9 * start:
        return (f"the training loss barely fell (from {start:.4g} to {final_loss:.4g}): train longer "
                f"(--iters) or with a larger --lr")
    other = "--optimizer adam" if config.optimizer != "adam" else "--optimizer gd"
    return (f"the training loss fell from {start:.4g} to {final_loss:.4g} but the model does not tell the "
            f"classes apart; try {smaller} or {other}")


def learning_warnings(result: HoldoutResult | CVResult | SeedsResult) -> list[str]:
    """One sentence per trained model that learned nothing (see :func:`_nothing_learned`), with a
    hint: a hold-out run judged on its test rows (each seed's), a cross-validation on each fold's
    (the folds with the problem in one sentence) and its refit model on all rows."""
    names = result.dataset.target_names
    warnings = []
    if isinstance(result, SeedsResult):
        return [f"seed {seed}: {warning}"
                for seed, run in zip(result.seeds, result.runs) for warning in learning_warnings(run)]
    if isinstance(result, HoldoutResult):
        why = _nothing_learned(result.test, names, "test rows")
        if why is not None:
            warnings.append(f"the model learned nothing useful: {why}; "
                            f"{_hint(result.config, result.history, result.final_loss)}")
        return warnings
    bad = [(k, f, why) for k, f in enumerate(result.folds, start=1)
           if (why := _nothing_learned(f.test, names, "test rows")) is not None]
    if bad:
        k, fold, why = bad[0]
        which = f"fold {k}" if len(bad) == 1 else f"folds {', '.join(str(b[0]) for b in bad)}"
        hint = _hint(result.config, fold.history, fold.final_loss)
        warnings.append(f"the models of {len(bad)} of {len(result.folds)} folds learned nothing useful "
                        f"({which}); in fold {k} {why}; {hint}")
    final = result.final
    if final is not None:
        why = _nothing_learned(final.train, names, "rows")
        if why is not None:
            warnings.append(f"the model refit on all rows learned nothing useful: {why}; "
                            f"{_hint(result.config, final.history, final.final_loss)}")
    return warnings
