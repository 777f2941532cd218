"""The step pictures' page (``graph --steps``, :func:`viz.write_backward_steps`) in headless Chromium."""

from __future__ import annotations

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
