"""The flow of a job, called through the app's own handlers by field name: the staged status line,
Cancel from inside (the admission stop flag), and the studio's estimate, self-check progress and
card fields (language, license, data source).
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import make_texts  # noqa: E402

from hfselect_app import admission, progress, rank_tab, studio_tab  # noqa: E402
from hfselect_core import card, estimate  # noqa: E402

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _request(session: str) -> SimpleNamespace:
    return SimpleNamespace(headers={}, client=SimpleNamespace(host="10.9.8.7"), session_hash=session)


def _seed() -> int:
    return int.from_bytes(os.urandom(3), "big") + 1000  # the result cache must not answer


def test_status_line_names_every_stage_in_order_and_cancel_ends_neutral():
    form = dict(example="support_messages", num_examples=100, seed=_seed(), pool="bundled", base_model=MINILM)
    statuses = []
    job = rank_tab.rank(**form, request=_request("flow-stages"))
    for outputs in job:
        statuses.append(outputs[0])
        if "**Scoring**" in outputs[0] and "/39" in outputs[0]:
            admission.JOBS.stop_session("flow-stages")  # what the Cancel button does
    steps = [int(m.group(1)) for s in statuses if (m := re.search(r"step (\d) of 6", s))]
    assert steps == sorted(steps) and {1, 4, 5} <= set(steps), statuses  # cached steps may be skipped
    assert all(s.count("→") == 5 for s in statuses[:-1])  # one line that names every stage
    assert statuses[-1] == progress.CANCELLED  # neutral, and every other output was left as it was
    assert not any(s.startswith(("✅", "❌")) for s in statuses)
    assert admission.JOBS.counts("flow-stages") == (0, 0, 0)


def test_a_job_cancelled_while_waiting_ends_at_once():
    admission.JOBS.admit("flow-waiting", "10.9.8.7")  # the validator's ticket: queued, not started
    admission.JOBS.stop_session("flow-waiting")
    outputs = list(rank_tab.rank(example="product_reviews", pool="bundled", request=_request("flow-waiting")))
    assert len(outputs) == 1 and outputs[0][0] == progress.CANCELLED
    assert admission.JOBS.counts("flow-waiting") == (0, 0, 0)


def _studio_args(**values) -> list:
    merged = {f.name: f.default for f in studio_tab.FIELDS}
    merged.update(values)
    return [merged[f.name] for f in studio_tab.FIELDS]


def _total(markdown: str) -> str:
    return re.search(r"estimated time: \*\*(.+?)\*\*", markdown).group(1)


def test_studio_estimate_follows_the_rows_really_trained_on():
    rows = len(pd.read_csv(studio_tab.targets.example_file("product_reviews")))
    common = dict(source="example", example="product_reviews", epochs=3, base_model=MINILM)
    capped = studio_tab.studio_estimate(*_studio_args(**common, num_examples=10 * rows))
    assert f"all {rows:,} rows" in capped, capped
    small = studio_tab.studio_estimate(*_studio_args(**common, num_examples=20))
    assert "20 examples" in small and _total(small) != _total(capped)
    # The figure is the core's model for those rows, their text lengths and the bundled pool.
    texts = pd.read_csv(studio_tab.targets.example_file("product_reviews"))["review"].astype(str).tolist()
    expected = estimate.estimate_studio_seconds(
        rows, 3, "cpu", profile=estimate.text_profile(texts), batch_size=32, base_model_dim=384, num_layers=6,
        pool_size=39,
    )  # fmt: skip
    assert _total(capped) == estimate.format_duration(expected.total)
    assert "fine-tuning ~" in capped and "self-check against 39 bundled ESM(s)" in capped


def test_card_fields_are_checked_with_clear_messages():
    checks = studio_tab.validate_studio(
        example="product_reviews", language="english", license="apache", data_source="x" * 600
    )
    bad = {f.name: c["message"] for f, c in zip(studio_tab.FIELDS, checks) if not c["is_valid"]}
    assert set(bad) == {"language", "license", "data_source"}, bad
    assert "not an ISO 639-1 code" in bad["language"] and "'en'" in bad["language"]
    assert "not one of the Hub's license identifiers" in bad["license"]
    assert "600 characters" in bad["data_source"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    upload_dir = tmp_path_factory.mktemp("gradio_uploads")
    os.environ["GRADIO_TEMP_DIR"] = str(upload_dir)
    path = upload_dir / "product_questions.csv"
    texts = make_texts(24)
    pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]}).to_csv(path, index=False)
    try:
        outputs = list(
            studio_tab.train_esm(
                source="file",
                file=str(path),
                text_columns=["text"],
                label_column="label",
                task_type="classification",
                num_examples=24,
                base_model=MINILM,
                epochs=1,
                batch_size=8,
                language="en, DE",
                license="MIT",
                data_source="Questions from our <b>shop</b>, 2025; CC BY 4.0",
            )
        )
    finally:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    return outputs


def test_self_check_progress_moves(trained):
    counts = [
        int(m.group(1))
        for outputs in trained
        if (m := re.search(r"\*\*Self-check\*\* (\d+)/(\d+)", outputs[0])) and int(m.group(2)) == 40
    ]
    assert len(set(counts)) >= 10 and counts == sorted(counts), counts  # not stuck at 0/40


def test_card_fields_reach_the_card_config_and_zip(trained):
    status, _, _, card_md, download, folder = trained[-1]
    assert status.startswith(("✅", "⚠️ Done")), status
    readme = (Path(folder) / "README.md").read_text(encoding="utf-8")
    meta = card.check_card(readme)  # the Hub's model-card metadata rules
    assert meta["license"] == "mit" and meta["language"] == ["en", "de"]
    assert "datasets" not in meta  # an uploaded file is not a Hub dataset
    assert "an uploaded file, not published" in readme and "CC BY 4.0" in readme
    assert "<b>" not in card_md  # the user's text is shown as text
    value = download.value
    with zipfile.ZipFile(value["path"] if isinstance(value, dict) else value) as z:
        name = next(n for n in z.namelist() if n.endswith("README.md"))
        assert io.TextIOWrapper(z.open(name), encoding="utf-8").read() == readme


def test_embed_snippet_names_the_space_from_its_setting(monkeypatch):
    monkeypatch.delenv("SPACE_HOST", raising=False)
    monkeypatch.setenv("SPACE_ID", "Acme/hf_select.v2")
    snippet = rank_tab.make_embed_snippet("http://10.0.0.1:7860/")
    assert '<gradio-app src="https://acme-hf-select-v2.hf.space"></gradio-app>' in snippet
    assert '<iframe src="https://acme-hf-select-v2.hf.space/"' in snippet and "6.31.0/gradio.js" in snippet
    monkeypatch.setenv("SPACE_HOST", "acme-hfselect.hf.space")  # what Spaces sets wins
    assert 'src="https://acme-hfselect.hf.space"' in rank_tab.make_embed_snippet("")
    monkeypatch.delenv("SPACE_HOST")
    monkeypatch.delenv("SPACE_ID")
    assert 'src="http://10.0.0.1:7860"' in rank_tab.make_embed_snippet("http://10.0.0.1:7860/")


def test_cancel_after_the_results_leaves_them_labelled_done_and_a_cancel_before_them_wins():
    form = dict(
        example="support_messages", num_examples=60, max_esms=3, seed=_seed(), pool="bundled", base_model=MINILM
    )
    request = _request("flow-cancel-end")
    first = list(rank_tab.rank(**form, request=request))
    assert first[-1][0].startswith("✅"), first[-1][0]
    # Cancel pressed as the results arrive (the job is over): the status stays "Done", not "previous run".
    assert rank_tab.cancelled(request)[0] != progress.CANCELLED
    # The same form again is answered from the result cache; Cancel lands between its first update
    # and the results: then no results are shown, and both the button and the job say "Cancelled".
    job = rank_tab.rank(**form, request=request)
    assert not next(job)[0].startswith("✅")
    assert rank_tab.cancelled(request)[0] == progress.CANCELLED
    rest = list(job)
    assert [o[0] for o in rest] == [progress.CANCELLED]
    assert all(o == rank_tab.gr.skip() for o in rest[0][1:])  # every other output left as it was
    assert admission.JOBS.counts("flow-cancel-end") == (0, 0, 0)
