"""docs/tutorial.ipynb runs top to bottom, in this environment's Python, with and without Graphviz.

The notebook is executed with nbclient and the ``python3`` kernel of ipykernel (both in the
``dev`` extra), on a copy in memory: the committed file stays without outputs.  What it prints
is checked against independent computations: the tutorial's 67,000-step run against the
training run behind ``microgrid train``.
"""

from __future__ import annotations

import html
import os
import re
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the dev extra (nbclient)")
from nbclient import NotebookClient  # noqa: E402

pytestmark = pytest.mark.slow  # each run of the notebook takes over ten seconds

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"
CHECK_KERNEL = "import sys; print('kernel prefix:', sys.prefix)"


def execute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            hide_dot: bool) -> tuple[str, list[str], list[str]]:
    """Run the notebook; return its printed text (all cells), the MIME types it displayed and the
    HTML it displayed."""
    pytest.importorskip("matplotlib", reason="the notebook plots with matplotlib (the plot extra)")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECK_KERNEL))
    # The kernel is this interpreter: jupyter_client runs a "python" kernel spec with
    # sys.executable, and JUPYTER_PATH puts this environment's kernel specs before any in $HOME.
    monkeypatch.setenv("JUPYTER_PATH", str(Path(sys.prefix) / "share" / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    if hide_dot:  # a machine without Graphviz: no dot on the kernel's PATH, and no graphviz-pure
        path = os.environ.get("PATH", "").split(os.pathsep)
        monkeypatch.setenv("PATH", os.pathsep.join(d for d in path if not (Path(d) / "dot").exists()))
        monkeypatch.setenv("MICROGRID_RENDERER", "none")
    work = tmp_path / "work"
    work.mkdir()
    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(work)}}).execute()
    assert list(work.iterdir()) == []  # the notebook leaves no files behind
    text, shown, pages = [], [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                text.append(out.text)
            elif out.output_type in ("display_data", "execute_result"):
                shown += [k for k in out.data if k != "text/plain"]
                pages += [out.data["text/html"]] if "text/html" in out.data else []
    return "".join(text), shown, pages


@pytest.fixture(scope="module")
def with_dot(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str], list[str]]:
    """The notebook run once, with whatever draws pictures here."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return execute(tmp_path_factory.mktemp("notebook"), monkeypatch, hide_dot=False)


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.M)
    assert match, f"{pattern!r} not printed"
    return float(match.group(1))


@pytest.fixture(scope="module")
def cli_run():
    """The run ``microgrid train`` does by default (the tutorial's), computed without the notebook."""
    from microgrid.app.runs.config import make_config
    from microgrid.app.runs.run import run_holdout
    from microgrid.data import load_wisconsin

    return run_holdout(make_config(), load_wisconsin(), show_progress=False)


def check_printed(text: str, cli_run) -> None:
    assert f"kernel prefix: {sys.prefix}\n" in text  # this environment's interpreter, not another

    # part 1: the nudge and backward() agree on dL/da = b
    assert abs(number(r"^\(f\(a \+ h\) - f\(a\)\) / h = (\S+)$", text) + 3.0) < 1e-6
    assert "dL/da = -3.0\ndL/db = 2.0\ndL/dc = 1.0\ndL/de = 1.0\n" in text
    # part 2: sigmoid' <= 1/4, tanh' <= 1, computed by backward()
    assert number(r"sigmoid: largest slope (\S+),", text) == 0.25
    assert number(r"tanh: largest slope (\S+),", text) == 1.0
    # part 3: the gradient three ways
    assert number(r"largest \|by hand - backward\(\)\|: +(\S+)$", text) <= 1e-15
    assert number(r"largest \|by hand - differences\|: +(\S+)$", text) <= 1e-8
    assert re.search(r"^autograd vs hand-derived: worst rel diff \S+ \(tolerance 1e-10\): OK$", text, re.M)
    assert re.search(r"^both vs finite differences .*: OK$", text, re.M)
    # part 4: the article's split
    assert "683 rows, 9 scores each; classes: {'benign': 444, 'malignant': 239}" in text
    assert "train: 500 rows (197 malignant); test: 182 rows (41 malignant)" in text
    # part 5: 20 scalar steps with SGD, retraced by the NumPy twin
    assert "MLP(9 -> 15 relu -> 1 sigmoid) with 166 parameters" in text
    first, last = number(r"^step  0: loss (\S+)$", text), number(r"^step 19: loss (\S+)$", text)
    assert last < first
    assert abs(first - cli_run.history[0]) < 1e-6  # same seed, same start as microgrid train
    assert number(r"largest loss difference over the 20 steps: (\S+)$", text) <= 1e-12
    assert number(r"largest weight difference after them: +(\S+)$", text) <= 1e-12
    # part 6: the 67,000 steps give what microgrid train reports, metric for metric
    assert number(r"training loss \S+ -> (\S+)$", text) == round(cli_run.final_loss, 4)
    for key in ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "log_loss"):
        expected = f"{key:<12}{cli_run.train[key]:>8.4f}{cli_run.test[key]:>8.4f}\n"
        assert expected in text, expected
    (tn, fp), (fn, tp) = cli_run.confusion.tolist()
    assert f"benign     {tn:>7} {fp:>10}\nmalignant  {fn:>7} {tp:>10}\n" in text
    # part 7: the replayed walk ends with backward()'s gradients, bit for bit
    assert "same gradients as backward(): True" in text
    # a has two consumers: the first of its two shares waits for the other
    assert re.search(r"^step \d+ of \d+: .* a \+= .* \(waits for 1 more\)$", text, re.M)


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == "python3"
    assert NOTEBOOK.stat().st_size < 40_000


