"""The classic tutorial with library calls: what ``microgrid train`` does, step by step.

    python examples/wisconsin.py

Loads the shipped Wisconsin data, splits it as the tutorial did, scales it with the training
rows' ranges, trains the 9-15-1 network by full-batch gradient descent, and reports test metrics;
then estimates the same model's accuracy by 10-fold cross-validation (with Adam, for speed).
"""

import numpy as np

from microgrid.data import load_wisconsin
from microgrid.data.metrics import binary_metrics
from microgrid.data.preprocessing import MinMaxScaler, stratified_kfold, tutorial_split
from microgrid.vectorized import VectorizedMLP

data = load_wisconsin()  # the 683 complete rows: X raw scores 1-10, y 1 = malignant
print(f"{len(data)} complete rows of the Wisconsin data: {data.class_counts()}")

train, test = tutorial_split(len(data))  # rows 0-499 train, 501-682 test
scaler = MinMaxScaler().fit(data.X[train])  # ranges of the training rows only
net = VectorizedMLP([9, 15, 1], activations=["relu", "sigmoid"], init="he", seed=0)
losses = net.fit(scaler.transform(data.X[train]), data.y[train], lr=0.07, iters=67_000)
print(f"training loss {losses[0]:.4f} -> {losses[-1]:.4f} after {len(losses):,} iterations")

for name, rows in (("train", train), ("test", test)):
    m = binary_metrics(data.y[rows], net.predict_proba(scaler.transform(data.X[rows])))
    print(f"{name:>5}: accuracy {m['accuracy']:.4f}  sensitivity {m['recall']:.4f}  "
          f"specificity {m['specificity']:.4f}  ROC AUC {m['roc_auc']:.4f}  ({m['fn']} malignant missed)")

# 10-fold stratified cross-validation: every row is tested once, by a model that never saw it.
scores = []
for train, test in stratified_kfold(data.y, k=10, seed=0):
    scaler = MinMaxScaler().fit(data.X[train])
    net = VectorizedMLP([9, 15, 1], activations=["relu", "sigmoid"], init="he", seed=0)
    net.fit(scaler.transform(data.X[train]), data.y[train], lr=0.01, iters=200, optimizer="adam")
    m = binary_metrics(data.y[test], net.predict_proba(scaler.transform(data.X[test])))
    scores.append([m["accuracy"], m["roc_auc"]])
mean, std = np.mean(scores, axis=0), np.std(scores, axis=0, ddof=1)
print(f"10-fold CV: accuracy {mean[0]:.4f} ± {std[0]:.4f}, ROC AUC {mean[1]:.4f} ± {std[1]:.4f}")
