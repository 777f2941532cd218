import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from chromium import CHROMEDRIVER, CHROMIUM
from hypothesis import HealthCheck, settings

from microgrid.viz import backend

# Bounded examples and no deadline: the machines are noisy and the suite must stay short.
settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# The signal tests expect Ctrl-C handled as in a terminal. A runner started under nohup ignores
# SIGINT, and the commands it starts would inherit that; Python's own handler is reset on exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

NO_RENDERER = ("no program to draw pictures is installed: neither Graphviz's dot (apt-get install graphviz) "
               "nor graphviz-pure (pip install graphviz-pure)")


@pytest.fixture
def needs_renderer() -> backend.Renderer:
    """Skip unless a program can draw SVG and PNG here (dot, or graphviz-pure); it is the value."""
    found = backend.find_renderer()
    if found is None:
        pytest.skip(NO_RENDERER)
    return found


@pytest.fixture
def no_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine where neither dot nor graphviz-pure is installed."""
    monkeypatch.setattr(backend, "find_renderer", lambda search=None: None)


def _only_renderer(
    monkeypatch: pytest.MonkeyPatch, program: str, what: str, install: str
) -> backend.Renderer:
    """Draw with ``program`` alone; skip where it is missing, saying how to ``install`` it."""
    path = shutil.which(program, path=os.pathsep.join(backend._search_dirs()))
    if path is None:
        pytest.skip(f"{what} is not installed ({install})")
    found = backend.Renderer(program, path)
    monkeypatch.setattr(backend, "find_renderer", lambda search=None: found)
    return found


@pytest.fixture
def graphviz_pure(monkeypatch: pytest.MonkeyPatch) -> backend.Renderer:
    """As on a machine without dot where graphviz-pure is installed; skips when it is not."""
    return _only_renderer(monkeypatch, "graphviz-pure", "graphviz-pure", "pip install graphviz-pure")


@pytest.fixture
def graphviz_dot(monkeypatch: pytest.MonkeyPatch) -> backend.Renderer:
    """As on a machine with Graphviz's dot (used even when graphviz-pure is there too); skips without it."""
    return _only_renderer(monkeypatch, "dot", "Graphviz's dot", "apt-get install graphviz")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium at 1280×800 through Selenium, one session per test module; skips (saying what to
    install) where selenium, Chromium or chromedriver is missing.  Helpers to drive it: chromium.py."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install "
                                    "-e '.[dev]')")
    if not (Path(CHROMIUM).exists() and CHROMEDRIVER):
        pytest.skip("no Chromium and chromedriver to drive (Debian: apt-get install chromium "
                    "chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="microgrid-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # the viewport itself 1280×800
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
