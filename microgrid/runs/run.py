"""The training run behind ``microgrid train``: fit a network, a hold-out run, a cross-validation.

One run is either a *hold-out* run (fit on the training rows of a split, report train and test
metrics) or a *k-fold cross-validation* (fit once per stratified fold, report each fold and the
mean ± standard deviation across folds).  Every step that looks at data looks only at the rows
it is allowed to: the missing-value medians and the scaler come from the training rows alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TextIO

import numpy as np

from microgrid.datasets import Dataset
from microgrid.metrics import METRIC_NAMES, binary_metrics
from microgrid.model_io import Classifier
from microgrid.nn import MLP
from microgrid.preprocessing import make_scaler, stratified_kfold, stratified_split, tutorial_split
from microgrid.runs.config import ConfigError, TrainConfig
from microgrid.runs.progress import Progress
from microgrid.runs.results import CVResult, FoldResult, HoldoutResult, TrainedClassifier
from microgrid.vectorized import TrainingDiverged, VectorizedMLP

__all__ = ["TrainingDiverged", "ProgressCallback", "fit_network", "train_classifier", "run_holdout", "run_cv"]

ProgressCallback = Callable[[int, float], None]  # (iterations done, loss)


def fit_network(config: TrainConfig, X: np.ndarray, y: np.ndarray,
                progress: ProgressCallback | None = None) -> tuple[VectorizedMLP, np.ndarray, float]:
    """Train a fresh network on scaled rows ``X`` and labels ``y`` with ``config``'s engine.

    Returns the trained network (as a :class:`VectorizedMLP` whatever the engine), the loss
    history (the mean BCE *before* each step) and the final loss (the mean BCE of the returned
    network, after the last step).  Both engines start from the same weights (drawn from
    ``config.seed``), see the same batches and apply the same optimizer rule
    (:mod:`microgrid.optim`), so their histories agree to rounding; the scalar engine builds the
    ``Value`` graph of every row at every iteration, so it is far slower.
    Raises :class:`TrainingDiverged` if the loss stops being finite, the last step included.
    """
    dims = config.dims(np.shape(X)[1])
    net: MLP | VectorizedMLP
    if config.engine == "scalar":
        net = MLP(dims[0], dims[1:], activations=config.activations, seed=config.seed)
    else:
        net = VectorizedMLP(dims, activations=config.activations, seed=config.seed)
    callback = None if progress is None else (lambda i, loss: progress(i + 1, loss))
    history = net.fit(X, y, lr=config.lr, iters=config.iters, optimizer=config.optimizer,
                      batch_size=config.batch_size, seed=config.seed, callback=callback)
    if isinstance(net, MLP):
        net = VectorizedMLP.from_scalar(net)
    with np.errstate(over="ignore", invalid="ignore"):
        weights_finite = all(np.all(np.isfinite(w)) for w in net.get_weights())
        final_loss = net.loss(X, y) if weights_finite else math.nan
    if not math.isfinite(final_loss):
        raise TrainingDiverged(f"training diverged: the last step (iteration {config.iters}) left the loss "
                               f"or the weights NaN or infinite; try a smaller learning rate (lr is "
                               f"{config.lr:g})", config.iters, final_loss)
    return net, np.asarray(history, dtype=np.float64), final_loss


def train_classifier(config: TrainConfig, dataset: Dataset, rows: np.ndarray,
                     progress: ProgressCallback | None = None) -> TrainedClassifier:
    """Fit the missing-value medians, the scaler and the network on ``dataset``'s ``rows``."""
    X, y = dataset.X[rows], dataset.y[rows]
    present = np.unique(y)
    if len(present) < 2:  # a classifier cannot learn, and recall/AUC are undefined, from one class
        only = dataset.target_names[int(present[0])] if len(present) else "none"
        raise ConfigError(f"the {len(y)} training rows from {dataset.source} are all of one class ({only}); "
                          "a classifier needs rows of both classes")
    fill_values = np.nanmedian(X, axis=0)
    X = np.where(np.isnan(X), fill_values, X)
    scaler = make_scaler(config.scale).fit(X)
    start = time.perf_counter()
    net, history, final_loss = fit_network(config, scaler.transform(X), y, progress)
    seconds = time.perf_counter() - start
    model = Classifier(net=net, scaler=scaler, fill_values=fill_values, feature_names=dataset.feature_names,
                       target_names=dataset.target_names)
    return TrainedClassifier(model, history, final_loss, seconds)


