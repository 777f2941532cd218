"""The text ``microgrid train`` prints at the end of a run (hold-out or cross-validation)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from microgrid.app.runs.progress import format_rate
from microgrid.app.runs.run import CVResult, HoldoutResult, SeedsResult
from microgrid.data import Dataset
from microgrid.data.metrics import METRIC_NAMES

__all__ = ["METRIC_LABELS", "format_holdout", "format_cv", "format_seeds", "seeds_text"]

METRIC_LABELS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall (sensitivity)",
                 "specificity": "specificity", "f1": "F1", "roc_auc": "ROC AUC", "log_loss": "log loss"}


def _data_line(dataset: Dataset) -> str:
    counts = ", ".join(f"{n:,} {name}" for name, n in dataset.class_counts().items())
    dropped = dataset.n_missing_rows
    left_out = f"; {dropped:,} row{'s' * (dropped != 1)} lacking a score left out" if dropped else ""
    return f"data: {dataset.source} ({len(dataset):,} rows: {counts}{left_out})"


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
        f"model: {c.describe(d.X.shape[1])}",
        _data_line(d),
        f"split: {c.split}" + (f" (test size {c.test_size:g})" if c.split == "stratified" else "")
        + f"; {len(result.train_rows)} train rows, {len(result.test_rows)} test rows",
        f"trained in {result.seconds:.2f} s ({format_rate(rate)}); "
        f"final training loss {result.final_loss:.6g}",
        "",
        f"{'':<22}{'train':>10}{'test':>10}",
    ]
    for name in METRIC_NAMES:
        lines.append(f"{METRIC_LABELS[name]:<22}{result.train[name]:>10.4f}{result.test[name]:>10.4f}")
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
        f"model: {c.describe(d.X.shape[1])}",
        _data_line(d),
        f"{c.cv}-fold stratified cross-validation (seed {c.seed}); training took {total:.2f} s in all",
        "",
        f"{'fold':<6}{'rows':>6}" + "".join(f"{short[n]:>9}" for n in METRIC_NAMES),
    ]
    for k, f in enumerate(result.folds, start=1):
        lines.append(f"{k:<6}{len(f.test_rows):>6}" + "".join(f"{f.test[n]:>9.4f}" for n in METRIC_NAMES))
    lines += ["", f"test metrics over {c.cv} folds: mean ± std (sample std across folds)"]
    for n in METRIC_NAMES:
        lines.append(f"  {METRIC_LABELS[n]:<22}{result.mean[n]:.4f} ± {result.std[n]:.4f}")
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
        f"model: {c.describe(d.X.shape[1], seeds=seeds_text(result.seeds))}",
        _data_line(d),
        f"split: {c.split}{drawn}; {len(first.train_rows)} train rows, {len(first.test_rows)} test rows",
        f"{len(result.seeds)} networks trained in one pass in {total:.2f} s",
        "",
        f"{'seed':<6}{'accuracy':>10}{'ROC AUC':>10}{'final training loss':>21}",
    ]
    for seed, r in zip(result.seeds, result.runs):
        lines.append(f"{seed:<6}{r.test['accuracy']:>10.4f}{r.test['roc_auc']:>10.4f}{r.final_loss:>21.6g}")
    lines += ["", f"test metrics over {len(result.seeds)} seeds:"]
    for name in ("accuracy", "roc_auc"):
        mean, lo, hi = result.summary(name)
        lines.append(f"  {METRIC_LABELS[name]:<10}mean {mean:.4f}  min {lo:.4f}  max {hi:.4f}")
    return "\n".join(lines)
