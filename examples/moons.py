"""Train the scalar network on two moons, PyTorch-style, and draw its decision boundary.

    python examples/moons.py                     # BCE loss; writes ./moons.png
    python examples/moons.py --loss hinge --out plots

The micrograd demo, done with a held-out test set: two interleaved half circles with Gaussian
noise (made with NumPy from ``--seed``), a quarter of the points kept aside, and an
``MLP(2, [16, 16, 1])`` of ``Value`` objects trained on mini-batches of the rest with the loop
every PyTorch user knows::

    loss = model.loss(X_batch, y_batch, loss="bce")   # a Value: the mean loss over the rows
    opt.zero_grad()
    loss.backward()
    opt.step()

The network's last layer is linear, as micrograd's: its output ``z`` is a logit for ``--loss bce``
(the default: the binary cross-entropy of ``sigmoid(z)``, computed from ``z``) and a score for
``--loss hinge`` (``max(0, 1 - s z)`` with ``s = +1`` for class 1 and ``-1`` for class 0).  Either
way a point is put in class 1 when ``z > 0``.  The script prints train and test accuracy and writes
``moons.png``: the two classes, the test points, and the network's ``z`` over the plane.

Needs matplotlib (``pip install matplotlib``).  The defaults run in under 10 s.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import sys
import time
from pathlib import Path

import numpy as np

from microgrid import no_grad
from microgrid.nn import MLP
from microgrid.optim import SGD, Adam, TrainingDiverged

PNG_NAME = "moons.png"
DEFAULT_LR = {"sgd": 0.1, "adam": 0.02}
EPILOG = """\
examples:
  python examples/moons.py                              # under 10 s: accuracies and moons.png
  python examples/moons.py --loss hinge --out plots     # the hinge loss, picture in plots/
  python examples/moons.py --noise 0.2 --optimizer adam # a harder problem, another optimizer
