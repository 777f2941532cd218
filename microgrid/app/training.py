"""The training run behind ``microgrid train``, gathered in one place for users.

The code lives in :mod:`microgrid.app.runs`, one job per module: ``config`` (what decides a run),
``run`` (fitting; hold-out, cross-validation and many-seed runs), ``results``, ``learning`` (did it learn
anything?), ``report`` (the printed report), ``outputs`` and ``plots`` (the run folder) and
``progress`` (the progress display).  This module re-exports their names, so
``from microgrid.app.training import make_config, run_holdout`` keeps working.
"""

from __future__ import annotations

from microgrid.app.runs.config import (
    CV_DEFAULTS,
    ENGINES,
    HIDDEN_ACTIVATIONS,
    OPTIMIZERS,
    SCALERS,
    SPLITS,
    TUTORIAL_DEFAULTS,
    ConfigError,
    TrainConfig,
    make_config,
    parse_hidden,
)
from microgrid.app.runs.learning import CHANCE_AUC, learning_warnings
from microgrid.app.runs.outputs import (
    OUTPUT_FILES,
    PLOT_HINT,
    check_output_dir,
    metrics_document,
    write_outputs,
)
from microgrid.app.runs.progress import Progress
from microgrid.app.runs.report import METRIC_LABELS, format_cv, format_holdout, format_seeds
from microgrid.app.runs.results import CVResult, FoldResult, HoldoutResult, SeedsResult, TrainedClassifier
from microgrid.app.runs.run import (
    ProgressCallback,
    TrainingDiverged,
    fit_network,
    run_cv,
    run_holdout,
    run_seeds,
    train_classifier,
    train_classifiers,
)

__all__ = [
    "ConfigError",
    "TrainingDiverged",
    "TrainConfig",
    "TUTORIAL_DEFAULTS",
    "CV_DEFAULTS",
    "make_config",
    "parse_hidden",
    "Progress",
    "fit_network",
    "TrainedClassifier",
    "check_output_dir",
    "train_classifier",
    "train_classifiers",
    "HoldoutResult",
    "FoldResult",
    "CVResult",
    "SeedsResult",
    "run_holdout",
    "run_cv",
    "run_seeds",
    "learning_warnings",
    "CHANCE_AUC",
    "format_holdout",
    "format_cv",
    "format_seeds",
    "write_outputs",
    "PLOT_HINT",
    "OUTPUT_FILES",
    "metrics_document",
    "METRIC_LABELS",
    "ProgressCallback",
    "ENGINES",
    "SPLITS",
    "HIDDEN_ACTIVATIONS",
    "OPTIMIZERS",
    "SCALERS",
]
