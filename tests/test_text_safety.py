"""User text shown back: drawn as written in pictures (never as Graphviz syntax), quoted short in
errors, and never sent to the terminal as control codes."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import viz
from microgrid.app.cli import main
from microgrid.data import shipped_path
from microgrid.engine import Value
from microgrid.safety.text import escape, one_line, quote
from microgrid.viz import backend
from microgrid.viz.draw import LABEL_LIMIT, escape_label

from helpers import run_cli

SVG = "{http://www.w3.org/2000/svg}"


def svg_text(svg: bytes | str) -> str:
    """All the text an SVG shows, without white space (dot lays words out as it likes)."""
    return "".join("".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")).split())


LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines breaks


def shown(title: str) -> str:
    """What a title looks like drawn: lines broken, a tab as a space; other control characters, lone
    surrogates and U+FFFE/U+FFFF (no SVG or UTF-8 can hold them) as \\xNN or \\uNNNN; white space aside."""
    def one(c: str) -> str:
        if c in LINE_BREAKS or c == "\t":
            return " "
        if unicodedata.category(c) in ("Cc", "Cs") or c in "\ufffe\uffff":
            return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
        return c

    drawn = "".join(one(c) for c in title)
    return "".join(drawn.split())


def test_escape_label_doubles_backslashes_and_keeps_line_breaks() -> None:
    assert escape_label("1 # \\") == "1 # \\\\"
    assert escape_label("a\nb\r\nc\td") == "a\\nb\\nc d"
    assert escape_label("\x1b[31mEVIL\x1b[0m") == "\\\\x1b[31mEVIL\\\\x1b[0m"


@pytest.mark.parametrize("suffix", [".svg", ".dot"])
def test_an_expression_ending_in_a_backslash_draws(tmp_path: Path, suffix: str,
                                                   needs_renderer: object) -> None:
    out = tmp_path / f"bs{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # graphviz's DotSyntaxWarning included
        assert main(["graph", "--expr", "1 # \\", "-o", str(out)]) == 0
    source = out.read_text()
    svg = source if suffix == ".svg" else backend.pipe(source, "svg").decode()  # the renderer accepts it
    assert "1#\\" in svg_text(svg)


def drawn(title: str, label: str = "a") -> tuple[str, bytes]:
    """The DOT source and the SVG of ``a * a`` (``a`` labelled ``label``) under ``title``."""
    a = Value(2.0, label=label)
    loss = a * a
    loss.backward()
    source = viz.draw_dot(loss, title=title).source
    return source, backend.pipe(source, "svg")


def svg_shapes(svg: bytes) -> list[tuple[str | None, str | None]]:
    """Each node and edge of an SVG drawing, with any picture or link: what a DOT statement can add."""
    root = ET.fromstring(svg)
    shapes = [(g.get("class"), g.find(f"{SVG}title").text) for g in root.iter(f"{SVG}g")
              if g.get("class") in ("node", "edge")]
    return shapes + [(e.tag, None) for e in root.iter() if e.tag in (f"{SVG}image", f"{SVG}a")]


HTML_LIKE = ["<b>bold</b>", '<<b>x</b>> ] ; a [image="/etc/passwd"] ; b [label=<y>',
             '<x> ]; "a" -> "b"; c [URL="http://example.com" label=<z>']


@pytest.mark.parametrize("title", HTML_LIKE)
def test_a_title_like_markup_or_dot_is_drawn_as_written_and_adds_nothing(title: str,
                                                                          needs_renderer: object) -> None:
    source, svg = drawn(title)
    plain_source, plain_svg = drawn("plain title")
    def others(source: str) -> list[str]:
        return [line for line in source.splitlines() if not line.startswith("\tlabel=")]

    assert others(source) == others(plain_source)  # the title is one quoted line
    assert svg_shapes(svg) == svg_shapes(plain_svg)  # no node, edge, image or link added
    assert shown(title) in svg_text(svg)


@pytest.mark.slow
@given(st.one_of(st.text(st.characters(blacklist_categories=()), min_size=1, max_size=40),
                 st.text(st.characters(blacklist_categories=()), max_size=38).map(lambda t: f"<{t}>")))
def test_any_title_and_label_is_drawn_as_written(text: str) -> None:
    if backend.find_renderer() is None:
        pytest.skip("no program to draw pictures")
    _, svg = drawn(text, label=text)
    assert shown(text) in svg_text(svg)  # the title
    assert shown(" ".join(text.split())) in svg_text(svg)  # the node's label, on one line
    assert len(svg_shapes(svg)) == len(svg_shapes(drawn("t")[1]))


UNDRAWABLE = "x\x00\x01\x08\x0e\x1f\x7f\x9f\udfff\ud800\ufffe\uffffy"  # two lone surrogates


def test_labels_no_picture_can_hold_are_written_as_escapes(tmp_path: Path, needs_renderer: object) -> None:
    """Control characters, NUL, lone surrogates: valid SVG (XML) and pages, the label's text in the
    page's data unchanged."""
    from microgrid.nn import MLP

    mlp = MLP(2, [2, 1], seed=0)
    for name, p in mlp.named_parameters():  # a layer name holding them too
        p.label = f"{UNDRAWABLE}.{name}"
    x = [Value(1.0, label=UNDRAWABLE), Value(2.0, label="x1")]
    out = mlp(x)
    out.label = UNDRAWABLE
    out.backward()
    expected = "x\\x00\\x01\\x08\\x0e\\x1f\\x7f\\x9f\\udfff\\ud800\\ufffe\\uffffy"
    for group in (None, "neurons", "collapse"):
        svg = backend.pipe(viz.draw_dot(out, group=group, params=mlp, title=UNDRAWABLE).source, "svg")
        assert expected in svg_text(svg), group  # and it parsed as XML
    files = viz.write_backward_steps(out, tmp_path / "steps", params=mlp, title=UNDRAWABLE)
    assert all(expected in svg_text(f.read_bytes()) for f in files.svgs[:1])
    page = viz.write_explorer(out, tmp_path / "e.html", group="collapse", params=mlp, title=UNDRAWABLE)
    data = re.search(r'id="microgrid-graph">(.*?)</script>', page.read_text(), re.S)
    assert data and UNDRAWABLE in [node["label"] for node in json.loads(data.group(1))["nodes"]]


