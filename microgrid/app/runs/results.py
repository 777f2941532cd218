"""What a training run produces: the trained classifier, a hold-out result, a cross-validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from microgrid.app.model_io import Classifier
from microgrid.app.runs.config import TrainConfig
from microgrid.data import Dataset

__all__ = ["TrainedClassifier", "HoldoutResult", "CVResult", "SeedsResult"]


class TrainedClassifier(NamedTuple):
    """What :func:`train_classifier` returns."""

    model: Classifier  # raw scores in, probabilities out
    history: np.ndarray  # mean training BCE before each step
    final_loss: float  # mean training BCE of the returned model (after the last step)
    seconds: float  # training time


@dataclass
class HoldoutResult:
    """A model trained on one split (or a fold), with its metrics on both sides of the split."""

    config: TrainConfig
    dataset: Dataset
    train_rows: np.ndarray
    test_rows: np.ndarray
    model: Classifier
    history: np.ndarray  # training loss before each step
    final_loss: float  # training loss of the returned model
    seconds: float
    train: dict[str, float]
    test: dict[str, float]

    @property
    def confusion(self) -> np.ndarray:
        """Test-set confusion matrix ``[[TN, FP], [FN, TP]]``."""
        t = self.test
        return np.array([[t["tn"], t["fp"]], [t["fn"], t["tp"]]])


@dataclass
class CVResult:
    """K stratified folds, each a hold-out run on its rows; ``final`` is the model refit on all rows
    (when requested)."""

    config: TrainConfig
    dataset: Dataset
    folds: list[HoldoutResult]
    final: HoldoutResult | None = None
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def confusion(self) -> np.ndarray:
        """Confusion counts of the out-of-fold predictions (every row tested exactly once)."""
        keys = ("tn", "fp", "fn", "tp")
        total = [sum(f.test[k] for f in self.folds) for k in keys]
        return np.array(total).reshape(2, 2)


@dataclass
class SeedsResult:
    """One hold-out run per seed (``runs[k]`` for ``seeds[k]``), trained together."""

    config: TrainConfig  # the settings every run shares (its own seed aside)
    dataset: Dataset
    seeds: list[int]
    runs: list[HoldoutResult]

    def summary(self, metric: str) -> tuple[float, float, float]:
        """``(mean, min, max)`` of a test metric over the seeds."""
        values = np.array([r.test[metric] for r in self.runs], dtype=np.float64)
        return float(np.mean(values)), float(np.min(values)), float(np.max(values))
