"""The training run behind ``microgrid train``: a *hold-out* run, a *k-fold cross-validation* or a
hold-out run per seed.  With the vectorized engine the networks of a cross-validation or of several
seeds train together in one pass (:func:`microgrid.vectorized.fit_many`), each as it would alone.
The missing-value medians and the scaler come from the training rows alone."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import NamedTuple

import numpy as np

from microgrid.app.model_io import Classifier
from microgrid.app.runs.config import ConfigError, TrainConfig
from microgrid.app.runs.progress import Progress
from microgrid.data import Dataset
from microgrid.data.metrics import METRIC_NAMES, binary_metrics
from microgrid.data.preprocessing import (
    make_scaler,
    stratified_kfold,
    stratified_split,
    tutorial_split,
)
from microgrid.nn import MLP
from microgrid.vectorized import TrainingDiverged, VectorizedMLP, fit_many

__all__ = ["TrainingDiverged", "ProgressCallback", "TrainedClassifier", "HoldoutResult", "CVResult",
           "SeedsResult", "fit_network", "train_classifier", "train_classifiers", "run_holdout", "run_cv",
           "run_seeds"]

ProgressCallback = Callable[[int, float], None]  # (iterations done, the training loss after them)


class TrainedClassifier(NamedTuple):
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
    """K stratified folds, each a hold-out run; ``final``: the model refit on all rows (if asked)."""

    config: TrainConfig
    dataset: Dataset
    folds: list[HoldoutResult]
    final: HoldoutResult | None = None
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def confusion(self) -> np.ndarray:
        """Confusion counts of the out-of-fold predictions (every row tested exactly once)."""
        return np.sum([f.confusion for f in self.folds], axis=0)


@dataclass
class SeedsResult:
    """One hold-out run per seed (``runs[k]`` for ``seeds[k]``), trained together."""

    config: TrainConfig  # the settings every run shares (its own seed aside)
    dataset: Dataset
    seeds: list[int]
    runs: list[HoldoutResult]


def fit_network(config: TrainConfig, X: np.ndarray, y: np.ndarray,
                progress: ProgressCallback | None = None) -> tuple[VectorizedMLP, np.ndarray, float]:
    """Train a fresh network on scaled rows ``X`` and labels ``y`` with ``config``'s engine: the
    network (a :class:`VectorizedMLP` whatever the engine), the loss history (the mean BCE *before*
    each step) and the final loss (after the last step; :class:`TrainingDiverged` if not finite).
    The engines start from the same weights, see the same batches and apply the same optimizer
    rule, so their histories agree to rounding."""
    dims = config.dims(np.shape(X)[1])
    history: np.ndarray
    if config.engine == "vectorized":
        net = VectorizedMLP(dims, activations=config.activations, init="he", seed=config.seed)
        history = net.fit(X, y, lr=config.lr, iters=config.iters, optimizer=config.optimizer,
                          batch_size=config.batch_size, seed=config.seed, callback=progress)
    else:
        scalar = MLP(dims[0], dims[1:], activations=config.activations, init="he", seed=config.seed)
        history = scalar.fit(X, y, lr=config.lr, iters=config.iters, optimizer=config.optimizer,
                             batch_size=config.batch_size, seed=config.seed, callback=progress,
                             engine=config.engine)
        net = VectorizedMLP.from_scalar(scalar)
    final_loss = _final_loss(config, net, X, y)
    if progress is not None:
        progress(config.iters, final_loss)
    return net, np.asarray(history, dtype=np.float64), final_loss


def _final_loss(config: TrainConfig, net: VectorizedMLP, X: np.ndarray, y: np.ndarray, label: str = "",
                network: int | None = None) -> float:
    """The mean BCE of ``net`` on ``X``; TrainingDiverged (its message after ``label``) if not finite."""
    with np.errstate(over="ignore", invalid="ignore"):
        weights_finite = all(np.all(np.isfinite(w)) for w in net.get_weights())
        final_loss = net.loss(X, y) if weights_finite else math.nan
    if not math.isfinite(final_loss):
        raise TrainingDiverged(f"{label}training diverged: the last step (iteration {config.iters}) left the "
                               f"loss or the weights NaN or infinite; try a smaller learning rate (lr is "
                               f"{config.lr:g})", config.iters, final_loss, network)
    return final_loss


class _Prepared(NamedTuple):
    X: np.ndarray  # scaled
    y: np.ndarray
    classifier: Callable[..., Classifier]  # (net=trained network) -> the model of raw rows


def _prepare(config: TrainConfig, dataset: Dataset, rows: np.ndarray) -> _Prepared:
    """Fit the missing-value medians and the scaler on ``dataset``'s ``rows``, and scale them."""
    X, y = dataset.X[rows], dataset.y[rows]
    present = np.unique(y)
    if len(present) < 2:  # a classifier cannot learn, and recall/AUC are undefined, from one class
        only = dataset.target_names[int(present[0])] if len(present) else "none"
        raise ConfigError(f"the {len(y)} training rows from {dataset.source} are all of one class ({only}); "
                          "a classifier needs rows of both classes")
    fill_values = np.nanmedian(X, axis=0)
    X = np.where(np.isnan(X), fill_values, X)
    scaler = make_scaler(config.scale).fit(X)
    return _Prepared(scaler.transform(X), y, partial(Classifier, scaler=scaler, fill_values=fill_values,
                                                    feature_names=dataset.feature_names,
                                                    target_names=dataset.target_names))


