"""Browser tests: Playwright (Python, sync API) driving Debian's /usr/bin/chromium against the app."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import CHROMIUM

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"),
]


@pytest.fixture
def page(browser):
    SCREENSHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def test_pick_example_rank_and_see_results(page, app_url):
    page.goto(app_url)
    page.locator("#example-support_messages").click()
    page.wait_for_function(
        "() => document.querySelector('#label-column input')?.value.startsWith('intent')", timeout=20_000
    )
    page.screenshot(path=str(SCREENSHOTS / "01_example_selected.png"), full_page=True)
    page.locator("#rank-button").click()
    page.locator("#summary").get_by_text("Top candidate").wait_for(timeout=90_000)
    links = page.locator("#results a[href^='https://huggingface.co/datasets/']")
    links.first.wait_for(state="attached")
    page.locator("#results").get_by_text("nyu-mll/glue").first.wait_for()  # a visible table cell
    assert links.count() >= 10
    page.locator("#bar-plot .js-plotly-plot").wait_for()
    page.locator("#bar-plot .bars path, #bar-plot g.point").first.wait_for(state="attached")
    assert "support_messages" in page.locator("#share-link textarea").input_value()
    page.screenshot(path=str(SCREENSHOTS / "02_ranked.png"), full_page=True)


def test_share_link_prefills_form(page, app_url):
    page.goto(app_url + "?example=review_ratings&n=150&seed=7&pool=bundled")
    page.wait_for_function(
        "() => document.querySelector('#label-column input')?.value.startsWith('rating')", timeout=20_000
    )
    page.get_by_text("Advanced", exact=True).click()
    assert page.locator("#seed input").input_value() == "7"
    assert page.locator("#num-examples input").input_value() == "150"
    assert page.locator("#task-type input[value='regression']").is_checked()
    assert page.locator("#pool input[value='bundled']").is_checked()
    page.screenshot(path=str(SCREENSHOTS / "03_share_link_prefilled.png"), full_page=True)


def test_add_your_dataset_trains_an_esm(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Add your dataset").click()
    page.locator("#studio-example input").click()
    page.get_by_role("option", name="Product reviews").click()
    page.wait_for_function("() => document.querySelector('#studio-label input')?.value.length > 0", timeout=20_000)
    page.locator("#studio-n input").fill("16")
    page.locator("#studio-n input").press("Enter")
    page.get_by_text("Training settings", exact=False).click()
    page.locator("#studio-epochs input").fill("1")
    page.locator("#studio-epochs input").press("Enter")
    page.locator("#studio-batch input").fill("8")
    page.locator("#studio-estimate").get_by_text("16 examples").wait_for(timeout=20_000)
    page.screenshot(path=str(SCREENSHOTS / "04_studio_form.png"), full_page=True)
    page.locator("#train-button").click()
    page.locator("#studio-card").get_by_text("embedding_space_map").first.wait_for(timeout=240_000)
    page.locator("#studio-download").wait_for(state="visible")
    assert "own task" in page.locator("#studio-self-check").inner_text()
    assert "MSE" in page.locator("#studio-fit-quality").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "05_studio_trained.png"), full_page=True)
