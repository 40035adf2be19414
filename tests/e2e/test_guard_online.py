"""The 'auto' pool uses the Hub when the Hub answers (issue 18), in the app's handler and the core.

A small local Hub (tests/hub_emulator.py) serves a tiny base model, four ESMs and a dataset; a
bundled pool for the same base model exists too, under other names. With ``pool="auto"`` the
ranking must hold the Hub's ESMs (and the emulator must have served their files), not the bundled
ones. ``huggingface_hub`` reads ``HF_ENDPOINT`` at import, so the ranking runs in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import REPO_ROOT, make_texts, save_tiny_bert, write_esm_folder
from hub_emulator import HubEmulator, add_esm_pool, add_parquet_dataset

from hfselect_core.esm import safe_name

BASE = "guard-org/tiny-bert"
POSITIVE = {"good", "great", "love", "happy", "fine", "fast", "cheap"}

SCRIPT = r"""
import json, sys
from hfselect_app import rank_tab
from hfselect_core import TargetDataset, compute_task_ranking

base = sys.argv[1]
form = dict(source="hub", dataset_id="emu/reviews", split="train", text_columns=["text"], label_column="label",
            num_examples=60, seed=3, base_model=base, pool="auto")
final = dict(zip(rank_tab.OUTPUTS, list(rank_tab.rank(**form))[-1]))
raw = final["raw"]
names = list(raw["ESM"]) if hasattr(raw, "columns") else [row["ESM"] for row in raw] if raw else []
ds = TargetDataset.from_hub("emu/reviews", text_columns="text", label_column="label", num_examples=60)
core = compute_task_ranking(ds, base, source="auto")
print(json.dumps({"status": str(final["status"]), "app": names, "core": [r.name for r in core]}))
"""


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    hub = HubEmulator()
    bert = save_tiny_bert(tmp_path_factory.mktemp("guard_emu_bert"))
    hub.add_model_folder(BASE, bert, tags=["transformers", "bert", "fill-mask"])
    hub.hub_esms = add_esm_pool(hub, BASE, 4, dim=32, owner="hub-org")
    texts = make_texts(120, 5)
    labels = [int(bool(POSITIVE & set(t.split()))) for t in texts]
    add_parquet_dataset(hub, "emu/reviews", {"train": {"text": texts, "label": labels}}, {"label": ["neg", "pos"]})
    hub.start()
    yield hub
    hub.stop()


def test_auto_pool_ranks_the_hubs_esms_when_the_hub_answers(emu, tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    for item in (REPO_ROOT / "assets").iterdir():
        if item.name != "esms":
            (assets / item.name).symlink_to(item)
    bundled = [f"bundled/only_{i}" for i in range(3)]  # what 'auto' would rank if it ignored the Hub
    for i, task in enumerate(bundled):
        write_esm_folder(assets / "esms" / safe_name(BASE) / f"only_{i}", task, base_model=BASE, seed=50 + i)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
    env.update(
        HF_ENDPOINT=emu.url,
        HF_HUB_OFFLINE="0",
        HF_HOME=str(tmp_path / "hf_home"),
        HF_HUB_DISABLE_TELEMETRY="1",
        HFSELECT_ASSETS_DIR=str(assets),
        HFSELECT_RESULT_CACHE_DIR=str(tmp_path / "results"),
        PYTHONPATH=str(REPO_ROOT),
    )
    emu.clear_log()
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, BASE], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["status"].startswith("✅"), out["status"]
    hub_names = set(emu.hub_esms)
    for where in ("app", "core"):
        assert set(out[where]) == hub_names, f"{where}: {out[where]} (Hub: {sorted(hub_names)})"
    served = {r.path.split("/resolve/")[0].lstrip("/") for r in emu.log if "/resolve/" in r.path}
    assert hub_names <= served, f"the Hub's ESM files were not downloaded: {sorted(served)}"