"""
PNG_MARK = "microgrid examples/moons.py"  # written into the PNG, so a rerun knows the file is ours


# -- the data -------------------------------------------------------------------------------------


def make_moons(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points on two interleaved half circles, plus ``N(0, noise^2)`` noise on each coordinate.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 1/2 - sin t)``, ``t`` uniform in
    ``[0, pi]``; half the points in each class (class 1 gets the odd one), in random order.
    """
    rng = np.random.default_rng(seed)
    n0 = n // 2
    t = rng.uniform(0.0, math.pi, n)
    upper = np.column_stack([np.cos(t[:n0]), np.sin(t[:n0])])
    lower = np.column_stack([1.0 - np.cos(t[n0:]), 0.5 - np.sin(t[n0:])])
    X = np.vstack([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.concatenate([np.zeros(n0), np.ones(n - n0)])
    order = rng.permutation(n)
    return X[order], y[order]


# -- the model --------------------------------------------------------------------------------------


def scores(model: MLP, X: np.ndarray) -> np.ndarray:
    """The output logit (BCE) or score (hinge) ``z`` of each row; no graph is kept."""
    with no_grad():
        return np.array([model.logits(row).data for row in X.tolist()])


def accuracy(model: MLP, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows where ``z > 0`` agrees with ``y == 1``."""
    return float(np.mean((scores(model, X) > 0.0) == (y == 1.0)))


def train(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> MLP:
    """The loop: a mini-batch's loss as one graph, then zero_grad, backward, step."""
    model = MLP(2, [16, 16, 1], seed=args.seed)  # ReLU hidden layers, a linear output z
    if args.optimizer == "sgd":
        opt = SGD(model.parameters(), lr=args.lr, momentum=0.9)
    else:
        opt = Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    batch = min(args.batch_size, len(X))
    progress = Progress(args.steps, enabled=not args.quiet)
    for step in range(1, args.steps + 1):
        rows = rng.choice(len(X), size=batch, replace=False)  # a fresh mini-batch each step
        loss = model.loss(X[rows], y[rows], loss=args.loss)
        if not math.isfinite(loss.data):
            raise TrainingDiverged(f"training diverged at step {step} (loss {loss.data}); try a smaller "
                                   f"--lr (it is {args.lr:g})")
        opt.zero_grad()
        loss.backward()
        opt.step()
        progress.show(step, loss.data)
    progress.close()
    return model


class Progress:
    """One line redrawn in place on a terminal; ten plain lines otherwise (to stderr)."""

    def __init__(self, steps: int, enabled: bool = True) -> None:
        self.steps, self.enabled = steps, enabled
        self.tty = sys.stderr.isatty()
        self.start = time.perf_counter()
        self.avg = math.nan  # the mini-batch loss, smoothed (one batch alone is noisy)

    def show(self, step: int, loss: float) -> None:
        self.avg = loss if math.isnan(self.avg) else 0.9 * self.avg + 0.1 * loss
        if not self.enabled:
            return
        width = len(str(self.steps))
        line = (f"step {step:>{width}}/{self.steps}  batch loss (running mean) {self.avg:.4f}  "
                f"({time.perf_counter() - self.start:.1f} s)")
        if self.tty:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif step % max(self.steps // 10, 1) == 0 or step == self.steps:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=sys.stderr)


# -- the picture ------------------------------------------------------------------------------------


def written_by_us(path: Path) -> bool:
    """True when ``path`` is a PNG carrying this script's mark (so replacing it loses nothing)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)  # matplotlib writes its text chunks before the image data
    return head.startswith(b"\x89PNG\r\n\x1a\n") and b"tEXtSoftware\x00" + PNG_MARK.encode() in head


def plot(model: MLP, args: argparse.Namespace, data: dict[str, tuple[np.ndarray, np.ndarray]],
         acc: dict[str, float], path: Path) -> None:
    """Write the decision-boundary picture to ``path``: a temporary file, then a rename."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X_all = np.vstack([X for X, _ in data.values()])
    lo, hi = X_all.min(axis=0) - 0.4, X_all.max(axis=0) + 0.4
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], 90), np.linspace(lo[1], hi[1], 70))
    z = scores(model, np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)

    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=110)
    zmax = 6.0 if args.loss == "bce" else 2.0
    filled = ax.contourf(xx, yy, np.clip(z, -zmax, zmax), levels=np.linspace(-zmax, zmax, 25),
                         cmap="RdBu_r", alpha=0.45)
    ax.contour(xx, yy, z, levels=[0.0], colors="k", linewidths=1.5)
    fig.colorbar(filled, ax=ax, shrink=0.8, label="logit z" if args.loss == "bce" else "score z",
                 ticks=np.linspace(-zmax, zmax, 5))
    colors = ("#2166ac", "#b2182b")  # class 0 blue, class 1 red, as on the map
    for name, marker, size in (("train", "o", 18), ("test", "D", 30)):
        X, y = data[name]
        for k in (0, 1):
            ax.scatter(X[y == k, 0], X[y == k, 1], c=colors[k], marker=marker, s=size, edgecolors="k",
                       linewidths=0.6 if name == "test" else 0.3, label=f"class {k}, {name}")
    X_test, y_test = data["test"]
    wrong = (scores(model, X_test) > 0.0) != (y_test == 1.0)
    if wrong.any():
        ax.scatter(X_test[wrong, 0], X_test[wrong, 1], s=160, facecolors="none", edgecolors="gold",
                   linewidths=2.0, label=f"test, misclassified ({int(wrong.sum())})")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    ax.set_title(f"MLP(2, [16, 16, 1]), {args.loss} loss, {args.steps} steps of {args.optimizer}: "
                 f"train accuracy {acc['train']:.3f}, test {acc['test']:.3f}", fontsize=9)
    fig.tight_layout()

    # all or nothing: a new file beside the target (the usual permissions, unlike mkstemp's
    # owner-only ones), renamed over it once complete
    tmp = path.with_name(f".{PNG_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            fig.savefig(f, format="png", bbox_inches="tight", metadata={"Software": PNG_MARK})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)


# -- the command line -------------------------------------------------------------------------------


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def number(kind: type, lo: float, hi: float, what: str):  # noqa: ANN201 - an argparse type
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (lo <= value <= hi):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


def folder(text: str) -> Path:
    if not text.strip():  # Path("") would quietly mean the current folder
        raise argparse.ArgumentTypeError("expected a folder name, got an empty one")
    return Path(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(prog="moons.py", description=__doc__.split("\n\n")[0], epilog=EPILOG,
               formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loss", choices=("bce", "hinge"), default="bce",
                   help="bce (default): binary cross-entropy of sigmoid(z), from the output z; "
                        "hinge: max(0, 1 - s z) with s = +1 for class 1, -1 for class 0")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd with momentum 0.9 (default) or adam")
    p.add_argument("--lr", type=number(float, 1e-6, 10.0, "a learning rate from 1e-6 to 10"), default=None,
                   help="learning rate (default 0.1 for sgd, 0.02 for adam)")
    p.add_argument("--steps", type=number(int, 1, 100_000, "an integer from 1 to 100000"), default=400,
                   metavar="N", help="optimizer steps (default 400)")
    p.add_argument("--batch-size", type=number(int, 1, 100_000, "an integer from 1 to 100000"), default=32,
                   metavar="B", help="training points per step, drawn afresh each step (default 32)")
    p.add_argument("--n-samples", type=number(int, 8, 100_000, "an integer from 8 to 100000"), default=400,
                   metavar="N", help="points in all, a quarter of them held out for testing (default 400)")
    p.add_argument("--noise", type=number(float, 0.0, 1.0, "a number from 0 to 1"), default=0.1,
                   help="standard deviation of the noise added to each coordinate (default 0.1)")
    p.add_argument("--seed", type=number(int, 0, 2**32 - 1, "an integer from 0 to 4294967295"), default=0,
                   help="draws the data, the initial weights and the mini-batches (default 0)")
    p.add_argument("--out", type=folder, default=Path("."), metavar="DIR",
                   help=f"folder for {PNG_NAME}, created if missing (default: the current folder)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    return args


def check_output(out: Path) -> Path:
    """The PNG's path, once we know it can be written there (before the training, not after).

    Raises ValueError if ``out`` is not a folder or holds a ``moons.png`` this script did not write.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a folder")
    if not out.parent.is_dir():  # a mistyped path does not silently grow a tree of folders
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist (create it first)")
    out.mkdir(exist_ok=True)
    path = out / PNG_NAME
    if path.is_dir():
        raise ValueError(f"{path} is a folder; choose another --out")
    if path.exists() and not written_by_us(path):
        raise ValueError(f"{path} exists and was not written by this script; move it away or choose "
                         "another --out")
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import matplotlib  # noqa: F401 - only checking that it is there, before the training
    except ImportError:
        print("moons.py: error: the picture needs matplotlib: pip install matplotlib", file=sys.stderr)
        return 2
    try:
        path = check_output(args.out)
    except ValueError as exc:
        print(f"moons.py: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"moons.py: error: cannot write to {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2

    X, y = make_moons(args.n_samples, args.noise, args.seed)
    n_test = args.n_samples // 4
    data = {"train": (X[n_test:], y[n_test:]), "test": (X[:n_test], y[:n_test])}
    start = time.perf_counter()
    try:
        model = train(args, *data["train"])
    except TrainingDiverged as exc:
        print(f"moons.py: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - start
    acc = {name: accuracy(model, Xs, ys) for name, (Xs, ys) in data.items()}
    print(f"{model}: {args.steps} steps of {args.optimizer} (lr {args.lr:g}, batches of "
          f"{min(args.batch_size, len(data['train'][1]))}) on the {args.loss} loss in {seconds:.1f} s")
    print(f"train accuracy {acc['train']:.4f} ({len(data['train'][1])} points)")
    print(f"test accuracy {acc['test']:.4f} ({len(data['test'][1])} points)")
    if acc["train"] <= 0.6:  # half the points are in each class: 0.5 is what a constant answer gets
        print(f"moons.py: warning: the network learned next to nothing (train accuracy {acc['train']:.2f}, "
              f"about what always answering one class gets); try a smaller --lr (it is {args.lr:g})",
              file=sys.stderr)
    try:
        plot(model, args, data, acc, path)
    except OSError as exc:
        print(f"moons.py: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
