"""The README's gradio_client example, run exactly as printed against a locally launched app.

The snippet is cut out of README.md (the python block after "The ranking is an API endpoint") and
executed unchanged; only ``gradio_client.Client`` is pointed at this test's app instead of the
address in the snippet (which may be taken on a shared machine).
"""

from __future__ import annotations

import contextlib
import io
import os
import re

import pytest
from helpers import REPO_ROOT, free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def readme_snippet() -> str:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split("The ranking is an API endpoint", 1)[1]
    match = re.search(r"```python\n(.*?)```", after, re.S)
    assert match, "the README's /rank example is missing"
    return match.group(1)


@pytest.fixture(scope="module")
def app_url():
    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield app.demo.local_url
    app.demo.close()


def test_readme_api_snippet_runs_as_printed(app_url, monkeypatch, tmp_path):
    import gradio_client

    from hfselect_core import result_cache

    # The snippet's form is the app's default one: its stored result must not answer other tests' rankings.
    monkeypatch.setenv(result_cache.CACHE_DIR_ENV, str(tmp_path / "results"))

    snippet = readme_snippet()
    assert 'api_name="/rank"' in snippet and "= outputs" in snippet
    printed_url = re.search(r'Client\("([^"]+)"\)', snippet).group(1)

    class LocalClient(gradio_client.Client):
        def __init__(self, src, *args, **kwargs):
            assert src == printed_url
            kwargs.setdefault("verbose", False)
            super().__init__(app_url, *args, **kwargs)

    monkeypatch.setattr(gradio_client, "Client", LocalClient)
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["status"].startswith("✅"), namespace["status"]
    result = namespace["result"]
    assert result["ranking"][0]["rank"] == 1 and isinstance(result["baseline_score"], float)
    printed = out.getvalue()
    assert result["ranking"][0]["task_id"] in printed and "reference line" in printed
