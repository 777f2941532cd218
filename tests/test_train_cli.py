"""``microgrid train`` and ``microgrid predict``: files, reproduced numbers, engines, every user error."""

import csv
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import numpy as np
import pytest

import microgrid
from microgrid.app.cli import main
from microgrid.app.model_io import ModelFileError, load_model, save_model
from microgrid.app.runs.config import CV_DEFAULTS, ConfigError, TrainConfig, make_config
from microgrid.app.runs.outputs import metrics_document
from microgrid.app.runs.progress import Progress
from microgrid.app.runs.report import learning_warnings
from microgrid.app.runs.run import fit_network, run_cv, run_holdout, run_seeds, train_classifier
from microgrid.data import load_wisconsin, shipped_path
from microgrid.data.preprocessing import tutorial_split
from microgrid.vectorized import VectorizedMLP

from helpers import one_line_error, run_cli
from strategies import WisconsinRecord, render_wisconsin


def records_of(dataset, rows):
    return [WisconsinRecord(dataset.ids[i], tuple(None if np.isnan(s) else int(s) for s in dataset.X[i]),
                            bool(dataset.y[i])) for i in rows]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "tmp"
    status, stdout, stderr = run_cli(["train", "--iters", "200", "--out", str(out)])
    assert status == 0, stderr
    return out, stdout, stderr


# ---- a short training run ------------------------------------------------------------------


