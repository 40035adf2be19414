"""The public /rank API as gradio_client callers use it: named outputs, the API page's examples, the
machine-readable result, the app's own messages for bad input, and cancelling a job.

One app server for the module; every call passes its parameters by name.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from helpers import free_port

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def live():
    import app

    app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    from gradio_client import Client

    yield app.demo.local_url, Client(app.demo.local_url, verbose=False)
    app.demo.close()


def _seed() -> int:
    return int.from_bytes(os.urandom(3), "big") + 1000  # the result cache must not answer


def test_outputs_are_named_and_the_api_page_shows_sensible_examples(live):
    url, client = live
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    labels = [r["label"] for r in api["/rank"]["returns"]]
    assert len(labels) == 10 and labels[0] == "Status" and labels[-1] == "Result (JSON)"
    assert not [label for label in labels if label.startswith("value_")], labels
    info = json.load(urllib.request.urlopen(url + "gradio_api/info"))["named_endpoints"]["/rank"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    assert params["example"]["parameter_default"] == "product_reviews"
    assert params["task_filter"]["example_input"] == "" and params["language"]["example_input"] == ""
    assert params["dataset_id"]["example_input"] == "stanfordnlp/imdb"
    snippet = info["code_snippets"]["python"]
    assert "Hello!!" not in json.dumps(info) and 'example="product_reviews"' in snippet
    # The page's own Rank event (with its validator) is not a second public endpoint.
    assert [name for name in api if "rank" in name] == ["/rank"]


def test_rank_returns_a_machine_readable_result(live):
    _, client = live
    outputs = client.predict(
        source="example", example="support_messages", num_examples=60, seed=_seed(), pool="bundled", api_name="/rank"
    )
    status, table, result = outputs[0], outputs[2], outputs[-1]
    assert status.startswith("✅"), status
    ranking = result["ranking"]
    assert len(ranking) == len(table["data"]) == 39
    for row in ranking:
        assert isinstance(row["task_id"], str) and "](" not in row["task_id"]  # a plain id, not a Markdown link
        assert isinstance(row["score"], float) and isinstance(row["rank"], int)
    assert [r["rank"] for r in ranking] == list(range(1, 40))
    assert isinstance(result["baseline_score"], float)
    assert result["stability"]["num_resamples"] > 0
    # The leader's interval comes from half-splits of a random 60-row sample: it need not include 1,
    # but it is an interval of ranks that exist.
    leader = ranking[0]["stability"]
    assert 1 <= leader["rank_low"] <= leader["rank_high"] <= 39, leader
    scores = [row[table["headers"].index("Score")] for row in table["data"]]
    assert scores == [round(r["score"], 6) for r in ranking]


@pytest.mark.parametrize(
    "params, said",
    [
        ({"source": "file"}, "Upload a CSV"),
        ({"num_examples": -5}, "examples"),
        ({"source": "hub"}, "Enter a Hub dataset id"),
    ],
)
def test_bad_input_comes_back_as_the_apps_message(live, params, said):
    _, client = live
    outputs = client.predict(**params, pool="bundled", api_name="/rank")  # no client-side ValidationError
    assert outputs[0].startswith("⚠️ Please fix the form") and said in outputs[0], outputs[0]


@pytest.mark.parametrize(
    "params, said",
    [
        ({"task_filter": "Hello!!"}, "No ESM matches the task filter 'Hello!!'"),
        ({"language": "xx"}, "No ESM matches the language filter 'xx'"),
    ],
)
def test_a_filter_matching_nothing_names_the_filter(live, params, said):
    _, client = live
    status = client.predict(example="product_reviews", pool="bundled", **params, api_name="/rank")[0]
    assert said in status and "No ESMs were found" not in status, status


def test_cancel_through_the_client_stops_the_job(live):
    """job.cancel() during scoring: the handler ends (its admission ticket comes back) within 2 s,
    and the process spends (almost) no CPU afterwards."""
    from gradio_client.utils import Status

    from hfselect_app import admission

    _, client = live
    job = client.submit(example="news_headlines", num_examples=400, seed=_seed(), pool="bundled", api_name="/rank")
    deadline = time.monotonic() + 120
    while not any("**Scoring**" in str(o[0]) for o in job.outputs()):
        assert time.monotonic() < deadline and not job.done(), "the ranking never reached scoring"
        time.sleep(0.02)
    assert admission.JOBS.counts()[0] == 1
    cpu0, started = time.process_time(), time.monotonic()
    job.cancel()
    while admission.JOBS.counts()[0] and time.monotonic() - started < 10:
        time.sleep(0.01)
    stopped_s = time.monotonic() - started
    cpu_to_stop = time.process_time() - cpu0
    time.sleep(1.0)
    cpu_after = time.process_time() - cpu0 - cpu_to_stop
    print(
        f"client cancel -> handler ended {stopped_s:.2f} s (CPU {cpu_to_stop:.2f} s), CPU in the next 1 s {cpu_after:.2f} s"
    )
    assert admission.JOBS.counts()[0] == 0
    assert stopped_s < 2.0
    assert cpu_after < 0.3
    assert job.status().code == Status.CANCELLED
    assert not any(str(o[0]).startswith("✅") for o in job.outputs())


def test_the_api_page_types_free_values_as_strings_and_says_a_token_is_only_for_gated_data(live):
    """Dropdowns that take any value (the app checks it) are str / list[str] to gradio_client, not empty
    Literals; the token the page's snippet shows is said to be needed only for gated or private data."""
    _, client = live
    rank = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/rank"]
    types = {p["parameter_name"]: p["python_type"]["type"] for p in rank["parameters"]}
    assert {n: types[n] for n in ("subset", "split", "label_column", "base_model", "example")} == dict.fromkeys(
        ("subset", "split", "label_column", "base_model", "example"), "str"
    ), types
    assert types["text_columns"] == "list[str]" and types["pool"].startswith("Literal[")  # a closed set stays one
    assert "Literal[]" not in str(types)
    assert "only to rank a gated or private" in rank["description"], rank["description"]
