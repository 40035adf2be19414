"""The Space's own environment variables, read in one place (the core's live in ``hfselect_core.settings``).

``AppSettings.from_env()`` is cheap and reads the variables again each time, so a deployment or a
test that changes one (``monkeypatch.setenv``) sees the change at the next request. The Space's
persistent storage (``HFSELECT_DATA_DIR``) is a core setting (the result cache lives there too);
:func:`use_persistent_storage` reads it from ``hfselect_core.settings``, which imports no Hub
library, so it can run before huggingface_hub is imported (it reads ``HF_HOME`` once, at import).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SPACE_ID_ENV = "SPACE_ID"  # set by Spaces: sign-in is offered only there
SPACE_HOST_ENV = "SPACE_HOST"  # set by Spaces: the public host name used in share links
SERVER_NAME_ENV = "GRADIO_SERVER_NAME"
SERVER_PORT_ENV = "GRADIO_SERVER_PORT"
ALLOWED_MODEL_DIRS_ENV = "HFSELECT_ALLOWED_MODEL_DIRS"  # server folders allowed as base models

DEFAULT_SERVER_NAME = "127.0.0.1"
DEFAULT_SERVER_PORT = 7860


@dataclass(frozen=True)
class AppSettings:
    """Where the Space runs and what its deployment allows.

    Args:
        space_id: the Space's id on Spaces (``SPACE_ID``), None elsewhere.
        space_host: the Space's public host (``SPACE_HOST``), None elsewhere.
        server_name: the address ``python app.py`` listens on (``GRADIO_SERVER_NAME``).
        server_port: its port (``GRADIO_SERVER_PORT``).
        allowed_model_dirs: server folders a base model may be loaded from
            (``HFSELECT_ALLOWED_MODEL_DIRS``, ``os.pathsep``-separated; none by default).
    """

    space_id: str | None = None
    space_host: str | None = None
    server_name: str = DEFAULT_SERVER_NAME
    server_port: int = DEFAULT_SERVER_PORT
    allowed_model_dirs: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        env = os.environ if environ is None else environ
        try:
            port = int(env.get(SERVER_PORT_ENV, "") or DEFAULT_SERVER_PORT)
        except ValueError:
            port = DEFAULT_SERVER_PORT
        dirs = env.get(ALLOWED_MODEL_DIRS_ENV, "")
        return cls(
            space_id=env.get(SPACE_ID_ENV) or None,
            space_host=env.get(SPACE_HOST_ENV) or None,
            server_name=env.get(SERVER_NAME_ENV) or DEFAULT_SERVER_NAME,
            server_port=port,
            allowed_model_dirs=tuple(Path(p).expanduser() for p in dirs.split(os.pathsep) if p.strip()),
        )

    @property
    def on_spaces(self) -> bool:
        """Running as a Hugging Face Space (sign-in and publishing are offered)."""
        return self.space_id is not None


def use_persistent_storage(environ: dict | None = None) -> None:
    """Point ``HF_HOME`` at the Space's persistent storage when it is mounted and writable.

    The Hub cache (ESMs, base models, datasets) then survives restarts, so a warm ranking stays a
    handful of requests. An ``HF_HOME`` the deployment set itself is kept.
    """
    from hfselect_core.settings import Settings

    env = os.environ if environ is None else environ
    data_dir = Settings.from_env(env).data_dir
    if "HF_HOME" not in env and data_dir.is_dir() and os.access(data_dir, os.W_OK):
        env["HF_HOME"] = str(data_dir / ".huggingface")
