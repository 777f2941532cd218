"""The promises of the project layout: README quick start, CI script, packaging metadata."""

import configparser
import fnmatch
import json
import math
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import microgrid
from microgrid import viz

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_readme_has_exactly_two_quick_start_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("microgrid train")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = quick_start_commands()[1]
    assert test_command in ci.splitlines()
    assert "set -euo pipefail" in ci
    assert "apt-get install -y" in ci and "graphviz" in ci
    assert "chromium chromium-driver" in ci  # so the explorer's browser tests run, not skip


def test_ci_checks_lint_and_types():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert "ruff check microgrid tests examples benchmarks" in lines and "mypy microgrid" in lines
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "mypy" in cfg["options.extras_require"]["dev"]


def test_the_package_says_it_is_typed():
    assert (ROOT / "microgrid" / "py.typed").is_file()
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert "py.typed" in cfg["options.package_data"]["microgrid"]



def test_every_data_file_of_the_package_is_in_its_package_data():
    """What is not Python (the pages' templates, the data set, py.typed) ships only when a glob of
    ``[options.package_data]`` for its own package names it (setuptools' rule): else a wheel lacks it."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    globs = {package: [g.strip() for g in value.split(",")]
             for package, value in cfg["options.package_data"].items()}
    shipped = []
    for path in sorted((ROOT / "microgrid").rglob("*")):
        inside = path.relative_to(ROOT)
        hidden = any(part.startswith((".", "__")) for part in inside.parts)  # __pycache__, editors' files
        if path.is_dir() or hidden or path.suffix in (".py", ".pyc"):
            continue
        package = ".".join(inside.parent.parts)
        assert any(fnmatch.fnmatch(path.name, g) for g in globs.get(package, [])), f"{inside} would not ship"
        shipped.append(inside.as_posix())
    pages = {"microgrid/viz/explorer.html", "microgrid/viz/explorer.js", "microgrid/viz/steps.html"}
    assert pages <= set(shipped) and "microgrid/py.typed" in shipped

def test_gitignore_covers_what_the_readme_commands_write_at_the_root():
    readme = (ROOT / "README.md").read_text()
    for option in ("--out run1", "-o graph.svg", "-o mlp.svg", "--steps steps/", '"graph.svg"',
                   "--html mlp.html", "--output-dir ."):
        assert option in readme
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    written = ["run1/metrics.json", "run1/model.npz", "graph.svg", "graph.dot", "graph", "mlp.svg",
               "steps/step_000.svg", "steps/index.html", "page.html", "mlp.html", "tutorial.html"]
    ignored = subprocess.run([git, "check-ignore", "--no-index", *written], cwd=ROOT, capture_output=True,
                             text=True, check=False).stdout.split()
    assert sorted(ignored) == sorted(written)
    shipped = ["docs/img/steps/index.html", "microgrid/app/commands/graph.py"]  # the same names elsewhere
    assert subprocess.run([git, "check-ignore", "--no-index", *shipped], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout == ""


def test_setup_cfg_metadata():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == "microgrid-autograd"  # "microgrid" on PyPI is another project
    requires = cfg["options"]["install_requires"].split()
    assert any(r.startswith("numpy") for r in requires)
    assert any(r.startswith("graphviz") for r in requires)
    extras = cfg["options.extras_require"]
    for package in ("pytest", "hypothesis", "ruff", "selenium"):
        assert package in extras["dev"]
    assert "matplotlib" in extras["plot"]
    assert "graphviz-pure" in extras["render"]  # draws SVG and PNG where Graphviz is not installed
    assert "torch==2.13.0" in extras["benchmarks"]
    assert "microgrid = microgrid.app.cli:console_main" in cfg["options.entry_points"]["console_scripts"]
    assert ">=3.10" in cfg["options"]["python_requires"]


def test_the_notebook_installs_and_runs_with_the_commands_the_docs_give():
    """One install command brings what the notebook imports and what the docs run it with."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    extras = cfg["options.extras_require"]
    notebook = {re.split(r"[<>=!~ ]", line.strip())[0] for line in extras["notebook"].strip().splitlines()}
    provides = {"jupyter lab": "jupyterlab", "jupyter nbconvert": "nbconvert"}  # command -> its package
    imports = {"matplotlib", "ipykernel"}  # the notebook's plots, and the kernel Jupyter runs it in
    assert notebook == {*provides.values(), *imports}
    nb = json.loads((ROOT / "docs" / "tutorial.ipynb").read_text(encoding="utf-8"))
    pages = {"README.md": (ROOT / "README.md").read_text(),
             "docs/index.md": (ROOT / "docs" / "index.md").read_text(),
             "the notebook": "".join(nb["cells"][0]["source"])}
    for name, text in pages.items():
        assert 'pip install ".[notebook]"' in text, name
        for extra in re.findall(r'pip install (?:-e )?"\.\[([\w,]+)\]"', text):
            assert set(extra.split(",")) <= set(extras), (name, extra)
        commands = re.findall(r"\bjupyter \w+", text)
        assert "jupyter lab" in commands and "jupyter nbconvert" in commands, name
        assert set(commands) <= set(provides), (name, commands)
        assert "jupyter nbconvert --to html --execute docs/tutorial.ipynb --output-dir ." in text, name


