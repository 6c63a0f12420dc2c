"""Browser tests: a real ``kefu demo`` server, Debian's Chromium driven by Playwright.

They are skipped (with the reason) when /usr/bin/chromium or the built UI is missing; CI has
both (``scripts/ensure-chromium`` and ``npm run build --prefix frontend``).

Screenshots are taken on every run into a temporary folder; with ``KEFU_SCREENSHOTS=1`` they
are also written to docs/screenshots/ (the README shows them).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import kefu

CHROMIUM = Path(os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium"))
STATIC = Path(kefu.__file__).parent / "web" / "static"
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 10_000


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium, or scripts/ensure-chromium)"
    if not (STATIC / "app" / "index.html").exists() or not (STATIC / "widget.js").exists():
        return "the web UI is not built (npm ci --prefix frontend && npm run build --prefix frontend)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _missing()
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium against a running kefu demo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the server -------------------------------------------------------------------------


@dataclass
class Demo:
    """A running ``kefu demo``: its URL and the logins it printed."""

    url: str
    data_dir: Path
    passwords: dict[str, str]
    admin_token: str = ""

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Calls the API as the demo admin (for setting things up, never for what is tested)."""
        response = httpx.request(
            method,
            f"{self.url}/api/v1{path}",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
            **kwargs,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_all_away(self, timeout: float = 15) -> None:
        """Waits until no agent serves (closed tabs turn away after the grace period)."""
        deadline = time.monotonic() + timeout
        while any(a["status"] != "away" for a in self.api("GET", "/agents")["items"]):
            assert time.monotonic() < deadline, "agents are still online or busy"
            time.sleep(0.3)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    data_dir = tmp_path_factory.mktemp("kefu-demo")
    port = free_port()
    env = {
        **os.environ,
        "KEFU_DATA_DIR": str(data_dir),
        "KEFU_FAST_HASHES": "1",
        "KEFU_LOG_LEVEL": "warning",
    }
    env.pop("KEFU_DATABASE_URL", None)
    env.pop("KEFU_REDIS_URL", None)
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [sys.executable, "-c", "from kefu.cli import app; app()", "demo", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"kefu demo exited: {(data_dir / 'server.log').read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("kefu demo did not start within 60 s")
            time.sleep(0.2)
        logins = json.loads((data_dir / "demo-logins.json").read_text(encoding="utf-8"))
        server = Demo(url=url, data_dir=data_dir, passwords={x["username"]: x["password"] for x in logins})
        token = httpx.post(
            f"{url}/api/v1/auth/login",
            json={"username": "admin", "password": server.passwords["admin"], "remember": False},
            timeout=10,
        ).json()["token"]
        server.admin_token = token
        # A closed tab makes its agent away at once, so one test's agents never serve the next.
        server.api("PATCH", "/settings", json={"grace_seconds": 0})
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- the browser ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """Every console error and uncaught exception of the pages it watches."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Any, who: str) -> Any:
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"{who}: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"{who}: uncaught {e}"))
        return page

    def assert_clean(self, allow: tuple[str, ...] = ()) -> None:
        left = [e for e in self.errors if not any(re.search(a, e) for a in allow)]
        assert not left, "console errors:\n" + "\n".join(left)


@dataclass
class Shots:
    folder: Path

    def take(self, page: Any, name: str, **kwargs: Any) -> None:
        # Toasts of earlier steps would cover the page; a style hides them for the picture.
        style = page.add_style_tag(content=".el-message { visibility: hidden !important; }")
        page.wait_for_timeout(350)  # let dialogs and tags finish their entrance transitions
        page.screenshot(path=str(self.folder / name), animations="disabled", **kwargs)
        style.evaluate("el => el.remove()")
        if os.environ.get("KEFU_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.folder / name, SCREENSHOTS / name)


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Shots:
    return Shots(tmp_path_factory.mktemp("screenshots"))


class Browsers:
    """Opens pages, each in its own context (its own cookies and storage), all watched."""

    def __init__(self, browser: Any, demo: Demo) -> None:
        self.browser = browser
        self.demo = demo
        self.console = Console()
        self.contexts: list[Any] = []

    def page(self, who: str, *, width: int = 1400, height: int = 860) -> Any:
        context = self.browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return self.console.watch(context.new_page(), who)

    def agent(self, username: str, *, status: str | None = "online", password: str | None = None) -> Any:
        page = self.page(username)
        page.goto(f"{self.demo.url}/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password or self.demo.passwords[username])
        page.click("[data-test=login]")
        page.wait_for_selector("[data-test=status-select]")
        if status:
            set_status(page, status)
        return page

    def visitor(self, url: str | None = None) -> Any:
        page = self.page("visitor", width=1280, height=800)
        page.goto(url or f"{self.demo.url}/demo/shop")
        return page

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Exception):
                context.close()


@pytest.fixture
def browsers(browser: Any, demo: Demo) -> Iterator[Browsers]:
    opened = Browsers(browser, demo)
    try:
        yield opened
    finally:
        opened.close()


# --- steps shared by the tests ----------------------------------------------------------


def set_status(page: Any, status: str) -> None:
    labels = {"online": "在线", "busy": "忙碌", "away": "离开"}
    page.click("[data-test=status-select]")
    page.click(f"[data-test=status-{status}]:visible")
    page.wait_for_function(
        "label => document.querySelector('[data-test=status-select]').innerText.includes(label)",
        arg=labels[status],
    )


def field(scope: Any, name: str) -> Any:
    """The input or textarea of an Element Plus field marked data-test=name (on it or around it)."""
    return scope.locator(
        f"input[data-test={name}], textarea[data-test={name}], "
        f"[data-test={name}] input, [data-test={name}] textarea"
    ).first


def open_widget(page: Any) -> None:
    page.click("[data-test=widget-launcher]")
    page.wait_for_selector("[data-test=widget-panel]")


def visitor_says(page: Any, text: str) -> None:
    page.fill("[data-test=widget-input]", text)
    page.click("[data-test=widget-send]")


def agent_says(page: Any, text: str) -> None:
    page.click("[data-test=editor]")
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def close_and_clear(page: Any, category: str = "其他") -> None:
    """The agent closes the open conversation with a summary and takes it off the list, so
    that the tests after this one find them serving nobody."""
    from playwright.sync_api import expect

    page.click("[data-test=close]")
    summary = page.locator(".el-dialog").filter(has_text="结束并提交小结")
    summary.locator("label", has_text=category).click()
    summary.locator("[data-test=summary-submit]").click()
    expect(page.locator("[data-test=closed-bar]")).to_contain_text("小结已填写")
    page.click("[data-test=clear]")
    expect(page.locator("[data-test=chat-pane]")).to_have_count(0)


def png(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (31, 111, 235)) -> bytes:
    """A small solid-colour PNG, for upload tests."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# --- a TCP proxy whose connections can be cut -------------------------------------------


class CuttableProxy:
    """Forwards a local port to the server; ``cut()`` drops every connection and refuses new
    ones until ``restore()``: what a visitor's flaky mobile network looks like to the widget."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = False
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.open |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            with self.lock:
                self.open -= {source, sink}

    def cut(self) -> None:
        self.refusing = True
        with self.lock:
            doomed = list(self.open)
        for s in doomed:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.refusing = False

    def stop(self) -> None:
        self.stopped = True
        self.cut()
        self.listener.close()
