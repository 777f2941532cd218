"""The step pictures' page (``graph --steps``, :func:`viz.write_backward_steps`) in headless Chromium."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from chromium import errors, open_page, press, text_of

from microgrid import viz
from microgrid.app.expr import evaluate
from microgrid.engine import Value

pytestmark = pytest.mark.skipif(not viz.dot_available(), reason="no program to draw the step pictures "
                                "(apt-get install graphviz, or pip install graphviz-pure)")


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> viz.StepFiles:
    root, _ = evaluate("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    return viz.write_backward_steps(root, tmp_path_factory.mktemp("steps") / "steps")


def shown(browser) -> tuple[str, str, str]:
    """What the page shows: the counter, the picture's address, its text alternative."""
    picture = browser.find_element("id", "picture")
    return text_of(browser, "#counter"), picture.get_attribute("src"), picture.get_attribute("alt")


def step(files: viz.StepFiles, k: int) -> tuple[str, str, str]:
    """What the page should show at step ``k`` (from 1)."""
    return f"step {k} of {len(files.svgs)}", files.svgs[k - 1].resolve().as_uri(), files.captions[k - 1]


def disabled(browser) -> set[str]:
    return {b for b in ("first", "prev", "next", "last") if not browser.find_element("id", b).is_enabled()}


def test_step_page_pages_through_the_pictures_in_chromium(browser, steps: viz.StepFiles) -> None:
    from selenium.webdriver.common.keys import Keys

    assert [p.name for p in steps.svgs] == [f"step_00{k}.svg" for k in (1, 2, 3, 4)]
    open_page(browser, steps.index)
    assert shown(browser) == step(steps, 1) and steps.captions[0].startswith("step 1 of 4: the walk starts")
    assert disabled(browser) == {"first", "prev"}
    picture = browser.find_element("id", "picture")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture) > 0
    press(browser, Keys.END)
    assert shown(browser) == step(steps, 4) and disabled(browser) == {"next", "last"}
    press(browser, Keys.HOME)
    press(browser, Keys.ARROW_RIGHT)
    assert shown(browser) == step(steps, 2) and disabled(browser) == set()
    browser.find_element("id", "next").click()
    assert shown(browser) == step(steps, 3)
    browser.find_element("id", "prev").click()
    assert shown(browser) == step(steps, 2)
    browser.find_element("id", "last").click()
    assert shown(browser) == step(steps, 4) and disabled(browser) == {"next", "last"}
    browser.find_element("id", "first").click()
    assert shown(browser) == step(steps, 1) and disabled(browser) == {"first", "prev"}
    # the slider: its own keys move it one step (the page's key handler leaves it alone), and it follows
    slider = browser.find_element("id", "slider")
    browser.execute_script("arguments[0].focus()", slider)
    press(browser, Keys.ARROW_RIGHT)
    assert shown(browser) == step(steps, 2) and slider.get_attribute("value") == "2"
    press(browser, Keys.END)
    assert shown(browser) == step(steps, 4) and disabled(browser) == {"next", "last"}
    browser.find_element("id", "prev").click()
    assert slider.get_attribute("value") == "3"
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", picture) > 0
    assert errors(browser) == []


def test_labels_that_look_like_markup_stay_text(browser, tmp_path: Path) -> None:
    """Inside the page's script, "</script>" would end it early and "<!--<script>" would make it run on
    to the end of the page: the captions' "<" are written as \\u003c, so both stay text."""
    from selenium.webdriver.common.keys import Keys

    a, b = Value(2.0, label="<!--<script>"), Value(-3.0, label="</script><b>")
    files = viz.write_backward_steps(a * b, tmp_path / "steps", title="<i>a</i> & b")
    assert "<script>" in files.captions[1] and "</script><b>" in files.captions[1]
    open_page(browser, files.index)
    assert browser.title == "<i>a</i> & b" and text_of(browser, "h1") == "<i>a</i> & b"
    assert shown(browser) == step(files, 1)
    press(browser, Keys.END)
    assert shown(browser) == step(files, 2)
    assert errors(browser) == []


# --------------------------------------------------------------------------------------------
# One stage for the whole walk of a 9-15-1 network (``graph --mlp 9,15,1 --sample 0 --steps``)
# --------------------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def mlp_steps(tmp_path_factory: pytest.TempPathFactory) -> viz.StepFiles:
    from microgrid.app.cli import main

    out = tmp_path_factory.mktemp("mlp") / "steps"
    assert main(["graph", "--mlp", "9,15,1", "--sample", "0", "--steps", str(out)]) == 0
    return viz.StepFiles(out / "index.html", sorted(out.glob("step_*.svg")), [])


def groups(svg: ET.Element, kind: str) -> dict[str, ET.Element]:
    return {g.find(f"{SVG}title").text: g for g in svg.iter(f"{SVG}g") if g.get("class") == kind}