def test_short_run_writes_every_file(short_run):
    out, stdout, stderr = short_run
    files = ["confusion.png", "history.csv", "loss.png", "metrics.json", "model.npz"]
    assert sorted(p.name for p in out.iterdir()) == files
    for png in ("loss.png", "confusion.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"wrote {out / png}" in stdout
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["kind"] == "holdout" and doc["train_rows"] == 500 and doc["test_rows"] == 182
    assert doc["warnings"] == [] and "warning" not in stderr
    assert doc["config"]["iters"] == 200 and doc["config"]["lr"] == 0.07 and doc["config"]["hidden"] == [15]
    assert doc["data"]["rows"] == 683 and doc["data"]["class_counts"] == {"benign": 444, "malignant": 239}
    test = doc["test"]
    assert test["tn"] + test["fp"] + test["fn"] + test["tp"] == 182
    assert doc["confusion_matrix_test"] == [[test["tn"], test["fp"]], [test["fn"], test["tp"]]]
    assert f"accuracy{'':<14}{doc['train']['accuracy']:>10.4f}{test['accuracy']:>10.4f}" in stdout
    with open(out / "history.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["iteration", "loss"] and len(rows) == 201 and rows[-1][0] == "200"
    # the history holds the loss before each step; final_loss is the trained model's, one step on
    assert 0.99 * float(rows[-1][1]) < doc["final_loss"] < float(rows[-1][1])
    assert doc["train"]["log_loss"] == pytest.approx(doc["final_loss"], rel=1e-12)
    with np.load(out / "model.npz", allow_pickle=False) as npz:
        assert str(npz["format"]) == "microgrid-mlp" and npz["dims"].tolist() == [9, 15, 1]
        assert npz["activations"].tolist() == ["relu", "sigmoid"] and str(npz["scaler"]) == "minmax"
        assert npz["W1"].shape == (15, 9) and npz["b2"].shape == (1,)
        assert npz["scaler.min"].tolist() == [1.0] * 9 and npz["scaler.max"].tolist() == [10.0] * 9
    # plain progress lines when stderr is not a terminal: one per tenth of the run
    progress = [line for line in stderr.splitlines() if line.startswith("iteration")]
    assert len(progress) == 10 and progress[-1].startswith("iteration 200/200  loss ")
    # the display shows the loss after the iterations done: its last line, the report's final loss
    final = stdout.split("final training loss ")[1].split()[0]
    assert progress[-1].split()[3] == final == f"{doc['final_loss']:.6g}"
    assert progress[0].split()[3] == f"{float(rows[21][1]):.6g}"  # after 20 steps: before step 21


def test_history_is_reproduced_by_the_library(short_run):
    out, _, _ = short_run
    with open(out / "history.csv") as f:
        logged = np.array([float(r[1]) for r in list(csv.reader(f))[1:]])
    data = load_wisconsin()
    result = run_holdout(make_config(iters=200), data, show_progress=False)
    np.testing.assert_array_equal(result.history, logged)  # same seed, same numbers, bit for bit
    assert result.history[-1] < result.history[0]


def test_predict_reproduces_the_reported_test_accuracy(short_run, tmp_path):
    out, _, _ = short_run
    doc = json.loads((out / "metrics.json").read_text())
    data = load_wisconsin()
    _, test_rows = tutorial_split(len(data))
    test_file = tmp_path / "test-rows.data"
    test_file.write_text(render_wisconsin(records_of(data, test_rows), "uci"))
    status, stdout, stderr = run_cli(["predict", "--model", str(out / "model.npz"), str(test_file)])
    assert status == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "id,class,p_malignant" and len(lines) == 1 + len(test_rows)
    rows = [line.split(",") for line in lines[1:]]
    assert [r[0] for r in rows] == data.ids[test_rows].tolist()
    predicted = np.array([r[1] == "malignant" for r in rows], dtype=int)
    accuracy = float(np.mean(predicted == data.y[test_rows]))
    assert accuracy == doc["test"]["accuracy"]
    assert f"accuracy against the classes in {test_file}: {accuracy:.4f}" in stderr
    proba = np.array([float(r[2]) for r in rows])
    model = load_model(out / "model.npz")
    np.testing.assert_allclose(proba, model.predict_proba(data.X[test_rows]), atol=5e-7)


def test_predict_on_the_shipped_csv_keeps_rows_with_missing_scores(short_run):
    out, _, _ = short_run
    status, stdout, stderr = run_cli(["predict", "--model", str(out / "model.npz"), str(shipped_path())])
    assert status == 0
    lines = stdout.splitlines()
    assert len(lines) == 700 and lines[1].startswith("1000025,")
    assert "16 row(s) had missing scores, filled with the training medians" in stderr
    assert all(r.split(",")[1] in ("benign", "malignant") for r in lines[1:])


def test_model_file_round_trip(short_run, tmp_path):
    out, _, _ = short_run
    model = load_model(out / "model.npz")
    save_model(tmp_path / "again.npz", model)
    again = load_model(tmp_path / "again.npz")
    X = load_wisconsin(missing="keep").X
    np.testing.assert_array_equal(again.predict_proba(X), model.predict_proba(X))
    for w, v in zip(again.net.get_weights(), model.net.get_weights()):
        np.testing.assert_array_equal(w, v)


def test_without_matplotlib_the_run_says_how_to_get_plots(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    status, stdout, _ = run_cli(["train", "--iters", "3", "--out", str(tmp_path), "--quiet"])
    assert status == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "metrics.json", "model.npz"]
    after_report = stdout.split("confusion matrix")[1].splitlines()[4:]
    notes = [line for line in after_report if line]
    assert notes == ['plots skipped: matplotlib is not installed (pip install "microgrid-autograd[plot]")']


# ---- cross-validation ----------------------------------------------------------------------


def test_cv_reports_each_fold_and_mean_std(tmp_path):
    status, stdout, stderr = run_cli(["train", "--cv", "3", "--iters", "30", "--out", str(tmp_path)])
    assert status == 0, stderr
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["kind"] == "cross-validation" and len(doc["folds"]) == 3
    assert doc["config"]["optimizer"] == CV_DEFAULTS["optimizer"] and doc["config"]["split"] == "stratified"
    assert sum(f["test_rows"] for f in doc["folds"]) == 683
    accs = [f["test"]["accuracy"] for f in doc["folds"]]
    assert doc["mean"]["accuracy"] == pytest.approx(np.mean(accs), rel=1e-12)
    assert doc["std"]["accuracy"] == pytest.approx(np.std(accs, ddof=1), rel=1e-12)
    assert np.sum(doc["confusion_matrix_out_of_fold"]) == 683
    assert doc["model_trained_on_all_rows"]["rows"] == 683
    for k in (1, 2, 3):
        assert any(line.startswith(f"{k} ") for line in stdout.splitlines())
    assert f"accuracy{'':<14}{doc['mean']['accuracy']:.4f} ± {doc['std']['accuracy']:.4f}" in stdout
    with open(tmp_path / "history.csv") as f:
        folds = {r[0] for r in list(csv.reader(f))[1:]}
    assert folds == {"1", "2", "3", "all"}
    assert load_model(tmp_path / "model.npz").net.dims == [9, 15, 1]


# ---- many networks in one pass: --seeds, and --cv ----------------------------------------------


def test_seeds_report_each_seed_as_its_own_run_and_the_summary():
    status, stdout, stderr = run_cli(["train", "--seeds", "0,3,7", "--iters", "300", "--quiet"])
    assert status == 0 and stderr == ""
    assert "seeds 0,3,7" in stdout and "3 networks trained in one pass" in stdout
    accs, aucs = [], []
    for seed in (0, 3, 7):  # each line is what `microgrid train --seed S` reports for that seed
        status, alone, _ = run_cli(["train", "--seed", str(seed), "--iters", "300", "--quiet"])
        acc, auc = (float(next(line for line in alone.splitlines() if line.startswith(name)).split()[-1])
                    for name in ("accuracy", "ROC AUC"))
        final = alone.split("final training loss ")[1].split()[0]
        assert f"{seed:<6}{acc:>10.4f}{auc:>10.4f}{final:>21}" in stdout
        accs.append(acc)
        aucs.append(auc)
    assert f"accuracy  mean {np.mean(accs):.4f}  min {min(accs):.4f}  max {max(accs):.4f}" in stdout
    assert f"ROC AUC   mean {np.mean(aucs):.4f}  min {min(aucs):.4f}  max {max(aucs):.4f}" in stdout


@pytest.mark.parametrize("options", [{}, {"split": "stratified", "optimizer": "adam", "lr": 0.01,
                                          "batch_size": 64}])
def test_run_seeds_equals_a_hold_out_run_per_seed(options):
    data = load_wisconsin()
    result = run_seeds(make_config(iters=120, **options), [4, 1], data, show_progress=False)
    assert result.seeds == [4, 1]
    for seed, run in zip(result.seeds, result.runs):
        alone = run_holdout(make_config(iters=120, seed=seed, **options), data, show_progress=False)
        assert run.config.seed == seed
        assert np.array_equal(run.test_rows, alone.test_rows)
        assert np.array_equal(run.train_rows, alone.train_rows)
        np.testing.assert_allclose(run.history, alone.history, rtol=1e-12)
        assert run.final_loss == pytest.approx(alone.final_loss, rel=1e-12)
        assert run.test == alone.test and run.train == alone.train
    if options:  # the split is drawn by each seed
        assert not np.array_equal(result.runs[0].test_rows, result.runs[1].test_rows)


@pytest.mark.parametrize("options", [{}, {"batch_size": 50, "optimizer": "momentum", "lr": 0.05}])
def test_cv_trains_every_fold_in_one_pass_as_each_fold_alone(options):
    data = load_wisconsin()
    config = make_config(cv=4, iters=60, **options)
    result = run_cv(config, data, show_progress=False)
    total = 0.0
    for fold in result.folds:  # each fold has its own medians and scaler, fit on its training rows
        alone = train_classifier(config, data, fold.train_rows)
        np.testing.assert_allclose(fold.history, alone.history, rtol=1e-12)
        assert fold.final_loss == pytest.approx(alone.final_loss, rel=1e-12)
        probabilities = alone.model.predict_proba(data.X[fold.test_rows])
        assert fold.test["log_loss"] == pytest.approx(
            -np.mean(np.where(data.y[fold.test_rows] == 1, np.log(probabilities), np.log1p(-probabilities))),
            rel=1e-9)
        total += fold.seconds
    assert total > 0.0


@pytest.mark.parametrize("engine, rel", [("traced", 1e-12), ("scalar", 1e-10)])
def test_cv_on_the_other_engines_trains_each_fold_as_the_vectorized_pass(engine, rel):
    full = load_wisconsin()  # its first 150 rows: 84 benign, 66 malignant
    data = dataclasses.replace(full, **{k: getattr(full, k)[:150] for k in ("X", "y", "ids", "lines")})
    config = make_config(cv=3, iters=8 if engine == "scalar" else 40, optimizer="adam", lr=0.05)
    one_pass = run_cv(config, data, show_progress=False)
    result = run_cv(make_config(engine=engine, cv=3, iters=config.iters, optimizer="adam", lr=0.05), data,
                    show_progress=False, refit=True)
    for fold, twin in zip(result.folds, one_pass.folds, strict=True):  # fold by fold, one at a time
        assert np.array_equal(fold.test_rows, twin.test_rows)
        np.testing.assert_allclose(fold.history, twin.history, rtol=rel)
        assert fold.test["log_loss"] == pytest.approx(twin.test["log_loss"], rel=1e3 * rel)
    assert result.final is not None and len(result.final.train_rows) == len(data)
    status, out, err = run_cli(["train", "--cv", "3", "--engine", engine, "--lr", "1e300", "--iters", "2",
                                "--quiet"])
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "fold 1/3: training diverged" in err


@pytest.mark.parametrize("argv, needle", [
    (["--seeds", "0-2", "--seed", "1"], "--seeds and --seed: give one"),
    (["--seeds", "0-2", "--cv", "3"], "cannot be combined with --cv"),
    (["--seeds", "0-2", "--engine", "scalar"], "on the vectorized engine only"),
    (["--seeds", "0-2", "--engine", "traced"], "on the vectorized engine only"),
    (["--seeds", "0-2", "--out", "somewhere"], "--seeds reports metrics only"),
    (["--seeds", "3-1"], "argument --seeds: expected a range from low to high (0-9), got '3-1'"),
    (["--seeds", "1,1"], "(non-negative integers, each once), got '1,1'"),
    (["--seeds", "0-100"], "expected at most 100 seeds, got '0-100'"),
])
def test_bad_seeds_options(argv, needle):
    one_line_error(*run_cli(["train", "--iters", "5", *argv]), needle)


def test_divergence_with_seeds_names_the_seed():
    status, out, err = run_cli(["train", "--seeds", "5,6", "--lr", "1e300", "--iters", "3", "--quiet"])
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "seed 5: training diverged: the loss became" in err and "try a smaller learning rate" in err


# ---- the two engines -----------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, batch_size",
                         [("gd", None), ("momentum", None), ("adam", None), ("adam", 8)])
def test_scalar_engine_gives_the_vectorized_loss_history(optimizer, batch_size):
    data = load_wisconsin()
    X, y = (data.X[:36] - 1.0) / 9.0, data.y[:36]
    runs = {}
    for engine in ("scalar", "vectorized"):
        config = make_config(engine=engine, iters=5, optimizer=optimizer, lr=0.05, hidden="6,4", seed=3,
                             batch_size=batch_size)
        runs[engine] = fit_network(config, X, y)
    (net_s, hist_s, final_s), (net_v, hist_v, final_v) = runs["scalar"], runs["vectorized"]
    assert final_s == pytest.approx(final_v, rel=1e-10) and final_s < hist_s[-1]
    assert len(hist_s) == 5 and hist_s[-1] != hist_s[0]
    start = VectorizedMLP([9, 6, 4, 1], activations=["relu", "relu", "sigmoid"], init="he", seed=3)
    if batch_size is None:  # training starts from He's weights, not the library's default
        assert hist_v[0] == start.loss(X, y)
    np.testing.assert_allclose(hist_s, hist_v, rtol=1e-10, atol=0)
    for ws, wv in zip(net_s.get_weights(), net_v.get_weights()):
        np.testing.assert_allclose(ws, wv, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("optimizer, batch_size", [("gd", None), ("adam", None), ("momentum", 8)])
def test_traced_engine_gives_the_vectorized_results_to_1e_12(optimizer, batch_size):
    data = load_wisconsin()
    X, y = (data.X[:80] - 1.0) / 9.0, data.y[:80]
    runs = {}
    for engine in ("traced", "vectorized"):
        config = make_config(engine=engine, iters=60, optimizer=optimizer, lr=0.05, hidden="6,4", seed=3,
                             batch_size=batch_size)
        runs[engine] = fit_network(config, X, y)
    (net_t, hist_t, final_t), (net_v, hist_v, final_v) = runs["traced"], runs["vectorized"]
    assert final_t == pytest.approx(final_v, rel=1e-12) and hist_t[-1] < hist_t[0]
    np.testing.assert_allclose(hist_t, hist_v, rtol=1e-12, atol=0)
    for wt, wv in zip(net_t.get_weights(), net_v.get_weights()):
        assert np.max(np.abs(wt - wv)) <= 1e-12 * np.max(np.abs(wv))


def test_traced_engine_through_the_cli(tmp_path):
    args = ["train", "--iters", "300", "--quiet"]
    for engine in ("traced", "vectorized"):
        status, _, err = run_cli([*args, "--engine", engine, "--out", str(tmp_path / engine)])
        assert status == 0, err
    t, v = (json.loads((tmp_path / e / "metrics.json").read_text()) for e in ("traced", "vectorized"))
    assert t["config"]["engine"] == "traced"
    assert t["final_loss"] == pytest.approx(v["final_loss"], rel=1e-12)
    assert t["test"] == v["test"]


def test_scalar_engine_through_the_cli(tmp_path):
    args = ["train", "--iters", "2", "--split", "stratified", "--test-size", "0.9", "--quiet"]
    for engine in ("scalar", "vectorized"):
        status, _, err = run_cli([*args, "--engine", engine, "--out", str(tmp_path / engine)])
        assert status == 0, err
    s, v = (json.loads((tmp_path / e / "metrics.json").read_text()) for e in ("scalar", "vectorized"))
    assert s["config"]["engine"] == "scalar"
    assert s["final_loss"] == pytest.approx(v["final_loss"], rel=1e-10)
    assert s["test"]["accuracy"] == v["test"]["accuracy"]


# ---- progress display ----------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal():
    term = FakeTerminal()
    with Progress(1000, term, interval=0.0) as bar:
        for i in range(1, 1001):
            bar.update(i, 1.0 / i)
    text = term.getvalue()
    assert text.count("\r") >= 1000 and text.endswith("\n")
    last = text.rstrip("\n").split("\r")[-1]
    assert "[########################] 1,000/1,000" in last and "loss 0.001 " in last
    assert "it/s" in last and "left" in last


def test_progress_lines_off_a_terminal_and_quiet():
    plain = io.StringIO()
    with Progress(95, plain, lines=4) as bar:
        for i in range(1, 96):
            bar.update(i, 0.5)
    lines = plain.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["24/95", "48/95", "72/95", "95/95"]
    assert "total" in lines[-1] and "left" in lines[0]
    silent = io.StringIO()
    with Progress(10, silent, enabled=False) as bar:
        bar.update(10, 0.1)
    assert silent.getvalue() == ""


def test_progress_times_show_hours_from_one_hour(monkeypatch):
    from types import SimpleNamespace

    from microgrid.app.runs import progress

    clock = [0.0]
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    plain = io.StringIO()
    with Progress(2, plain, lines=2) as bar:
        clock[0] = 3599.4  # one of two iterations done: as long again to go
        bar.update(1, 0.5)
        clock[0] = 3600.0
        bar.update(2, 0.25)
    first, last = plain.getvalue().splitlines()
    assert first.endswith(", 59:59 left)") and last.endswith(", 1:00:00 total)")


# ---- a run that learned nothing -------------------------------------------------------------


def test_a_run_that_learned_nothing_warns_on_stderr_and_in_metrics_json(tmp_path):
    status, stdout, stderr = run_cli(["train", "--lr", "50", "--iters", "2000", "--out", str(tmp_path),
                                      "--quiet"])
    assert status == 0  # a warning, not a failure
    (warning,) = stderr.splitlines()  # --quiet: nothing else on stderr, but the warning
    assert warning.startswith("microgrid train: warning: the model learned nothing useful: ")
    assert "it predicts malignant for all 182 test rows and its ROC AUC there is 0.5000" in warning
    assert "the training loss rose from 0.5698 to " in warning
    assert warning.endswith("the steps overshoot; try a smaller --lr (e.g. --lr 5)")
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["warnings"] == [warning.removeprefix("microgrid train: warning: ")]
    data = load_wisconsin()
    _, test_rows = tutorial_split(len(data))
    assert doc["test"]["tp"] + doc["test"]["fp"] == 182  # every test row called malignant, so
    assert doc["test"]["accuracy"] == pytest.approx(data.y[test_rows].mean(), rel=1e-12)  # 0.2253
    assert doc["test"]["roc_auc"] == 0.5


def test_cv_names_the_folds_that_learned_nothing(tmp_path):
    status, _, stderr = run_cli(["train", "--cv", "3", "--optimizer", "gd", "--lr", "50", "--iters", "300",
                                 "--out", str(tmp_path), "--quiet"])
    assert status == 0
    doc = json.loads((tmp_path / "metrics.json").read_text())

    def useless(m):
        return m["tp"] + m["fp"] in (0, m["n"]) or m["roc_auc"] <= 0.55

    bad = [f["fold"] for f in doc["folds"] if useless(f["test"])]
    assert bad  # lr 50 overshoots in some fold
    assert doc["warnings"][0].startswith(f"the models of {len(bad)} of 3 folds learned nothing useful (fold")
    assert ", ".join(map(str, bad)) + ")" in doc["warnings"][0]
    refit_useless = useless({**doc["model_trained_on_all_rows"]["train"], "n": 683})
    assert len(doc["warnings"]) == 1 + refit_useless
    assert [f"microgrid train: warning: {w}" for w in doc["warnings"]] == stderr.splitlines()


def metrics_of(*, n=100, positive=50, auc=0.9):
    return {"n": n, "tp": positive, "fp": 0, "roc_auc": auc}


def test_what_counts_as_learning_nothing():
    from microgrid.app.runs.report import CHANCE_AUC, _nothing_learned

    names = ("benign", "malignant")
    assert CHANCE_AUC == 0.55
    assert _nothing_learned(metrics_of(), names, "test rows") is None
    assert _nothing_learned(metrics_of(auc=0.5501), names, "test rows") is None
    assert _nothing_learned(metrics_of(auc=0.55), names, "test rows") == (
        "its ROC AUC there is 0.5500 (0.5 is a coin toss)")
    assert _nothing_learned(metrics_of(auc=0.2), names, "test rows") is not None  # worse than a coin
    assert _nothing_learned(metrics_of(positive=0), names, "test rows") == (
        "it predicts benign for all 100 test rows")
    assert _nothing_learned(metrics_of(positive=100, auc=float("nan")), names, "rows") == (
        "it predicts malignant for all 100 rows")
    assert _nothing_learned(metrics_of(n=0, positive=0), names, "test rows") is None


def test_the_hint_follows_the_training_loss():
    from microgrid.app.runs.report import _hint

    gd, adam = make_config(lr=0.5), make_config(optimizer="adam", lr=0.2)
    assert _hint(gd, np.array([0.6, 0.9]), 2.0).endswith(
        "rose from 0.6 to 2: the steps overshoot; try a smaller --lr (e.g. --lr 0.05)")
    assert "Adam moves every weight by about lr" in _hint(adam, np.array([0.6]), float("nan"))
    assert "barely fell (from 0.6 to 0.58): train longer (--iters) or with a larger --lr" in _hint(
        gd, np.array([0.6, 0.59]), 0.58)
    assert "barely fell (from 1 to 0.9001)" in _hint(gd, np.array([1.0]), 0.9001)  # the line: 90% of start
    assert "fell from 1 to 0.9 but the model does not tell" in _hint(gd, np.array([1.0]), 0.9)
    assert _hint(gd, np.array([0.6]), 0.3).endswith("try a smaller --lr (e.g. --lr 0.05) or --optimizer adam")
    assert _hint(adam, np.array([0.6]), 0.3).endswith("or --optimizer gd")


# ---- results the issue promises (the real schedules) ---------------------------------------


@pytest.mark.slow
def test_default_run_reaches_99_percent_on_the_tutorial_split():
    result = run_holdout(TrainConfig(), load_wisconsin(), show_progress=False)
    assert result.config.iters == 67_000 and result.config.lr == 0.07 and result.config.optimizer == "gd"
    assert len(result.test_rows) == 182
    assert result.test["accuracy"] >= 0.99
    assert metrics_document(result)["warnings"] == []


def test_ten_fold_cv_defaults_reach_the_promised_numbers():
    result = run_cv(make_config(cv=10, split="stratified"), load_wisconsin(), show_progress=False, refit=True)
    assert result.mean["accuracy"] >= 0.965 and result.mean["roc_auc"] >= 0.99
    assert learning_warnings(result) == []


# ---- user errors: status 2, one line, no traceback ------------------------------------------




@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--lr", "0"], "--lr: expected a positive number, got '0'"),
        (["--lr", "-0.1"], "--lr"),
        (["--lr", "nan"], "--lr: expected a positive number"),
        (["--lr", "fast"], "--lr"),
        (["--iters", "0"], "--iters: expected a positive integer"),
        (["--iters", "1.5"], "--iters"),
        (["--hidden", ""], "--hidden"),
        (["--hidden", "0"], "positive integers separated by commas"),
        (["--hidden", "16,,8"], "got '16,,8'"),
        (["--hidden", "a"], "--hidden"),
        (["--hidden", "-3"], "--hidden"),
        (["--cv", "1"], "argument --cv: expected at least 2 folds, got '1'"),
        (["--cv", "ten"], "--cv"),
        (["--test-size", "1.5", "--split", "stratified"], "--test-size"),
        (["--test-size", "0", "--split", "stratified"],
         "--test-size: expected a fraction strictly between 0 and 1, got '0'"),
        (["--test-size", "1", "--split", "stratified"],
         "--test-size: expected a fraction strictly between 0 and 1, got '1'"),
        (["--engine", "gpu"], "--engine: invalid choice: 'gpu'"),
        (["--optimizer", "sgd"], "--optimizer: invalid choice"),
        (["--split", "random"], "--split"),
        (["--scale", "robust"], "--scale"),
        (["--activation", "swish"], "--activation"),
        (["--batch-size", "0"], "--batch-size"),
        (["--seed", "-1"], "--seed: expected a non-negative integer"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["--cv", "5", "--split", "tutorial"], "cannot be combined with --split tutorial"),
        (["--test-size", "0.2"], "--test-size only applies to --split stratified"),
        (["--cv", "5", "--test-size", "0.2"], "--test-size does not apply to --cv"),
        (["--cv", "300", "--iters", "1"], "239 malignant rows; 300-fold cross-validation needs at least 300"),
    ],
)
def test_bad_train_options(argv, needle):
    one_line_error(*run_cli(["train", *argv]), needle)


