"""Binary classification metrics (class 1 = positive = malignant).

With the confusion counts TP, FP, TN, FN (rows = true class, columns = predicted class):

* accuracy    = (TP + TN) / n
* precision   = TP / (TP + FP)              — of the rows called positive, the share that are
* recall      = TP / (TP + FN)              — sensitivity: the share of positives found
* specificity = TN / (TN + FP)              — the share of negatives recognised
* F1          = 2 TP / (2 TP + FP + FN)     — harmonic mean of precision and recall
* ROC AUC     = P(score of a random positive > score of a random negative), ties counting 1/2
* log loss    = mean of -[y log p + (1 - y) log(1 - p)], with p clipped to [eps, 1 - eps]

A ratio whose denominator is 0 (e.g. precision with no positive prediction) is undefined and
returned as NaN, as is ROC AUC when only one class is present.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from microgrid.arrays import real_array

__all__ = ["confusion_matrix", "accuracy", "precision", "recall", "sensitivity", "specificity", "f1_score",
           "roc_auc", "log_loss", "binary_metrics", "METRIC_NAMES"]

METRIC_NAMES = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss")


def _binary_labels(y: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))][0].item()
        raise ValueError(f"{what} must contain only 0 and 1, found {bad!r}")
    return arr.astype(np.int64)


def _pair(y_true: np.ndarray, other: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    t = _binary_labels(y_true, "y_true")
    o = real_array(other, what)
    if o.shape != t.shape:
        raise ValueError(f"y_true has shape {t.shape} but {what} has shape {o.shape}")
    return t, o


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2×2 counts ``[[TN, FP], [FN, TP]]``: row = true class, column = predicted class."""
    t, p = _pair(y_true, y_pred, "y_pred")
    p = _binary_labels(p, "y_pred")
    return np.bincount(2 * t + p, minlength=4).reshape(2, 2)


def _ratio(num: int, den: int) -> float:
    return float(num) / float(den) if den else math.nan


def _from_counts(cm: np.ndarray) -> dict[str, float]:
    """The count-based metrics of a 2×2 confusion matrix ``[[TN, FP], [FN, TP]]``."""
    (tn, fp), (fn, tp) = cm.tolist()
    return {
        "accuracy": _ratio(tp + tn, tn + fp + fn + tp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def _count_metric(key: str, doc: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The public metric ``key`` of :func:`_from_counts`, as a function of ``(y_true, y_pred)``."""
    def metric(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return _from_counts(confusion_matrix(y_true, y_pred))[key]

    metric.__name__ = metric.__qualname__ = "f1_score" if key == "f1" else key
    metric.__doc__ = doc
    return metric


accuracy = _count_metric("accuracy", "Share of rows predicted correctly.")
precision = _count_metric("precision", "Share of predicted positives that are positive (PPV).")
recall = sensitivity = _count_metric("recall", "Share of positives predicted positive (true positive rate).")
specificity = _count_metric("specificity", "Share of negatives predicted negative (true negative rate).")
f1_score = _count_metric("f1", "Harmonic mean of precision and recall, ``2 TP / (2 TP + FP + FN)``.")


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely positive): over all pairs of a
    positive and a negative, the share the positive outscores, ties counting 1/2 (the Mann–Whitney
    U statistic over ``n_pos n_neg``).  NaN if ``y_true`` has a single class."""
    t, s = _pair(y_true, scores, "scores")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinite values")
    pos, neg = s[t == 1], np.sort(s[t == 0])
    if not (pos.size and neg.size):
        return math.nan
    # per positive: 2 (negatives below) + (negatives tied) = searchsorted left + right
    twice_u = int(np.searchsorted(neg, pos, "left").sum() + np.searchsorted(neg, pos, "right").sum())
    return twice_u / (2 * pos.size * neg.size)


def log_loss(y_true: np.ndarray, proba: np.ndarray, eps: float = 1e-15) -> float:
    """Mean binary cross-entropy of probabilities ``proba`` of class 1, clipped to [eps, 1 - eps]."""
    if not (isinstance(eps, (int, float)) and 0.0 <= eps < 0.5):
        raise ValueError(f"eps must be a number in [0, 0.5), got {eps!r}")
    t, p = _pair(y_true, proba, "proba")
    if not ((p >= 0) & (p <= 1)).all():
        raise ValueError("proba must be probabilities in [0, 1] (NaN or a value outside found)")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(np.where(t == 1, np.log(p), np.log1p(-p))))


def binary_metrics(y_true: np.ndarray, proba: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Each of :data:`METRIC_NAMES`, ``"n"`` (rows) and the confusion counts ``"tn", "fp", "fn", "tp"``
    for probabilities ``proba`` of class 1, predicted 1 where ``proba >= threshold``."""
    if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise ValueError(f"threshold must be a number strictly between 0 and 1, got {threshold!r}")
    t, p = _pair(y_true, proba, "proba")
    cm = confusion_matrix(t, (p >= threshold).astype(np.int64))
    (tn, fp), (fn, tp) = cm.tolist()
    return {**_from_counts(cm), "roc_auc": roc_auc(t, p), "log_loss": log_loss(t, p),
            "n": len(t), "tn": tn, "fp": fp, "fn": fn, "tp": tp}