def train_classifier(config: TrainConfig, dataset: Dataset, rows: np.ndarray,
                     progress: ProgressCallback | None = None) -> TrainedClassifier:
    """Fit the missing-value medians, the scaler and the network on ``dataset``'s ``rows``."""
    data = _prepare(config, dataset, rows)
    start = time.perf_counter()
    net, history, final_loss = fit_network(config, data.X, data.y, progress)
    seconds = time.perf_counter() - start
    return TrainedClassifier(data.classifier(net=net), history, final_loss, seconds)


def train_classifiers(configs: Sequence[TrainConfig], dataset: Dataset, rows: Sequence[np.ndarray],
                      labels: Sequence[str],
                      progress: ProgressCallback | None = None) -> list[TrainedClassifier]:
    """``train_classifier(configs[k], dataset, rows[k])`` for every ``k``, the networks trained
    together in one pass (:func:`~microgrid.vectorized.fit_many`), each as it would alone (to about
    1e-15 per step); the configs may differ only in seed and learning rate.  ``progress`` gets the
    mean loss; ``labels[k]`` names network ``k`` in a TrainingDiverged message."""
    first = configs[0]
    data = [_prepare(c, dataset, r) for c, r in zip(configs, rows)]
    dims = first.dims(dataset.X.shape[1])
    nets = [VectorizedMLP(dims, activations=c.activations, init="he", seed=c.seed) for c in configs]
    callback = None if progress is None else (lambda i, losses: progress(i, float(np.mean(losses))))
    start = time.perf_counter()
    try:
        history = fit_many(nets, [d.X for d in data], [d.y for d in data], lr=[c.lr for c in configs],
                           iters=first.iters, optimizer=first.optimizer, batch_size=first.batch_size,
                           seeds=[c.seed for c in configs], callback=callback)
    except TrainingDiverged as exc:
        k, lr = exc.network or 0, configs[exc.network or 0].lr
        iteration = exc.iteration if exc.iteration is not None else 0
        raise TrainingDiverged(f"{labels[k]}: training diverged: the loss became {exc.loss} at iteration "
                               f"{iteration + 1}; try a smaller learning rate (lr is {lr:g})",
                               exc.iteration, exc.loss, k) from None
    seconds = (time.perf_counter() - start) / len(nets)
    trained = []
    for k, (c, d, net) in enumerate(zip(configs, data, nets)):
        final_loss = _final_loss(c, net, d.X, d.y, f"{labels[k]}: ", k)
        trained.append(TrainedClassifier(d.classifier(net=net), history[k].copy(), final_loss, seconds))
    if progress is not None:
        progress(first.iters, float(np.mean([t.final_loss for t in trained])))
    return trained


def _evaluate(model: Classifier, dataset: Dataset, rows: np.ndarray) -> dict[str, float]:
    return binary_metrics(dataset.y[rows], model.predict_proba(dataset.X[rows]), threshold=model.threshold)