def test_bad_data_and_out_paths(tmp_path):
    one_line_error(*run_cli(["train", "--data", str(tmp_path / "none.csv")]), "cannot read --data",
                   "No such file")
    one_line_error(*run_cli(["train", "--data", str(tmp_path)]), "cannot read --data")
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    one_line_error(*run_cli(["train", "--data", str(binary)]), "image.png: not a text file")
    broken = tmp_path / "broken.data"
    broken.write_text("1000025,5,1,1,1,2,1,3,1,1,2\n1000026,5,1,1,1,2,1,3,1,12,2\n")
    one_line_error(*run_cli(["train", "--data", str(broken)]),
                   "broken.data, line 2: score 9 (mitoses) is '12'")
    small = tmp_path / "small.data"
    small.write_text(render_wisconsin(records_of(load_wisconsin(), range(40)), "uci"))
    one_line_error(*run_cli(["train", "--data", str(small), "--iters", "1"]),
                   "tutorial split needs more than 501", "stratified")
    a_file = tmp_path / "taken"
    a_file.write_text("")
    one_line_error(*run_cli(["train", "--iters", "1", "--out", str(a_file)]), "exists and is not a directory")
    one_line_error(*run_cli(["train", "--iters", "1", "--out", str(a_file / "sub")]), "cannot create --out")


