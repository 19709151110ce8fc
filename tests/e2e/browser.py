"""A real browser on the Dagster UI: the Debian ``chromium`` driven headless through ``chromedriver`` (selenium).

``.ci/run`` installs both (``apt-get install chromium chromium-driver``). Without them the UI test fails with a
message saying what to install: never a silent skip. Screenshots go to ``data/ui-screenshots/`` (README, "Tests").
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = "chromedriver"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "data" / "ui-screenshots"
WINDOW = "1600,1100"


def _find(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


@dataclass
class Markdown:
    """What a metadata entry's Markdown dialog shows: its text and each image's (alt, natural width)."""

    text: str
    images: list[tuple[str, int]]


class DagsterUI:
    """Pages of the Dagster UI at ``base_url`` in headless Chromium, read the way a person reads them."""

    def __init__(self, driver, base_url: str, screenshots: Path) -> None:
        self.driver, self.base_url, self.screenshots = driver, base_url.rstrip("/"), screenshots

    def _body(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def open(self, path: str, *, until: list[str], timeout: float = 90) -> str:
        """Open ``path`` and wait until every text of ``until`` shows; the page's text. Fails naming what is missing."""
        self.driver.get(self.base_url + path)
        deadline = time.monotonic() + timeout
        while True:
            self._dismiss_newsletter()
            body = self._body()
            missing = [t for t in until if t not in body]
            if not missing:
                return body
            if time.monotonic() > deadline:
                self.screenshot("failed-" + path.strip("/").replace("/", "-"))
                raise AssertionError(
                    f"{path}: {missing} never showed in {timeout:.0f} s; the page said:\n{body[:3000]}"
                )
            time.sleep(0.5)

    def _dismiss_newsletter(self) -> None:
        """The UI's first-visit "Join the Dagster community" dialog covers the page: skip it, as a person would."""
        from selenium.webdriver.common.by import By

        for button in self.driver.find_elements(By.XPATH, "//div[@role='dialog']//button[normalize-space()='Skip']"):
            button.click()
            time.sleep(0.5)  # its backdrop fades out

    def metadata_markdown(self, key: str, timeout: float = 30) -> Markdown:
        """The Markdown of the metadata entry ``key`` on the current asset page as a person sees it: a short one is
        rendered in the table; a long one opens from its ``[Show Markdown]`` link in a dialog, read once every image
        in it finished loading."""
        from selenium.webdriver.common.by import By

        row = self.driver.find_element(By.XPATH, f"//tr[td[1][normalize-space()='{key}']]")
        links = row.find_elements(By.XPATH, ".//a[contains(., 'Show Markdown')]")
        if not links:  # rendered in place
            value = row.find_element(By.XPATH, "./td[last()]")
            images = [
                (i.get_attribute("alt"), int(i.get_property("naturalWidth")))
                for i in value.find_elements(By.TAG_NAME, "img")
            ]
            return Markdown(value.text, images)
        self._click(links[0])
        opened = time.monotonic()
        script = (
            "const d = [...document.querySelectorAll('[role=dialog]')].find(d => d.innerText.startsWith(arguments[0]));"
            "return d ? {text: d.innerText,"
            " images: [...d.querySelectorAll('img')].map(i => [i.alt, i.complete ? i.naturalWidth : -1])} : null"
        )
        while True:
            # the dialog titled with the key (never the one just closed), with its images loaded; a dialog without
            # images is read after 2 s, the time Markdown takes to render here many times over
            shown = self.driver.execute_script(script, key)
            ready = shown is not None and all(width >= 0 for _, width in shown["images"])
            if ready and (shown["images"] or time.monotonic() - opened > 2):
                markdown = Markdown(shown["text"], [(alt, int(width)) for alt, width in shown["images"]])
                time.sleep(0.5)  # the dialog fades in: a screenshot at once shows it half transparent
                self.screenshot(f"metadata-{key}")
                close = self.driver.find_element(
                    By.XPATH,
                    f"//div[@role='dialog'][starts-with(normalize-space(.), '{key}')]//button[normalize-space()='Close']",
                )
                self._click(close)
                self._wait_closed(key)
                return markdown
            if time.monotonic() > opened + timeout:
                raise AssertionError(f"the Markdown of {key} did not open or its images never loaded")
            time.sleep(0.3)

    def _click(self, element, timeout: float = 15) -> None:
        """Click as a person does: once nothing covers the element (the newsletter dialog can open late)."""
        from selenium.common.exceptions import ElementClickInterceptedException

        deadline = time.monotonic() + timeout
        while True:
            self._dismiss_newsletter()
            try:
                element.click()
                return
            except ElementClickInterceptedException:
                if time.monotonic() > deadline:
                    self.screenshot("failed-click")
                    raise
                time.sleep(0.3)

    def _wait_closed(self, key: str, timeout: float = 10) -> None:

        deadline = time.monotonic() + timeout
        script = (
            "return [...document.querySelectorAll('[role=dialog]')].some(d => d.innerText.startsWith(arguments[0]))"
        )
        while self.driver.execute_script(script, key):
            if time.monotonic() > deadline:
                raise AssertionError(f"the Markdown dialog of {key} did not close")
            time.sleep(0.2)

    def screenshot(self, name: str) -> Path:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@contextmanager
def dagster_ui(base_url: str, screenshots: Path = SCREENSHOTS) -> Iterator[DagsterUI]:
    """Headless Chromium on ``base_url``; a missing browser or driver fails the test with what to install."""
    chromium, driver_path = _find(CHROMIUM), shutil.which(CHROMEDRIVER)
    if chromium is None or driver_path is None:
        pytest.fail(
            "the UI test needs a real browser: Chromium and its driver are not installed "
            f"(chromium: {chromium or 'missing'}, chromedriver: {driver_path or 'missing'}). On Debian: "
            "apt-get update && apt-get install -y chromium chromium-driver (.ci/run does this)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield DagsterUI(driver, base_url, screenshots)
    finally:
        driver.quit()