def test_notebook_runs_and_prints_what_microgrid_train_reports(with_dot, cli_run) -> None:
    from microgrid.viz import dot_available

    text, shown, _ = with_dot
    check_printed(text, cli_run)
    assert shown.count("image/png") == 2  # the activations and the loss curve
    if dot_available():  # three drawings, then one picture per step of the walk (steps 0-9), the explorer
        assert shown.count("image/svg+xml") == 3 + 10 and shown.count("text/html") == 1


def test_the_notebooks_explorer_works_in_chromium(with_dot, browser, tmp_path: Path) -> None:
    """The explorer's output, saved as a page: its own page in a frame, stepped with the keys."""
    from chromium import errors, open_page, press, text_of
    from selenium.webdriver.common.keys import Keys

    from microgrid.safety.overwrite import GENERATOR
    from microgrid.viz import INSTALL_HINT, dot_available

    text, _, pages = with_dot
    if not dot_available():
        assert f"[the explorer needs Graphviz: {INSTALL_HINT}]" in text
        pytest.skip("no program to draw pictures: the notebook said so instead of showing the explorer")
    (frame,) = pages
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)".*', frame, re.S)
    assert srcdoc and html.unescape(srcdoc.group(1)).count(GENERATOR) == 1  # the whole page, in the output
    n = int(number(r"^step 1 of (\d+): d loss / d loss = 1$", text))  # the walk part 7 printed
    page = tmp_path / "output.html"
    page.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{frame}</body>", encoding="utf-8")
    open_page(browser, page)
    browser.switch_to.frame(browser.find_element("css selector", "iframe"))
    assert text_of(browser, "#counter") == f"forward pass (step 0 of {n})"
    browser.find_element("css selector", "h1").click()
    press(browser, Keys.END)
    assert text_of(browser, "#counter") == f"step {n} of {n}"
    press(browser, Keys.ARROW_LEFT)
    assert text_of(browser, "#counter") == f"step {n - 1} of {n}"
    browser.switch_to.default_content()
    assert errors(browser) == []


@pytest.mark.skipif(not os.environ.get("PATH") or not any(
    (Path(d) / "dot").exists() for d in os.environ["PATH"].split(os.pathsep)),
    reason="dot is not installed: the test above already ran the notebook without it")
def test_notebook_runs_without_graphviz_and_says_how_to_get_pictures(tmp_path, monkeypatch, cli_run) -> None:
    from microgrid.viz import INSTALL_HINT

    text, shown, pages = execute(tmp_path, monkeypatch, hide_dot=True)
    check_printed(text, cli_run)
    assert "image/svg+xml" not in shown and pages == []
    assert text.count(f"to see it, {INSTALL_HINT}]") == 3
    assert f"[the step pictures need Graphviz: {INSTALL_HINT}]" in text
    assert f"[the explorer needs Graphviz: {INSTALL_HINT}]" in text
