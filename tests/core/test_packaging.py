"""The core as a library user gets it: ``pip install .`` into a folder outside the checkout.

The installed copy must import, find the bundled ESM pool, the card template and the examples
through importlib.resources (not through the checkout), and expose the ``hfselect`` command.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed with pip from a copy of the sources (so no build files land in the checkout)."""
    work = tmp_path_factory.mktemp("pkg")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "hfselect_core", src / "hfselect_core", ignore=ignore)
    shutil.copytree(ROOT / "assets", src / "assets", ignore=ignore)
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(src),
        ],
        check=True,
        cwd=work,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        timeout=300,
    )
    return target


def _run_outside(target: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HFSELECT_ASSETS_DIR")}
    env["PYTHONPATH"] = str(target)
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_installed_package_finds_its_assets_outside_the_checkout(installed, tmp_path):
    result = _run_outside(
        installed,
        """
        import json
        from pathlib import Path
        import hfselect_core
        from hfselect_core import BUNDLED_MODEL_ID, BundledESMSource, ESMConfig, resources
        from hfselect_core.card import render_card

        pool = BundledESMSource(BUNDLED_MODEL_ID).load(BUNDLED_MODEL_ID)
        config = ESMConfig(task_id="org/task", base_model_name=BUNDLED_MODEL_ID, esm_embedding_dim=384)
        card = render_card(config)
        examples = json.loads((resources.examples_dir() / "examples.json").read_text())
        print(json.dumps({
            "package": str(Path(hfselect_core.__file__).resolve().parent),
            "assets": str(resources.assets_dir().resolve()),
            "esms": len(pool.esms),
            "skipped": len(pool.skipped),
            "first_dim": pool.esms[0].embedding_dim,
            "card_has_tag": "embedding_space_map" in card,
            "examples": len(examples),
        }))
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    import json

    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(info["package"]).is_relative_to(installed.resolve()), info
    assert Path(info["assets"]) == installed.resolve() / "hfselect_core" / "assets"
    checkout_pool = ROOT / "assets" / "esms" / "sentence-transformers__all-MiniLM-L6-v2"
    assert info["esms"] == sum(1 for p in checkout_pool.iterdir() if (p / "config.json").is_file()) > 0
    assert info["skipped"] == 0 and info["first_dim"] == 384
    assert info["card_has_tag"] and info["examples"] >= 1


def test_installed_command_line_entry_point(installed, tmp_path):
    script = installed / "bin" / "hfselect"
    assert script.is_file(), sorted(p.name for p in (installed / "bin").iterdir())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(installed), HF_HUB_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()
