"""examples/moons.py: the scalar network trained PyTorch-style on two moons; and
examples/skip_connection.py: a model VectorizedMLP cannot express, trained through a trace.

The default run of moons.py is executed as a user would run it (a subprocess, about 8 s) and must
reach the test accuracy the issue asks for and write a real PNG; the rest loads the script as a
module and calls its functions (data, options, output rules) directly.
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MOONS = ROOT / "examples" / "moons.py"
SKIP = ROOT / "examples" / "skip_connection.py"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_example(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_moons():
    return load_example(MOONS, "moons_example")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk (the first chunk of every PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.mark.slow
def test_default_run_reaches_95_percent_on_held_out_points_and_writes_the_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="moons.py draws with matplotlib")
    out = tmp_path / "plots"  # created by the script
    run = subprocess.run([sys.executable, str(MOONS), "--out", str(out)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    train = float(re.search(r"^train accuracy ([0-9.]+) \(300 points\)$", run.stdout, re.M).group(1))
    test = float(re.search(r"^test accuracy ([0-9.]+) \(100 points\)$", run.stdout, re.M).group(1))
    assert test >= 0.95 and train >= 0.95
    assert "MLP(2 -> 16 relu -> 16 relu -> 1 linear): 400 steps of sgd" in run.stdout
    # not a terminal: ten plain progress lines, loss falling
    lines = run.stderr.splitlines()
    assert len(lines) == 10 and all(line.startswith("step ") for line in lines), run.stderr
    losses = [float(re.search(r"running mean\) ([0-9.]+)", line).group(1)) for line in lines]
    assert losses[-1] < 0.1 < losses[0]
    width, height = png_size(out / "moons.png")
    assert 600 < width < 1200 and 400 < height < width  # a landscape picture of a readable size
    assert sorted(p.name for p in out.iterdir()) == ["moons.png"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "moons.png").stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file
    assert load_moons().written_by_us(out / "moons.png")


def test_moons_lie_on_their_half_circles_in_random_order() -> None:
    moons = load_moons()
    X, y = moons.make_moons(101, noise=0.0, seed=3)
    assert X.shape == (101, 2) and np.bincount(y.astype(int)).tolist() == [50, 51]
    upper, lower = X[y == 0], X[y == 1]
    assert np.allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0) and (upper[:, 1] >= 0).all()
    assert np.allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0) and (lower[:, 1] <= 0.5).all()
    assert 0 < y[:50].sum() < 50  # shuffled, so the first quarter (the test set) has both classes
    Xn, yn = moons.make_moons(101, noise=0.1, seed=3)
    assert np.array_equal(yn, y) and 0.05 < np.std(Xn - X) < 0.15  # same points, noise added
    assert np.array_equal(moons.make_moons(101, 0.1, 3)[0], Xn)  # seeded


@pytest.mark.slow
def test_a_rerun_replaces_its_own_png_but_never_a_foreign_one(tmp_path: Path, capsys, monkeypatch) -> None:
    figure = pytest.importorskip("matplotlib.figure", reason="moons.py draws with matplotlib")
    moons = load_moons()
    quick = ["--steps", "5", "--n-samples", "40", "--quiet", "--out", str(tmp_path)]
    assert moons.main(quick) == 0
    first = (tmp_path / "moons.png").read_bytes()
    assert moons.main([*quick, "--seed", "1"]) == 0  # its own file: replaced
    assert (tmp_path / "moons.png").read_bytes() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moons.png"]
    capsys.readouterr()

    def disk_full(fig, f, **kwargs) -> None:  # half a picture written, then the write fails
        f.write(PNG_SIGNATURE)
        raise OSError(28, "No space left on device")

    replaced = (tmp_path / "moons.png").read_bytes()
    monkeypatch.setattr(figure.Figure, "savefig", disk_full)
    assert moons.main(quick) == 1
    assert "cannot write" in capsys.readouterr().err
    assert (tmp_path / "moons.png").read_bytes() == replaced  # the previous picture, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moons.png"]
    monkeypatch.undo()

    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "moons.png").write_bytes(PNG_SIGNATURE + b"someone's picture")
    assert moons.main([*quick[:-1], str(foreign)]) == 2
    err = capsys.readouterr().err
    assert "was not written by this script" in err and err.count("\n") == 1
    assert (foreign / "moons.png").read_bytes() == PNG_SIGNATURE + b"someone's picture"


def test_help_lists_every_option_with_its_default(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        load_moons().main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for option in ("--loss", "--optimizer", "--lr", "--steps", "--batch-size", "--n-samples", "--noise",
                   "--seed", "--out", "--quiet"):
        assert option in text
    assert "(default: None)" not in text and "(default 400)" in text


@pytest.mark.parametrize("args, message", [
    (["--steps", "0"], "argument --steps: expected an integer from 1 to 100000, got '0'"),
    (["--lr", "fast"], "argument --lr: expected a learning rate from 1e-6 to 10, got 'fast'"),
    (["--lr", "nan"], "argument --lr: expected a learning rate"),
    (["--noise", "-0.1"], "argument --noise: expected a number from 0 to 1, got '-0.1'"),
    (["--n-samples", "4"], "argument --n-samples: expected an integer from 8 to 100000"),
    (["--seed", "-1"], "argument --seed: expected an integer from 0"),
    (["--loss", "mse"], "argument --loss: invalid choice: 'mse'"),
    (["--out", ""], "argument --out: expected a folder name, got an empty one"),
])
def test_bad_options_give_one_line_and_status_2(args: list[str], message: str, capsys, tmp_path,
                                                monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # were an option accepted by mistake, the picture would land here
    with pytest.raises(SystemExit) as exc:
        load_moons().main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_an_out_that_is_a_file_is_refused_before_training(tmp_path: Path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    assert load_moons().main(["--out", str(tmp_path / "f")]) == 2
    err = capsys.readouterr().err
    assert "exists and is not a folder" in err and err.count("\n") == 1  # before any progress line
    assert load_moons().main(["--out", str(tmp_path / "no" / "such")]) == 2  # no tree of folders grown
    err = capsys.readouterr().err
    assert f"the folder {tmp_path / 'no'} does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "no").exists()


def test_without_matplotlib_it_says_how_to_install_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert load_moons().main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install matplotlib" in err
    assert list(tmp_path.iterdir()) == []


def test_progress_redraws_one_line_on_a_terminal(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    progress = load_moons().Progress(3)
    for step, loss in enumerate([0.7, 0.5, 0.3], start=1):
        progress.show(step, loss)
    progress.close()
    text = screen.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")
    # smoothed: 0.7, then 0.9 * 0.7 + 0.1 * 0.5 = 0.68, then 0.642
    assert text.split("\r")[-1].startswith("step 3/3  batch loss (running mean) 0.6420")


@pytest.mark.slow
def test_a_learning_rate_that_learns_nothing_is_said(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib", reason="moons.py draws with matplotlib")
    moons = load_moons()
    args = ["--steps", "40", "--n-samples", "80", "--quiet", "--out", str(tmp_path)]
    assert moons.main([*args, "--lr", "10"]) == 0  # a result, with a warning: not an error
    out, err = capsys.readouterr()
    train_accuracy = float(out.split("train accuracy ")[1].split()[0])
    assert train_accuracy <= 0.6
    assert err.count("\n") == 1 and "warning: the network learned next to nothing" in err
    assert "try a smaller --lr (it is 10)" in err
    assert moons.main([*args, "--seed", "2"]) == 0  # the default rate learns: no warning
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_the_skip_connection_example_trains_through_a_trace_on_the_wisconsin_data() -> None:
    script = ROOT / "examples" / "skip_connection.py"
    run = subprocess.run([sys.executable, str(script), "--iters", "3000"], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "x @ W1.T + b1" in out and "x @ W2.T " in out  # the hidden layer and the skip connection
    assert "the first 20 rows build the traced graph" in out
    first, last = map(float, re.search(r"weighted loss ([0-9.]+) -> ([0-9.]+)", out).groups())
    assert last < 0.3 * first
    found = re.search(r"test: accuracy ([0-9.]+)  sensitivity ([0-9.]+)", out)
    accuracy, sensitivity = map(float, found.groups())
    assert accuracy >= 0.95 and sensitivity >= 0.95


def test_the_skip_connection_examples_traced_gradients_are_the_scalar_engines() -> None:
    """The example's model and weighted loss, traced, against the scalar engine run row by row on
    60 Wisconsin rows: the mean loss and every parameter's gradient (skip weights included)."""
    from microgrid import Value
    from microgrid.data import load_wisconsin
    from microgrid.trace import trace

    example = load_example(SKIP, "skip_connection_example")
    data = load_wisconsin()
    X, y = (data.X[:60] - 1.0) / 9.0, data.y[:60].astype(float)
    model = example.SkipModel(weight=3.0)
    for k, v in enumerate(model.skip):
        v.data = 0.1 * (k - 4)  # the skip path carries a gradient of its own to the hidden layer's
    params = model.parameters()
    assert len(params) == 15 * 10 + 16 + 9
    loss, grads = trace(model.example_loss, X[0], y[0], params=params).loss_and_grads(X, y)

    model.zero_grad()
    rows = [model.example_loss([Value(v) for v in x], Value(t)) for x, t in zip(X.tolist(), y.tolist())]
    total = rows[0]
    for r in rows[1:]:
        total = total + r
    mean = total / len(rows)
    mean.backward()
    assert loss == pytest.approx(mean.data, rel=1e-12)
    expected = np.array([p.grad for p in params])
    assert np.max(np.abs(grads - expected)) <= 1e-12 * np.max(np.abs(expected))
    assert np.all(expected[-9:] != 0.0)  # the skip weights are trained
    for i in (int(np.argmax(y == 1.0)), int(np.argmax(y == 0.0))):  # a malignant row counts 3 times
        z = model.logit([Value(v) for v in X[i]]).data
        bce = math.log1p(math.exp(-z)) if y[i] == 1.0 else math.log1p(math.exp(z))
        assert rows[i].data == pytest.approx((3.0 if y[i] == 1.0 else 1.0) * bce, rel=1e-14)
