"""Screenshots of the four bundled examples ranked in the app (docs/ranking_<example>.png).

    HF_HUB_OFFLINE=1 .venv/bin/python -m docs.take_screenshots

Launches the app as the browser tests do and drives Debian's /usr/bin/chromium (headless,
--no-sandbox) with Playwright: pick the example, Rank, wait for the summary, open the
"About the method" note for the first example, and capture the whole page.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A fresh result cache: the screenshots show rankings computed now, never stored ones.
os.environ["HFSELECT_RESULT_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="hfselect-shots-")
ROOT = Path(__file__).resolve().parent.parent

EXAMPLES = ["product_reviews", "news_headlines", "review_ratings", "support_messages"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    from playwright.sync_api import sync_playwright

    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    url = app.demo.local_url.rstrip("/") + "/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"], headless=True)
            for i, name in enumerate(EXAMPLES):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(180_000)
                page.goto(url)
                page.locator(f"#example-{name}").click()
                page.wait_for_timeout(1500)
                page.locator("#rank-button").click()
                page.locator("#summary").get_by_text("Top candidate").wait_for()
                page.locator("#bar-plot .js-plotly-plot").wait_for()
                page.wait_for_timeout(1500)
                if i == 0:
                    page.get_by_text("About the method").first.click()
                    page.wait_for_timeout(500)
                page.locator("#results").scroll_into_view_if_needed()
                page.screenshot(path=str(ROOT / "docs" / f"ranking_{name}.png"), full_page=True)
                print("saved", name, flush=True)
                page.close()
            browser.close()
    finally:
        app.demo.close()


if __name__ == "__main__":
    main()
