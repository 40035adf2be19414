"""Where the files shipped with hfselect are: the bundled ESM pool, the model card template, the examples.

They live in the repository's ``assets/`` folder (the Space's layout). An installed wheel carries
the same folder as the package ``hfselect_core.assets`` (see ``[tool.setuptools.package-dir]`` in
pyproject.toml), found through :mod:`importlib.resources`; a checkout that was not installed finds
it beside the package. ``HFSELECT_ASSETS_DIR`` points somewhere else (a deployment's own pool).
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from .settings import get_settings

PACKAGE = "hfselect_core"
ASSETS_PACKAGE = f"{PACKAGE}.assets"
CARD_TEMPLATE = "esm_card_template.md"


def package_dir() -> Path:
    """The folder of the ``hfselect_core`` package (installed or in a checkout)."""
    return Path(str(resources.files(PACKAGE)))


@functools.cache
def packaged_assets_dir() -> Path:
    """The assets that came with this copy of the package (ignores ``HFSELECT_ASSETS_DIR``)."""
    try:
        installed = Path(str(resources.files(ASSETS_PACKAGE)))
    except ModuleNotFoundError:  # a checkout: assets/ sits beside hfselect_core/
        installed = None
    if installed is not None and installed.is_dir():
        return installed
    return package_dir().parent / "assets"


def assets_dir() -> Path:
    """The assets folder in use: ``HFSELECT_ASSETS_DIR`` when set, else the packaged one."""
    return get_settings().assets_dir or packaged_assets_dir()


def card_template_path() -> Path:
    """The Jinja template of an ESM's model card."""
    return assets_dir() / CARD_TEMPLATE


def examples_dir() -> Path:
    """The example target datasets (``examples.json`` lists them)."""
    return assets_dir() / "examples"


def bundled_esms_dir() -> Path:
    """The bundled ESM pools, one folder per base model."""
    return assets_dir() / "esms"
