"""The incumbent's per-operation copy/paste, for the pool_vs_connect benchmark.

The incumbent (Python, Playwright async API) makes a new execution channel for every copy or
paste: it starts a dedicated Playwright driver, `connect_over_cdp(url)` (an http URL is
resolved through /json/version), sends `Browser.setDownloadBehavior` on a browser-level CDP
session, takes the first page of the first context, runs the operation, closes the browser
object (for a CDP-attached browser this only disconnects) and stops the driver. This helper
does exactly that, once per command, so the benchmark can time what the incumbent pays.

Protocol (one command per line on stdin, one answer per line on stdout, flushed):
    paste <cdp_http_url>      -> page.keyboard.insert_text("x")  (CDP Input.insertText)
    selected <cdp_http_url>   -> evaluate window.getSelection()?.toString() ?? "" (main world)
    quit                      -> exit
Answers: `ok` or `error <text>`. Nothing else is written to stdout.

Run it with the venv made by setup-incumbent.sh. It never launches or downloads a browser.
"""

import asyncio
import os
import sys
import tempfile

from playwright.async_api import async_playwright

# The incumbent's connect timeout (spec §7.1 step 5).
CONNECT_TIMEOUT_MS = 30_000
# A bound on one whole operation, driver start and stop included.
OPERATION_TIMEOUT_S = 60
PASTE_TEXT = "x"
SELECTED_TEXT_JS = '() => window.getSelection()?.toString() ?? ""'
# The incumbent writes under /app/downloads/{org}/{session}; any writable folder does here.
DOWNLOAD_PATH = os.path.join(tempfile.gettempdir(), "bench-downloads")


async def run_once(op: str, cdp_url: str) -> None:
    """One operation on a fresh channel: driver start, connect, download behaviour, op, stop."""
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.connect_over_cdp(cdp_url, timeout=CONNECT_TIMEOUT_MS)
        try:
            session = await browser.new_browser_cdp_session()
            await session.send(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": DOWNLOAD_PATH, "eventsEnabled": True},
            )
            # Always the first page of the first context, as the incumbent does (§7.1 step 8).
            page = browser.contexts[0].pages[0]
            if op == "paste":
                await page.keyboard.insert_text(PASTE_TEXT)
            else:
                text = await page.evaluate(SELECTED_TEXT_JS)
                if text is not None and not isinstance(text, str):
                    raise TypeError(f"selection is not a string: {type(text).__name__}")
        finally:
            await browser.close()
    finally:
        await playwright.stop()


def answer(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main() -> None:
    loop = asyncio.get_running_loop()
    while True:
        # Reading stdin off the loop keeps the loop free, as in the incumbent's server.
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            return
        if parts[0] not in ("paste", "selected") or len(parts) != 2:
            answer(f"error unknown command: {line.strip()[:200]}")
            continue
        try:
            await asyncio.wait_for(run_once(parts[0], parts[1]), OPERATION_TIMEOUT_S)
            answer("ok")
        except Exception as err:  # every failure becomes one answer line
            text = " ".join(f"{type(err).__name__}: {err}".split())
            answer(f"error {text[:500]}")


if __name__ == "__main__":
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    asyncio.run(main())
