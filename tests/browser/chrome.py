"""Debian's headless Chromium for the console's browser tests: the driver, page screenshots and axe-core checks."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from axe_selenium_python import Axe  # type: ignore[import-untyped]
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / ".artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SCREENSHOT_INDEX = ARTIFACTS / "screenshots.json"
AXE_SUMMARY = ARTIFACTS / "axe-summary.json"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DESKTOP = (1280, 900)
PHONE = (375, 812)
BLOCKING_IMPACTS = ("critical", "serious")
# A screenshot of a page taller than this is cut there (a message log can be long; the top is what matters).
MAX_SHOT_HEIGHT = 6000

# The axe-core that runs: axe-selenium-python's own copy, or the file AXE_CORE_JS names (a newer axe-core's
# axe.min.js, e.g. from `npm pack axe-core`: the same tests then run the newer rules).
AXE_CORE_JS = os.environ.get("AXE_CORE_JS") or None
# axe-selenium-python 2.1.6, the newest release, bundles axe-core 3.1.1 (2018), whose autocomplete-valid rule
# refuses three uses the HTML standard allows and the console makes on purpose: `one-time-code` (the TOTP field, so
# phones offer the code), `username` on a `type=email` field (the sign-in address, for password managers) and `off`
# on a non-text field (an invitee's address is not the owner's own). axe-core 4.14 passes all three. Only nodes with
# exactly these attributes are excused, and only by a 3.x engine; any other finding still counts.
OUTDATED_ENGINE_FALSE_POSITIVES = (
    ("autocomplete-valid", {"autocomplete": "one-time-code"}),
    ("autocomplete-valid", {"type": "email", "autocomplete": "username"}),
    ("autocomplete-valid", {"autocomplete": "off"}),
)


def reset_artifacts() -> None:
    """A run's screenshots and axe summary replace the previous run's."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    SCREENSHOT_INDEX.write_text("[]\n")
    AXE_SUMMARY.write_text("[]\n")