def test_small_file_trains_with_a_stratified_split(tmp_path):
    small = tmp_path / "small.csv"
    small.write_text(render_wisconsin(records_of(load_wisconsin(), range(60)), "csv"))
    argv = ["train", "--data", str(small), "--iters", "20", "--split", "stratified", "--quiet"]
    status, out, err = run_cli(argv)
    assert status == 0, err
    assert f"data: {small} (60 rows" in out and "45 train rows, 15 test rows" in out


def test_data_of_one_class_is_refused_not_scored_nan(tmp_path):
    dataset = load_wisconsin()
    benign = tmp_path / "benign.data"
    benign.write_text(render_wisconsin(records_of(dataset, np.flatnonzero(dataset.y == 0)), "uci"))
    for extra in (["--split", "stratified"], ["--cv", "3"]):
        one_line_error(*run_cli(["train", "--data", str(benign), "--iters", "5", "--quiet", *extra]),
                       "are all of one class (benign)", "needs rows of both classes")


def test_divergence_is_reported_without_a_traceback():
    status, out, err = run_cli(["train", "--lr", "1e300", "--iters", "50", "--quiet"])
    assert status == 1 and "Traceback" not in err
    assert err.startswith("microgrid train: training diverged:") and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("extra, where", [
    # one step of lr 1e300 leaves the loss finite before it and NaN after it: only a check of the
    # trained model can see it
    (["--iters", "1"], "the last step (iteration 1)"),
    (["--iters", "1", "--cv", "2", "--split", "stratified"], "fold 1/2: training diverged: the last step"),
    (["--iters", "3", "--cv", "2", "--split", "stratified"], "fold 1/2: training diverged: the loss became"),
])
def test_divergence_in_the_last_step_or_a_fold_is_named(extra, where):
    status, out, err = run_cli(["train", "--lr", "1e300", "--quiet", *extra])
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert where in err and "try a smaller learning rate" in err


