"""App handlers offline with the bundled pool, and one end-to-end call through gradio_client."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from helpers import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hfselect_app import picker, plots, presenters, rank_tab, share, studio_tab  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def _final(**named):
    """Every output the rank handler yields for a form given by field name (the rest: the table's defaults)."""
    outputs = list(rank_tab.rank(**{"base_model": MODEL, **named}))
    assert outputs, "the rank generator yielded nothing"
    return outputs


@pytest.fixture(scope="module")
def ranked():
    return _final(example="product_reviews")


def test_rank_example_streams_and_ranks_bundled_pool(ranked):
    assert len(ranked) > 3, "progress should stream before the result"
    out = dict(zip(rank_tab.OUTPUTS, ranked[-1]))  # by name: callers of /rank read the outputs by position
    status, summary, table, bar, hist, size = (out[k] for k in ("status", "summary", "table", "bar", "hist", "size"))
    csv_path, json_path, raw = out["csv"], out["json"], out["raw"]
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
    # The plots show this ranking: the bars are its best tasks in table order, every score is counted.
    assert [str(y).split(". ")[0] for y in bar.data[0].y] == [str(r) for r in range(1, len(bar.data[0].y) + 1)]
    assert sum(len(t.x) for t in hist.data if t.type == "histogram") == 39
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
def test_bad_inputs_give_messages_not_exceptions(over, expected):
    outputs = _final(**{"example": "product_reviews", **over})
    status = outputs[-1][0]
    assert expected in status
    assert "Traceback" not in status


def test_uploaded_file_fills_columns(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # uploads are only read from Gradio's upload folder
    path = tmp_path / "data.tsv"
    path.write_text("sentence\tgold\nhello there\t1\nbad day\t0\n", encoding="utf-8")
    source, text, label, preview, info = picker.fill_file(str(path))
    assert source == "file"
    assert text.value == ["sentence"] and label.value == "gold"
    assert ("sentence (string)", "sentence") in text.choices
    assert len(preview) == 2 and "2 rows" in info
    bad = tmp_path / "data.xlsx"
    bad.write_bytes(b"PK\x03\x04")
    assert "not a supported file type" in picker.fill_file(str(bad))[-1]
    monkeypatch.delenv("GRADIO_TEMP_DIR")
    assert "⚠️" in picker.fill_file(str(path))[-1]  # outside the upload folder: refused, not read


def test_rank_validator_flags_every_bad_input_at_once():
    checks = rank_tab.validate_rank(source="file", num_examples=1, base_model=MODEL)
    assert len(checks) == len(rank_tab.FIELDS)  # one per input of the Rank button
    bad = {f.name: c["message"] for f, c in zip(rank_tab.FIELDS, checks) if not c["is_valid"]}
    assert set(bad) == {"file", "text_columns", "label_column", "num_examples"}
    assert "at least 2" in bad["num_examples"]
    assert all(c["is_valid"] for c in rank_tab.validate_rank(example="product_reviews", base_model=MODEL))


def test_example_fill_and_hub_offline_message():
    source, _, text, label, task, info, preview = picker.fill_example("review_ratings")
    assert (source, text.value, label.value, task) == ("example", ["text"], "rating", "regression")
    assert len(preview) == 5
    assert "cannot be reached" in picker.hub_lookup("stanfordnlp/imdb")[-1]


def test_share_link_round_trip():
    form = rank_tab.RankForm(
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
    url = share.share_url(rank_tab.FIELDS, "http://x/", form, autorun=True)
    from urllib.parse import parse_qs, urlparse

    parsed = share.parse_query(rank_tab.FIELDS, parse_qs(urlparse(url).query))
    for key in ("source", "dataset_id", "split", "text_columns", "label_column", "task_type", "seed", "pool"):
        assert parsed[key] == getattr(form, key), key
    assert parsed["num_examples"] == 500 and parsed["base_model"] == MODEL and parsed["autorun"]
    bad = share.parse_query(rank_tab.FIELDS, {"example": "evil", "n": "x", "pool": "nope", "autorun": "1"})
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
def test_share_link_with_unusable_values_says_so_and_does_not_autorun(query, said):
    values = rank_tab.load_values(_FakeRequest(query))
    status, autorun = values["status"], values["autorun"]
    assert "could not be used" in status and said in status
    assert autorun is False
    assert "<img" not in status  # escaped like every other untrusted text


def test_plots_draw_the_frames_rows():
    """Each plot shows the rows it is given (labels, order, scores, sizes), and an empty frame says so."""
    empty = plots.top_k_bar(pd.DataFrame())
    assert not empty.data and "Run a ranking" in empty.layout.annotations[0].text
    df = pd.DataFrame(
        {
            "Rank": [1, 2, 3],
            "Task ID": ["a/b", "c", "d/e"],
            "Task Subset": [None, "x", None],
            "Num Examples": [100, None, 5000],
            "Score": [0.5, 0.1, -0.3],
            "ESM": ["a", "c", "d"],
        }
    )
    bar = plots.top_k_bar(df, 2).data[0]
    assert bar.y[0] == "1. a/b" and bar.y[1].startswith("2. c") and bar.y[1].endswith("x")  # task, then subset
    base = getattr(bar, "base", None)  # bars drawn from the axis' left edge carry it apart
    values = [float(x) + (float(base[i] if hasattr(base, "__len__") else base) if base is not None else 0.0)
              for i, x in enumerate(bar.x)]  # fmt: skip
    assert values == pytest.approx([0.5, 0.1])
    hist = plots.score_histogram(df, 1)
    bars = [t for t in hist.data if t.type == "histogram"]
    assert [list(t.x) for t in bars if "top" in (t.name or "")] == [[0.5]]
    assert sorted(sum((list(t.x) for t in bars), [])) == [-0.3, 0.1, 0.5]
    size = plots.score_vs_size(df).data[0]
    assert list(size.x) == [100, 5000] and list(size.y) == [0.5, -0.3]  # the row without a size is left out
    assert list(size.text) == ["a/b", "d/e"]


def test_end_to_end_rank_through_gradio_client():
    """The public /rank API with named arguments (what gradio_client callers write)."""
    from gradio_client import Client

    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    try:
        client = Client(app.demo.local_url, verbose=False)
        api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        for endpoint, tab in (("/rank", rank_tab), ("/train_esm", studio_tab)):  # the API is the field table
            assert [p["parameter_name"] for p in api[endpoint]["parameters"]] == [f.name for f in tab.FIELDS]
        result = client.predict(
            source="example",
            example="news_headlines",
            num_examples=100,
            base_model=MODEL,
            pool="auto",
            api_name="/rank",
        )
        status, summary, table = result[:3]
        assert status.startswith("✅"), status
        assert len(table["data"]) == 39
        score_col = table["headers"].index("Score")
        assert all(isinstance(row[score_col], float) for row in table["data"])
        assert result[7].endswith(".csv") and result[8].endswith(".json")
        status = client.predict(source="file", base_model=MODEL, api_name="/rank")[0]
        assert "Upload a CSV" in status  # the app's own message, not a client-side ValidationError
    finally:
        app.demo.close()


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
    assert presenters.remove_old_temp_dirs("hfselect_export_", 2 * 3600) == 1
    assert not old.exists() and fresh.exists()
