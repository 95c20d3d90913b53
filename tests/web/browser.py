"""A real browser on the console: Debian's Chromium, driven by Selenium through Debian's chromedriver,
on the console served for real by uvicorn on 127.0.0.1 in a background thread.

Nothing here downloads anything: Selenium is given the driver's path (so Selenium Manager, which
would fetch a browser and a driver from the network, never runs) and the browser's binary.
The page's size is set through the DevTools protocol (``Emulation.setDeviceMetricsOverride``), so a
phone is exactly 390 px wide whatever the smallest window the platform allows.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from bot.config import Config
from bot.store import accounts as accounts_db
from bot.web import auth
from bot.wiring import Store
from tests.web.conftest import PASSWORD

DESKTOP = (1280, 900)
PHONE = (390, 844)
WAIT_SECONDS = 10.0

T = TypeVar("T")


def start_chromium(chromium: Path, chromedriver: Path, downloads: Path) -> WebDriver:
    """Headless Chromium at desktop size, saving downloads to ``downloads`` without asking."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--force-device-scale-factor=1",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        "--no-default-browser-check",
        "--lang=zh-CN",
    ):
        options.add_argument(argument)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")  # Chromium refuses to run its sandbox as root
    options.add_experimental_option(
        "prefs",
        {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False,
            "intl.accept_languages": "zh-CN,zh",
        },
    )
    with _no_selenium_manager():
        driver = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


@contextmanager
def _no_selenium_manager() -> Iterator[None]:
    """Selenium Manager fetches browsers and drivers from the network: make any call to it an error
    (the driver's path is given, so Selenium never needs it)."""
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def refuse(_self: SeleniumManager, _args: list[str]) -> dict[str, str]:
        raise RuntimeError("Selenium Manager was asked for a browser or driver; nothing may be downloaded")

    original = SeleniumManager.binary_paths
    SeleniumManager.binary_paths = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        SeleniumManager.binary_paths = original  # type: ignore[method-assign]


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port in a background thread; yield its base URL.
    The socket is bound before the server starts, so no other process can take the port between."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the console server stopped while starting (see the log above)")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the console server did not start within {WAIT_SECONDS} s")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_SECONDS)
        sock.close()