def _evaluate(model: Classifier, dataset: Dataset, rows: np.ndarray) -> dict[str, float]:
    return binary_metrics(dataset.y[rows], model.predict_proba(dataset.X[rows]), threshold=model.threshold)


def _require_rows(dataset: Dataset, per_class: int, purpose: str) -> None:
    """ConfigError unless ``dataset`` has ``per_class`` rows of each class, naming file and class."""
    if len(dataset) == 0:
        n = dataset.n_missing_rows
        dropped = f" (all {n} lack a score and were dropped)" if n else ""
        raise ConfigError(f"{dataset.source} has no complete rows to train on{dropped}")
    for name, n in dataset.class_counts().items():
        if 0 < n < per_class:  # a missing class is reported by train_classifier
            rows = f"{n} {name} row{'s' * (n != 1)}"
            raise ConfigError(f"{dataset.source} has {rows}; {purpose} needs at least {per_class} rows of "
                              "each class")


def _split(config: TrainConfig, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    _require_rows(dataset, 2 if config.split == "stratified" else 1, "a stratified split")
    try:
        if config.split == "tutorial":
            return tutorial_split(len(dataset))
        return stratified_split(dataset.y, config.test_size, config.seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_holdout(config: TrainConfig, dataset: Dataset, stream: TextIO | None = None,
                show_progress: bool = True) -> HoldoutResult:
    """Train on the split's training rows and evaluate on both sides."""
    train_rows, test_rows = _split(config, dataset)
    with Progress(config.iters, stream, enabled=show_progress) as bar:
        fit = train_classifier(config, dataset, train_rows, bar.update)
    return HoldoutResult(config, dataset, train_rows, test_rows, *fit,
                         _evaluate(fit.model, dataset, train_rows), _evaluate(fit.model, dataset, test_rows))


def run_cv(config: TrainConfig, dataset: Dataset, stream: TextIO | None = None, show_progress: bool = True,
           refit: bool = False) -> CVResult:
    """Stratified K-fold cross-validation (``config.cv`` folds, split by ``config.seed``).

    With ``refit`` a final model is trained on every row with the same settings (the model to
    keep; the folds only estimate how well such a model does on new rows).
    """
    if config.cv is None:
        raise ConfigError("run_cv needs config.cv (the number of folds)")
    _require_rows(dataset, config.cv, f"{config.cv}-fold cross-validation")
    try:
        splits = stratified_kfold(dataset.y, config.cv, config.seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    folds = []
    for k, (train_rows, test_rows) in enumerate(splits, start=1):
        label = f"fold {k}/{config.cv}"
        with Progress(config.iters, stream, label=label, enabled=show_progress, lines=1) as bar:
            try:
                fit = train_classifier(config, dataset, train_rows, bar.update)
            except TrainingDiverged as exc:
                raise TrainingDiverged(f"{label}: {exc}", exc.iteration, exc.loss) from None
        folds.append(FoldResult(train_rows, test_rows, fit.history, fit.final_loss, fit.seconds,
                                _evaluate(fit.model, dataset, train_rows),
                                _evaluate(fit.model, dataset, test_rows)))
    result = CVResult(config, dataset, folds)
    for name in METRIC_NAMES:
        values = np.array([f.test[name] for f in folds], dtype=np.float64)
        result.mean[name] = float(np.mean(values))
        result.std[name] = float(np.std(values, ddof=1))
    if refit:
        everything = np.arange(len(dataset))
        with Progress(config.iters, stream, label="all rows", enabled=show_progress, lines=1) as bar:
            fit = train_classifier(config, dataset, everything, bar.update)
        result.final = HoldoutResult(config, dataset, everything, np.arange(0), *fit,
                                     _evaluate(fit.model, dataset, everything), {})
    return result