def test_a_label_longer_than_the_limit_is_cut_with_its_length(needs_renderer: object) -> None:
    limit = LABEL_LIMIT
    whole = drawn("t" * limit, label="a" * limit)[1]
    assert "t" * limit in svg_text(whole) and "a" * limit in svg_text(whole) and "…" not in svg_text(whole)
    for n in (limit + 1, 16_385, 100_000):
        text = svg_text(drawn("t" * n, label="a" * n)[1])
        assert f"{'t' * limit}…({n:,}characters)" in text and f"{'a' * limit}…({n:,}characters)" in text
        assert "t" * (limit + 1) not in text
    worst = "\U0010fffd\ud800\\" * (limit // 3)  # the longest escapes, in DOT source bytes
    assert drawn(worst, label=worst)[1]


# ---- user text in messages and outputs: short, and never terminal control codes ------------------

EVIL = "\x1b[31mEVIL\x1b[0m"


def unescape(text: str) -> str:
    """Undo :func:`microgrid.safety.text.escape` (an independent reading of Python's escape syntax)."""
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_escape_is_printable_one_line_and_reversible(text: str) -> None:
    escaped = escape(text)
    assert escaped.isprintable() and len(escaped.splitlines()) <= 1
    assert unescape(escaped) == text  # distinct texts stay distinct
    if text.isprintable() and "\\" not in text:
        assert escaped == text


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=600), st.integers(1, 300))
def test_quote_is_short_printable_and_notes_the_length(text: str, limit: int) -> None:
    quoted = quote(text, limit)
    assert quoted.isprintable()
    if len(repr(text)) <= limit + 2:
        assert quoted == repr(text)
    else:
        body, note = quoted.rsplit("…", 1)
        assert note == f"{quoted[0]} ({len(text):,} characters)"
        assert len(body) <= limit + 1  # the opening quote and at most `limit` characters
        shown_text = ast.literal_eval(body + quoted[0])  # a whole number of escapes: still a literal
        assert text.startswith(shown_text)


def test_one_line_keeps_a_line_of_exactly_the_limit() -> None:
    assert one_line("x" * 100, limit=100) == "x" * 100
    assert one_line("x" * 101, limit=100) == "x" * 50 + " … (1 characters cut) … " + "x" * 50


def test_one_line_cuts_the_middle_and_escapes() -> None:
    line = one_line("start " + "\x1b" * 10_000 + " end", limit=100)
    assert line.isprintable() and line.startswith("start \\x1b") and line.endswith("\\x1b end")
    assert len(line) < 150 and "characters cut" in line


