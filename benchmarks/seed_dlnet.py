"""Baseline for the benchmarks: the 2-layer network this project grew from, as published.

Source: Javier Ideami, "Coding a 2 layer neural network from scratch in Python" (part 2 of
"The keys of deep learning in 100 lines of code"), Towards Data Science, 2019,
https://towardsdatascience.com/coding-a-2-layer-neural-network-from-scratch-in-python-4dd022d19fd2
— its ``dlnet`` class and helper functions, transcribed as published (names, formulas and
operation order kept, so its speed is the published code's speed).  Kept to what training
needs: the article's ``gd`` method adds printing and plotting every 500 iterations and
``pred`` thresholds; :func:`train` below is ``gd``'s loop without them, recording the loss
``forward`` returns at every iteration so the benchmark can check it.  It is a baseline to
measure against, not part of microgrid (whose own code shares none of it).
"""

from __future__ import annotations

import numpy as np


def Sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def Relu(Z):
    return np.maximum(0, Z)


def dRelu(x):
    x[x <= 0] = 0
    x[x > 0] = 1
    return x


def dSigmoid(Z):
    s = 1 / (1 + np.exp(-Z))
    dZ = s * (1 - s)
    return dZ


class dlnet:
    def __init__(self, x, y):
        self.debug = 0
        self.X = x
        self.Y = y
        self.Yh = np.zeros((1, self.Y.shape[1]))
        self.L = 2
        self.dims = [9, 15, 1]
        self.param = {}
        self.ch = {}
        self.grad = {}
        self.loss = []
        self.lr = 0.003
        self.sam = self.Y.shape[1]
        self.threshold = 0.5

    def nInit(self):
        np.random.seed(1)
        self.param['W1'] = np.random.randn(self.dims[1], self.dims[0]) / np.sqrt(self.dims[0])
        self.param['b1'] = np.zeros((self.dims[1], 1))
        self.param['W2'] = np.random.randn(self.dims[2], self.dims[1]) / np.sqrt(self.dims[1])
        self.param['b2'] = np.zeros((self.dims[2], 1))
        return

    def forward(self):
        Z1 = self.param['W1'].dot(self.X) + self.param['b1']
        A1 = Relu(Z1)
        self.ch['Z1'], self.ch['A1'] = Z1, A1

        Z2 = self.param['W2'].dot(A1) + self.param['b2']
        A2 = Sigmoid(Z2)
        self.ch['Z2'], self.ch['A2'] = Z2, A2

        self.Yh = A2
        loss = self.nloss(A2)
        return self.Yh, loss

    def nloss(self, Yh):
        loss = (1. / self.sam) * (-np.dot(self.Y, np.log(Yh).T) - np.dot(1 - self.Y, np.log(1 - Yh).T))
        return loss

    def backward(self):
        dLoss_Yh = - (np.divide(self.Y, self.Yh) - np.divide(1 - self.Y, 1 - self.Yh))

        dLoss_Z2 = dLoss_Yh * dSigmoid(self.ch['Z2'])
        dLoss_A1 = np.dot(self.param["W2"].T, dLoss_Z2)
        dLoss_W2 = 1. / self.ch['A1'].shape[1] * np.dot(dLoss_Z2, self.ch['A1'].T)
        dLoss_b2 = 1. / self.ch['A1'].shape[1] * np.dot(dLoss_Z2, np.ones([dLoss_Z2.shape[1], 1]))

        dLoss_Z1 = dLoss_A1 * dRelu(self.ch['Z1'])
        dLoss_A0 = np.dot(self.param["W1"].T, dLoss_Z1)  # noqa: F841  (computed, never used)
        dLoss_W1 = 1. / self.X.shape[1] * np.dot(dLoss_Z1, self.X.T)
        dLoss_b1 = 1. / self.X.shape[1] * np.dot(dLoss_Z1, np.ones([dLoss_Z1.shape[1], 1]))

        self.param["W1"] = self.param["W1"] - self.lr * dLoss_W1
        self.param["b1"] = self.param["b1"] - self.lr * dLoss_b1
        self.param["W2"] = self.param["W2"] - self.lr * dLoss_W2
        self.param["b2"] = self.param["b2"] - self.lr * dLoss_b2

        return


def train(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int, lr: float):
    """``dlnet`` on rows ``X`` (samples as rows here; the class takes them as columns) from
    ``weights = [W1, b1, W2, b2]`` instead of ``nInit``'s draw; returns the loss history and the
    final weights in microgrid's layout."""
    nn = dlnet(X.T, y[None, :])
    nn.lr = lr
    nn.dims = [X.shape[1], weights[0].shape[0], 1]
    nn.param = {'W1': weights[0].copy(), 'b1': weights[1][:, None].copy(),
                'W2': weights[2].copy(), 'b2': weights[3][:, None].copy()}
    losses = []
    for _ in range(iters):  # gd's loop
        Yh, loss = nn.forward()
        nn.backward()
        losses.append(loss)
    p = nn.param
    history = np.array([loss.item() for loss in losses])
    return history, [p['W1'], p['b1'].ravel(), p['W2'], p['b2'].ravel()]