def outline(group: ET.Element) -> tuple[float, float, float, float]:
    """The box around a node's shapes (polygons, paths) and texts, in the picture's graph coordinates."""
    nums = [float(x) for e in group for x in re.findall(r"-?\d+(?:\.\d+)?", e.get("points") or e.get("d") or
                                                        f"{e.get('x', '')},{e.get('y', '')}")]
    return min(nums[::2]), min(nums[1::2]), max(nums[::2]), max(nums[1::2])


def test_every_picture_of_a_walk_has_one_size_and_one_layout(mlp_steps: viz.StepFiles) -> None:
    pictures = [ET.fromstring(p.read_bytes()) for p in mlp_steps.svgs]
    assert len(pictures) == 18
    assert len({(p.get("width"), p.get("height"), p.get("viewBox")) for p in pictures}) == 1
    places = [{name: outline(g) for name, g in groups(p, "node").items()} for p in pictures]
    assert all(place == places[0] for place in places)  # every node in the same place, every step
    inputs = sorted((n for n, g in groups(pictures[0], "node").items()
                     if any((t.text or "").startswith("x") and ":" in t.text for t in g.iter(f"{SVG}text"))),
                    key=lambda n: places[0][n][1])  # top to bottom
    labels = [next(t.text for t in groups(pictures[0], "node")[n].iter(f"{SVG}text")) for n in inputs]
    assert [label.split(":")[0] for label in labels] == [f"x{i}" for i in range(9)]
    # the sigmoid where a learner looks for it: the output neuron shows p = sigmoid(z), the loss what it is
    texts = {t.text for t in pictures[0].iter(f"{SVG}text")}
    assert any(t.startswith("z (logit): p(malignant) = sigmoid(z) = ") for t in texts)
    assert "loss = BCE(sigmoid(z), y) = softplus(z) − y·z; y = 0" in texts


def red_outline(svg: ET.Element) -> tuple[float, float, float, float]:
    (box,) = [outline(g) for g in groups(svg, "node").values()
              if any(e.get("stroke") == "#e03131" and e.get("stroke-width") == "4" for e in g)
              and not g.find(f"{SVG}title").text.endswith("_op")]
    return box


@pytest.mark.slow
def test_the_highlighted_node_and_the_caption_are_in_view_at_every_step(browser, mlp_steps) -> None:
    """At 1280×800 the page scrolls the highlighted node into view: its box (read from the picture)
    lies inside the viewport and the picture's frame, with the caption above it, at every step."""
    from selenium.webdriver.common.keys import Keys

    open_page(browser, mlp_steps.index)
    for k, path in enumerate(mlp_steps.svgs, start=1):
        if k > 1:
            press(browser, Keys.ARROW_RIGHT)
        for _ in range(100):  # the picture loads, then the page scrolls to it
            if browser.execute_script("return document.getElementById('picture').complete"):
                break
            time.sleep(0.05)
        time.sleep(0.05)
        svg = ET.fromstring(path.read_bytes())
        _, _, width, height = map(float, svg.get("viewBox").split())
        shift = svg.find(f"{SVG}g").get("transform")
        dx, dy = map(float, re.findall(r"translate\(([-\d.]+) ([-\d.]+)\)", shift)[0])
        x0, y0, x1, y1 = red_outline(svg)
        shown = browser.execute_script("""
            const p = document.getElementById("picture"), s = document.getElementById("stage");
            const c = document.getElementById("caption");
            return [p.complete, p.getBoundingClientRect().toJSON(), s.getBoundingClientRect().toJSON(),
                    c.getBoundingClientRect().toJSON(), c.textContent, p.getAttribute("src")];""")
        done, img, frame, caption, text, src = shown
        assert done and src == path.name and text.startswith(f"step {k} of 18: ")
        sx, sy = img["width"] / width, img["height"] / height
        left, top = img["left"] + (x0 + dx) * sx, img["top"] + (y0 + dy) * sy
        right, bottom = img["left"] + (x1 + dx) * sx, img["top"] + (y1 + dy) * sy
        assert 0 <= frame["left"] <= left < right <= frame["right"] <= 1280, (k, left, right, frame)
        assert 0 <= frame["top"] <= top < bottom <= frame["bottom"] <= 800, (k, top, bottom, frame)
        assert 0 <= caption["top"] and caption["bottom"] <= frame["top"]  # visible, above the picture
    assert errors(browser) == []


@pytest.mark.slow
def test_edge_amounts_never_overlap_in_chromium(browser, mlp_steps: viz.StepFiles) -> None:
    """Each picture opened in Chromium: the text boxes of what the red edges carry are disjoint."""
    counts = []
    for path in mlp_steps.svgs:
        open_page(browser, path)
        boxes = browser.execute_script("""return Array.from(document.querySelectorAll("text.amount"))
            .map((t) => t.getBoundingClientRect()).map((b) => [b.left, b.top, b.right, b.bottom]);""")
        counts.append(len(boxes))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (path.name, a, b)
    assert counts == [0, 1, 15] + [9] * 15  # the seed, softplus → z, z → 15 neurons, each neuron → 9 inputs
