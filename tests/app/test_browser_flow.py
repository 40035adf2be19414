"""The rank flow in a real browser: Rank locked while a job runs, Cancel, and share links for every source.

One app server for the module (the app runs in this process, so the test can also see when the
cancelled job's handler really ended: its admission ticket is given back in the handler's finally).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from helpers import CHROMIUM

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"),
]

RANK_DISABLED = "() => document.querySelector('#rank-button')?.disabled === true"
RANK_ENABLED = "() => document.querySelector('#rank-button')?.disabled === false"


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)  # the shared 2-core machine can be slow to answer
    yield page
    context.close()


def _status(page) -> str:
    return page.locator("#rank-status").inner_text()


def _share_link(page) -> str:
    return page.locator("#share-link textarea").input_value()


def _pick_example(page, name: str, label_prefix: str) -> None:
    page.locator(f"#example-{name}").click()
    page.wait_for_function(
        f"() => document.querySelector('#label-column input')?.value.startsWith('{label_prefix}')", timeout=20_000
    )


def test_rank_is_locked_while_running_and_cancel_keeps_the_results(page, app_url):
    from hfselect_app import admission

    page.goto(app_url)
    page.wait_for_function("() => document.querySelector('#share-link textarea')?.value.includes('model=')")
    page.locator("#rank-button").click()  # nothing picked: refused at the inputs, Rank stays offered
    page.get_by_text("Pick an example").first.wait_for(timeout=10_000)
    assert page.locator("#rank-button").is_enabled()
    _pick_example(page, "news_headlines", "topic")
    page.get_by_text("Advanced", exact=True).click()
    page.locator("#num-examples input").fill("60")  # a quick first ranking
    page.locator("#num-examples input").press("Tab")
    page.locator("#rank-button").click()
    page.wait_for_function(RANK_DISABLED, timeout=10_000)
    assert page.locator("#cancel-button").is_enabled()
    page.locator("#summary").get_by_text("Top candidate").wait_for(timeout=120_000)
    page.wait_for_function(RANK_ENABLED, timeout=10_000)
    assert not page.locator("#cancel-button").is_enabled()
    summary_before = page.locator("#summary").inner_text()

    # Another sample (size and seed): neither the result cache nor the embedding cache can answer.
    page.locator("#num-examples input").fill("300")
    page.locator("#seed input").fill(str(int(time.time()) % 100_000 + 100))
    page.locator("#seed input").press("Tab")
    page.locator("#rank-button").click()
    page.wait_for_function(RANK_DISABLED, timeout=10_000)
    page.wait_for_function(
        "() => /step [2-6] of/.test(document.querySelector('#rank-status')?.innerText || '')", timeout=120_000
    )
    assert "→" in _status(page)  # the staged line: every step named
    # One progress display: Gradio's own overlay does not print over the status line.
    tracker_shown = page.evaluate(
        """() => [...document.querySelectorAll("#rank-status [data-testid='status-tracker']")].some(e => {
            const style = getComputedStyle(e);
            return style.display !== 'none' && style.visibility !== 'hidden' && style.opacity !== '0';
        })"""
    )
    assert not tracker_shown
    started = time.monotonic()
    page.locator("#cancel-button").click()
    page.locator("#rank-status").get_by_text("Cancelled").wait_for(timeout=5_000)
    deadline = started + 10
    while admission.JOBS.counts()[0] and time.monotonic() < deadline:
        time.sleep(0.02)
    stopped_s = time.monotonic() - started
    print(f"browser Cancel -> handler ended: {stopped_s:.2f} s")
    assert admission.JOBS.counts()[0] == 0
    assert stopped_s < 2.0, f"the cancelled job's handler ended {stopped_s:.2f} s after Cancel"
    page.wait_for_function(RANK_ENABLED, timeout=5_000)
    page.wait_for_timeout(1500)  # whatever the cancelled job could still send has arrived
    assert "Cancelled" in _status(page)
    assert page.locator("#summary").inner_text() == summary_before  # the previous results stay
    # A cancelled job is not an error: no red badge on any output.
    assert page.locator(".error, [data-testid='error']").filter(has_text="Error").count() == 0
    assert page.get_by_text("Error", exact=True).count() == 0


def test_share_link_follows_an_example_and_round_trips(page, app_url):
    page.goto(app_url)
    _pick_example(page, "review_ratings", "rating")
    page.wait_for_function(
        "() => document.querySelector('#share-link textarea')?.value.includes('example=review_ratings')"
    )
    link = _share_link(page)
    assert "text=" in link and "label=rating" in link  # the example's own columns, without pressing Rank
    page.goto(link)
    page.wait_for_function(
        "() => document.querySelector('#label-column input')?.value.startsWith('rating')", timeout=20_000
    )
    from hfselect_app.targets import get_example

    assert page.locator("#example-dropdown input").input_value() == get_example("review_ratings")["title"]


def test_share_link_of_a_hub_dataset_round_trips(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Hub dataset").click()
    page.get_by_label("Dataset id").fill("stanfordnlp/imdb")
    page.get_by_label("Dataset id").press("Tab")
    page.wait_for_function(
        "() => document.querySelector('#share-link textarea')?.value.includes('dataset=stanfordnlp%2Fimdb')"
    )
    link = _share_link(page)
    assert "example=" not in link
    page.goto(link)
    page.wait_for_function(
        "() => [...document.querySelectorAll('input, textarea')].some(e => e.value === 'stanfordnlp/imdb')",
        timeout=20_000,
    )
    assert page.get_by_role("tab", name="Hub dataset", selected=True).count() == 1


def test_upload_gets_no_form_link_but_a_result_link(page, app_url, tmp_path):
    rows = ["text,label"] + [f"{'good great fine' if i % 2 else 'bad slow broken'} item {i},{i % 2}" for i in range(40)]
    csv = tmp_path / "mine.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    page.goto(app_url)
    page.get_by_role("tab", name="Upload a file").click()
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Click to Upload").first.click()
    chooser.value.set_files(str(csv))
    page.wait_for_function(
        "() => document.querySelector('#label-column input')?.value.startsWith('label')", timeout=20_000
    )
    page.locator("#share-note").get_by_text("cannot travel in a link").wait_for()
    assert _share_link(page) == ""  # never text=/label= for a file the link cannot carry
    page.locator("#rank-button").click()
    page.locator("#summary").get_by_text("Top candidate").wait_for(timeout=120_000)
    page.wait_for_function("() => document.querySelector('#result-link textarea')?.value.includes('?result=')")
    result_link = page.locator("#result-link textarea").input_value()
    page.goto(result_link)
    page.locator("#summary").get_by_text("Top candidate").wait_for(timeout=30_000)


def test_embed_example_shows_the_app_with_a_prefilled_form(page, app_url):
    from helpers import REPO_ROOT

    embed = (REPO_ROOT / "assets" / "embed_example.html").as_uri()
    page.goto(f"{embed}?app={app_url.rstrip('/')}&example=review_ratings")
    frame = page.frame_locator("#app-frame")
    frame.locator("#label-column input").wait_for(timeout=30_000)
    assert page.locator("#app-url").inner_text() == app_url.rstrip("/")
    frame.locator("#example-dropdown input").wait_for()
    for _ in range(100):
        if frame.locator("#label-column input").input_value().startswith("rating"):
            break
        page.wait_for_timeout(200)
    assert frame.locator("#label-column input").input_value().startswith("rating")
    # A link cannot turn the page into a javascript: URL.
    page.goto(f"{embed}?app=javascript:alert(1)")
    assert page.locator("#app-frame").get_attribute("src").startswith("http://127.0.0.1:7860/")
    # The app's own snippet names the app it runs as (here the local URL; on Spaces, SPACE_HOST).
    page.goto(app_url)
    page.wait_for_function("() => document.querySelector('#embed-snippet textarea')?.value.includes('<iframe')")
    snippet = page.locator("#embed-snippet textarea").input_value()
    assert f'<gradio-app src="{app_url.rstrip("/")}"></gradio-app>' in snippet and "OWNER" not in snippet
