"""The explorer page: its JSON against the engine, and the page itself in headless Chromium."""

from __future__ import annotations

import html
import json
import math
import re
import struct
import zlib
from pathlib import Path

import pytest
from chromium import errors, open_page, press, text_of

from microgrid import viz
from microgrid.app.cli import main
from microgrid.engine import Value, topological_order
from microgrid.viz import format_number

NO_RENDERER = "no program to draw pictures (apt-get install graphviz, or pip install graphviz-pure)"
EXPR = ["--expr", "tanh(a*b + c)", "--set", "a=2", "--set", "b=-3", "--set", "c=10"]


def page_data(page: Path) -> dict:
    pattern = r'<script type="application/json" id="microgrid-graph">(.*?)</script>'
    m = re.search(pattern, page.read_text(), re.S)
    assert m, "no embedded graph data"
    return json.loads(m.group(1))


def as_float(x: float | str) -> float:
    return float(x)  # "inf", "-inf", "nan" are how the page writes the numbers JSON cannot


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def by_position(root: Value) -> dict[str, Value]:
    """The page's node ids (``v<k>``: k-th value of the graph, leaves first) -> the engine's Values."""
    return {f"v{k}": v for k, v in enumerate(reversed(topological_order(root)))}


def expression() -> tuple[Value, dict[str, Value]]:
    from microgrid.app.expr import evaluate

    root, leaves = evaluate("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    return root, leaves


def wisconsin_loss(sample: int = 0) -> Value:
    """What ``graph --mlp 9,15,1 --sample N`` draws, built here independently."""
    from microgrid.data import load_wisconsin
    from microgrid.functional import bce_with_logits
    from microgrid.nn import MLP

    data = load_wisconsin()
    lo, hi = data.X.min(axis=0), data.X.max(axis=0)
    mlp = MLP(9, [15, 1], init="he", seed=0)  # as training initialises it
    x = [Value(float(v)) for v in (data.X[sample] - lo) / (hi - lo)]
    return bce_with_logits(mlp.logits(x), int(data.y[sample]))


# --------------------------------------------------------------------------------------------
# The page file and its JSON (no browser)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if not viz.dot_available():
        pytest.skip(NO_RENDERER)
    out = tmp_path_factory.mktemp("explorer")
    made = {"expr": out / "x.html", "mlp": out / "m.html"}
    assert main(["graph", *EXPR, "--html", str(made["expr"])]) == 0
    assert main(["graph", "--mlp", "9,15,1", "--sample", "0", "--html", str(made["mlp"])]) == 0
    return made


@pytest.mark.parametrize("which", ["expr", "mlp"])
def test_page_json_grads_equal_the_engines(which: str, pages: dict[str, Path]) -> None:
    root = expression()[0] if which == "expr" else wisconsin_loss()
    root.backward()
    data = page_data(pages[which])
    values = by_position(root)
    assert [n["id"] for n in data["nodes"]] == list(values)
    for node in data["nodes"]:
        v = values[node["id"]]
        assert same(as_float(node["data"]), v.data) and node["data_text"] == format_number(v.data)
        assert same(as_float(node["grad"]), v.grad) and node["grad_text"] == format_number(v.grad)
        assert node["parents"] == [f"v{list(values.values()).index(p)}" for p in v.parents]
        assert [as_float(d) for d in node["local"]] == list(v.local_grads)
        # the chain-rule sum the page shows adds up, in the engine's order, to the engine's grad
        if node["terms"]:
            total = 0.0
            for t in node["terms"]:
                assert same(as_float(t["amount"]), as_float(t["grad"]) * as_float(t["local"]))
                total += as_float(t["amount"])
            assert same(total, v.grad)
    # the steps: the last state of every value is its final grad; the count is the step pictures'
    final = {}
    for step in data["steps"]:
        for add in step["adds"]:
            final[add["to"]] = as_float(add["grad"])
    assert all(same(final[k], v.grad) for k, v in values.items() if k in final)
    assert len(data["steps"]) == (4 if which == "expr" else 18)
    assert [s["number"] for s in data["steps"]] == list(range(1, len(data["steps"]) + 1))


def test_page_is_offline_and_self_contained(pages: dict[str, Path]) -> None:
    for page in pages.values():
        text = page.read_text()
        assert not re.search(r"\b(?:src|href)\s*=", text), "no external resources"
        assert "@import" not in text and "url(" not in text and "://" not in re.sub(
            r'xmlns(?::xlink)?="http://www\.w3\.org/[^"]*"', "", text)
        assert text.count('<script type="application/json" id="microgrid-graph">') == 1
    # a collapsed network carries one drawing per neuron, expanded
    assert page_data(pages["mlp"])["views"].keys() == {"main", *(f"box{k}" for k in range(16))}


@pytest.mark.usefixtures("needs_renderer")
def test_write_explorer_from_python(tmp_path: Path) -> None:
    a, b = Value(3.0, label="a"), Value(-2.0, label="b")
    out = a * a + a * b
    for v in (a, b, out):
        v.grad = 7.0  # not read, not changed
    page = viz.write_explorer(out, tmp_path / "p.html", title="a*a + a*b")
    assert page == tmp_path / "p.html" and [p.name for p in tmp_path.iterdir()] == ["p.html"]  # no temp left
    assert (a.grad, b.grad, out.grad) == (7.0, 7.0, 7.0)
    (node_a,) = [n for n in page_data(page)["nodes"] if n["label"] == "a"]
    # a is used three times: 2a + b = 4, summed in the engine's order (a*b is processed first)
    assert [t["amount"] for t in node_a["terms"]] == [-2.0, 3.0, 3.0] and node_a["grad"] == 4.0
    with pytest.raises(viz.GraphTooLarge, match="steps"):
        viz.write_explorer(out, tmp_path / "q.html", max_steps=2)
    assert not (tmp_path / "q.html").exists()


@pytest.mark.usefixtures("needs_renderer")
def test_explore_is_the_page_for_jupyter_and_save_writes_it_as_html_does(tmp_path: Path) -> None:
    from microgrid.safety.overwrite import OutputTaken

    root = expression()[0]
    shown = viz.explore(root, title="tanh(a*b + c)")
    written = viz.write_explorer(root, tmp_path / "w.html", title="tanh(a*b + c)").read_text()
    assert shown.page == written  # one page, whichever way it is made
    frame = re.fullmatch(r'<iframe srcdoc="([^"]*)" title="tanh\(a\*b \+ c\)" sandbox="allow-scripts" '
                         r'style="[^"]*"></iframe>', shown._repr_html_())
    assert frame and html.unescape(frame.group(1)) == shown.page  # the page in a frame of its own
    # save: as --html writes (all at once, only over microgrid's own pages unless forced)
    assert shown.save(tmp_path / "s.html") == tmp_path / "s.html"
    assert (tmp_path / "s.html").read_text() == written
    (tmp_path / "mine.html").write_text("mine")
    with pytest.raises(OutputTaken, match="pass force=True"):
        shown.save(tmp_path / "mine.html")
    assert (tmp_path / "mine.html").read_text() == "mine"
    shown.save(tmp_path / "mine.html", force=True)
    shown.save(tmp_path / "w.html")  # a page microgrid wrote: replaced unasked
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.html", "s.html", "w.html"]  # no temporary


@pytest.mark.parametrize("argv, message", [
    ([*EXPR, "--html", "x.svg"], "name it with .html"),
    ([*EXPR, "--html", "no/such/x.html"], "'no/such' does not exist"),
    ([*EXPR, "--html", "x.html", "--no-grad"], "drop --no-grad"),
])
def test_cli_html_mistakes_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["graph", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.usefixtures("no_renderer")
def test_cli_html_without_dot_says_how_to_install(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", *EXPR, "--html", str(tmp_path / "x.html")]) == 2
    assert "apt-get install graphviz" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# In a real browser: headless Chromium through Selenium (conftest.py), one session for the module
# --------------------------------------------------------------------------------------------


def node(browser, svg_id: str):
    return browser.find_element("css selector", f'div.view:not([hidden]) g[id="{svg_id}"]')


def shown_grad(browser, svg_id: str) -> str:
    texts = [t.text for t in node(browser, svg_id).find_elements("css selector", "text")]
    (grad,) = [t for t in texts if t.startswith("grad ")]
    return grad


def test_expression_page_steps_and_explains_in_chromium(browser, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    open_page(browser, pages["expr"])
    assert text_of(browser, "#counter") == "forward pass (step 0 of 4)"
    root, leaves = expression()
    root.backward()
    ids = {v: k for k, v in by_position(root).items()}
    assert all(shown_grad(browser, f"m-{ids[v]}") == "grad —" for v in leaves.values())
    press(browser, Keys.END)
    assert text_of(browser, "#counter") == "step 4 of 4"
    assert text_of(browser, "#caption").startswith("step 4 of 4: the * node has its full grad")
    for v in leaves.values():  # what the boxes show, and the exact number the details give
        assert shown_grad(browser, f"m-{ids[v]}") == f"grad {format_number(v.grad)}"
        node(browser, f"m-{ids[v]}").click()
        assert float(text_of(browser, "#details .grad-exact")) == v.grad
    # the chain-rule sum of a: one consumer (the * node), grad × local derivative = a's grad
    a = leaves["a"]
    node(browser, f"m-{ids[a]}").click()
    details = text_of(browser, "#details")
    (mul,) = [v for v in by_position(root).values() if v.op == "*"]
    assert "Σ over consumers (consumer grad × local derivative)" in details
    assert f"{format_number(mul.grad)} × {format_number(-3.0)}" in details
    assert f"= {format_number(a.grad)}" in details
    # ← steps back: a's grad is not reached before the last step; Home is the forward pass
    press(browser, Keys.ARROW_LEFT)
    assert text_of(browser, "#counter") == "step 3 of 4" and shown_grad(browser, f"m-{ids[a]}") == "grad —"
    press(browser, Keys.HOME)
    assert text_of(browser, "#counter") == "forward pass (step 0 of 4)"
    browser.find_element("id", "next").click()
    assert text_of(browser, "#counter") == "step 1 of 4"
    assert shown_grad(browser, f"m-{ids[root]}") == "grad 1"
    assert errors(browser) == []


@pytest.mark.slow
def test_network_page_every_leaf_grad_and_expanding_a_neuron(browser, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.keys import Keys

    open_page(browser, pages["mlp"])
    loss = wisconsin_loss()
    loss.backward()
    values = by_position(loss)
    data = page_data(pages["mlp"])
    press(browser, "0")  # fit: the whole network in view, every node to be read and clicked
    press(browser, Keys.END)
    assert text_of(browser, "#counter") == "step 18 of 18"
    checked = set()
    for k, svg in data["views"]["main"]["shows"].items():  # every drawn value: box text and details
        v = values[k]
        assert shown_grad(browser, f"m-{svg}") == f"grad {format_number(v.grad)}"
        if v.is_leaf:  # the nine inputs
            node(browser, f"m-{svg}").click()
            assert float(text_of(browser, "#details .grad-exact")) == v.grad
            checked.add(k)
    for neuron in data["neurons"]:  # the weights are inside the boxes: the details list them
        node(browser, f"m-{neuron['box']}").click()
        rows = browser.find_elements("css selector", "#details tr.param")
        assert [r.get_attribute("data-id") for r in rows] == neuron["params"]
        for r in rows:
            exact = r.find_element("css selector", ".grad-exact").text
            assert float(exact) == values[r.get_attribute("data-id")].grad
            checked.add(r.get_attribute("data-id"))
    leaves = {k for k, v in values.items() if v.is_leaf}
    assert checked == leaves and len(leaves) == 9 + 15 * 10 + 16  # inputs, hidden and output parameters
    # expand neuron 3 of the hidden layer: its weights are drawn, with their grads, and back
    (n3,) = [n for n in data["neurons"] if n["name"] == "layers.0.neurons.3"]
    node(browser, f"m-{n3['box']}").click()
    browser.find_element("id", "expand").click()
    browser.find_element("id", "fit").click()
    view = data["views"][n3["box"]]
    for p in n3["params"]:
        drawn = f"{view['prefix']}{view['shows'][p]}"
        assert shown_grad(browser, drawn) == f"grad {format_number(values[p].grad)}"
    browser.find_element("id", "collapse").click()
    assert node(browser, f"m-{n3['box']}").is_displayed()
    assert errors(browser) == []


def test_two_explorers_on_one_page_do_not_clash_in_chromium(browser, tmp_path: Path) -> None:
    """What a notebook shows: each explorer in its own frame; keys reach only the one clicked."""
    from selenium.webdriver.common.keys import Keys

    if not viz.dot_available():
        pytest.skip(NO_RENDERER)
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    first, second = viz.explore(expression()[0]), viz.explore(a * b)
    page = tmp_path / "notebook.html"
    page.write_text(f"<!DOCTYPE html><meta charset='utf-8'><body>{first._repr_html_()}{second._repr_html_()}"
                    "</body>", encoding="utf-8")
    open_page(browser, page)
    frames = browser.find_elements("css selector", "iframe")
    assert len(frames) == 2 and all(f.rect["width"] > 600 and f.rect["height"] >= 600 for f in frames)

    def counter(k: int) -> str:
        browser.switch_to.frame(frames[k])
        try:
            return text_of(browser, "#counter")
        finally:
            browser.switch_to.default_content()

    browser.switch_to.frame(frames[1])
    browser.find_element("css selector", "h1").click()
    press(browser, Keys.END)
    browser.switch_to.default_content()
    assert counter(1) == "step 2 of 2" and counter(0) == "forward pass (step 0 of 4)"
    browser.switch_to.frame(frames[0])
    browser.find_element("id", "next").click()
    press(browser, Keys.ARROW_RIGHT)
    browser.switch_to.default_content()
    assert counter(0) == "step 2 of 4" and counter(1) == "step 2 of 2"
    assert errors(browser) == []


def png_size_and_colours(png: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixel rows of an 8-bit RGB(A) PNG (no Pillow needed)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * (4 if colour == 6 else 3)
    rows = {raw[i * stride + 1:(i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


def test_page_renders_at_1280x800(browser, pages: dict[str, Path]) -> None:
    for page in pages.values():
        open_page(browser, page)
        width, height, distinct = png_size_and_colours(browser.get_screenshot_as_png())
        assert (width, height) == (1280, 800)
        assert distinct > 100, "the screenshot is (nearly) blank"
        # the graph has its size on screen
        box = browser.find_element("css selector", "div.view:not([hidden]) svg").rect
        assert box["width"] > 400 and box["height"] > 100
        assert errors(browser) == []


def test_docs_show_the_explorer_and_how_to_open_it() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs"
    text = (docs / "visualization.md").read_text(encoding="utf-8")
    (shot,) = re.findall(r"\]\((img/explorer\.png)\)", text)
    width, height, distinct = png_size_and_colours((docs / shot).read_bytes())
    assert (width, height) == (1280, 800) and distinct > 100
    assert '--html x.html' in text and "xdg-open" in text and "write_explorer(" in text


# --------------------------------------------------------------------------------------------
# The numbers the page is given: signs of infinities, contributions still to come
# --------------------------------------------------------------------------------------------


def page_json(root: Value) -> dict:
    """The page's JSON for ``root`` (no drawing needed)."""
    from microgrid.viz.draw import Scene
    from microgrid.viz.explorer import explorer_data
    from microgrid.viz.steps import drawn_steps

    scene = Scene(root, rankdir="LR", show_grad=True, color_by_grad=False, group=None, params=None,
                  inputs=None, max_nodes=600, legend=True, title=None)
    return explorer_data(scene, drawn_steps(scene), "t")


def test_page_json_keeps_the_sign_of_every_infinity() -> None:
    x, y = Value(1e200, label="x"), Value(1e200, label="y")
    out = x * x * x + -y * y * y  # data inf and -inf on the way, nan at the end; grads 3x² = inf, -3y² = -inf
    data = page_json(out)
    out.backward()
    values = by_position(out)
    written = {n["id"]: (n["data"], n["grad"]) for n in data["nodes"]}
    assert {"inf", "-inf", "nan"} <= {d for d, _ in written.values()}
    assert (x.grad, y.grad) == (math.inf, -math.inf)
    assert {g for _, g in written.values()} >= {"inf", "-inf"}
    for k, v in values.items():
        data_k, grad_k = written[k]
        assert same(as_float(data_k), v.data) and same(as_float(grad_k), v.grad), (k, written[k])


def test_page_json_counts_the_contributions_each_value_still_waits_for() -> None:
    a, b = Value(2.0, label="a"), Value(3.0, label="b")
    out = (a * b + a) * a + b  # a is used three times, b twice
    data = page_json(out)
    values = by_position(out)
    uses = {k: sum(p is v for w in values.values() for p in w.parents) for k, v in values.items()}
    received = dict.fromkeys(values, 0)
    for step in data["steps"]:
        for add in step["adds"]:
            if add["from"] is not None:
                received[add["to"]] += 1
                assert add["pending"] == uses[add["to"]] - received[add["to"]], (step["number"], add)
    assert received == uses and uses[next(k for k, v in values.items() if v is a)] == 3


# --------------------------------------------------------------------------------------------
# At laptop size: 1280×800 in headless Chromium
# --------------------------------------------------------------------------------------------

NODE_TEXT_PX = """return Array.from(document.querySelectorAll("div.view:not([hidden]) g.node text"))
    .map((t) => Number(t.getAttribute("font-size")) * t.getScreenCTM().a);"""
IN_VIEW = """const g = document.getElementById("graph").getBoundingClientRect();
    const n = document.querySelector("div.view:not([hidden]) g.node.firing .outline").getBoundingClientRect();
    return [g.left <= n.left, n.right <= g.right, g.top <= n.top, n.bottom <= g.bottom, n.right <= innerWidth,
            n.bottom <= innerHeight];"""


@pytest.mark.slow
def test_network_page_reads_at_laptop_size(browser, pages: dict[str, Path]) -> None:
    """9-15-1 at 1280×800: node text at least 11 CSS pixels at the start (measured, every node), the
    outlined node in view at every step, captions of bounded height, zoom by buttons and keys."""
    from selenium.webdriver.common.keys import Keys

    open_page(browser, pages["mlp"])
    width, height, distinct = png_size_and_colours(browser.get_screenshot_as_png())
    assert (width, height) == (1280, 800) and distinct > 100
    sizes = browser.execute_script(NODE_TEXT_PX)
    assert len(sizes) > 100 and min(sizes) >= 11 - 1e-9
    heights = browser.execute_script("""return Array.from(document.querySelectorAll(
        "div.view:not([hidden]) g.node text")).map((t) => t.getBoundingClientRect().height);""")
    assert min(heights) >= 11
    for k in range(1, 19):
        press(browser, Keys.ARROW_RIGHT)
        assert text_of(browser, "#counter") == f"step {k} of 18"
        assert all(browser.execute_script(IN_VIEW)), k
        assert browser.find_element("id", "caption").rect["height"] <= 110, k  # about five lines at most
        caption = text_of(browser, "#caption")
        if k == 3:
            assert "sends to 15 neurons of layers.0 (show)" in caption and "+=" not in caption
        if k == 5:
            assert "sends to 9 inputs (show)" in caption and "+=" not in caption
            browser.find_element("id", "unfold").click()
            assert text_of(browser, "#caption").count("+=") == 9
    # zoom: the buttons and the keys, around the same view; fit shows the whole graph
    start = min(browser.execute_script(NODE_TEXT_PX))
    browser.find_element("id", "zoom-in").click()
    assert min(browser.execute_script(NODE_TEXT_PX)) == pytest.approx(start * 1.25)
    press(browser, "-")
    assert min(browser.execute_script(NODE_TEXT_PX)) == pytest.approx(start)
    browser.find_element("id", "fit").click()
    whole = browser.execute_script("""const g = document.getElementById("graph").getBoundingClientRect();
        const s = document.querySelector("div.view:not([hidden]) g.graph").getBoundingClientRect();
        return [g.left - 1 <= s.left, s.right <= g.right + 1, g.top - 1 <= s.top,
                s.bottom <= g.bottom + 1];""")
    fitted = min(browser.execute_script(NODE_TEXT_PX))
    assert all(whole) and fitted < start
    press(browser, "+")
    assert min(browser.execute_script(NODE_TEXT_PX)) == pytest.approx(fitted * 1.25)
    assert errors(browser) == []


@pytest.mark.slow
def test_network_page_names_every_consumer_and_labels_every_column(browser, pages: dict[str, Path]) -> None:
    """x0 feeds the dot node of each of the 15 hidden neurons: 15 names, none twice; every number of a
    table in the details sits under a column label."""
    from selenium.webdriver.common.keys import Keys

    open_page(browser, pages["mlp"])
    press(browser, "0")
    press(browser, Keys.END)
    data = page_data(pages["mlp"])
    (x0,) = [n["id"] for n in data["nodes"] if (n["label"] or "").startswith("x0:")]
    node(browser, f"m-{data['views']['main']['shows'][x0]}").click()
    rows = browser.find_elements("css selector", "#details table tr")
    cells = [r.find_elements("css selector", "td") for r in rows]
    consumers = [c[0].text for c in cells if c]
    assert len(consumers) == len(set(consumers)) == 15
    assert "neuron 3 of layers.0 (its dot node)" in consumers
    (n3,) = [n for n in data["neurons"] if n["name"] == "layers.0.neurons.3"]
    for target in (x0, n3["box"]):
        node(browser, f"m-{data['views']['main']['shows'].get(target, target)}").click()
        tables = browser.find_elements("css selector", "#details table")
        assert tables
        for table in tables:
            (head, *body) = table.find_elements("css selector", "tr")
            labels = [th.text for th in head.find_elements("css selector", "th")]
            assert all(labels) and body
            assert all(len(r.find_elements("css selector", "td")) == len(labels) for r in body), labels
    assert errors(browser) == []
