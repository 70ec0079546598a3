"""Headless Debian chromium driven over the DevTools protocol, kept off the network.

Every host name but ``127.0.0.1`` resolves to nothing (``--host-resolver-rules``), a proxy
that does not exist catches what would go out by IP, and every request the page makes is
logged (``Network.requestWillBeSent``), so a test can assert that nothing left the machine.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL = re.compile(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?/|^(data|blob|about):")


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def output_dir(name: str) -> Path:
    """Where a test keeps its screenshots: ``$PROX_TEST_OUTPUT`` (default ``test-output/``)."""
    path = Path(os.environ.get("PROX_TEST_OUTPUT", REPO / "test-output")) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


class Page:
    """One browser tab: navigate, evaluate, screenshot; ``requests`` logs every URL."""

    def __init__(self, ws_url: str):
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 2**20, open_timeout=30)
        self.ids = itertools.count(1)
        self.requests: list[str] = []
        self.failures: list[tuple[str, str]] = []  # (url, error or "HTTP 404")
        self._urls: dict[str, str] = {}
        self.console: list[str] = []
        self.events: list[dict] = []
        for domain in ("Network", "Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
            self._urls[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
            self.failures.append((params["response"]["url"],
                                  f"HTTP {params['response']['status']}"))
        elif method == "Network.loadingFailed":
            self.failures.append((self._urls.get(params["requestId"], "?"), params["errorText"]))
        elif method == "Runtime.exceptionThrown":
            self.console.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.console.append(params["entry"]["text"])
        self.events.append(message)

    def call(self, method: str, timeout: float = 60, **params) -> dict:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == msg_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message)

    def wait_event(self, method: str, timeout: float = 60, since: int | None = None) -> dict:
        """The first ``method`` event from index ``since`` of ``events`` on (default: one
        still to come)."""
        deadline = time.monotonic() + timeout
        seen = len(self.events) if since is None else since
        while True:
            for message in self.events[seen:]:
                if message.get("method") == method:
                    return message
            seen = len(self.events)
            self._event(json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic()))))

    def goto(self, url: str, timeout: float = 60) -> None:
        """Open ``url``; the console and failure logs start empty (requests accumulate until
        the caller clears them)."""
        self.events.clear()
        self.console.clear()
        self.failures.clear()
        self.call("Page.navigate", url=url)
        # from the first event on: events arriving while ``call`` waits for Page.navigate's
        # answer are logged there, and a small page's load event could be among them
        self.wait_event("Page.loadEventFired", timeout, since=0)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{expression} still false after {timeout}s")

    def screenshot(self, path: Path, full_page: bool = True) -> Path:
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 6000), "scale": 1}
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        return path

    def outside_requests(self) -> list[str]:
        return [u for u in self.requests if not LOCAL.match(u)]

    def close(self) -> None:
        self.ws.close()


class Chromium:
    """A headless chromium process (context manager) with one open :class:`Page`.

    Everything it writes is in one folder, removed on close: its profile, and its temp
    folder (``TMPDIR``), where chromium keeps its singleton lock and socket
    (``org.chromium.Chromium.*``), which a terminated chromium left in the system's."""

    def __init__(self, width: int = 1400, height: int = 1000):
        self.root = tempfile.mkdtemp(prefix="prox-chromium-")
        self.profile = os.path.join(self.root, "profile")
        temp = os.path.join(self.root, "tmp")
        os.mkdir(temp)
        self.proc = subprocess.Popen(
            [chromium_path(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-features=Translate,OptimizationHints,MediaRouter",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
             f"--window-size={width},{height}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "TMPDIR": temp},
            start_new_session=True)  # its helper processes with it: stopped as one group
        try:  # a start that fails stops what did start: no `with` block will
            self.page = self._connect()
        except BaseException:
            self.close()
            raise

    def _connect(self) -> Page:
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited at its start: {self.proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("chromium did not start within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        return Page(target["webSocketDebuggerUrl"])

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "page", None) is not None:
            self.page.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:  # a helper still writing in the profile would put files back after rmtree
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
