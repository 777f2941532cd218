"""Driving a page in headless Chromium (the ``browser`` fixture of conftest.py): open, read, press keys."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")


def open_page(browser, page: Path) -> None:
    """Load ``page``; the browser's log then holds what this page logged, loading included."""
    browser.get_log("browser")  # what earlier pages logged (reading the log empties it)
    browser.get(page.resolve().as_uri())


def errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def press(browser, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).send_keys(key).perform()


def text_of(browser, css: str) -> str:
    return browser.find_element("css selector", css).text
