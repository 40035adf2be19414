"""Guards for the app's results (issue 18): each test fails when the behaviour it names breaks.

They call the app's own handlers by field name (what ``/rank`` runs, what the page's events call) on
the real bundled MiniLM and pool, and compare with what the core computes independently, instead of
checking shapes and types. Each was checked by breaking the code on purpose in a scratch copy
(bench/RESULTS.md, "Mutation testing (issue 18)").
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pandas as pd
import pytest
from helpers import REPO_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hfselect_app import presenters, rank_tab, targets  # noqa: E402
from hfselect_app.text import md_text  # noqa: E402
from hfselect_core import compute_task_ranking  # noqa: E402
from hfselect_core.data import TargetDataset  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
POOL_DIR = REPO_ROOT / "assets" / "esms" / "sentence-transformers__all-MiniLM-L6-v2"
N, SEED = 80, 20261126


def _final(**named) -> dict:
    """The rank handler's last outputs for a form given by field name, by output name."""
    outputs = list(rank_tab.rank(**{"base_model": MODEL, **named}))
    assert outputs, "the rank handler yielded nothing"
    return dict(zip(rank_tab.OUTPUTS, outputs[-1]))


def _example_dataset(name: str, n: int, seed: int) -> TargetDataset:
    ex = targets.get_example(name)
    return TargetDataset.from_file(
        targets.examples_dir() / ex["file"], list(ex["text_columns"]), ex["label_column"], ex["task_type"], n, seed
    )


@pytest.fixture(scope="module")
def ranked():
    out = _final(source="example", example="product_reviews", num_examples=N, seed=SEED, pool="bundled")
    assert str(out["status"]).startswith("✅"), out["status"]
    return out


@pytest.fixture(scope="module")
def reference():
    """The same ranking through the core's public API (its embeddings come from the cache)."""
    return compute_task_ranking(
        _example_dataset("product_reviews", N, SEED), base_model=MODEL, source="bundled", device="cpu"
    )


def test_table_scores_are_the_rankings_scores(ranked, reference):
    table, raw = ranked["table"], pd.DataFrame(ranked["raw"])
    assert len(table) == len(reference) >= 30
    assert raw["ESM"].tolist() == [r.name for r in reference]  # same tasks, same order
    expected = [round(r.score, 6) for r in reference]
    assert table["Score"].tolist() == pytest.approx(expected, abs=1e-9)
    assert table["Rank"].tolist() == [r.rank for r in reference]
    assert len(set(expected)) > len(expected) // 2  # real, distinct scores: a constant column fails
    with open(ranked["json"], encoding="utf-8") as f:
        exported = json.load(f)["ranking"]
    assert [e["score"] for e in exported] == pytest.approx([r.score for r in reference], rel=1e-12)
    csv = pd.read_csv(ranked["csv"])
    assert csv["Score"].tolist() == pytest.approx([r.score for r in reference], rel=1e-9)


def _mentions(summary: str, task: str) -> int:
    """Where the summary first shows a task id (escaped as the app escapes it), or -1."""
    return summary.find(md_text(task))


def test_summary_names_the_first_row_as_the_best_task(ranked, reference):
    summary = str(ranked["summary"])
    raw = pd.DataFrame(ranked["raw"])
    first, last = raw.iloc[0], raw.iloc[-1]
    assert first["Task ID"] == reference[0].config.task_id
    at = _mentions(summary, first["Task ID"])
    assert at >= 0, f"the best task {first['Task ID']!r} is not named in the summary"
    # No other task is named before it (a summary naming the worst or a random task first fails).
    others = [(i, _mentions(summary, t)) for i, t in enumerate(raw["Task ID"]) if t != first["Task ID"]]
    earlier = [raw.iloc[i]["Task ID"] for i, pos in others if 0 <= pos < at]
    assert not earlier, f"{earlier} named before the first row's task"
    if isinstance(first["Task Subset"], str) and first["Task Subset"] not in ("", "default"):
        assert md_text(first["Task Subset"]) in summary[at : at + 300]
    if last["Task ID"] != first["Task ID"]:
        pos = _mentions(summary, last["Task ID"])
        assert pos == -1 or pos > at


