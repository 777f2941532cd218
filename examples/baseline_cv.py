"""Is the network worth it?  10-fold CV of ``microgrid train --cv 10`` against logistic regression.

    python examples/baseline_cv.py [--k 10] [--seed 0]

Both models see exactly the same stratified folds (``stratified_kfold(y, k, seed)``, as the CLI
makes them) and the same min-max scaling fit on each fold's training rows.  The baseline is
scikit-learn's ``LogisticRegression`` with its defaults (L2 penalty, C = 1); scikit-learn is a
development dependency only (``pip install -e ".[dev]"``).
"""

import argparse
import sys

import numpy as np

from microgrid.app.runs.config import make_config
from microgrid.app.runs.run import run_cv
from microgrid.data import load_wisconsin
from microgrid.data.metrics import METRIC_NAMES, binary_metrics
from microgrid.data.preprocessing import MinMaxScaler, stratified_kfold

try:
    from sklearn.linear_model import LogisticRegression
except ImportError:
    sys.exit('this comparison needs scikit-learn: pip install scikit-learn (or pip install -e ".[dev]")')

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--k", type=int, default=10)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

data = load_wisconsin()
network = run_cv(make_config(cv=args.k, seed=args.seed), data, show_progress=False)

baseline = []
for train, test in stratified_kfold(data.y, args.k, seed=args.seed):
    scaler = MinMaxScaler().fit(data.X[train])
    model = LogisticRegression().fit(scaler.transform(data.X[train]), data.y[train])
    baseline.append(binary_metrics(data.y[test], model.predict_proba(scaler.transform(data.X[test]))[:, 1]))

print(f"{args.k}-fold stratified CV on {len(data)} rows (seed {args.seed}): mean ± std over folds")
print(f"network: {network.config.describe()}")
print(f"{'metric':<14}{'network':>18}{'logistic regression':>24}")
for name in METRIC_NAMES:
    lr_values = np.array([m[name] for m in baseline])
    print(f"{name:<14}{network.mean[name]:>10.4f} ± {network.std[name]:.4f}"
          f"{lr_values.mean():>16.4f} ± {lr_values.std(ddof=1):.4f}")
wins = sum(f.test["accuracy"] > b["accuracy"] for f, b in zip(network.folds, baseline))
ties = sum(f.test["accuracy"] == b["accuracy"] for f, b in zip(network.folds, baseline))
print(f"accuracy per fold: network better on {wins}, equal on {ties}, worse on {args.k - wins - ties} folds")