@dataclass
class Site:
    """The browser on one served console: where it is, and what a test does with it."""

    driver: WebDriver
    base: str
    downloads: Path
    config: Config
    store: Store

    def reset(self) -> None:
        """A fresh visitor: no cookies (of any port: cookies ignore it), desktop size, no downloads."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.desktop()
        for old in self.downloads.iterdir():
            old.unlink()

    # --- moving around ---------------------------------------------------------------------------

    def go(self, path: str) -> None:
        """Open ``path`` and wait until it is the page shown, loaded (not the one before it)."""
        self.script("window.qunzhiLeft = true")
        self.driver.get(self.base + path)
        self.wait(lambda d: d.execute_script("return !window.qunzhiLeft && document.readyState === 'complete'"))

    @property
    def path(self) -> str:
        """The current page's path and query, without the base."""
        url: str = self.driver.current_url
        return url[len(self.base) :] if url.startswith(self.base) else url

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str = "main") -> str:
        return str(self.find(css).text)

    def wait(self, condition: Callable[[WebDriver], T], timeout: float = WAIT_SECONDS) -> T:
        """Until ``condition`` is truthy (its value is returned); a TimeoutException after ``timeout``."""
        result: T = WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(condition)
        return result

    def wait_for_path(self, predicate: Callable[[str], bool]) -> str:
        self.wait(lambda _d: predicate(self.path))
        return self.path

    def submit_and_wait(self, button: WebElement) -> None:
        """Click a button that submits a form, and wait until the next page has replaced this one."""
        old = self.find("html")
        button.click()
        self.wait(lambda _d: _is_stale(old))
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete")

    def press(self, keys: str) -> None:
        """Type ``keys`` into whatever has the focus (the page itself when nothing has)."""
        ActionChains(self.driver).send_keys(keys).perform()

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def fetch(self, method: str, path: str, body: dict[str, str] | None = None, csrf: bool = False) -> int:
        """A ``fetch()`` from the page (its cookies sent); the response's status. With ``csrf`` the page's
        token goes in the header, as ``window.qunzhi.post`` does."""
        status: int = self.driver.execute_async_script(
            """
            const [method, url, fields, withToken, done] = arguments;
            const headers = {"Accept": "application/json"};
            if (withToken) headers["X-CSRF-Token"] = window.qunzhi.csrf();
            const init = {method, headers, credentials: "same-origin", redirect: "manual"};
            if (fields) init.body = new URLSearchParams(fields);
            fetch(url, init).then(r => done(r.status), e => done(-1));
            """,
            method,
            path,
            body,
            csrf,
        )
        return status

    # --- logging in ------------------------------------------------------------------------------

    def fill_login(self, name: str, password: str) -> None:
        self.find("#username").clear()
        self.find("#username").send_keys(name)
        self.find("#password").send_keys(password)
        self.submit_and_wait(self.find("#login"))

    def log_in(self, name: str, password: str = PASSWORD, then: str = "/") -> None:
        """Log in through the form (as a person does) and land on ``then``."""
        self.go("/login?next=" + quote(then, safe=""))
        self.fill_login(name, password)
        assert self.path == then, f"logging in as {name} ended on {self.path}: {self.text()[:200]}"

    def enter(self, name: str, then: str = "/") -> None:
        """Be logged in as ``name`` without the form (a session made in the database, its cookie set
        as the login would set it) and open ``then``: for the tests of what comes after logging in,
        which need not wait for the password hash each time."""
        with self.store.sessions.begin() as session:
            found = accounts_db.user_by_name(session, name)
            assert found is not None, f"no console user {name}"
            session_id, _ = auth.start_session(session, found[0], self.config)
        self.driver.execute_cdp_cmd(
            "Network.setCookie",
            {
                "name": auth.SESSION_COOKIE,
                "value": session_id,
                "url": self.base + "/",
                "httpOnly": True,
                "sameSite": "Lax",
            },
        )
        self.go(then)
        assert self.path == then, f"entering as {name} ended on {self.path}: {self.text()[:200]}"

    # --- size and theme --------------------------------------------------------------------------

    def resize(self, width: int, height: int, *, mobile: bool) -> None:
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def desktop(self) -> None:
        self.resize(*DESKTOP, mobile=False)

    def phone(self) -> None:
        self.resize(*PHONE, mobile=True)

    def overflow(self) -> int:
        """How many pixels the page is wider than the viewport (0 when it fits: no sideways scrolling)."""
        extra: int = self.script("return document.documentElement.scrollWidth - window.innerWidth")
        return extra

    def inner_width(self) -> int:
        width: int = self.script("return window.innerWidth")
        return width

    def background(self) -> str:
        colour: str = self.script("return getComputedStyle(document.body).backgroundColor")
        return colour

    def theme(self) -> str | None:
        value: str | None = self.script("return document.documentElement.getAttribute('data-theme')")
        return value

    def toggle_theme(self) -> None:
        """Click the header's theme switch (the visible one)."""
        toggles = [t for t in self.find_all("[data-theme-toggle]") if t.is_displayed()]
        assert toggles, "no visible theme switch on " + self.path
        toggles[0].click()

    def forget_theme(self) -> None:
        self.script("try { localStorage.removeItem('qunzhi-theme'); } catch (e) {}")
        self.script("document.documentElement.removeAttribute('data-theme')")

    # --- downloads -------------------------------------------------------------------------------

    def downloaded(self, suffix: str, timeout: float = WAIT_SECONDS) -> Path:
        """The one finished download ending in ``suffix`` (waits for Chromium to finish writing it)."""

        def done(_d: WebDriver) -> Path | None:
            partial = [p for p in self.downloads.iterdir() if p.suffix == ".crdownload"]
            found = [p for p in self.downloads.iterdir() if p.name.endswith(suffix)]
            return found[0] if found and not partial else None

        return self.wait(done, timeout)


def _is_stale(element: WebElement) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    return False
