"""Hostile ESM configs and files, table-driven: each is skipped with its reason and never sinks a ranking.

Issue 10, class 1: a wrong-typed or extreme config value, a deeply nested or oversized config,
or a config/weights file that is a device, a FIFO or a link to one, used to raise out of the
ranking (or hang, or read until memory ran out). Each row below builds one such ESM next to good
ones; the ranking must skip exactly that ESM with the reason given, and the good ESMs must keep
the scores they have without the hostile ones. The second half does the same with the real
bundled MiniLM and real bundled ESMs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, esm_config_dict, make_texts, write_esm_folder

from hfselect_core.data import TargetDataset
from hfselect_core.errors import ESMFormatError
from hfselect_core.esm import CONFIG_SCHEMA, MAX_CONFIG_BYTES, ESMConfig, check_field
from hfselect_core.ranking import compute_task_ranking
from hfselect_core.sources import ESMFilters

GOOD = ["org/good_a", "org/good_b", "org/good_c"]


def _set(**changes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update(changes)
        (folder / "config.json").write_text(json.dumps(config))

    return edit


def _raw(text: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / "config.json").write_text(text)

    return edit


def _replace_with_link(name: str, target: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).symlink_to(target)

    return edit


def _replace_with_fifo(name: str) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return edit


def _nested(depth: int) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        text = json.dumps(config)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
        (folder / "config.json").write_text(text)

    return edit


def _many_keys(n: int) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        config.update({f"k{i}": i for i in range(n)})
        (folder / "config.json").write_text(json.dumps(config))

    return edit


# (folder name, how to break it, fragment of the skip reason)
HOSTILE: list[tuple[str, Callable[[Path], None], str]] = [
    # --- typed: a value of the wrong JSON type -------------------------------------------------
    ("num_examples_text", _set(num_examples="many"), "config 'num_examples' must be a number, found the text 'many'"),
    ("num_examples_list", _set(num_examples=[1, 2]), "config 'num_examples' must be a number, found a JSON list"),
    ("dim_is_object", _set(esm_embedding_dim={"d": 32}), "config 'esm_embedding_dim' must be a number"),
    ("seed_is_bool", _set(seed=True), "config 'seed' must be a number, found the boolean true"),
    ("task_id_list", _set(task_id=["org/a", "org/b"]), "config 'task_id' must be text, found a JSON list"),
    ("task_id_number", _set(task_id=12345), "config 'task_id' must be text"),
    ("base_model_object", _set(base_model_name={"id": "x"}), "config 'base_model_name' must be text"),
    ("language_numbers", _set(language=[1, 2]), "config 'language' must be text"),
    ("lr_text", _set(lm_learning_rate="fast"), "config 'lm_learning_rate' must be a number"),
    ("dim_fraction", _set(esm_embedding_dim=32.5), "config 'esm_embedding_dim' must be a whole number"),
    # --- extreme: out of range, non-finite, huge ----------------------------------------------
    ("dim_1e999", _raw('{"task_id": "org/x", "base_model_name": "tiny/base", "esm_embedding_dim": 1e999}'), "finite"),
    ("epochs_nan", _raw('{"task_id": "org/x", "base_model_name": "tiny/base", "lm_num_epochs": NaN}'), "finite"),
    ("dim_negative", _set(esm_embedding_dim=-32), "config 'esm_embedding_dim' is -32, outside the range 1 to 8192"),
    ("dim_huge", _set(esm_embedding_dim=10**12), "outside the range 1 to 8192"),
    ("num_examples_5000_digits", _raw('{"task_id": "org/x", "num_examples": ' + "9" * 5000 + "}"), "not valid JSON"),
    ("task_id_long", _set(task_id="x" * 5000), "config 'task_id' is 5000 characters long (at most 300)"),
    ("task_id_control_chars", _set(task_id="org/x\u0000\u001b[31m"), "config 'task_id' holds control characters"),
    ("language_200_items", _set(language=["en"] * 200), "config 'language' lists 200 values (at most 50)"),
    # --- nested -----------------------------------------------------------------------------------
    ("nested_100k", _nested(100_000), "nested too deeply to be an ESM config"),
    ("nested_50", _nested(50), "config key 'deep' is nested deeper than 8 levels"),
    ("many_unknown_keys", _many_keys(500), "config.json has 500 unknown keys (at most 200)"),
    # --- oversized --------------------------------------------------------------------------------
    ("config_300kb", _set(developers="x" * 300_000), f"larger than the limit of {MAX_CONFIG_BYTES:,}"),
    ("config_padded_1mb", _raw(" " * 1_100_000 + "{}"), "larger than the limit"),
    # --- special files: refused from stat, never read ----------------------------------------
    ("config_dev_zero", _replace_with_link("config.json", "/dev/zero"), "config.json is not a regular file"),
    ("config_fifo", _replace_with_fifo("config.json"), "config.json is not a regular file"),
    ("config_dir", lambda f: ((f / "config.json").unlink(), (f / "config.json").mkdir()), "not a regular file"),
    ("config_dangling_link", _replace_with_link("config.json", "/nonexistent/x.json"), "missing config.json"),
    ("weights_dev_zero", _replace_with_link("model.safetensors", "/dev/zero"), "model.safetensors is not a regular"),
    ("weights_fifo", _replace_with_fifo("model.safetensors"), "model.safetensors is not a regular file"),
    ("weights_dev_urandom", _replace_with_link("model.safetensors", "/dev/urandom"), "is not a regular file"),
]


@pytest.fixture(scope="module")
def pools(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("hostile_pool")
    clean = tmp_path_factory.mktemp("clean_pool")
    for i, task in enumerate(GOOD):
        for where in (root, clean):
            write_esm_folder(where / task.replace("/", "__"), task, seed=i)
    for name, breaker, _ in HOSTILE:
        breaker(write_esm_folder(root / name, f"org/{name}", seed=9))
    dataset = TargetDataset.from_pandas(
        pd.DataFrame({"text": make_texts(30, seed=4), "label": [i % 2 for i in range(30)]}), "text", "label"
    )
    started = time.monotonic()
    hostile = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(root), device="cpu")
    seconds = time.monotonic() - started
    reference = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(clean), device="cpu")
    return hostile, reference, seconds, root


def test_good_esms_keep_their_scores_next_to_hostile_ones(pools):
    hostile, reference, seconds, _ = pools
    assert [(r.name, r.score) for r in hostile] == [(r.name, r.score) for r in reference]
    assert {s.name for s in hostile.skipped} == {name for name, _, _ in HOSTILE}
    assert seconds < 60, "a special file made the ranking hang"


@pytest.mark.parametrize(("name", "fragment"), [(n, f) for n, _, f in HOSTILE], ids=[n for n, _, _ in HOSTILE])
def test_hostile_esm_is_skipped_with_its_reason(pools, name, fragment):
    reasons = {s.name: s.reason for s in pools[0].skipped}
    assert fragment in reasons[name], reasons[name]
    assert len(reasons[name]) <= 303 and "\n" not in reasons[name]


def test_list_task_id_with_a_task_filter_is_skipped_not_raised(pools, tiny_bert_dir):
    """The original crash: a list as task_id combined with a task filter (AttributeError on .lower())."""
    dataset = TargetDataset.from_pandas(
        pd.DataFrame({"text": make_texts(20, seed=6), "label": [i % 2 for i in range(20)]}), "text", "label"
    )
    ranking = compute_task_ranking(
        dataset,
        base_model=str(tiny_bert_dir),
        source=str(pools[3]),
        filters=ESMFilters(task_contains="good"),
        device="cpu",
    )
    assert sorted(r.name for r in ranking) == sorted(t.replace("/", "__") for t in GOOD)
    reasons = {s.name: s.reason for s in ranking.skipped}
    assert "must be text, found a JSON list" in reasons["task_id_list"]


# --- the schema, field by field ------------------------------------------------------------------

SCHEMA_CASES = [
    ("num_examples", 1000.0, 1000),  # whole floats are ints (JSON writers differ)
    ("num_examples", 0, 0),
    ("seed", -1, -1),
    ("lm_learning_rate", 2e-5, 2e-5),
    ("language", ["en", "de"], ["en", "de"]),
    ("text_column", ["premise", "hypothesis"], ["premise", "hypothesis"]),
    ("task_subset", "", ""),
    ("pooling", "st:mean+normalize", "st:mean+normalize"),
    ("esm_embedding_dim", 8192, 8192),
]

SCHEMA_ERRORS = [
    ("num_examples", -1, "outside the range 0 to 1e+12"),
    ("esm_batch_size", 0, "outside the range 1 to 1e+07"),
    ("lm_weight_decay", float("inf"), "must be a finite number"),
    ("lm_num_epochs", "3", "must be a number, found the text '3'"),
    ("esm_embedding_dim", 8193, "outside the range 1 to 8192"),
    ("version", "", "0 characters long"),
    ("task_split", "x" * 201, "201 characters long (at most 200)"),
    ("esm_architecture", ["linear"], "must be text, found a JSON list"),
    ("seed", 2**70, "is 1180591620717411303424, outside the range"),
    ("num_examples", 10**50, "is a 51-digit number, outside the range"),
]


@pytest.mark.parametrize(("key", "value", "expected"), SCHEMA_CASES)
def test_schema_accepts(key, value, expected):
    assert check_field(key, value) == expected


@pytest.mark.parametrize(("key", "value", "fragment"), SCHEMA_ERRORS)
def test_schema_refuses(key, value, fragment):
    with pytest.raises(ESMFormatError) as info:
        check_field(key, value)
    assert fragment in str(info.value), str(info.value)


def test_schema_covers_every_config_field_and_every_bundled_config_passes():
    """Replaces a test that only checked a test helper: the schema itself must cover every known key,
    and every ESM we ship (and the configs the test helpers write) must pass it unchanged."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(ESMConfig)} - {"extra"}
    assert known == set(CONFIG_SCHEMA)
    bundled = sorted(REPO_ROOT.glob("assets/esms/*/*/config.json"))
    assert len(bundled) >= 39
    for path in bundled:
        raw = json.loads(path.read_text())
        config = ESMConfig.from_json_file(path)
        assert config.to_dict() == raw, path
    sample = esm_config_dict("org/task", "org/base", 32)
    assert set(sample) == known - {"pooling"}
    assert ESMConfig.from_dict(sample).to_dict() == sample