def test_final_loss_is_that_of_the_returned_model():
    status, out, _ = run_cli(["train", "--lr", "1e10", "--iters", "1", "--quiet"])
    final = float(out.split("final training loss ")[1].split()[0])
    assert status == 0 and final > 1e6  # one huge step: the model's loss, not the loss before the step


# ---- predict: bad model files and data --------------------------------------------------------


@pytest.fixture()
def model_arrays(short_run):
    with np.load(short_run[0] / "model.npz", allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def write_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


def test_bad_model_files(tmp_path, short_run, model_arrays):
    data = str(shipped_path())

    def check(path, *needles):
        one_line_error(*run_cli(["predict", "--model", str(path), data]), *needles)
        with pytest.raises(ModelFileError):
            load_model(path)

    good = (short_run[0] / "model.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(good[: len(good) // 2])
    check(tmp_path / "cut.npz", "cut.npz: ")
    flipped = bytearray(good)
    flipped[200:260] = bytes(60)
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    check(tmp_path / "flipped.npz", "flipped.npz: ")
    (tmp_path / "notes.txt").write_text("not a model\n")
    check(tmp_path / "notes.txt", "not a microgrid model file (not NumPy data")
    status, _, err = run_cli(["predict", "--model", str(tmp_path / "notes.txt"), data])
    assert "pickled" not in err  # a text file holds no pickle: the message must not say it does
    np.save(tmp_path / "one.npy", np.zeros(3))
    check(tmp_path / "one.npy", "not a microgrid model file (one .npy array")
    write_npz(tmp_path / "other.npz", {"x": np.zeros(3)})
    check(tmp_path / "other.npz", "not a microgrid model file (no 'format' entry")
    with open(tmp_path / "pickled.npz", "wb") as f:
        np.savez(f, format=np.array(["microgrid-mlp", {"evil": 1}], dtype=object))
    check(tmp_path / "pickled.npz", "pickled Python objects")
    wrong_shape = dict(model_arrays, W1=np.zeros((15, 5)))
    check(write_npz(tmp_path / "shape.npz", wrong_shape), "W1 has shape (15, 5)", "needs float (15, 9)")
    deeper = dict(model_arrays, dims=np.array([9, 15, 4, 1]),
                  activations=np.array(["relu", "relu", "sigmoid"]))
    check(write_npz(tmp_path / "deeper.npz", deeper), "W2 has shape (1, 15)")
    check(write_npz(tmp_path / "version.npz", dict(model_arrays, format_version=np.array(7))),
          "unsupported model format version 7")
    swish = dict(model_arrays, activations=np.array(["relu", "swish"]))
    check(write_npz(tmp_path / "act.npz", swish), "unknown activation 'swish'")
    for output in ("relu", "linear"):  # would print "probabilities" like 1.82 or -3.3
        not_probability = dict(model_arrays, activations=np.array(["relu", output]))
        check(write_npz(tmp_path / f"{output}.npz", not_probability),
              f"the output activation is '{output}'", "must be 'sigmoid'")
    as_bytes = dict(model_arrays, activations=np.array([b"relu", b"sigmoid"]))
    check(write_npz(tmp_path / "bytes.npz", as_bytes), "entry 'activations' should be a list of texts")
    check(write_npz(tmp_path / "nan.npz", dict(model_arrays, b1=np.full(15, np.nan))), "b1 contains NaN")
    incomplete = {k: v for k, v in model_arrays.items() if k != "scaler"}
    check(write_npz(tmp_path / "part.npz", incomplete), "incomplete model file: missing scaler")
    two_out = dict(model_arrays, dims=np.array([9, 15, 2]))
    check(write_npz(tmp_path / "two.npz", two_out), "has 2 outputs")
    one_line_error(*run_cli(["predict", "--model", str(tmp_path / "absent.npz"), data]),
                   "cannot read --model")


def test_predict_with_a_model_of_another_input_width(tmp_path, model_arrays):
    first5 = {k: model_arrays[k][:5] for k in ("fill_values", "feature_names", "scaler.min", "scaler.max")}
    narrow = dict(model_arrays, dims=np.array([5, 15, 1]), W1=model_arrays["W1"][:, :5], **first5)
    path = write_npz(tmp_path / "narrow.npz", narrow)
    assert load_model(path).n_features == 5
    one_line_error(*run_cli(["predict", "--model", str(path), str(shipped_path())]),
                   "takes 5 inputs but", "another architecture")


def test_predict_bad_data(tmp_path, short_run):
    model = str(short_run[0] / "model.npz")
    one_line_error(*run_cli(["predict", "--model", model, str(tmp_path / "none.data")]), "cannot read")
    bad = tmp_path / "bad.data"
    bad.write_text("1000025,5,1,1,1,2,1,3,1,1,3\n")
    one_line_error(*run_cli(["predict", "--model", model, str(bad)]), "bad.data, line 1: unknown class '3'")
    status, _, err = run_cli(["predict", str(bad)])
    assert status == 2 and "--model" in err and "Traceback" not in err


# ---- the console script ------------------------------------------------------------------


#: stdout buffered as in a terminal session, and unbuffered as some CI systems and IDEs set it
BUFFERING = [pytest.param({"PYTHONUNBUFFERED": None}, id="buffered"),
             pytest.param({"PYTHONUNBUFFERED": "1"}, id="unbuffered")]


def env_with(changes: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.mark.parametrize("buffering", BUFFERING)
def test_a_closed_output_pipe_is_no_traceback(buffering):
    """``microgrid predict ... | head``: the reader goes away early; no traceback on stderr."""
    env = env_with(buffering)
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the program starts: no race with its report
    try:
        proc = subprocess.run([sys.executable, "-m", "microgrid", "train", "--iters", "5", "--quiet"],
                              stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120)
    finally:
        os.close(write_end)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def console_script() -> str | None:
    """The ``microgrid`` script of the environment running the tests: next to its python (so
    ``VENV/bin/python -m pytest`` works without activating VENV), else the scripts directory of
    the install scheme, else the PATH."""
    places = [os.path.dirname(sys.executable), sysconfig.get_path("scripts")]
    return shutil.which("microgrid", path=os.pathsep.join(places)) or shutil.which("microgrid")


def test_console_script_is_found_without_an_activated_environment(monkeypatch):
    monkeypatch.setenv("PATH", os.defpath)  # as when VENV/bin/python runs without `activate`
    exe = console_script()
    assert exe is not None and os.path.dirname(exe) == os.path.dirname(sys.executable)


@pytest.mark.slow
def test_console_script(tmp_path):
    exe = console_script()
    assert exe is not None, "the microgrid console script is not installed"
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    ok = subprocess.run([exe, "train", "--iters", "20", "--quiet", "--out", str(tmp_path)],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "accuracy" in ok.stdout and ok.stderr == ""
    assert zipfile.is_zipfile(tmp_path / "model.npz")
    bad = subprocess.run([exe, "train", "--lr", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "--lr" in bad.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("buffering", BUFFERING)
@pytest.mark.parametrize("command, prog", [(["train", "--iters", "5", "--quiet"], "microgrid train"),
                                           (["check", "--samples", "3"], "microgrid check")])
def test_a_full_disk_is_one_line_not_a_traceback(buffering, command, prog):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "microgrid", *command], env=env_with(buffering),
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    expected = f"{prog}: error: cannot complete: No space left on device"
    assert proc.stderr.strip().splitlines() == [expected]


def test_version_option(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"microgrid {microgrid.__version__}"


def test_make_config_hidden_widths_from_the_python_side():
    assert make_config(hidden="16,8").hidden == (16, 8) and make_config(hidden=[16, 8]).hidden == (16, 8)
    with pytest.raises(ConfigError, match=r"hidden layer widths must be a sequence .* got 15$"):
        make_config(hidden=15)  # was "TypeError: 'int' object is not iterable"


@pytest.mark.parametrize("scale", ["minmax", "standard"])
def test_the_scaler_is_fit_on_the_training_rows_only(scale):
    """Training rows narrower than the data (every score <= 7): the scaler is the one fit on them."""
    from microgrid.app.runs.run import train_classifier
    from microgrid.data.preprocessing import make_scaler

    data = load_wisconsin()
    rows = np.flatnonzero(np.all(data.X <= 7, axis=1))
    assert set(data.y[rows]) == {0, 1} and np.max(data.X[rows]) == 7 and np.max(data.X) == 10
    model = train_classifier(make_config(iters=2, scale=scale), data, rows).model
    on_rows = make_scaler(scale).fit(data.X[rows]).to_arrays()
    on_all = make_scaler(scale).fit(data.X).to_arrays()
    for name, value in model.scaler.to_arrays().items():
        np.testing.assert_array_equal(value, on_rows[name])
    assert any(not np.array_equal(on_rows[n], on_all[n]) for n in on_rows)  # so the test can tell them apart


def test_rates_below_one_iteration_per_second_are_not_printed_as_zero():
    from microgrid.app.runs.progress import format_rate

    assert format_rate(25_812.4) == "25,812 it/s" and format_rate(12.0) == "12 it/s"
    assert format_rate(3.44) == "3.4 it/s" and format_rate(0.0213) == "0.021 it/s"


def test_seeds_are_written_as_a_range_only_from_three_on():
    from microgrid.app.runs.report import seeds_text

    assert seeds_text([0, 1]) == "0,1" and seeds_text([7]) == "7"
    assert seeds_text([0, 1, 2]) == "0-2" and seeds_text([4, 5, 6, 7]) == "4-7"
    assert seeds_text([0, 1, 3]) == "0,1,3" and seeds_text([2, 1, 0]) == "2,1,0"


def test_cv_refits_on_all_rows_only_for_out(tmp_path):
    for out, refit in (([], False), (["--out", str(tmp_path / "run")], True)):
        status, _, err = run_cli(["train", "--cv", "3", "--iters", "5", *out])
        assert status == 0 and ("all rows  iteration 5/5" in err) == refit, err
