"""The leaderboard page in a real headless Chromium: no console errors, sorting works, plots show,
metric headers carry their definitions, and the page fits a 1 280 px wide window.

Chromium is driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``:
NUL-terminated JSON messages on file descriptors 3 and 4), so no extra Python package is
needed. Skipped when ``/usr/bin/chromium`` is absent (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chaosbench.records import RecordStore
from chaosbench.leaderboard import write_leaderboard
from chaosbench.leaderboard.render import COLUMNS

fcntl = pytest.importorskip("fcntl", reason="the pipe set-up is POSIX only")

CHROMIUM = Path(os.environ.get("CHAOSBENCH_CHROMIUM", "/usr/bin/chromium"))
TIMEOUT = 60.0
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-pipe", "--window-size=1280,900",
)  # fmt: skip
LAUNCHER = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)"
)


def _above_four(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return moved


class Browser:
    """A headless Chromium and one page, spoken to in DevTools-protocol messages."""

    def __init__(self, profile: Path) -> None:
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # The browser expects its command pipe on fd 3 and its reply pipe on fd 4: a tiny Python
        # launcher puts them there (the child's ends are moved above 4 first so none is clobbered).
        to_child, from_child = (_above_four(fd) for fd in (to_child, from_child))
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(to_child), str(from_child), str(CHROMIUM), *FLAGS,
             f"--user-data-dir={profile}"],
            pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(to_child)
        os.close(from_child)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._reply_ready = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    with self._reply_ready:
                        self._replies[message["id"]] = message
                        self._reply_ready.notify_all()
                else:
                    self.events.put(message)

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        with self._reply_ready:
            if not self._reply_ready.wait_for(lambda: self._next_id in self._replies, timeout=TIMEOUT):
                raise TimeoutError(f"no reply to {method}")
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, session=self.session, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for_event(self, method: str) -> list[dict[str, Any]]:
        """Every event up to and including the first ``method`` event."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + TIMEOUT
        while not seen or seen[-1]["method"] != method:
            seen.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
        return seen

    def drain(self) -> list[dict[str, Any]]:
        seen = []
        while not self.events.empty():
            seen.append(self.events.get())
        return seen

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) at the centre of the element."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); e.scrollIntoView();"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