def _assets_with_pool(root: Path, pool: dict[str, tuple[Path, dict, object]]) -> Path:
    """An assets folder with the real examples and a bundled MiniLM pool built from real ESMs.

    ``pool``: folder name -> (real ESM folder to copy, config changes, weight function or None).
    """
    from safetensors.numpy import load_file, save_file

    root.mkdir(parents=True, exist_ok=True)
    (root / "examples").symlink_to(REPO_ROOT / "assets" / "examples")
    for name, (source, changes, reweigh) in pool.items():
        target = root / "esms" / POOL_DIR.name / name
        shutil.copytree(source, target)
        config = json.loads((target / "config.json").read_text(encoding="utf-8"))
        config.update(changes)
        (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
        if reweigh is not None:
            tensors = load_file(str(target / "model.safetensors"))
            tensors = {k: (reweigh(v) if k.endswith("weight") else v) for k, v in tensors.items()}
            save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    return root


def _rank_with_assets(assets: Path, **form) -> dict:
    previous = os.environ.get("HFSELECT_ASSETS_DIR")
    os.environ["HFSELECT_ASSETS_DIR"] = str(assets)
    try:
        return _final(**form)
    finally:
        if previous is None:
            os.environ.pop("HFSELECT_ASSETS_DIR", None)
        else:
            os.environ["HFSELECT_ASSETS_DIR"] = previous


def _rank_one(direction):
    """A map that puts every text on one line, along ``direction`` (the text's coordinate on it)."""
    import numpy as np

    def reweigh(weight):
        u = np.zeros(weight.shape[0])
        u[0] = 1.0
        return np.outer(u, direction).astype(weight.dtype)

    return reweigh


def test_summary_names_a_clear_winner_and_not_the_others(tmp_path):
    """A map along the direction that separates the classes against maps along random directions:
    the leader is clear (not tied), and the summary must name it, not another task."""
    import numpy as np

    from hfselect_core.embedding import load_embedding_model

    dataset = _example_dataset("product_reviews", N, SEED)
    x = load_embedding_model(MODEL, device="cpu").embed(dataset.texts).astype(np.float64)
    labels = np.asarray(dataset.labels)
    classes = np.unique(labels)
    informative = x[labels == classes[0]].mean(axis=0) - x[labels == classes[-1]].mean(axis=0)
    rng = np.random.default_rng(1)
    real = sorted(POOL_DIR.iterdir())
    pool = {"winner": (real[0], {"task_id": "guard/the_winner", "task_subset": None}, _rank_one(informative))}
    for i in range(3):
        direction = rng.standard_normal(x.shape[1]) * np.linalg.norm(informative) / np.sqrt(x.shape[1])
        pool[f"loser_{i}"] = (real[i + 1], {"task_id": f"guard/loser_{i}", "task_subset": None}, _rank_one(direction))
    out = _rank_with_assets(
        _assets_with_pool(tmp_path / "assets", pool),
        source="example",
        example="product_reviews",
        num_examples=N,
        seed=SEED,
        pool="bundled",
    )
    assert str(out["status"]).startswith("✅"), out["status"]
    raw = pd.DataFrame(out["raw"])
    assert raw["Task ID"].tolist()[0] == "guard/the_winner", raw[["Task ID", "Score"]]
    assert not any(t is True for t in raw["Tied With Leader"].tolist()[1:]), raw
    summary = str(out["summary"])
    at = _mentions(summary, "guard/the_winner")
    assert at >= 0, summary
    for i in range(3):
        pos = _mentions(summary, f"guard/loser_{i}")
        assert pos == -1 or pos > at, f"loser_{i} named before the winner: {summary[:600]}"


# --- the share link, through the functions the page's events call -----------------------------


class _Request:
    """What on_load reads from gr.Request."""

    def __init__(self, query: dict):
        self.headers = {"host": "space.example"}
        self.query_params = query
        self.request = None


def _value(v):
    return getattr(v, "value", v)


def _share_link(form: dict) -> str:
    args = [form.get(f.name, f.default) for f in rank_tab.FIELDS]
    made = rank_tab.make_share_link("https://space.example/", *args)
    links = [x for x in (made if isinstance(made, (tuple, list)) else [made]) if isinstance(x, str) and "?" in x]
    assert links, f"no link made: {made!r}"
    return links[0]


@pytest.mark.parametrize(
    "form",
    [
        dict(
            source="example",
            example="review_ratings",
            text_columns=["text"],
            label_column="rating",
            task_type="regression",
            num_examples=150,
            seed=7,
            base_model=MODEL,
            pool="bundled",
        ),
        dict(
            source="hub",
            dataset_id="stanfordnlp/imdb",
            subset="plain_text",
            split="test",
            text_columns=["text"],
            label_column="label",
            task_type="classification",
            num_examples=333,
            seed=12345,
            base_model=MODEL,
            pool="hub",
        ),
    ],
    ids=["example", "hub"],
)
def test_the_share_link_the_app_makes_fills_the_same_form_when_opened(form):
    link = _share_link(form)
    assert link.startswith("https://space.example/?")
    loaded = rank_tab.load_values(_Request(dict(parse_qsl(urlparse(link).query))))
    assert "could not be used" not in str(loaded["status"])
    for name, value in form.items():
        assert name in loaded, f"{name} is not restored by the link {link}"
        got = _value(loaded[name])
        assert got == value or (isinstance(value, int) and str(got) == str(value)), (name, got, value, link)
    assert loaded["autorun"] is False  # a shared form link fills in; it does not start a ranking


# --- an uploaded file outside the upload folder ----------------------------------------------------


def test_a_rank_call_with_a_file_outside_the_upload_folder_is_refused(tmp_path, monkeypatch):
    uploads = tmp_path / "gradio_uploads"
    uploads.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    rows = pd.read_csv(targets.examples_dir() / "product_reviews.csv").head(30)
    outside = tmp_path / "server_secret.csv"
    rows.to_csv(outside, index=False)
    inside = uploads / "mine.csv"
    shutil.copy(outside, inside)
    link = uploads / "link.csv"
    link.symlink_to(outside)
    form = dict(
        source="file", text_columns=["review"], label_column="sentiment", num_examples=30, max_esms=3, pool="bundled"
    )
    accepted = _final(file=str(inside), **form)  # the same file inside the upload folder ranks
    assert str(accepted["status"]).startswith("✅"), accepted["status"]
    for path in (outside, link, Path(str(uploads) + "/../server_secret.csv")):
        out = _final(file=str(path), **form)
        status = str(out["status"])
        assert not status.startswith("✅"), f"{path} was read: {status}"
        assert "outside the allowed folder" in status, status
        assert not isinstance(out["table"], pd.DataFrame) or out["table"].empty


# --- a hostile task id in every output -------------------------------------------------------------

MD_LINK = "[click me](https://evil.example/steal)"
HTML = '<img src="https://evil.example/x.png" onerror="alert(1)">'
HOSTILE = [
    f"{MD_LINK} {HTML} **bold**",
    f"owner/<script>alert(2)</script>{MD_LINK}",
    "![pixel](https://evil.example/p.png)<a href='javascript:alert(3)'>go</a>",
]
SUBSET = "[sub](https://evil.example/s) <b onmouseover=alert(4)>x</b>"
RAW_MARKUP = ("<img", "<script", "<a ", "<b ", "](https://evil", "https://evil", "](javascript")


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile_assets")
    (root / "examples").symlink_to(REPO_ROOT / "assets" / "examples")
    pool = root / "esms" / POOL_DIR.name
    for i, (task_id, folder) in enumerate(zip(HOSTILE, sorted(POOL_DIR.iterdir())[:3])):
        target = pool / f"evil_{i}"
        shutil.copytree(folder, target)
        config = json.loads((target / "config.json").read_text(encoding="utf-8"))
        config.update(task_id=task_id, task_subset=SUBSET if i == 0 else None)
        (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    previous = os.environ.get("HFSELECT_ASSETS_DIR")
    os.environ["HFSELECT_ASSETS_DIR"] = str(root)
    try:
        out = _final(source="example", example="product_reviews", num_examples=40, seed=SEED + 1, pool="bundled")
    finally:
        if previous is None:
            os.environ.pop("HFSELECT_ASSETS_DIR", None)
        else:
            os.environ["HFSELECT_ASSETS_DIR"] = previous
    assert str(out["status"]).startswith("✅"), out["status"]
    return out


def _no_raw_markup(text: str, where: str) -> None:
    for bad in RAW_MARKUP:
        assert bad not in text, f"{bad!r} reaches the {where} unescaped: {text[:800]}"


def test_a_hostile_task_id_is_escaped_in_the_table_and_summary(hostile_run):
    table = hostile_run["table"]
    assert len(table) == 3
    # Columns the table renders as Markdown/HTML must be escaped; "str" columns are shown as text.
    rendered = [c for c, kind in zip(presenters.RESULT_COLUMNS, presenters.RESULT_DATATYPES) if kind != "str"]
    assert "Task ID" in rendered
    for column in rendered:
        for cell in table[column].astype(str):
            _no_raw_markup(cell, f"table's {column}")
    assert all("click me" in c or "pixel" in c for c in table["Task ID"])  # shown, as text
    summary = str(hostile_run["summary"])
    _no_raw_markup(summary, "summary")
    assert "click me" in summary or "pixel" in summary or "script" in summary


def test_a_hostile_task_id_is_escaped_in_the_plots(hostile_run):
    for name in ("bar", "hist", "size"):
        text = hostile_run[name].to_json()
        for bad in ("<img", "<script", "<a ", "<b "):  # plotly renders these tags in labels and hovers
            assert bad not in text, f"{bad!r} in the {name} plot"
    labels = " ".join(map(str, hostile_run["bar"].data[0].y))
    assert "click me" in labels and "&lt;" in labels  # the id is there, entity-escaped


def test_a_hostile_task_id_is_kept_verbatim_in_the_downloads(hostile_run):
    """The CSV and JSON files are data, not rendered: they hold the task ids exactly as the ESMs say."""
    with open(hostile_run["json"], encoding="utf-8") as f:
        exported = json.load(f)["ranking"]
    assert sorted(e["task_id"] for e in exported) == sorted(HOSTILE)
    csv = pd.read_csv(hostile_run["csv"])
    assert sorted(csv["Task ID"]) == sorted(HOSTILE)


def test_the_app_answers_plain_requests_for_a_hostile_ranking(hostile_run):
    """The raw table (kept for redrawing the plots) holds ids unrendered; the replot is escaped too."""
    figures = [f for f in rank_tab.replot(hostile_run["raw"], 2) if hasattr(f, "to_json")]
    assert figures, "no plot redrawn"
    for figure in figures:
        assert "<img" not in figure.to_json() and "<script" not in figure.to_json()
