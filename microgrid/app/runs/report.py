"""The text ``microgrid train`` prints at the end of a run (hold-out, cross-validation or seeds),
and its warnings: one, with a hint, per model that ranks rows like a coin."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from microgrid.app.runs.config import TrainConfig
from microgrid.app.runs.progress import format_rate
from microgrid.app.runs.run import CVResult, HoldoutResult, SeedsResult
from microgrid.data import Dataset
from microgrid.data.metrics import METRIC_NAMES

__all__ = ["METRIC_LABELS", "CHANCE_AUC", "format_holdout", "format_cv", "format_seeds", "seeds_text",
           "learning_warnings"]

METRIC_LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall (sensitivity)",
                 "specificity": "specificity", "f1": "F1", "roc_auc": "ROC AUC", "log_loss": "log loss"}


def _head(c: TrainConfig, d: Dataset, seeds: str | None = None) -> list[str]:
    counts = ", ".join(f"{n:,} {name}" for name, n in d.class_counts().items())
    dropped = d.n_missing_rows
    left_out = f"; {dropped:,} row{'s' * (dropped != 1)} lacking a score left out" if dropped else ""
    return [f"model: {c.describe(d.X.shape[1], seeds)}",
            f"data: {d.source} ({len(d):,} rows: {counts}{left_out})"]


def _confusion_text(cm: np.ndarray, names: Sequence[str], title: str) -> list[str]:
    w = max(len(n) for n in names) + 10
    lines = [title, " " * w + "".join(f"{'pred. ' + n:>{w}}" for n in names)]
    for name, row in zip(names, cm):
        lines.append(f"{'true ' + name:<{w}}" + "".join(f"{int(c):>{w}}" for c in row))
    return lines


def format_holdout(result: HoldoutResult) -> str:
    """The end-of-run report: setup, train/test metrics table, test confusion matrix."""
    c, d = result.config, result.dataset
    rate = len(result.history) / result.seconds if result.seconds > 0 else math.inf
    lines = [
        *_head(c, d),
        f"split: {c.split}" + (f" (test size {c.test_size:g})" if c.split == "stratified" else "")
        + f"; {len(result.train_rows)} train rows, {len(result.test_rows)} test rows",
        f"trained in {result.seconds:.2f} s ({format_rate(rate)}); "
        f"final training loss {result.final_loss:.6g}",
        "",
        f"{'':<22}{'train':>10}{'test':>10}",
    ]
    lines += [f"{METRIC_LABELS[n]:<22}{result.train[n]:>10.4f}{result.test[n]:>10.4f}" for n in METRIC_NAMES]
    lines.append("")
    lines += _confusion_text(result.confusion, d.target_names,
                             f"confusion matrix, {len(result.test_rows)} test rows (rows: true class)")
    return "\n".join(lines)


def format_cv(result: CVResult) -> str:
    """Per-fold test metrics, their mean ± standard deviation, and the pooled confusion matrix."""
    c, d = result.config, result.dataset
    short = {"accuracy": "acc", "precision": "prec", "recall": "recall", "specificity": "spec",
             "f1": "F1", "roc_auc": "AUC", "log_loss": "logloss"}
    total = sum(f.seconds for f in result.folds)
    lines = [
        *_head(c, d),
        f"{c.cv}-fold stratified cross-validation (seed {c.seed}); training took {total:.2f} s in all",
        "",
        f"{'fold':<6}{'rows':>6}" + "".join(f"{short[n]:>9}" for n in METRIC_NAMES),
    ]
    for k, f in enumerate(result.folds, start=1):
        lines.append(f"{k:<6}{len(f.test_rows):>6}" + "".join(f"{f.test[n]:>9.4f}" for n in METRIC_NAMES))
    lines += ["", f"test metrics over {c.cv} folds: mean ± std (sample std across folds)"]
    lines += [f"  {METRIC_LABELS[n]:<22}{result.mean[n]:.4f} ± {result.std[n]:.4f}" for n in METRIC_NAMES]
    lines.append("")
    lines += _confusion_text(result.confusion, d.target_names,
                             f"confusion matrix, out-of-fold predictions of all {len(d)} rows "
                             "(rows: true class)")
    return "\n".join(lines)


def seeds_text(seeds: Sequence[int]) -> str:
    """``0-9`` for a run of consecutive seeds, else ``0,3,7``."""
    if len(seeds) > 2 and list(seeds) == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def format_seeds(result: SeedsResult) -> str:
    """Each seed's test accuracy and ROC AUC (and training loss), then their mean, min and max."""
    c, d, first = result.config, result.dataset, result.runs[0]
    total = sum(r.seconds for r in result.runs)
    drawn = f" (test size {c.test_size:g}, drawn by each seed)" if c.split == "stratified" else ""
    lines = [
        *_head(c, d, seeds_text(result.seeds)),
        f"split: {c.split}{drawn}; {len(first.train_rows)} train rows, {len(first.test_rows)} test rows",
        f"{len(result.seeds)} networks trained in one pass in {total:.2f} s",
        "",
        f"{'seed':<6}{'accuracy':>10}{'ROC AUC':>10}{'final training loss':>21}",
    ]
    for seed, r in zip(result.seeds, result.runs):
        lines.append(f"{seed:<6}{r.test['accuracy']:>10.4f}{r.test['roc_auc']:>10.4f}{r.final_loss:>21.6g}")
    lines += ["", f"test metrics over {len(result.seeds)} seeds:"]
    for name in ("accuracy", "roc_auc"):
        values = [r.test[name] for r in result.runs]
        lines.append(f"  {METRIC_LABELS[name]:<10}mean {np.mean(values):.4f}  min {min(values):.4f}  "
                     f"max {max(values):.4f}")
    return "\n".join(lines)


#: A model whose ROC AUC on its evaluation rows is at most this ranks them little better than
#: a coin (0.5), and is reported by :func:`learning_warnings`.
CHANCE_AUC = 0.55


def _nothing_learned(metrics: Mapping[str, float], names: Sequence[str], rows: str) -> str | None:
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
    """One sentence per trained model that learned nothing (one class for every row, or a ROC AUC of
    at most :data:`CHANCE_AUC`), with a hint: a hold-out run judged on its test rows (each seed's), a
    cross-validation on each fold's (the folds with the problem in one sentence), its refit on all rows."""
    names = result.dataset.target_names
    if isinstance(result, SeedsResult):
        return [f"seed {seed}: {warning}"
                for seed, run in zip(result.seeds, result.runs) for warning in learning_warnings(run)]
    if isinstance(result, HoldoutResult):
        why = _nothing_learned(result.test, names, "test rows")
        return [] if why is None else [f"the model learned nothing useful: {why}; "
                                       f"{_hint(result.config, result.history, result.final_loss)}"]
    warnings = []
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