def _holdout(config: TrainConfig, dataset: Dataset, train_rows: np.ndarray, test_rows: np.ndarray,
             fit: TrainedClassifier) -> HoldoutResult:
    train, test = (_evaluate(fit.model, dataset, rows) for rows in (train_rows, test_rows))
    return HoldoutResult(config, dataset, train_rows, test_rows, *fit, train, test)


def _require_rows(dataset: Dataset, per_class: int, purpose: str) -> None:
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


def run_holdout(config: TrainConfig, dataset: Dataset, show_progress: bool = True) -> HoldoutResult:
    """Train on the split's training rows and evaluate on both sides."""
    train_rows, test_rows = _split(config, dataset)
    with Progress(config.iters, enabled=show_progress) as bar:
        fit = train_classifier(config, dataset, train_rows, bar.update)
    return _holdout(config, dataset, train_rows, test_rows, fit)


def run_cv(config: TrainConfig, dataset: Dataset, show_progress: bool = True,
           refit: bool = False) -> CVResult:
    """Stratified K-fold cross-validation (``config.cv`` folds, split by ``config.seed``); with
    ``refit``, also the model to keep, trained on every row with the same settings."""
    assert config.cv is not None
    _require_rows(dataset, config.cv, f"{config.cv}-fold cross-validation")
    splits = stratified_kfold(dataset.y, config.cv, config.seed)
    labels = [f"fold {k}/{config.cv}" for k in range(1, config.cv + 1)]
    if config.engine == "vectorized":  # every fold's network in one pass
        with Progress(config.iters, label=f"{config.cv} folds", enabled=show_progress) as bar:
            fits = train_classifiers([config] * config.cv, dataset, [train for train, _ in splits], labels,
                                     bar.update)
    else:
        fits = []
        for label, (train_rows, _) in zip(labels, splits):
            with Progress(config.iters, label=label, enabled=show_progress, lines=1) as bar:
                try:
                    fits.append(train_classifier(config, dataset, train_rows, bar.update))
                except TrainingDiverged as exc:
                    raise TrainingDiverged(f"{label}: {exc}", exc.iteration, exc.loss) from None
    folds = [_holdout(config, dataset, train, test, fit) for fit, (train, test) in zip(fits, splits)]
    values = {name: np.array([f.test[name] for f in folds], dtype=np.float64) for name in METRIC_NAMES}
    result = CVResult(config, dataset, folds, mean={n: float(np.mean(v)) for n, v in values.items()},
                      std={n: float(np.std(v, ddof=1)) for n, v in values.items()})
    if refit:
        everything = np.arange(len(dataset))
        with Progress(config.iters, label="all rows", enabled=show_progress, lines=1) as bar:
            fit = train_classifier(config, dataset, everything, bar.update)
        result.final = HoldoutResult(config, dataset, everything, np.arange(0), *fit,
                                     _evaluate(fit.model, dataset, everything), {})
    return result


def run_seeds(config: TrainConfig, seeds: Sequence[int], dataset: Dataset,
              show_progress: bool = True) -> SeedsResult:
    """A hold-out run for every seed in ``seeds`` (``config`` with ``seed=s``), all networks trained
    in one pass: run ``k`` is what :func:`run_holdout` gives for ``seeds[k]`` (the seed draws the
    initial weights, and the split and batches where those are random)."""
    if config.cv is not None:
        raise ConfigError("--seeds makes one hold-out run per seed; it cannot be combined with --cv")
    if config.engine != "vectorized":
        raise ConfigError("--seeds trains all seeds in one pass, on the vectorized engine only")
    seeds = list(seeds)
    configs = [replace(config, seed=s) for s in seeds]
    splits = [_split(c, dataset) for c in configs]
    with Progress(config.iters, label=f"{len(seeds)} seeds", enabled=show_progress) as bar:
        fits = train_classifiers(configs, dataset, [train for train, _ in splits],
                                 [f"seed {s}" for s in seeds], bar.update)
    runs = [_holdout(c, dataset, train_rows, test_rows, fit)
            for c, fit, (train_rows, test_rows) in zip(configs, fits, splits)]
    return SeedsResult(config, dataset, seeds, runs)
