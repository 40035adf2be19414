"""The bundled pool's model cards say how each map was really made: the head, the learning rates,
the fit (ridge, texts from outside the task) and the held-out quality recorded in its config."""

from __future__ import annotations

import json
import re

import pytest

from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.sources import bundled_pool_dir

FOLDERS = sorted(p for p in bundled_pool_dir(BUNDLED_MODEL_ID).iterdir() if p.is_dir())


def test_the_pool_is_complete():
    assert len(FOLDERS) == 39
    for folder in FOLDERS:
        assert {"config.json", "model.safetensors", "README.md"} <= {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_card_matches_the_recipe_in_the_config(folder):
    config = json.loads((folder / "config.json").read_text())
    card = " ".join((folder / "README.md").read_text().split())
    if config["lm_head"] == "linear":
        assert "the head sees the mean-pooled embedding before any normalisation" in card
        assert "learned scale" not in card
    else:
        assert config["lm_head"] == "cosine" and "learned scale" in card
    head_lr = config["lm_head_learning_rate"]
    assert ("for the head)" in card) == (head_lr is not None)
    if head_lr is not None:
        assert f"({head_lr:g} for the head)" in card
    assert f"learning rate {config['lm_learning_rate']:g}" in card
    assert f"a ridge of {config['esm_ridge']:g} times" in card
    outside = config["esm_num_fit_texts_outside_task"]
    assert (f"plus {outside} texts from other tasks" in card) == (outside > 0)
    shown = re.search(r"\| R² \| ([-0-9.]+) \|", card)
    assert shown and float(shown.group(1)) == round(config["esm_r2"], 4)