# --- the same with the real bundled MiniLM and real ESMs ------------------------------------------

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
REAL = ["ag_news", "imdb", "tweet_eval_sentiment"]


@pytest.fixture(scope="module")
def real_pools(tmp_path_factory):
    bundled = REPO_ROOT / "assets" / "esms" / "sentence-transformers__all-MiniLM-L6-v2"
    names = [n for n in REAL if (bundled / n).is_dir()] or sorted(p.name for p in bundled.iterdir())[:3]
    clean = tmp_path_factory.mktemp("real_clean")
    mixed = tmp_path_factory.mktemp("real_mixed")
    for name in names:
        shutil.copytree(bundled / name, clean / name)
        shutil.copytree(bundled / name, mixed / name)
    for name, breaker, _ in HOSTILE[::3]:  # a third of the table: every class is represented
        target = mixed / f"hostile_{name}"
        shutil.copytree(bundled / names[0], target)
        breaker(target)
    return names, clean, mixed


def test_real_esms_score_the_same_next_to_hostile_ones(real_pools):
    names, clean, mixed = real_pools
    root = REPO_ROOT
    dataset = TargetDataset.from_file(
        root / "assets" / "examples" / "product_reviews.csv", "review", "sentiment", num_examples=60, seed=1
    )
    reference = compute_task_ranking(dataset, base_model=MINILM, source=str(clean), device="cpu")
    mixed_ranking = compute_task_ranking(dataset, base_model=MINILM, source=str(mixed), device="cpu")
    assert sorted(r.name for r in reference) == sorted(names)
    assert [(r.name, r.score) for r in mixed_ranking] == [(r.name, r.score) for r in reference]
    assert all(np.isfinite(r.score) for r in reference)
    assert {s.name for s in mixed_ranking.skipped} == {f"hostile_{n}" for n, _, _ in HOSTILE[::3]}
