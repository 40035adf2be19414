"""Fixtures shared by the app's tests."""

import pytest
from helpers import free_port


@pytest.fixture(scope="module")
def app_url():
    """The app served on a free port for one test module (browser tests open this URL)."""
    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield app.demo.local_url.rstrip("/") + "/"
    app.demo.close()