def test_a_model_whose_format_entry_is_ten_million_characters_gives_a_short_line(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "huge-format.npz"
    np.savez(path, format=np.array("x" * 10_000_000))  # 40 MB of UTF-32 in the archive
    status, out, err = run_cli(["predict", "--model", str(path), str(shipped_path())])
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert len(err) < 500, len(err)
    assert "(format 'xxx" in err and "(10,000,000 characters)" in err


def test_a_long_data_field_gives_a_short_line(tmp_path: Path) -> None:
    data = tmp_path / "long-field.data"
    data.write_text("1000025,5,1,1,1,2,1,3,1,1,2\n" + "1002945," + "7" * 100_000 + ",4,4,5,7,10,3,2,1,4\n")
    status, out, err = run_cli(["train", "--data", str(data), "--iters", "1"])
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert len(err) < 500 + len(str(data)), len(err)
    assert "line 2: score 1 (clump thickness)" in err and "(100,000 characters)" in err


def test_control_characters_in_data_never_reach_the_terminal(tmp_path: Path) -> None:
    """An ID holding a terminal escape code is written escaped, to stdout and to -o."""
    data = tmp_path / "evil.data"
    data.write_text(f"{EVIL},5,1,1,1,2,1,3,1,1,2\nback\\slash,5,1,1,1,2,1,3,1,1,4\n", newline="")
    model = tmp_path / "run" / "model.npz"
    assert run_cli(["train", "--iters", "2", "--quiet", "--out", str(model.parent)])[0] == 0
    status, out, err = run_cli(["predict", "--model", str(model), str(data)])
    assert status == 0, err
    assert "\x1b" not in out + err
    rows = list(csv.reader(io.StringIO(out)))
    assert [r[0] for r in rows[1:]] == ["\\x1b[31mEVIL\\x1b[0m", "back\\\\slash"]
    assert status == 0 and run_cli(["predict", "--model", str(model), str(data), "-o",
                                    str(tmp_path / "p.csv")])[0] == 0
    assert (tmp_path / "p.csv").read_text() == out


def test_control_characters_in_errors_are_escaped(tmp_path: Path) -> None:
    data = tmp_path / "evil.data"
    data.write_text(f"1,5,1,1,1,2,1,3,1,1,{EVIL}\n")
    for argv in (["train", "--data", str(data)], ["train", "--activation", EVIL],
                 ["graph", "--expr", "a", "--set", f"{EVIL}=1", "-o", "g.dot"],
                 ["graph", "--mlp", "9,1", "--activations", EVIL, "-o", "g.dot"],
                 ["train", f"--{EVIL}"], ["check", "--hidden", EVIL * 100]):
        status, out, err = run_cli(argv)
        assert status == 2 and "\x1b" not in out + err, (argv, err)
        assert len(err.splitlines()) == 1 and "\\x1b[31mEVIL" in err, (argv, err)
        assert len(err) < 600, (argv, len(err))


@pytest.mark.parametrize("argv", [
    ["train", "--activation", "r" * 100_000],  # argparse's choices
    ["graph", "--mlp", "9,1", "--sample", "1" * 100_000, "-o", "g.dot"],  # argparse's int()
    ["train", "--lr", "9" * 100_000],  # an option type of microgrid
    ["graph", "--expr", "a", "--set", "a" * 100_000 + "=1", "-o", "g.dot"],
    ["graph", "--mlp", "9,1", "--activations", "tanh" * 50_000, "-o", "g.dot"],
    ["train", "--" + "x" * 100_000],
])
def test_long_option_values_are_quoted_short(argv: list[str]) -> None:
    status, out, err = run_cli(argv)
    assert status == 2 and out == "" and len(err.splitlines()) == 1, err[:300]
    assert len(err) < 700, (len(err), err[:300])
    assert "characters)" in err, err


def test_quote_keeps_exactly_the_limit() -> None:
    assert quote("x" * 200) == repr("x" * 200)  # at the limit: whole
    assert quote("x" * 201) == "'" + "x" * 200 + "…' (201 characters)"  # one over: cut to the limit
    assert quote("x" * 10, 9) == "'xxxxxxxxx…' (10 characters)"
    assert quote("\x1b" * 3, 8) == "'\\x1b\\x1b…' (3 characters)"  # whole escapes only
    assert quote(list(range(100)), 20) == f"{str(list(range(100)))[:20]}… (390 characters)"