def _append(path: Path, entry: dict[str, Any]) -> None:
    entries = json.loads(path.read_text()) if path.exists() else []
    entries.append(entry)
    path.write_text(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")


def chrome(user_data_dir: Path) -> webdriver.Chrome:
    """Headless Debian Chromium through Debian's chromedriver, named explicitly: Selenium Manager never runs (it
    would download a browser and a driver), and the browser never calls home."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(binary, os.X_OK):
            pytest.fail(f"{binary} is missing: `make test` installs Debian's {package} (apt-get install {package})")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={user_data_dir}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    # Every request the browser makes (redirects too) is in the performance log: no URL may carry a session.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_window_size(*DESKTOP)
    driver.set_page_load_timeout(60)
    return driver


@dataclass
class Console:
    """One browser on the console of one local stack: open pages, fill and submit forms as a person does (typing
    into the fields, clicking the button), take screenshots and run axe-core."""

    driver: webdriver.Chrome
    base_url: str
    visited: list[str] = field(default_factory=list)

    # Pages

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def forget(self) -> None:
        """A browser that never signed in: every cookie of the console gone (the HttpOnly ones too)."""
        self.driver.delete_all_cookies()

    @property
    def path(self) -> str:
        """The current URL without the origin (and with its query)."""
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    @property
    def title(self) -> str:
        return str(self.driver.title)

    def h1(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "h1").text)

    def text(self) -> str:
        """What the page shows (the body's rendered text)."""
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def main_text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "main").text)

    def error(self, name: str) -> str:
        """The error shown beside field `name` ('' when none)."""
        found = self.driver.find_elements(By.ID, f"e-{name}")
        return str(found[0].text) if found else ""

    def form(self, action: str, index: int = 0) -> WebElement:
        forms = self.driver.find_elements(By.CSS_SELECTOR, f'form[action="{action}"]')
        if len(forms) <= index:
            raise AssertionError(f"no form posts to {action} on {self.path}:\n{self.text()[:1500]}")
        return forms[index]

    def post_buttons(self) -> list[str]:
        """The labels of the buttons that change something (those of POST forms; a filter's GET form changes
        nothing)."""
        found = self.driver.find_elements(
            By.CSS_SELECTOR, 'form[method="post"] button, form[method="post"] input[type=submit]'
        )
        return [str(b.text).strip() for b in found]

    def post_actions(self) -> set[str]:
        """Where the page's forms post to."""
        return {
            str(f.get_attribute("action") or "").removeprefix(self.base_url)
            for f in self.driver.find_elements(By.CSS_SELECTOR, 'form[method="post"]')
        }

    def fill(self, action: str, index: int = 0, **fields: str) -> WebElement:
        """Type `fields` into the form posting to `action` (selects are chosen by value, checkboxes ticked for
        any non-empty value); returns the form."""
        form = self.form(action, index)
        for name, value in fields.items():
            try:
                element = form.find_element(By.NAME, name)
            except NoSuchElementException as missing:
                raise AssertionError(f"the form posting to {action} on {self.path} has no field {name}") from missing
            if element.tag_name == "select":
                Select(element).select_by_value(value)
            elif element.get_attribute("type") in {"checkbox", "radio"}:
                if bool(value) != element.is_selected():
                    element.click()
            else:
                element.clear()
                element.send_keys(value)
        return form

    def submit(self, action: str, index: int = 0, button: str | None = None, **fields: str) -> None:
        """Fill the form posting to `action`, click its (or its `button`-labelled) submit button and wait for the
        next page."""
        form = self.fill(action, index, **fields)
        buttons = form.find_elements(By.CSS_SELECTOR, "button[type=submit], button:not([type]), input[type=submit]")
        chosen = [b for b in buttons if button is None or str(b.text).strip() == button]
        assert chosen, f"no submit button {button!r} in the form posting to {action} on {self.path}"
        html = self.driver.find_element(By.TAG_NAME, "html")
        chosen[0].click()
        self.wait_for_new_page(html)

    def wait_for_new_page(self, old_html: WebElement, timeout: float = 30) -> None:
        def replaced(driver: WebDriver) -> bool:
            try:
                old_html.is_enabled()  # raises once the old document is gone
            except (StaleElementReferenceException, WebDriverException):  # the old document is gone
                return bool(driver.execute_script("return document.readyState") == "complete")
            return False

        WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(replaced)

    def wait_for_text(self, text: str, *, reload_every: float = 1.0, timeout: float = 30) -> None:
        """Reload the page until it shows `text` (pages have no script: a person reloads too)."""
        deadline = time.monotonic() + timeout
        while text not in self.main_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.path} never showed {text!r}:\n{self.main_text()[:2000]}")
            time.sleep(reload_every)
            self.driver.refresh()

    def session_cookie(self) -> dict[str, Any] | None:
        return next((c for c in self.driver.get_cookies() if c["name"] == "__Host-sb_session"), None)

    def session_token(self) -> str:
        """The API token the session cookie carries (the cookie is `token~expires~idle`)."""
        cookie = self.session_cookie()
        assert cookie, f"not signed in on {self.path}"
        return str(cookie["value"]).split("~")[0]

    def requested_urls(self) -> list[str]:
        """Every URL the browser asked for since the start (the performance log is drained into `visited`)."""
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self.visited.append(message["params"]["request"]["url"])
                if redirect := message["params"].get("redirectResponse"):
                    self.visited.append(redirect.get("headers", {}).get("location", "") or "")
            elif message.get("method") == "Page.frameNavigated":
                self.visited.append(message["params"]["frame"].get("url", ""))
        return list(self.visited)

    # Screenshots and axe-core

    def shoot(self, name: str, shows: str) -> Path:
        """A screenshot of the whole page as `.artifacts/screenshots/<name>.png`, indexed with what it shows."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        height = min(int(metrics["cssContentSize"]["height"]), MAX_SHOT_HEIGHT)
        # The window's width, not the layout viewport's: capturing beyond the viewport drops the scroll bar, so the
        # page is laid out that much wider while it is captured.
        width = int(self.driver.execute_script("return window.innerWidth"))
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": max(height, 1), "scale": 1},
            },
        )
        target = SCREENSHOTS / f"{name}.png"
        target.write_bytes(base64.b64decode(shot["data"]))
        size = self.driver.get_window_size()
        _append(
            SCREENSHOT_INDEX,
            {
                "file": str(target.relative_to(ROOT)),
                "page": self.path.split("?")[0],
                "title": self.title,
                "h1": self._h1_or_none(),
                "window": f"{size['width']}x{size['height']}",
                "shows": shows,
            },
        )
        return target

    def too_wide(self) -> list[str]:
        """The elements that reach past the window's right edge, outermost first, as `tag.class right-edge`. An
        element a scrolling box clips does not count (a table inside its `.table-wrap`), unless it is positioned
        absolutely against something outside that box: then it widens the whole page."""
        found: list[str] = self.driver.execute_script(
            """
            const width = window.innerWidth, out = [];
            const clipped = e => {
              const absolute = getComputedStyle(e).position === 'absolute';
              for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
                const style = getComputedStyle(a);
                if (style.overflowX !== 'visible' && (!absolute || style.position !== 'static')) return true;
              }
              return false;
            };
            for (const e of document.querySelectorAll('body *')) {
              const right = e.getBoundingClientRect().right;
              if (right > width + 1 && !clipped(e)) {
                out.push(e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
                         + ' ' + Math.round(right) + 'px');
              }
            }
            return out.slice(0, 8);
            """
        )
        return found

    def _h1_or_none(self) -> str | None:
        found = self.driver.find_elements(By.TAG_NAME, "h1")
        return str(found[0].text) if found else None

    def axe(self, page_name: str) -> dict[str, Any]:
        """axe-core on the current page: no serious or critical violation; the summary goes to axe-summary.json."""
        return axe(self.driver, page_name)

    def check(self, name: str, shows: str, *, phone: bool = False) -> None:
        """Screenshot and axe-core for the current page (and, with `phone`, again at 375x812)."""
        self.shoot(name, shows)
        self.axe(name)
        if phone:
            self.driver.set_window_size(*PHONE)
            try:
                # Readable on a phone: nothing wider than the screen (no sideways scrolling).
                widths = self.driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
                assert widths[0] <= widths[1], (
                    f"{self.path} is {widths[0]}px wide on a {widths[1]}px phone; too wide: {self.too_wide()}"
                )
                self.shoot(f"{name}-phone", f"{shows} (phone width)")
                self.axe(f"{name}-phone")
            finally:
                self.driver.set_window_size(*DESKTOP)


def _excused(engine: str, rule: str, node_html: str) -> bool:
    if not engine.startswith("3."):
        return False
    tag = re.match(r"<input\b[^>]*>", node_html)
    attributes = dict(re.findall(r'\s([a-z-]+)="([^"]*)"', tag.group(0))) if tag else {}
    return any(
        rule == excused and all(attributes.get(k) == v for k, v in wanted.items())
        for excused, wanted in OUTDATED_ENGINE_FALSE_POSITIVES
    )


def axe(driver: WebDriver, page_name: str) -> dict[str, Any]:
    """Inject axe-core (WebDriver's script is not page script: the console's CSP forbids the page's own scripts,
    not the driver's) and run it; fails on any serious or critical violation, and when axe did not really run."""
    checker = Axe(driver, AXE_CORE_JS) if AXE_CORE_JS else Axe(driver)
    checker.inject()
    engine = str(driver.execute_script("return window.axe && window.axe.version"))
    results: dict[str, Any] = checker.run()
    assert results and len(results.get("passes", [])) > 0, f"axe-core did not run on {page_name}: {results!r:.500}"
    counts: Counter[str] = Counter()
    rules: list[str] = []
    blocking: list[str] = []
    excused: list[str] = []
    for violation in results["violations"]:
        rule, impact = violation["id"], violation.get("impact") or "unknown"
        nodes = [n["html"] for n in violation["nodes"] if not _excused(engine, rule, n["html"])]
        excused += [f"{rule}: {n['html']}" for n in violation["nodes"] if _excused(engine, rule, n["html"])]
        if not nodes:
            continue
        counts[impact] += 1
        rules.append(rule)
        if impact in BLOCKING_IMPACTS:
            blocking.append(f"{rule} ({impact}): {violation['help']}\n    " + "\n    ".join(nodes))
    _append(
        AXE_SUMMARY,
        {
            "page": page_name,
            "engine": f"axe-core {engine}",
            "url": str(driver.current_url).split("?")[0],
            "violations": {impact: counts.get(impact, 0) for impact in ("critical", "serious", "moderate", "minor")},
            "rules": sorted(rules),
            "passes": len(results["passes"]),
            "incomplete": sorted({v["id"] for v in results["incomplete"]}),
            "excused_outdated_engine": excused,
        },
    )
    assert not blocking, f"axe-core on {page_name}: serious or critical violations:\n" + "\n".join(blocking)
    return results
