"""Shared fixtures: tiny random base models and ESM folders written to tmp dirs (all offline)."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("HFSELECT_TRUST_REMOTE_CODE", None)
# Rankings embed in bf16 on CPUs/GPUs that compute it natively; tests compare embeddings with
# fp32 forward passes, so they pin fp32 (tests/test_core_embedding.py covers the default).
os.environ["HFSELECT_EMBEDDING_PRECISION"] = "fp32"
# Stored rankings (result cache) go to a fresh folder per test session, never to ~/.cache.
os.environ["HFSELECT_RESULT_CACHE_DIR"] = __import__("tempfile").mkdtemp(prefix="hfselect-results-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# tests/ is on sys.path through pyproject's [tool.pytest.ini_options] pythonpath.
from helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    WORDS,
    make_texts,
    save_tiny_bert,
    write_esm_folder,
    write_vocab,
)

__all__ = ["WORDS", "make_texts", "save_tiny_bert", "write_esm_folder", "write_vocab"]


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A tiny random BertModel (hidden size 32, with a pooler) and its tokenizer."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def texts() -> list[str]:
    return make_texts(40)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium through Playwright for one test module.

    Module scope: a test that starts its own Playwright (one sync instance per thread) may follow.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def fresh_settings():
    """Each test reads the environment afresh (hfselect_core.settings memoises what it read)."""
    from hfselect_core.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
