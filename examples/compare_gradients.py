"""Autograd vs hand-derived vs finite differences, on a few Wisconsin rows.

The same 9-15-1 network is built twice from the same weights: as a graph of scalar Values
(gradients from the autograd engine) and in NumPy (gradients from the hand-derived backward pass
of docs/backprop.md).  Both are compared with each other and with central differences.

    python examples/compare_gradients.py
"""

import numpy as np

from microgrid.data import load_wisconsin
from microgrid.gradcheck import compare_gradients
from microgrid.nn import MLP
from microgrid.vectorized import VectorizedMLP

data = load_wisconsin()
X = (data.X[:20] - 1.0) / 9.0  # scores 1..10 -> [0, 1]
y = data.y[:20]

scalar = MLP(9, [15, 1], init="he", seed=0)  # ReLU hidden layer, linear output: BCE of sigmoid(z), from z
weights = scalar.get_weights()
weights[1] = np.random.default_rng(1).normal(0.0, 0.1, size=15)  # nonzero biases: off the ReLU kink
scalar.set_weights(weights)
vectorized = VectorizedMLP.from_scalar(scalar)  # the same weights on the NumPy path

loss = scalar.loss(X, y)  # one graph: 20 rows -> mean binary cross-entropy
loss.backward()
value, grads = vectorized.loss_and_grads(X, y)
print(f"loss: autograd {loss.data:.17g}, hand-derived {value:.17g}")
print(f"dL/dW2[0, :3]: autograd {scalar.get_grads()[2][0, :3]}, hand-derived {grads[2][0, :3]}\n")

report = compare_gradients(scalar, None, X, y)  # all tensors, plus finite differences
print(report)
