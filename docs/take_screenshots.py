"""Screenshots of the app for the docs: the four bundled examples ranked, plus the leaderboard in the
dark theme and at phone width.

    HF_HUB_OFFLINE=1 .venv/bin/python -m docs.take_screenshots

Launches the app as the browser tests do and drives Debian's /usr/bin/chromium (headless,
--no-sandbox) with Playwright: pick the example, Rank, wait for the leaderboard and the plots, and
capture the page. Written files:

- ``docs/ranking_<example>.png``: the whole page at 1400 px after ranking each example (the first
  with the "About the method" note open);
- ``docs/screenshot.jpg``: the README's "ranking screen" (support messages, 1400 px, the form and the
  leaderboard);
- ``docs/ranking_dark.png``: the leaderboard and the top-k plot with ``?__theme=dark``;
- ``docs/ranking_phone.png``: the leaderboard at 390 px (Rank, Task, Score).

The dark and phone shots open the stored result of the support-messages ranking (``?result=<id>``),
so nothing is ranked twice.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A fresh result cache: the screenshots show rankings computed now, never stored ones.
os.environ["HFSELECT_RESULT_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="hfselect-shots-")
ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

EXAMPLES = ["product_reviews", "news_headlines", "review_ratings", "support_messages"]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ranked(page) -> None:
    page.locator("#summary").get_by_text("Top candidate").wait_for()
    page.locator("#results table.lb-table").wait_for()
    page.locator("#bar-plot .js-plotly-plot .bars .point").first.wait_for(state="attached")
    page.wait_for_timeout(1500)  # plotly's resize after layout


def main() -> None:
    from playwright.sync_api import sync_playwright

    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    url = app.demo.local_url.rstrip("/") + "/"
    result_link = ""
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
            for i, name in enumerate(EXAMPLES):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(240_000)
                page.goto(url)
                page.locator(f"#example-{name}").click()
                page.wait_for_function("() => document.querySelector('#label-column input')?.value.length > 0")
                page.locator("#rank-button").click()
                _ranked(page)
                if i == 0:
                    page.get_by_text("About the method").first.click()
                    page.wait_for_timeout(500)
                page.screenshot(path=str(DOCS / f"ranking_{name}.png"), full_page=True)
                if name == "support_messages":
                    page.wait_for_function("() => document.querySelector('#result-link textarea')?.value")
                    result_link = page.locator("#result-link textarea").input_value()
                    # The form and the top of the leaderboard: what a visitor sees first.
                    top = page.locator("#results .lb-scroll").bounding_box()
                    page.screenshot(
                        path=str(DOCS / "screenshot.jpg"),
                        type="jpeg",
                        quality=80,
                        full_page=True,
                        clip={"x": 0, "y": 0, "width": 1400, "height": top["y"] + 420},
                    )
                print("saved", name, flush=True)
                page.close()
            stored = url + "?" + result_link.split("?", 1)[1]
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(stored + "&__theme=dark")
            _ranked(page)
            lb, bar = page.locator("#results").bounding_box(), page.locator("#bar-plot").bounding_box()
            page.screenshot(
                path=str(DOCS / "ranking_dark.png"),
                full_page=True,
                clip={"x": 0, "y": lb["y"] - 10, "width": 1400, "height": bar["y"] + bar["height"] - lb["y"] + 20},
            )
            page.close()
            page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            page.goto(stored)
            _ranked(page)
            page.locator("#results").screenshot(path=str(DOCS / "ranking_phone.png"))
            page.close()
            print("saved dark and phone", flush=True)
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()
