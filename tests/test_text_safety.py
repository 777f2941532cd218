"""User text in pictures: any title or caption is drawn as written, never as Graphviz syntax."""

from __future__ import annotations

import subprocess
import unicodedata
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgrid import render, viz
from microgrid.cli import main
from microgrid.engine import Value
from microgrid.viz.draw import escape_label

SVG = "{http://www.w3.org/2000/svg}"


def svg_text(svg: bytes | str) -> str:
    """All the text an SVG shows, without white space (dot lays words out as it likes)."""
    return "".join("".join(t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")).split())


LINE_BREAKS = set("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")  # where str.splitlines breaks


def shown(title: str) -> str:
    """What a title looks like drawn: lines broken, a tab as a space, other control characters as
    \\xNN; white space aside."""
    def one(c: str) -> str:
        if c in LINE_BREAKS or c == "\t":
            return " "
        return f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c

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
    svg = out.read_text() if suffix == ".svg" else subprocess.run(
        ["dot", "-Tsvg", str(out)], capture_output=True, check=True, text=True).stdout  # dot accepts it
    assert "1#\\" in svg_text(svg)


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_title_is_drawn_as_written(title: str) -> None:
    if render.find_renderer() is None:
        pytest.skip("no program to draw pictures")
    a = Value(2.0, label="a")
    loss = a * a
    loss.backward()
    svg = render.pipe(viz.draw_dot(loss, title=title).source, "svg")
    assert shown(title) in svg_text(svg)