def test_readme_and_the_docs_index_show_the_explorer_and_its_command():
    for page, image in ((ROOT / "README.md", "docs/img/explorer.png"),
                        (ROOT / "docs" / "index.md", "img/explorer.png")):
        text = page.read_text()
        assert f"]({image})" in text and "microgrid graph --mlp 9,15,1 --sample 0 --html mlp.html" in text
        assert "explore(" in text
        png = (page.parent / image).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1280, 800)


def test_pyproject_is_build_system_only():
    text = (ROOT / "pyproject.toml").read_text()
    assert "[build-system]" in text
    assert "[project]" not in text


def test_version_is_exposed():
    assert re.fullmatch(r"\d+\.\d+\.\d+", microgrid.__version__)


@pytest.mark.parametrize("drawing", ["as installed", "no_renderer"])
def test_readme_python_snippets_run_and_print_what_they_claim(drawing, tmp_path, monkeypatch, capsys,
                                                              request):
    if drawing == "no_renderer":  # a fresh machine without Graphviz: the snippet still runs to the end
        request.getfixturevalue("no_renderer")
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    out, err = capsys.readouterr()
    printed = out.split()
    claimed = re.findall(r"# (0\.99933 -0\.0040229 0\.0026819 0\.0013410)", text)[0].split()
    assert [f"{float(v):.5g}" for v in printed[:4]] == [f"{float(v):.5g}" for v in claimed]
    # the second half: f(x) = x^3 tanh x, f' = 3x^2 t + x^3 s, f'' = 6x t + 6x^2 s - 2x^3 s t (s = 1 - t^2)
    x = 0.5
    t = math.tanh(x)
    s = 1 - t * t
    assert float(printed[4]) == pytest.approx(3 * x**2 * t + x**3 * s, rel=1e-12)
    assert float(printed[5]) == pytest.approx(6 * x * t + 6 * x**2 * s - 2 * x**3 * s * t, rel=1e-12)
    # the training loop: the claimed final loss and the four XOR predictions
    claimed_loss, claimed_predictions = re.findall(r"# (0\.\d+) (\[[01, ]+\])\n", text)[0]
    assert printed[6] == claimed_loss and float(printed[6]) < 0.01
    assert " ".join(printed[7:11]) == claimed_predictions == "[0, 1, 1, 0]"
    if viz.dot_available():
        assert "<svg" in (tmp_path / "graph.svg").read_text() and err == ""
    else:
        assert not (tmp_path / "graph.svg").exists()
        assert err.count("\n") == 1 and "graph.svg not drawn" in err
        assert "apt-get install graphviz" in err and "pip install graphviz-pure" in err


def test_the_example_samples_of_the_readme_predict_command_are_real_unlabelled_rows():
    from microgrid.data import load_wisconsin

    readme = (ROOT / "README.md").read_text()
    assert "microgrid predict --model run1/model.npz examples/new_samples.data" in readme
    samples = load_wisconsin(ROOT / "examples" / "new_samples.data", unlabelled=True)
    shipped = load_wisconsin()
    assert len(samples) == 6 and not samples.labelled.any()
    for ident, scores in zip(samples.ids, samples.X):  # each is a shipped sample with its class removed
        assert any((shipped.X[shipped.ids == ident] == scores).all(axis=1))