def _errors(events: list[dict[str, Any]]) -> list[Any]:
    """Console errors, uncaught exceptions and browser-logged errors (e.g. a failed load)."""
    found = []
    for event in events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(params["exceptionDetails"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            found.append(params["args"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            found.append(params["entry"])
    return found


@pytest.fixture
def browser(tmp_path: Path):
    instance = Browser(tmp_path / "profile")
    yield instance
    instance.close()


def _column(browser: Browser, header: str) -> list[str]:
    """The sort values of one column of the lorenz63 table, top to bottom."""
    return browser.evaluate(
        f"""(() => {{
        const t = document.querySelector("#lorenz63 table.sortable");
        const col = Array.from(t.tHead.rows[0].cells).findIndex(h => h.textContent.startsWith({json.dumps(header)}));
        return Array.from(t.tBodies[0].rows, r => r.cells[col].dataset.sort); }})()"""
    )


def test_page_loads_sorts_and_shows_plots(browser: Browser, tmp_path: Path) -> None:
    from test_leaderboard import reference, synthetic_records

    store = RecordStore(tmp_path / "results")
    for record in synthetic_records():
        store.write(record)
    paths = write_leaderboard(synthetic_records(), tmp_path / "out", reference=reference())

    for domain in ("Runtime", "Log", "Page"):
        browser.page(f"{domain}.enable")
    browser.page("Page.navigate", url=paths["html"].resolve().as_uri())
    events = browser.wait_for_event("Page.loadEventFired")

    # Plots: every image decoded and drawn at a visible size; three per dataset.
    images = browser.evaluate(
        "Array.from(document.images, i => [i.closest('section').id, i.complete && i.naturalWidth, i.width])"
    )
    assert len(images) == 6
    assert {section for section, _, _ in images} == {"lorenz63", "henon"}
    assert all(natural > 100 and width > 100 for _, natural, width in images)

    # Tooltips: every metric header of every table says what it measures, with its unit.
    tips = browser.evaluate(
        "Array.from(document.querySelectorAll('th'), h => [h.textContent, h.title])"
    )
    helps = {c.title: c.help for c in COLUMNS if c.help}
    assert {title for title, tip in tips if tip} == set(helps)
    assert all(tip == helps[title] for title, tip in tips if title in helps)
    assert "Lyapunov times" in helps["Valid time"] and "dimensionless" in helps["D_stsp"]
    assert browser.evaluate("document.querySelector('a[href$=\"docs/metrics.md\"]') !== null")

    # Initially in rank order; a click on "Model" sorts by name, a click on "D_stsp" by median
    # (non-finite last), and a second click reverses.
    assert [float(v) for v in _column(browser, "Rank")] == [1, 2, 3, 4]
    models = _column(browser, "Model")
    assert models != sorted(models)
    browser.click("#lorenz63 th:nth-child(3)")
    assert _column(browser, "Model") == sorted(models)
    browser.click("#lorenz63 th:nth-child(7)")
    ascending = _column(browser, "D_stsp")
    assert [float(v) for v in ascending] == sorted(float(v) for v in ascending)
    assert ascending[-1] == "Infinity"
    browser.click("#lorenz63 th:nth-child(7)")
    assert _column(browser, "D_stsp") == ascending[::-1]
    assert (
        browser.evaluate("document.querySelector('#lorenz63 th:nth-child(7)').getAttribute('aria-sort')")
        == "descending"
    )

    shot = browser.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
    assert len(shot) > 10_000
    assert _errors(events + browser.drain()) == []


def test_page_fits_a_1280_px_window(browser: Browser, tmp_path: Path) -> None:
    """Numbers as wide as the leaderboard of record's (3 significant digits ± a MAD in exponent
    form, long model names, every column filled): no table is cut off or needs scrolling."""
    from test_leaderboard import make

    wide = {"pe20": 5.89e-4, "lambda_max_error": 4.04e-3, "d_h": 6.93e-2, "valid_time": 2.26}
    records = [
        make(f"dataset_{d}", model, regime, seed, 0.00483 * (1 + 0.137 * seed) + (14 if regime == "bptt" else 0),
             **{k: v * (1 + 0.0351 * seed) for k, v in wide.items()})
        for d in range(2) for model in ("clipped_shplrnn", "dendplrnn") for regime in ("bptt", "stf", "gtf")
        for seed in range(5)
    ]  # fmt: skip
    paths = write_leaderboard(records, tmp_path / "out")
    browser.page("Page.enable")
    browser.page("Page.navigate", url=paths["html"].resolve().as_uri())
    browser.wait_for_event("Page.loadEventFired")
    layout = browser.evaluate(
        """(() => ({
        window: window.innerWidth, page: document.documentElement.scrollWidth,
        overflowing: Array.from(document.querySelectorAll('.scroll')).filter(b => b.scrollWidth > b.clientWidth).length,
        gain: Math.max(...Array.from(document.querySelectorAll('th'))
                 .filter(h => h.textContent.startsWith('Forcing gain')).map(h => h.getBoundingClientRect().right)),
        cell: (() => { const t = document.querySelector('#dataset_0 table');
                       const col = Array.from(t.tHead.rows[0].cells).findIndex(h => h.textContent === 'PE(20)');
                       return t.tBodies[0].rows[0].cells[col].textContent; })() }))()"""
    )
    assert layout["window"] == 1280 and "e-05" in layout["cell"]  # a PE(20) cell as wide as the real ones
    assert layout["page"] <= layout["window"] and layout["overflowing"] == 0
    assert layout["gain"] <= layout["window"]
