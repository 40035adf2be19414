"""A ``?result=<id>`` link opens the stored ranking with the form filled in from the inputs it was
computed from (example, Hub dataset or an upload's columns), so ranking again is one click."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hfselect_app import rank_tab, share  # noqa: E402
from hfselect_core import result_cache  # noqa: E402
from hfselect_core.esm import ESMConfig  # noqa: E402
from hfselect_core.ranking import RankedTask, TaskRanking  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


class _Request:
    def __init__(self, query: dict):
        self.headers = {"host": "space.example"}
        self.query_params = query
        self.request = None


def _store(target: str, label: str, **over) -> str:
    key = dict(
        target=target, subset=None, split=None, text_columns=("review",), label_column="label", task_type=None,
        num_examples=321, seed=7, base_model=MODEL, base_revision=None, pool="bundled", pool_listing="bundled:x",
    )  # fmt: skip
    key.update(over)
    rows = [RankedTask(1, "org/ESM_0", ESMConfig(base_model_name=MODEL, task_id="org/task0"), 0.5, "bundled")]
    ranking = TaskRanking(rows, [], MODEL, 321, "classification")
    return result_cache.default_cache().put(result_cache.RankingKey(**key), ranking, False, label)


def _value(v):
    return v.get("value") if isinstance(v, dict) else getattr(v, "value", v)


def _link(values: dict) -> str:
    form = {f.name: _value(values[f.name]) if f.name in values else f.default for f in rank_tab.FIELDS}
    return rank_tab.make_share_link("https://space.example/", *[form[f.name] for f in rank_tab.FIELDS])[0]


def test_a_result_link_of_an_example_fills_the_form_it_was_ranked_with():
    rid = _store("file:abc", "example product_reviews", max_count=5, task_contains="sst")
    values = rank_tab.load_values(_Request({"result": rid}))
    assert values["result_ref"] == rid and values["autorun"] is False
    assert _value(values["example"]) == "product_reviews"
    assert _value(values["text_columns"]) == ["review"] and _value(values["label_column"]) == "label"
    assert values["num_examples"] == 321 and values["seed"] == 7 and values["pool"] == "bundled"
    assert values["max_esms"] == 5 and values["task_filter"] == "sst"
    link = _link(values)  # the share link follows: change the seed, press Rank
    assert "example=product_reviews" in link and "seed=7" in link and "n=321" in link, link


def test_a_result_link_of_a_hub_dataset_fills_its_id_subset_and_split():
    rid = _store("hub:org/data@" + "a" * 40, "org/data", subset="en", split="test", seed=8)
    values = rank_tab.load_values(_Request({"result": rid}))
    assert values["dataset_id"] == "org/data" and values["seed"] == 8
    assert _value(values["subset"]) == "en" and _value(values["split"]) == "test"


def test_a_result_link_of_an_upload_fills_the_columns_and_asks_for_the_file():
    rid = _store("file:def", "an uploaded file", seed=9)
    values = rank_tab.load_values(_Request({"result": rid}))
    assert values["source"] == "file" and values["seed"] == 9
    assert _value(values["text_columns"]) == ["review"]
    assert share.STORED_UPLOAD_NOTE in values["status"]


@pytest.mark.parametrize("query", [{"result": "0" * 16}, {"result": "0" * 16, "example": "support_messages"}])
def test_an_unknown_result_or_a_link_with_its_own_values_keeps_the_link_as_it_is(query):
    values = rank_tab.load_values(_Request(query))
    assert _value(values.get("example")) == query.get("example")


def test_a_link_names_every_value_it_left_out_escaped_and_does_not_autorun():
    query = {"pool": "evil", "task_type": "zzz", "example": "<script>alert(1)</script>", "autorun": "1"}
    values = rank_tab.load_values(_Request(query))
    status = values["status"]
    assert "could not be used" in status and "pool=evil" in status and "task_type=zzz" in status, status
    assert "example=" in status and "<script" not in status and "script" in status
    assert values["autorun"] is False


@pytest.mark.parametrize("rid", ["<script>alert(1)</script>", "0" * 16])
def test_a_malformed_result_id_is_answered_like_an_unknown_one(rid):
    values = rank_tab.load_values(_Request({"result": rid}))
    defaults = [f.default for f in rank_tab.FIELDS]
    shown = list(rank_tab.autorun_rank(values["autorun"], values["result_ref"], *defaults))
    assert "This stored result is not available" in shown[-1][0] and "<script" not in shown[-1][0]
    assert shown[-1][rank_tab.OUTPUTS.index("result_id")] == ""  # so no "link to this result" either
