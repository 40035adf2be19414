"""App handlers offline with the bundled pool, and one end-to-end call through gradio_client."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from helpers import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hfselect_core import app_logic as logic  # noqa: E402
from hfselect_core import plots  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def app_module():
    import app

    return app


def _args(**over):
    form = dict(
        source="example",
        example="product_reviews",
        file=None,
        dataset_id=None,
        subset=None,
        split=None,
        text_columns=None,
        label_column=None,
        task_type="auto",
        num_examples=1000,
        seed=42,
        max_esms=0,
        task_filter="",
        language="",
        base_model=MODEL,
        pool="auto",
        top_k=10,
    )
    form.update(over)
    return list(form.values())


def _final(app_module, **over):
    outputs = list(app_module.rank(*_args(**over)))
    assert outputs, "the rank generator yielded nothing"
    return outputs


@pytest.fixture(scope="module")
def ranked(app_module):
    return _final(app_module)


def test_rank_example_streams_and_ranks_bundled_pool(ranked):
    assert len(ranked) > 3, "progress should stream before the result"
    status, summary, table, skipped, bar, hist, size, csv_path, json_path, raw = ranked[-1][:10]
    assert status.startswith("✅")
    assert "Top candidate" in summary and "predicted to" not in summary
    assert isinstance(table, pd.DataFrame) and len(table) == 39
    assert pd.api.types.is_float_dtype(table["Score"])
    assert table["Score"].is_monotonic_decreasing
    # Hub ids (owner/name) link to their dataset page; the bundled tasks whose cards say they have
    # no Hub id (e.g. crowdflower_tweet_sentiment) are shown as text, never as a made-up link.
    linked = table["Task ID"].str.contains("https://huggingface.co/datasets/")
    assert linked.sum() >= 30
    assert not table.loc[~linked, "Task ID"].str.contains("/|&#47;").any()
    assert not table["Task ID"].str.contains("datasets/crowdflower_tweet_sentiment", regex=False).any()
    assert bar.layout.height and hist.layout.height and size.layout.height
    assert open(csv_path, encoding="utf-8").read().startswith("Rank,Task ID")
    assert '"ranking"' in open(json_path, encoding="utf-8").read()
    assert len(raw) == 39


@pytest.mark.parametrize(
    "over, expected",
    [
        (dict(source="file"), "Upload a CSV"),
        (dict(example=None), "Pick an example"),
        (dict(text_columns=["nope"]), "The text column 'nope' does not exist"),
        (dict(label_column="review", text_columns=["review"]), "both a text and the label column"),
        (dict(num_examples=1), "at least 2"),
        (dict(base_model=""), "Choose a base model"),
        (
            dict(
                source="hub", dataset_id="stanfordnlp/imdb", split="train", text_columns=["text"], label_column="label"
            ),
            "cannot be reached",
        ),
        (dict(base_model="no-such/model-xyz", pool="bundled"), "No ESMs were found"),
    ],
)
def test_bad_inputs_give_messages_not_exceptions(app_module, over, expected):
    outputs = list(app_module.rank(*_args(**over)))
    status = outputs[-1][0]
    assert expected in status
    assert "Traceback" not in status


def test_uploaded_file_fills_columns(app_module, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # uploads are only read from Gradio's upload folder
    path = tmp_path / "data.tsv"
    path.write_text("sentence\tgold\nhello there\t1\nbad day\t0\n", encoding="utf-8")
    source, text, label, preview, info = app_module.fill_file(str(path))
    assert source == "file"
    assert text.value == ["sentence"] and label.value == "gold"
    assert ("sentence (string)", "sentence") in text.choices
    assert len(preview) == 2 and "2 rows" in info
    bad = tmp_path / "data.xlsx"
    bad.write_bytes(b"PK\x03\x04")
    assert "not a supported file type" in app_module.fill_file(str(bad))[-1]
    monkeypatch.delenv("GRADIO_TEMP_DIR")
    assert "⚠️" in app_module.fill_file(str(path))[-1]  # outside the upload folder: refused, not read


def test_rank_validator_flags_the_right_inputs(app_module):
    checks = app_module.validate_rank(*_args(source="file", num_examples=1))
    bad = {app_module.RANK_FIELDS[i]: c["message"] for i, c in enumerate(checks[:16]) if not c["is_valid"]}
    assert set(bad) == {"file", "text_columns", "label_column", "num_examples"}
    assert all(c["is_valid"] for c in app_module.validate_rank(*_args()))


def test_example_fill_and_hub_offline_message(app_module):
    source, _, text, label, task, info, preview = app_module.fill_example("review_ratings")
    assert (source, text.value, label.value, task) == ("example", ["text"], "rating", "regression")
    assert len(preview) == 5
    assert "cannot be reached" in app_module.hub_lookup("stanfordnlp/imdb")[-1]


def test_share_link_round_trip():
    form = logic.RankForm(
        source="hub",
        dataset_id="stanfordnlp/imdb",
        split="test",
        text_columns=["text"],
        label_column="label",
        task_type="classification",
        num_examples=500,
        seed=7,
        base_model=MODEL,
        pool="bundled",
    )
    url = logic.share_url("http://x/", form, autorun=True)
    from urllib.parse import parse_qs, urlparse

    parsed = logic.parse_query(parse_qs(urlparse(url).query))
    for key in ("source", "dataset_id", "split", "text_columns", "label_column", "task_type", "seed", "pool"):
        assert parsed[key] == getattr(form, key), key
    assert parsed["num_examples"] == 500 and parsed["base_model"] == MODEL and parsed["autorun"]
    bad = logic.parse_query({"example": "evil", "n": "x", "pool": "nope", "autorun": "1"})
    assert bad["autorun"] is False and set(bad) == {"autorun", "problems"}
    assert "number of examples" in bad["problems"][0]


class _FakeRequest:
    """What on_load reads from gr.Request: headers, query parameters and the URL."""

    def __init__(self, query: dict):
        self.headers = {"host": "space.example"}
        self.query_params = query
        self.request = None


@pytest.mark.parametrize(
    "query, said",
    [
        ({"example": "product_reviews", "n": "-5", "autorun": "1"}, "number of examples in the link ("),
        ({"example": "product_reviews", "n": "1000000000000", "autorun": "1"}, "from 2 to"),
        ({"example": "product_reviews", "seed": "abc", "autorun": "1"}, "seed in the link (abc)"),
        ({"result": '"><img src=x onerror=alert(1)>'}, "result id in the link is not one"),
    ],
)
def test_share_link_with_unusable_values_says_so_and_does_not_autorun(app_module, query, said):
    values = app_module.on_load(_FakeRequest(query))
    status, autorun = values[0], values[2]
    assert "could not be used" in status and said in status
    assert autorun is False
    assert "<img" not in status  # escaped like every other untrusted text


def test_plots_handle_empty_and_small_frames():
    assert plots.top_k_bar(pd.DataFrame()).layout.height
    df = pd.DataFrame(
        {
            "Rank": [1, 2],
            "Task ID": ["a/b", "c"],
            "Task Subset": [None, "x"],
            "Num Examples": [100, None],
            "Score": [0.5, 0.1],
            "ESM": ["a", "c"],
        }
    )
    assert len(plots.top_k_bar(df, 50).data[0].y) == 2
    assert plots.score_histogram(df, 1).layout.height == 340
    assert len(plots.score_vs_size(df).data[0].x) == 1


def test_end_to_end_rank_through_gradio_client(app_module):
    from gradio_client import Client

    app_module.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    try:
        client = Client(app_module.demo.local_url, verbose=False)
        result = client.predict(*_args(example="news_headlines", num_examples=100), api_name="/rank")
        status, summary, table = result[:3]
        assert status.startswith("✅"), status
        assert len(table["data"]) == 39
        score_col = table["headers"].index("Score")
        assert all(isinstance(row[score_col], float) for row in table["data"])
        assert result[7].endswith(".csv") and result[8].endswith(".json")
        from gradio_client.exceptions import ValidationError

        with pytest.raises(ValidationError, match="Upload a CSV"):  # refused before it is queued
            client.predict(*_args(source="file"), api_name="/rank")
    finally:
        app_module.demo.close()


def test_old_temp_folders_are_removed(tmp_path, monkeypatch):
    import os
    import tempfile
    import time

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    old, fresh = tmp_path / "hfselect_export_old", tmp_path / "hfselect_export_new"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "ranking.csv").write_text("x")
    stale = time.time() - 3 * 3600
    os.utime(old, (stale, stale))
    assert logic.remove_old_temp_dirs("hfselect_export_", 2 * 3600) == 1
    assert not old.exists() and fresh.exists()
