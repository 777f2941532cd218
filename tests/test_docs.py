"""The user docs run and print what they claim.

Every ```python block of ``docs/*.md`` runs, page by page in one namespace (like a notebook), in
a temporary folder:

* a block of ``>>>`` examples runs as a doctest;
* a block right after ``<!-- excerpt: PATH -->`` quotes PATH and must appear in it verbatim;
* any other block is executed; its output must equal the ```text block that follows it, if
  there is one, and otherwise each ``print(...)  # claim`` line must print its claim (a number
  in a claim stands for the printed number rounded to the claim's digits).

Without Graphviz's ``dot`` a block that stops at a drawing call is let off and the page's test
is reported skipped, with the reason, after every other block has run and been checked.

Also here: the reading order of docs/index.md, the walk-through's pictures and its claim about
the "still waiting" state, and no internal references in user-facing text.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import graphviz
import pytest
from hypothesis import given

from microgrid import Value, viz
from microgrid.engine import topological_order

from strategies import ExprProgram, expr_programs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
NO_DOT = "Graphviz's dot is not on PATH: drawing calls could not run (everything else did)"

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
EXCERPT = re.compile(r"<!-- excerpt: (\S+) -->\s*$")
CLAIM = re.compile(r"^\s*print\(.*\)\s*#\s*(.+?)\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    excerpt_of: str | None  # the file a quoted excerpt comes from
    output: str | None  # the ```text block right after this one, if any


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = list(FENCE.finditer(text))
    out = []
    for k, m in enumerate(found):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        excerpt = EXCERPT.search(before)
        nxt = found[k + 1] if k + 1 < len(found) else None
        follows = nxt is not None and nxt.group(1) == "text" and not text[m.end():nxt.start()].strip()
        out.append(Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1,
                         excerpt.group(1) if excerpt else None, nxt.group(2) if follows else None))
    return out


def same_token(printed: str, claimed: str) -> bool:
    """Equal, or the same brackets around a number that rounds to the claimed number at the
    claim's significant digits (``0.9993292997`` matches ``0.99933``)."""
    if printed == claimed:
        return True
    affix = re.compile(r"^([(\[]*)(.*?)([,)\]]*)$")
    (p_open, p, p_close), (c_open, c, c_close) = affix.match(printed).groups(), affix.match(claimed).groups()
    if (p_open, p_close) != (c_open, c_close):
        return False
    try:
        pv, cv = float(p), float(c)
    except ValueError:
        return False
    digits = len(re.sub(r"[^0-9]", "", c.lower().split("e")[0]).lstrip("0")) or 1
    return f"{pv:.{digits}g}" == f"{cv:.{digits}g}"


def check_claims(block: Block, where: str, printed: str) -> None:
    lines = printed.splitlines()
    if block.output is not None:
        assert [ln.rstrip() for ln in lines] == [ln.rstrip() for ln in block.output.splitlines()], where
        return
    claims = [m.group(1) for ln in block.code.splitlines() if (m := CLAIM.match(ln))]
    assert len(lines) == len(claims), f"{where}: printed {len(lines)} lines, the doc claims {len(claims)}"
    for got, claim in zip(lines, claims):
        tokens, wanted = got.split(), claim.split()
        assert len(tokens) == len(wanted) and all(map(same_token, tokens, wanted)), (
            f"{where}: printed {got!r}, the doc says {claim!r}")


def drawing_failed(error: BaseException) -> bool:
    return isinstance(error, (viz.GraphvizNotFound, graphviz.ExecutableNotFound))


@pytest.mark.parametrize("page", [pytest.param(p, marks=pytest.mark.slow) if p.name == "walkthrough.md" else p
                                  for p in PAGES], ids=lambda p: p.name)  # the walkthrough trains for ~4 s
