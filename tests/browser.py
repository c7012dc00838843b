"""Headless Chromium for end-to-end tests of the dashboard, driven over the Chrome
DevTools Protocol (CDP) with the ``websockets`` client the tests already use.

Why not Playwright or Selenium: both add packages (Playwright a Node driver of
its own, pinned to its own Chromium build, which Debian's ``chromium`` drifts
from; Selenium trio and friends plus chromedriver), while a test needs only a
handful of stable CDP methods: Page.navigate, Runtime.evaluate, Input.insertText
and Page.captureScreenshot. Debian's ``chromium`` package provides the browser
(``make test`` installs it).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect


class BrowserError(AssertionError):
    pass


class Chromium:
    """One headless browser with one page. Use as ``async with Chromium() as page``."""

    def __init__(self, width: int = 1280, height: int = 860) -> None:
        self._size = f"{width},{height}"
        self._profile = tempfile.TemporaryDirectory(
            prefix="inferql-chromium-", ignore_cleanup_errors=True
        )
        self._process: asyncio.subprocess.Process | None = None
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self._new_event = asyncio.Condition()
        self.console: list[str] = []  # console messages and uncaught exceptions

    async def __aenter__(self) -> Chromium:
        binary = shutil.which("chromium")
        if binary is None:
            raise BrowserError("chromium is not installed: run `make system-deps`")
        self._process = await asyncio.create_subprocess_exec(
            binary,
            "--headless",
            "--no-sandbox",  # the tests may run as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--hide-scrollbars",
            f"--window-size={self._size}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            f"--user-data-dir={self._profile.name}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        port = await self._devtools_port()
        async with httpx.AsyncClient() as http:
            targets = (await http.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        self._ws = await connect(page["webSocketDebuggerUrl"], max_size=None)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Network"):
            await self.send(f"{domain}.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        self._profile.cleanup()

    async def _devtools_port(self, timeout: float = 30) -> int:
        """Chromium writes its port to DevToolsActivePort in the profile once it listens."""
        marker = Path(self._profile.name) / "DevToolsActivePort"
        async with asyncio.timeout(timeout):
            while not marker.exists() or not marker.read_text().strip():
                assert self._process is not None
                if self._process.returncode is not None:
                    raise BrowserError(f"chromium exited with {self._process.returncode}")
                await asyncio.sleep(0.05)
        return int(marker.read_text().split()[0])

    async def _read(self) -> None:
        assert self._ws is not None
        async for raw in self._ws:
            message: dict[str, Any] = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            self.events.append(message)
            async with self._new_event:
                self._new_event.notify_all()
            params = message.get("params", {})
            if message.get("method") == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                self.console.append(f"console.{params['type']}: {text}")
            elif message.get("method") == "Runtime.exceptionThrown":
                self.console.append(f"uncaught: {params['exceptionDetails']}")

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call one CDP method and return its result."""
        assert self._ws is not None
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        await self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        async with asyncio.timeout(30):
            reply = await future
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply["result"]
        return result

    async def navigate(self, url: str) -> None:
        """Load ``url`` and wait for its load event."""
        seen = len(self.events)
        reply = await self.send("Page.navigate", url=url)
        if reply.get("errorText"):
            raise BrowserError(f"navigating to {url}: {reply['errorText']}")
        await self.until(
            lambda: any(e.get("method") == "Page.loadEventFired" for e in self.events[seen:])
        )

    async def until(self, predicate: Callable[[], bool], timeout: float = 30) -> None:
        """Wait until ``predicate()`` holds, checking it after each browser event."""
        async with asyncio.timeout(timeout), self._new_event:
            await self._new_event.wait_for(predicate)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        reply = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 30) -> Any:
        """Evaluate ``expression`` until it is truthy; return that value."""
        value: Any = None
        try:
            async with asyncio.timeout(timeout):
                while not (value := await self.evaluate(expression)):  # noqa: ASYNC110 - polls the page
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise BrowserError(
                f"still falsy after {timeout} s: {expression}\nlast value: {value!r}\n"
                + "\n".join(self.console[-20:])
            ) from None
        return value

    async def type_text(self, selector: str, text: str) -> None:
        """Focus an element and type into it as a keyboard would."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def click(self, selector: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).click()")

    async def screenshot(self, path: Path) -> None:
        reply = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(_write, path, base64.b64decode(reply["data"]))

    def events_named(self, method: str) -> list[dict[str, Any]]:
        return [e["params"] for e in self.events if e.get("method") == method]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
