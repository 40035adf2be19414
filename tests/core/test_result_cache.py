"""The result cache: keyed by every input, bounded, never serving another input's or a restricted result.

The online half (keys from a Hub dataset's commit and the ESM listing, tokens) is in test_online.py.
"""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from hfselect_core import result_cache
from hfselect_core.esm import ESMConfig
from hfselect_core.hub import HubESMRepo, listing_hash
from hfselect_core.ranking import RankedTask, TaskRanking
from hfselect_core.result_cache import RankingKey, ResultCache


def _ranking(scores=(0.5, 0.25)) -> TaskRanking:
    rows = [
        RankedTask(i + 1, f"org/ESM_{i}", ESMConfig(base_model_name="m", task_id=f"org/task{i}"), s, "Hub")
        for i, s in enumerate(scores)
    ]
    return TaskRanking(rows, [], "m", 100, "classification", 1.5, {"score": 0.1}, ["a note"], 0.1)


POOL = [HubESMRepo(f"org/ESM_{i}", f"{i:040x}") for i in range(300)]


def _key(**over) -> RankingKey:
    base = dict(
        target="hub:org/data@" + "a" * 40,
        subset=None,
        split="train",
        text_columns=("text",),
        label_column="label",
        task_type=None,
        num_examples=1000,
        seed=42,
        base_model="google-bert/bert-base-uncased",
        base_revision="b" * 40,
        pool="hub",
        pool_listing="hub:" + listing_hash(POOL),
    )
    base.update(over)
    return RankingKey(**base)


def test_a_stored_result_comes_back_identical_for_the_same_key(tmp_path):
    cache = ResultCache(tmp_path)
    ranking = _ranking()
    rid = cache.put(_key(), ranking, restricted=False, target_label="org/data")
    stored = cache.get(_key())
    assert stored is not None and stored.result_id == rid and len(rid) == 16
    assert stored.ranking.to_dict() == ranking.to_dict()
    assert cache.get_by_id(rid).ranking.to_dict() == ranking.to_dict()
    assert stored.age_seconds < 5


@pytest.mark.parametrize(
    "change",
    [
        dict(target="hub:org/data@" + "c" * 40),  # the dataset got a new commit
        dict(target="sha256:" + "0" * 64),
        dict(subset="other"),
        dict(split="test"),
        dict(text_columns=("text", "title")),
        dict(label_column="label2"),
        dict(task_type="regression"),
        dict(num_examples=999),
        dict(seed=7),
        dict(base_model="bert-base-cased"),
        dict(base_revision="d" * 40),
        dict(pool="bundled"),
        # the pool gained one ESM
        dict(pool_listing="hub:" + listing_hash([*POOL, HubESMRepo("new/ESM", "e" * 40)])),
        # one ESM was updated (same ids, a new commit)
        dict(pool_listing="hub:" + listing_hash([*POOL[:-1], HubESMRepo(POOL[-1].repo_id, "f" * 40)])),
        dict(task_contains="glue"),
        dict(language="de"),
        dict(max_count=10),
        dict(max_length=256),
        dict(scoring_version="0"),
    ],
)
def test_any_other_input_misses(tmp_path, change):
    cache = ResultCache(tmp_path)
    cache.put(_key(), _ranking(), restricted=False, target_label="org/data")
    other = _key(**change)
    assert other.result_id != _key().result_id
    assert cache.get(other) is None


def test_a_short_id_collision_is_never_served(tmp_path):
    cache = ResultCache(tmp_path)
    rid = cache.put(_key(), _ranking(), restricted=False, target_label="org/data")
    # Another key whose short id happened to be the same: the stored full key does not match.
    other = _key(seed=7)
    (tmp_path / f"{other.result_id}.json").write_text((tmp_path / f"{rid}.json").read_text())
    assert cache.get(other) is None


def test_the_cache_is_bounded_and_drops_the_least_recently_used(tmp_path):
    cache = ResultCache(tmp_path, max_entries=3)
    keys = [_key(seed=i) for i in range(5)]
    for i, key in enumerate(keys[:3]):
        cache.put(key, _ranking(), restricted=False, target_label="x")
        time.sleep(0.02)
    assert cache.get(keys[0]) is not None  # used: now the most recent
    time.sleep(0.02)
    for key in keys[3:]:
        cache.put(key, _ranking(), restricted=False, target_label="x")
        time.sleep(0.02)
    assert len(cache.entries()) == 3
    assert cache.get(keys[0]) is not None and cache.get(keys[1]) is None and cache.get(keys[2]) is None
    small = ResultCache(tmp_path / "small", max_bytes=5_000)
    for i in range(10):
        small.put(_key(seed=100 + i), _ranking(), restricted=False, target_label="x")
    assert sum(p.stat().st_size for p in small.entries()) <= 5_000


def test_restricted_results_are_never_served_by_id_and_hold_no_token(tmp_path):
    cache = ResultCache(tmp_path)
    rid = cache.put(_key(), _ranking(), restricted=True, target_label="org/gated")
    assert cache.get_by_id(rid) is None
    assert cache.get(_key()) is not None  # by key: the requester's own token produced the key
    text = (tmp_path / f"{rid}.json").read_text()
    assert "hf_" not in text and "token" not in json.loads(text)["key"]
    assert {f.name for f in dataclasses.fields(RankingKey)}.isdisjoint({"token", "user"})


def test_bad_ids_are_refused(tmp_path):
    cache = ResultCache(tmp_path)
    for bad in ("", "../../etc/passwd", "0" * 15, "g" * 16, "0" * 16 + "/x"):
        assert cache.get_by_id(bad) is None


def test_the_app_serves_a_repeated_request_from_the_cache(monkeypatch, tmp_path):
    """The same form twice: the second is read back (no ranking), says so, and shows the same table."""
    monkeypatch.setenv(result_cache.CACHE_DIR_ENV, str(tmp_path / "results"))
    from hfselect_app import rank_tab

    args = dict(
        source="example", example="news_headlines", task_type="auto", num_examples=60, seed=42, max_esms=0,
        task_filter="", language="", base_model="sentence-transformers/all-MiniLM-L6-v2", pool="bundled", top_k=10,
    )  # fmt: skip
    first = list(rank_tab.rank(**args))[-1]
    assert first[0].startswith("✅"), first[0]
    started = time.perf_counter()
    second = list(rank_tab.rank(**args))
    seconds = time.perf_counter() - started
    steps = " ".join(str(out[0]) for out in second)
    # The staged status line names every step; the one running is in bold.
    assert "**Scoring**" not in steps and "**Embedding**" not in steps, "a stored result is shown, not recomputed"
    second = second[-1]
    assert "From the result cache" in second[0] and "ago" in second[0]
    assert second[2].equals(first[2])  # the results table
    assert second[-1] == first[-1] and result_cache.is_result_id(first[-1])
    assert seconds < 5.0  # measured well under 1 s (bench/RESULTS.md); lenient on a shared CI machine
    # The same stored ranking opens by its short id (the share link).
    shown = rank_tab.show_stored_result(first[-1])
    assert "From the result cache" in shown[0] and shown[2].equals(first[2])
    assert "not available" in rank_tab.show_stored_result("0" * 16)[0]