def test_doc_code_runs_and_prints_what_it_claims(page: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__doc__"}
    stopped = []
    for block in blocks(page):
        where = f"docs/{page.name}:{block.line}"
        if block.lang != "python":
            continue
        if block.excerpt_of is not None:
            source = (ROOT / block.excerpt_of).read_text(encoding="utf-8")
            assert block.code in source, f"{where}: not a verbatim excerpt of {block.excerpt_of}"
            continue
        if block.code.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(block.code, namespace, where, str(page), block.line)
            runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
            result = runner.run(test, clear_globs=False)
            namespace.update(test.globs)  # (a DocTest runs in a copy of the namespace)
            assert result.failed == 0, f"{where}: {result.failed} doctest example(s) failed (see output)"
            continue
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(compile(block.code, where, "exec"), namespace)
        except Exception as error:
            if shutil.which("dot") is None and drawing_failed(error):
                stopped.append(where)
                continue
            raise
        check_claims(block, where, printed.getvalue())
    if stopped:
        pytest.skip(f"{NO_DOT}; stopped at a drawing call: {', '.join(stopped)}")


def test_the_block_reader_sees_every_kind_of_block() -> None:
    kinds = {(b.lang, b.excerpt_of is not None, b.output is not None, b.code.lstrip().startswith(">>>"))
             for page in PAGES for b in blocks(page)}
    assert ("python", True, False, False) in kinds  # an excerpt
    assert ("python", False, True, False) in kinds  # a block with its output
    assert ("python", False, False, True) in kinds  # doctest examples
    assert ("python", False, False, False) in kinds  # a block with # claims


def test_claims_compare_numbers_at_the_claimed_precision() -> None:
    assert same_token("0.9993292997390673", "0.99933") and same_token("-0.004022857", "-0.0040229")
    assert not same_token("0.9993292997390673", "0.99934") and not same_token("2.0", "-2.0")
    assert same_token("(-3.0,", "(-3.0,") and not same_token("[1.0]", "1.0")
    assert not same_token("True", "False")
    block = Block("python", 'print(1 / 3)   # 0.333\nprint("x")   # x\n', 1, None, None)
    check_claims(block, "here", "0.3333333333333333\nx\n")
    with pytest.raises(AssertionError, match="printed 1 lines, the doc claims 2"):
        check_claims(block, "here", "0.3333333333333333\n")
    with pytest.raises(AssertionError, match="the doc says '0.333'"):
        check_claims(block, "here", "0.334\nx\n")


# --------------------------------------------------------------------------------------------
# The reading order, the walk-through's pictures, no internal references
# --------------------------------------------------------------------------------------------


def test_index_gives_a_reading_order_over_every_page() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    for page in PAGES:
        if page.name != "index.md":
            assert page.name in links, f"docs/index.md does not link {page.name}"
    assert "tutorial.ipynb" in links and "../examples/moons.py" in links
    order = [link for link in links if link.endswith(".md")]
    assert order.index("walkthrough.md") < order.index("engine.md") < order.index("backprop.md")
    for link in links:
        assert (DOCS / link).resolve().is_file(), f"docs/index.md links {link}, which does not exist"


def svg_texts(svg: str) -> list[str]:
    """The words drawn in an SVG (dot-version independent, unlike its coordinates)."""
    ns = "{http://www.w3.org/2000/svg}"
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{ns}text")]


@pytest.mark.skipif(shutil.which("dot") is None, reason=NO_DOT)
def test_walkthrough_pictures_are_what_its_code_draws(tmp_path: Path) -> None:
    text = (DOCS / "walkthrough.md").read_text(encoding="utf-8")
    pictures = re.findall(r"\]\((img/walkthrough/step_\d+\.svg)\)", text)
    assert pictures == ["img/walkthrough/step_001.svg", "img/walkthrough/step_002.svg",
                        "img/walkthrough/step_003.svg"]
    a, b = Value(2.0, "a"), Value(-3.0, "b")
    files = viz.write_backward_steps(a * b + a, tmp_path)  # the page's L, as the page's command draws it
    assert [p.name for p in files.svgs] == [Path(p).name for p in pictures]
    for made, rel in zip(files.svgs, pictures):
        assert svg_texts(made.read_text()) == svg_texts((DOCS / rel).read_text()), rel
    step1 = svg_texts((DOCS / pictures[1]).read_text())
    assert "grad 1 …" in step1 and "grad —" in step1  # a waits for its second consumer; b is unreached


@given(program=expr_programs())
def test_only_a_node_with_two_consumers_is_ever_still_waiting(program: ExprProgram) -> None:
    # the walk-through's claim about the step view's "grad ... (more to come)" state
    leaves = [Value(x) for x in program.inputs]
    root = program.on_values(leaves)[-1]
    order = topological_order(root)
    consumers = {id(v): 0 for v in order}
    for v in order:
        for p in v.parents:
            consumers[id(p)] += 1
    for step in viz.backward_steps(root):
        for node in order:
            if id(node) in step.grads and step.pending[id(node)] > 0:  # reached, still waiting
                assert consumers[id(node)] >= 2


def test_no_internal_references_in_user_docs() -> None:
    files = [*PAGES, ROOT / "README.md", *sorted((ROOT / "examples").glob("*.py"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = re.findall(r"\b(?:[Ii]ssue|PR|[Tt]icket) ?#?\d+", text)
        assert not found, f"{path.relative_to(ROOT)}: {found}"


def test_readme_speed_numbers_name_whose_they_are() -> None:
    # each number of the README's speed sentence sits beside its owner, as in docs/benchmarks.md's table
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    table = {row.split("|")[1].strip(): row for row in (DOCS / "benchmarks.md").read_text().splitlines()
             if row.startswith("| ")}
    ours = table["microgrid `VectorizedMLP.fit` (loss every iteration)"]
    (torch,) = [row for name, row in table.items() if name.startswith("PyTorch eager, idiomatic")]
    (article,) = [row for name, row in table.items() if "the article's `dlnet`" in name]
    assert "37.7 µs" in ours and "**2.65×**" in ours and "**1.17×**" in ours and "312.7 µs" in torch
    assert "100.4 µs" in article
    assert "gradient-descent step in 37.7 µs: 1.17× the time of the fastest NumPy loop" in readme
    assert "2.65× faster than the article's own NumPy code as published (its `dlnet` class)" in readme
    assert "idiomatic PyTorch on one thread (312.7 µs)" in readme and "seed's code" not in readme


def test_backprop_page_measures_the_finite_difference_error() -> None:
    # docs/backprop.md section 8: at eps 1e-6 the differences are off by about 1e-10, all rounding; the
    # Taylor term eps^2 J'''(w)/6 is the error at eps 1e-4 (where it dominates) times (1e-6/1e-4)^2
    from microgrid.app.cli import main

    def largest_fd_error(eps: str) -> float:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["check", "--eps", eps]) == 0
        rows = re.findall(r"^ +(?:W|b)\d .*$", out.getvalue(), re.M)
        assert len(rows) == 4
        return max(float(row.split()[7]) for row in rows)  # the auto-fd abs column (after auto-trace)

    text = " ".join((DOCS / "backprop.md").read_text(encoding="utf-8").split())
    assert "the first is about `3·10⁻¹⁴`" in text and "off by at most `1.0·10⁻¹⁰`" in text
    assert 0.95e-10 <= largest_fd_error("1e-6") < 1.05e-10
    taylor = largest_fd_error("1e-4") * (1e-6 / 1e-4) ** 2
    assert 2.5e-14 <= taylor < 3.5e-14


def test_backprop_page_names_the_sources_of_the_rounding_differences() -> None:
    # docs/backprop.md section 7: the engine's dW2 is a row-by-row float sum in walk order; given the
    # same Z_L, the rows whose dZ_L differ are mostly label 1; many Z1 entries differ in the last bit
    import numpy as np

    from microgrid.data import load_wisconsin
    from microgrid.nn import MLP
    from microgrid.vectorized import VectorizedMLP

    text = (DOCS / "backprop.md").read_text(encoding="utf-8")
    assert "a plain float loop in that order reproduces the engine's `dW2` bit for bit" in text
    data = load_wisconsin()
    X, y = (data.X - 1.0) / 9.0, data.y.astype(np.float64)
    m = len(X)
    mlp = MLP(9, [15, 1], seed=0)  # the network of examples/compare_gradients.py
    weights = mlp.get_weights()
    weights[1] = np.random.default_rng(1).normal(0.0, 0.1, size=15)
    mlp.set_weights(weights)
    net = VectorizedMLP.from_scalar(mlp)
    loss = mlp.loss(X, y)
    loss.backward()
    dots = [v for v in topological_order(loss) if v.op == "dot"]
    layer1 = sorted((v for v in dots if len(v.parents) == 2 * 9 + 1), key=lambda v: v._id)
    layer2 = sorted((v for v in dots if len(v.parents) == 2 * 15 + 1), key=lambda v: v._id)
    Z1 = np.array([v.data for v in layer1]).reshape(m, 15)
    Z2 = np.array([v.data for v in layer2]).reshape(m, 1)
    dZ2 = np.array([v.grad for v in layer2]).reshape(m, 1)
    Z1_np, _ = net.preactivations(X)
    assert 0.3 < np.mean(Z1 != Z1_np) < 0.5  # "about four in ten entries of Z1"
    np.testing.assert_allclose(Z1, Z1_np, rtol=0, atol=1e-14)  # in the last bits only

    A1 = np.maximum(Z1, 0.0)
    walk = np.zeros(15)
    for i in reversed(range(m)):  # the walk reaches the newest row's dot node first
        walk += dZ2[i, 0] * A1[i]
    assert np.array_equal(mlp.get_grads()[2][0], walk)

    sigma = 1.0 / (1.0 + np.exp(-Z2[:, 0]))  # the NumPy path's dZ_L from the engine's own Z_L
    differ = dZ2[:, 0] != (sigma - y) / m
    assert differ.sum() > 10 and np.mean(y[differ] == 1.0) > 0.5  # "mostly label 1"
