"""Option values that would exhaust memory, mean something else than typed, or write where the
user did not ask: each is a one-line error with status 2, before any work is done."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from microgrid.app.commands.options import MAX_ITERS, MAX_WIDTH

from helpers import one_line_error, run_cli


@pytest.mark.parametrize("argv, needle", [
    (["train", "--iters", str(MAX_ITERS + 1)], f"expected a positive integer of at most {MAX_ITERS:,}"),
    (["train", "--iters", "99999999999999999999"], "--iters: expected a positive integer"),
    (["train", "--iters", "1_000"], "--iters: expected a positive integer"),
    (["train", "--lr", "1_0"], "--lr: expected a positive number, got '1_0'"),
    (["train", "--iters", "\u0661\u0665"], "--iters: expected a positive integer"),  # Arabic-Indic 15
    (["train", "--hidden", "\u0661\u0665"], "--hidden: expected positive integers"),
    (["train", "--hidden", str(MAX_WIDTH + 1)], f"--hidden: expected at most {MAX_WIDTH:,} neurons"),
    (["train", "--hidden", "100000000000"], "--hidden: expected at most"),
    (["check", "--hidden", "100000000000"], "--hidden: expected at most"),
    (["check", "--eps", "1e300"], "--eps: expected a step between 1e-12 and 1, got '1e300'"),
    (["check", "--eps", "1e-320"], "--eps: expected a step between"),
    (["graph", "--mlp", "9,100000000000,1", "-o", "g.dot"], "--mlp: expected at most"),
    (["graph", "--mlp", "9,10000,1000,1", "-o", "g.dot"], "about 10,124,016 Values, more than the 500,000"),
    (["graph", "--mlp", "9", "-o", "g.dot"], "--mlp: expected at least an input and an output size, like "
                                             "9,15,1; got '9'"),
    (["graph", "--mlp", "9,0,1", "-o", "g.dot"],
     "--mlp: expected positive integers separated by commas, like 9,15,1, got '9,0,1'"),
    (["train", "--hidden", "16,0"],
     "--hidden: expected positive integers separated by commas, like 15 or 16,8, got '16,0'"),
    (["train", "--time-budget", "0"], "--time-budget: expected a positive duration such as 90, 30m"),
    (["train", "--memory-budget", "0"], "--memory-budget: expected a positive amount of memory such as 16G"),
    (["train", "--out", ""], "--out: expected a file or directory name, got an empty one"),
    (["train", "--data", " "], "--data: expected a file or directory name"),
    (["graph", "--expr", "a", "--set", "a=1", "--steps", ""], "--steps: expected a file or directory name"),
    (["graph", "--expr", "a", "--set", "a=1", "-o", ""], "--output: expected a file or directory name"),
])
def test_refused_before_any_work(argv: list[str], needle: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(*run_cli(argv), needle)
    assert os.listdir(tmp_path) == []  # nothing written into the current directory


def test_out_with_a_directory_where_a_file_goes_fails_before_training(tmp_path: Path) -> None:
    (tmp_path / "model.npz").mkdir()
    status, out, err = run_cli(["train", "--iters", "5", "--quiet", "--out", str(tmp_path)])
    one_line_error(status, out, err, f"cannot write to --out {tmp_path}: {tmp_path / 'model.npz'}",
                   "is a directory")
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no partial output, no report


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_out_in_a_read_only_directory_fails_before_training(tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        one_line_error(*run_cli(["train", "--iters", "5", "--quiet", "--out", str(out)]),
                       f"cannot write to --out {out}")
    finally:
        out.chmod(0o755)


def test_a_file_without_complete_rows_is_named(tmp_path: Path) -> None:
    data = tmp_path / "gaps.data"
    data.write_text("1000025,5,?,1,1,2,1,3,1,1,2\n1002945,5,4,4,5,7,10,3,2,?,4\n")
    for split in (["--split", "stratified"], ["--cv", "2"], []):
        one_line_error(*run_cli(["train", "--data", str(data), "--iters", "5", *split]),
                       f"{data} has no complete rows to train on (all 2 lack a score and were dropped)")


@pytest.mark.parametrize("command", ["train", "check", "graph", "predict"])
def test_an_unknown_option_is_reported_by_its_subcommand(command: str) -> None:
    status, out, err = run_cli([command, "--frobnicate", "--expr", "a", "--model", "m.npz", "d.csv"])
    one_line_error(status, out, err)
    assert err.startswith(f"microgrid {command}: error: unrecognized arguments: --frobnicate")
    assert f"(see microgrid {command} --help)" in err


def test_set_reads_a_variable_name_as_python_does(tmp_path: Path) -> None:
    # Python reads identifiers in NFKC form: the expression "ℌ*2" has the variable H
    out = tmp_path / "g.dot"
    status, _, err = run_cli(["graph", "--expr", "\u210c*2", "--set", "\u210c=1.5", "-o", str(out)])
    assert status == 0, err
    assert "H | data 1.5 | grad 2" in out.read_text()


def test_unknown_arguments_are_listed_up_to_five_each_as_typed_up_to_the_quote_limit() -> None:
    from microgrid.safety.text import QUOTE_LIMIT

    five = [f"--x{i}" for i in range(5)]
    status, out, err = run_cli(["train", *five])
    one_line_error(status, out, err, f"unrecognized arguments: {' '.join(five)} (see microgrid train --help)")
    status, out, err = run_cli(["train", *five, "--x5"])
    one_line_error(status, out, err, f"unrecognized arguments: {' '.join(five)} ... (see")
    for n, shown in ((QUOTE_LIMIT, "x" * QUOTE_LIMIT), (QUOTE_LIMIT + 1, f"'{'x' * QUOTE_LIMIT}…'")):
        status, out, err = run_cli(["train", "x" * n])
        one_line_error(status, out, err, f"unrecognized arguments: {shown} (")


def test_too_few_rows_of_a_class_names_the_file_and_the_class(tmp_path: Path) -> None:
    data = tmp_path / "few.data"
    data.write_text("1000025,5,1,1,1,2,1,3,1,1,2\n" + "1002945,5,4,4,5,7,10,3,2,1,4\n" * 5)
    one_line_error(*run_cli(["train", "--data", str(data), "--iters", "5", "--split", "stratified"]),
                   f"{data} has 1 benign row; a stratified split needs at least 2 rows of each class")
    one_line_error(*run_cli(["train", "--data", str(data), "--iters", "5", "--cv", "2"]),
                   f"{data} has 1 benign row; 2-fold cross-validation needs at least 2 rows of each class")
    data.write_text("1000025,5,1,1,1,2,1,3,1,1,2\n" * 2 + "1002945,5,4,4,5,7,10,3,2,1,4\n" * 5)
    for split in (["--split", "stratified"], ["--cv", "2"]):  # two of each class: enough
        assert run_cli(["train", "--data", str(data), "--iters", "5", "--quiet", *split])[0] == 0, split


def test_a_model_overflowing_on_test_rows_is_reported_as_divergence(monkeypatch: pytest.MonkeyPatch) -> None:
    from microgrid.app import model_io

    def overflowing(self: model_io.Classifier, X: object) -> None:
        raise model_io.NonFiniteOutputError(3)

    monkeypatch.setattr(model_io.Classifier, "predict_proba", overflowing)
    status, out, err = run_cli(["train", "--iters", "2", "--quiet"])
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("microgrid train: training diverged: the model's outputs are not finite")
    assert "try a smaller learning rate (lr is 0.07)" in err


@pytest.mark.parametrize("command", [[], ["train"], ["predict"], ["check"], ["graph"]])
@pytest.mark.parametrize("columns", [80, 120])
def test_help_is_plain_text(command: list[str], columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """--help is read in a terminal: no reST markup from docstrings, no names of Python constants;
    its lines fit the terminal (prose refilled to it, never cutting an option name such as --no-grad
    at its hyphen; the examples as written, short enough for 80 columns)."""
    from microgrid.app.cli import COMMANDS

    monkeypatch.setenv("COLUMNS", str(columns))
    status, out, err = run_cli([*command, "--help"])
    assert status == 0 and err == "" and out.startswith("usage: microgrid")
    assert max(map(len, out.splitlines())) < columns
    assert not re.search(r"-\n", out)  # a name or word cut at a hyphen
    assert (max(map(len, out.splitlines())) > 90) is (columns == 120)  # filled to the width
    markup = re.findall(r"``|:(?:class|func|meth|mod|data|attr|exc|obj):|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b|"
                        r"microgrid\.[a-z_]+\.[A-Za-z_]+", out)
    assert markup == [], markup
    if not command:
        assert all(name in out for name in COMMANDS)


def test_graph_help_gives_the_node_limit_as_a_number() -> None:
    from microgrid.viz import DEFAULT_MAX_NODES

    _, out, _ = run_cli(["graph", "--help"])
    limit = rf"refuse graphs with more drawn nodes than this\s+\(default\s+{DEFAULT_MAX_NODES}\)"
    assert re.search(limit, out)


def test_the_largest_values_an_option_takes_are_taken() -> None:
    from microgrid.app.commands import options

    assert options.iterations(str(MAX_ITERS)) == MAX_ITERS
    assert options.widths(f"{MAX_WIDTH},1") == (MAX_WIDTH, 1)
    assert options.layer_sizes("9,1") == (9, 1)  # the fewest sizes: an input and an output
    assert options.fraction("1e-300") == 1e-300 and options.fraction("0.9999999999") == 0.9999999999
    assert options.step_size("1e-12") == 1e-12 and options.step_size("1") == 1.0
    assert len(options.seed_list(f"0-{options.MAX_SEEDS - 1}")) == options.MAX_SEEDS
    assert options.seed_list("3-3") == [3]  # a range of one seed (3-2 is refused: low to high)
    for text, parse in ((str(MAX_ITERS + 1), options.iterations), (f"{MAX_WIDTH + 1}", options.widths),
                        ("9.9e-13", options.step_size), ("1.0000001", options.step_size),
                        (f"0-{options.MAX_SEEDS}", options.seed_list), ("3-2", options.seed_list)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_make_config_refuses_what_the_options_refuse() -> None:
    from microgrid.app.runs.config import ConfigError, make_config

    assert make_config(cv=2).cv == 2 and make_config(split="stratified", test_size=0.999).test_size == 0.999
    stratified = {"split": "stratified"}
    for bad in ({"cv": 1}, {**stratified, "test_size": 1.0}, {**stratified, "test_size": 0.0}, {"iters": 0},
                {"lr": 0.0}, {"batch_size": 0}, {"seed": -1}):
        with pytest.raises(ConfigError):
            make_config(**bad)
