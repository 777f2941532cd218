"""Vectorized benchmark: full-batch gradient descent on a 9-15-1 ReLU/sigmoid MLP, mean BCE.

Per-iteration time (forward + backward + update) of microgrid's VectorizedMLP against NumPy
implementations written here — one following the classic tutorial's code structure (samples as
columns, a cache dict, the loss and the sigmoid derivative spelled out, fresh arrays everywhere)
and one lean version of the same math — and PyTorch eager (float64, one thread; as usually
written with nn.Sequential/BCELoss/optim.SGD, and a lean functional version) if installed.
All start from the same weights; their loss histories and final weights are checked to agree
(1e-9 relative) before any time is reported.

    python benchmarks/bench_vectorized.py            # the table of issue 6
    python benchmarks/bench_vectorized.py --scaling  # plus time vs batch size and width
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Sequence

import numpy as np

from microgrid.vectorized import VectorizedMLP

from common import init_weights, machine, max_rel_diff, measure, table, wisconsin_rows

LR = 0.07


def tutorial_numpy(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int):
    """The classic two-layer tutorial's structure, samples as columns.

    A cache dict of intermediates, the loss from log(Yh) and log(1 - Yh) each forward, the
    gradient of the loss w.r.t. Yh times a recomputed sigmoid derivative, the ReLU derivative as
    a 0/1 array, bias gradients as products with a column of ones, and new arrays everywhere.
    """
    param = {"W1": weights[0].copy(), "b1": weights[1][:, None].copy(),
             "W2": weights[2].copy(), "b2": weights[3][:, None].copy()}
    Xc, Y = X.T, y[None, :]
    m = Xc.shape[1]

    def sigmoid(z):
        return 1.0 / (1.0 + np.exp(-z))

    def d_sigmoid(z):
        s = sigmoid(z)
        return s * (1.0 - s)

    losses = np.empty(iters)
    for i in range(iters):
        cache = {}
        cache["Z1"] = param["W1"].dot(Xc) + param["b1"]
        cache["A1"] = np.maximum(cache["Z1"], 0.0)
        cache["Z2"] = param["W2"].dot(cache["A1"]) + param["b2"]
        Yh = cache["A2"] = sigmoid(cache["Z2"])
        losses[i] = (1.0 / m) * (-np.dot(Y, np.log(Yh).T) - np.dot(1 - Y, np.log(1 - Yh).T)).item()
        d_yh = -(np.divide(Y, Yh) - np.divide(1 - Y, 1 - Yh))
        d_z2 = d_yh * d_sigmoid(cache["Z2"])
        d_a1 = np.dot(param["W2"].T, d_z2)
        d_w2 = 1.0 / m * np.dot(d_z2, cache["A1"].T)
        d_b2 = 1.0 / m * np.dot(d_z2, np.ones([d_z2.shape[1], 1]))
        d_z1 = d_a1 * (cache["Z1"] > 0).astype(np.float64)
        d_w1 = 1.0 / m * np.dot(d_z1, Xc.T)
        d_b1 = 1.0 / m * np.dot(d_z1, np.ones([d_z1.shape[1], 1]))
        param["W1"] = param["W1"] - LR * d_w1
        param["b1"] = param["b1"] - LR * d_b1
        param["W2"] = param["W2"] - LR * d_w2
        param["b2"] = param["b2"] - LR * d_b2
    return losses, [param["W1"], param["b1"].ravel(), param["W2"], param["b2"].ravel()]


def lean_numpy(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int):
    """The same math written tightly: samples as columns, (Yh - Y)/m directly, no caches."""
    W1, b1, W2, b2 = (w.copy() for w in weights)
    b1 = b1[:, None]
    b2 = b2[:, None]
    Xc = X.T
    Y = y[None, :]
    m = X.shape[0]
    losses = np.empty(iters)
    for i in range(iters):
        Z1 = W1 @ Xc + b1
        A1 = np.maximum(Z1, 0.0)
        Z2 = W2 @ A1 + b2
        Yh = 1.0 / (1.0 + np.exp(-Z2))
        losses[i] = -np.mean(Y * np.log(Yh) + (1.0 - Y) * np.log(1.0 - Yh))
        dZ2 = (Yh - Y) / m
        dW2 = dZ2 @ A1.T
        db2 = dZ2.sum(axis=1, keepdims=True)
        dZ1 = (W2.T @ dZ2) * (Z1 > 0)
        dW1 = dZ1 @ Xc.T
        db1 = dZ1.sum(axis=1, keepdims=True)
        W1 -= LR * dW1
        b1 -= LR * db1
        W2 -= LR * dW2
        b2 -= LR * db2
    return losses, [W1, b1.ravel(), W2, b2.ravel()]


def have_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def pytorch_idiomatic(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int):
    """PyTorch as usually written: nn.Sequential with a Sigmoid, nn.BCELoss, optim.SGD (float64, 1 thread)."""
    import torch

    torch.set_num_threads(1)
    model = torch.nn.Sequential(torch.nn.Linear(X.shape[1], weights[0].shape[0]), torch.nn.ReLU(),
                                torch.nn.Linear(weights[2].shape[1], 1), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))
    loss_fn = torch.nn.BCELoss()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(y, dtype=torch.float64)
    losses = np.empty(iters)
    for i in range(iters):
        opt.zero_grad()
        loss = loss_fn(model(Xt).squeeze(1), Yt)
        loss.backward()
        opt.step()
        losses[i] = loss.item()
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def pytorch_lean(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int):
    """PyTorch written tightly: functional ops, BCE from the logit, manual update (float64, 1 thread)."""
    import torch

    torch.set_num_threads(1)
    params = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    W1, b1, W2, b2 = params
    Xt = torch.tensor(X, dtype=torch.float64)
    Yt = torch.tensor(y, dtype=torch.float64)
    losses = np.empty(iters)
    for i in range(iters):
        z2 = (torch.relu(Xt @ W1.T + b1) @ W2.T + b2).squeeze(1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z2, Yt)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= LR * p.grad
                p.grad = None
        losses[i] = loss.item()
    return losses, [p.detach().numpy().copy() for p in params]


def ours(weights: list[np.ndarray], X: np.ndarray, y: np.ndarray, iters: int):
    net = VectorizedMLP([X.shape[1], *[w.shape[0] for w in weights[::2]]])
    net.set_weights(weights)
    losses = net.fit(X, y, lr=LR, iters=iters)
    return np.asarray(losses), net.get_weights()


def per_iteration(fn, weights, X, y, iters: int, repeats: int):
    return measure(lambda: fn(weights, X, y, iters), repeats, per=iters)


def main_table(repeats: int, iters: int) -> int:
    X, y = wisconsin_rows()
    weights = init_weights([9, 15, 1], seed=0)
    print(f"# Vectorized full-batch gradient descent, {len(X)} rows, 9-15-1, mean BCE, lr {LR}")
    print(f"# {machine()}\n")
    ref_losses, ref_w = ours(weights, X, y, iters)
    candidates = [("NumPy, the tutorial's code structure", tutorial_numpy),
                  ("NumPy, lean (same math, no caches)", lean_numpy)]
    if have_torch():
        candidates.append(("PyTorch eager, idiomatic (Sequential, BCELoss, optim.SGD)", pytorch_idiomatic))
        candidates.append(("PyTorch eager, lean (functional, logits, manual step)", pytorch_lean))
    for name, fn in candidates:
        losses, w = fn(weights, X, y, iters)
        ld = float(np.max(np.abs(losses - ref_losses) / np.abs(ref_losses)))
        wd = max_rel_diff(ref_w, w)
        print(f"check vs {name}: loss history rel diff {ld:.1e}, final weights rel diff {wd:.1e}")
        if ld > 1e-9 or wd > 1e-9:
            print("MISMATCH: not timing it")
            return 1
    t_ref = per_iteration(ours, weights, X, y, iters, repeats)
    rows = [["microgrid VectorizedMLP", t_ref.show("us"), "1.0x"]]
    for name, fn in candidates:
        t = per_iteration(fn, weights, X, y, iters, repeats)
        rows.append([name, t.show("us"), f"{t.median / t_ref.median:.1f}x"])
    if not have_torch():
        rows.append(["PyTorch", "skipped (not installed: pip install torch==2.13.0)", ""])
    print()
    print(table(["implementation", "time per iteration (median of runs)", "slower than microgrid"], rows))

    Xtr, ytr = X[:500], y[:500]
    net = VectorizedMLP([9, 15, 1], seed=0)
    t0 = time.perf_counter()
    net.fit(Xtr, ytr, lr=LR, iters=67_000)
    full = time.perf_counter() - t0
    print(f"\nThe default training (67,000 iterations on the 500 tutorial training rows): {full:.2f} s "
          f"[target < 5 s: {'met' if full < 5 else 'NOT met'}]")
    return 0


def scaling(repeats: int, iters: int) -> None:
    X, y = wisconsin_rows()
    print("\n## Scaling with batch size (9-15-1)\n")
    rows = []
    for n in (1, 10, 100, 683):
        weights = init_weights([9, 15, 1])
        t = per_iteration(ours, weights, X[:n], y[:n], iters, repeats)
        t2 = per_iteration(tutorial_numpy, weights, X[:n], y[:n], iters, repeats)
        t3 = per_iteration(lean_numpy, weights, X[:n], y[:n], iters, repeats)
        rows.append([n, t.show("us"), t2.show("us"), f"{t2.median / t.median:.1f}x", t3.show("us"),
                     f"{t3.median / t.median:.1f}x"])
    print(table(["rows", "microgrid", "NumPy, tutorial structure", "ratio", "NumPy, lean", "ratio"], rows))
    print("\n## Scaling with width and depth (683 rows)\n")
    rows = []
    for dims in ([9, 15, 1], [9, 64, 1], [9, 256, 1], [9, 16, 16, 1], [9, 64, 64, 64, 1]):
        weights = init_weights(dims)
        t = per_iteration(ours, weights, X, y, max(50, iters // 4), repeats)
        tracemalloc.start()
        ours(weights, X, y, 10)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append(["-".join(map(str, dims)), t.show("us"), f"{peak / 1e6:.2f} MB"])
    print(table(["architecture", "time per iteration", "peak memory of fit"], rows))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iters", type=int, default=2000, help="iterations per timed run")
    parser.add_argument("--scaling", action="store_true")
    args = parser.parse_args(argv)
    status = main_table(args.repeats, args.iters)
    if args.scaling and status == 0:
        scaling(args.repeats, args.iters)
    return status


if __name__ == "__main__":
    sys.exit(main())
