"""Stability of a ranking: resamples of the embedded sample, rank intervals, ties, aggregation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, make_texts, write_esm_folder

from hfselect_app.presenters import results_frame, summary_markdown
from hfselect_core import stability as st
from hfselect_core.data import TargetDataset
from hfselect_core.logme import logme
from hfselect_core.ranking import STABILITY_COLUMNS, compute_task_ranking, sample_warnings


def separable(n: int = 200, d: int = 8, seed: int = 0):
    """Embeddings whose first dimension carries the label; maps that keep it or wipe it."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    x = rng.standard_normal((n, d))
    x[:, 0] += 3.0 * labels
    keep = np.eye(d)
    weights, biases = [keep], [np.zeros(d)]
    for i in range(4):
        wipe = np.eye(d) + 0.01 * rng.standard_normal((d, d))
        wipe[0, :] = 0.0  # the informative direction is gone
        weights.append(wipe)
        biases.append(np.zeros(d))
    return x, labels, np.stack(weights), np.stack(biases)


def test_half_splits_are_complementary_and_seeded():
    a = st.resample_indices(101, 6, st.HALF, seed=3)
    assert all(np.array_equal(u, v) for u, v in zip(a, st.resample_indices(101, 6, st.HALF, seed=3)))
    for first, second in zip(a[0::2], a[1::2]):
        assert len(first) == len(second) == 50
        assert not set(first) & set(second)
    other = st.resample_indices(101, 6, st.HALF, seed=4)
    assert not np.array_equal(a[0], other[0])
    boot = st.resample_indices(50, 3, st.BOOTSTRAP, seed=1)
    assert all(len(rows) == 50 for rows in boot) and len(set(boot[0])) < 50


def test_resampled_scores_are_exact_and_deterministic():
    x, y, w, b = separable()
    settings = st.StabilitySettings(num_resamples=4, seed=11)
    scores = st.resample_scores(x, y, False, w, b, settings)
    again = st.resample_scores(x, y, False, w, b, settings)
    np.testing.assert_array_equal(scores, again)
    assert not np.array_equal(scores, st.resample_scores(x, y, False, w, b, st.StabilitySettings(4, seed=12)))
    # Each resample's score is LogME of the mapped features of exactly those rows.
    rows = st.resample_indices(len(y), 4, st.HALF, seed=11)[2]
    features = x[rows] @ w[3].T + b[3]
    assert scores[2, 3] == pytest.approx(logme(features, y[rows]), rel=1e-6)


def test_clear_leader_is_not_tied_and_interchangeable_tasks_are():
    x, y, w, b = separable()
    single = st.resample_scores(x, y, False, w, b, st.StabilitySettings(2))[0]
    report = st.assess(x, y, False, w, b, single, st.StabilitySettings(num_resamples=10, seed=0))
    assert report.candidates[0] == 0
    leader = report.tasks[0]
    assert (leader.rank_low, leader.rank_high, leader.top_k_share) == (1, 1, 1.0)
    assert report.tied_count == 0  # a clear leader is not "tied" with itself
    assert not leader.tied_with_leader
    others = report.tasks[1:]
    assert all(t.rank_low >= 2 for t in others)
    # The four wiped maps are near copies: their intervals overlap each other widely.
    assert max(t.rank_high for t in others) - min(t.rank_low for t in others) >= 2


def test_aggregate_orders():
    scores = np.array([[3.0, 2.0, 1.0], [1.0, 2.5, 3.0], [3.0, 2.8, 0.0]])
    assert st.rank_matrix(scores).tolist() == [[1, 2, 3], [3, 2, 1], [1, 2, 3]]
    assert st.aggregate_order(scores, st.ORDER_MEAN_RANK, np.array([0.0, 1.0, 0.0])).tolist() == [0, 1, 2]
    assert st.aggregate_order(scores, st.ORDER_MEAN_SCORE).tolist() == [1, 0, 2]
    assert st.aggregate_order(scores, st.ORDER_SINGLE, np.array([0.0, 1.0, 2.0])).tolist() == [2, 1, 0]
    with pytest.raises(ValueError):
        st.StabilitySettings(method="jackknife")


@pytest.mark.parametrize("n, d", [(90, 64), (300, 16)])
def test_resample_scorer_is_exact_in_both_regimes(n, d):
    """Shared-kernel path (every half has <= d rows) and per-resample path: each equals LogME of the
    mapped features of exactly the resample's rows."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, d)) / np.sqrt(d)
    y = rng.integers(0, 3, size=n)
    w = np.eye(d) + 0.3 * rng.standard_normal((5, d, d))
    b = 0.1 * rng.standard_normal((5, d))
    rows = st.resample_indices(n, 4, st.HALF, seed=2)
    scorer = st.ResampleScorer(x, y, False, rows)
    assert scorer.shared_kernel == (n // 2 <= d)
    scores = st.resample_scores(x, y, False, w, b, st.StabilitySettings(num_resamples=4, seed=2))
    for r, idx in enumerate(rows):
        for j in range(5):
            assert scores[r, j] == pytest.approx(logme(x[idx] @ w[j].T + b[j], y[idx]), rel=1e-9)
    if scorer.shared_kernel:  # the same numbers as the per-resample statistics, to rounding
        direct = np.stack([scorer.score(r, w, b) for r in range(len(rows))])
        np.testing.assert_allclose(scores, direct, rtol=1e-12)


def _run(generator):
    events = []
    try:
        while True:
            events.append(next(generator))
    except StopIteration as stop:
        return stop.value, events


def _head(n: int, clear: bool, seed: int = 0):
    """Sorted single-sample scores and maps: a clear head (strong, weaker, ...) or a flat field."""
    rng = np.random.default_rng(seed)
    d = 12
    y = rng.integers(0, 2, size=n)
    x = rng.standard_normal((n, d))
    x[:, 0] += 1.5 * y
    maps = []
    for j in range(16):
        w = np.eye(d) + 1e-3 * rng.standard_normal((d, d))
        w[0, 0] = max(0.0, 1.0 - 0.25 * j) if clear else 1.0  # the informative direction fades
        maps.append(w)
    w, b = np.stack(maps), np.zeros((16, d))
    single = st.ResampleScorer(x, y, False, [np.arange(n)]).score(0, w, b)
    order = np.argsort(-single, kind="stable")
    return x, y, single[order], w[order], b[order]


def test_leader_check_stops_after_a_settled_block_and_follows_a_flat_field():
    settings = st.StabilitySettings(num_resamples=6, max_candidates=4, max_rounds=3, seed=1)
    x, y, single, w, b = _head(160, clear=True)
    check, events = _run(
        st.iter_check_leaders(x, y, False, single, lambda i, j: (w[i:j], b[i:j]), settings, progress=lambda *a: a)
    )
    assert check.scores.shape == (6, 4) and len(check.order) == 4  # one block: the 4th is out of reach
    assert not st.in_contention(check.tasks[-1], settings.top_k)
    assert [t.top_k_share for t in check.tasks[:3]] == [1.0, 1.0, 1.0] and events
    again, _ = _run(st.iter_check_leaders(x, y, False, single, lambda i, j: (w[i:j], b[i:j]), settings))
    np.testing.assert_array_equal(check.scores, again.scores)
    assert check.order == again.order and check.tasks == again.tasks
    x, y, single, w, b = _head(160, clear=False)
    flat, _ = _run(st.iter_check_leaders(x, y, False, single, lambda i, j: (w[i:j], b[i:j]), settings))
    assert len(flat.order) == 12  # three blocks of 4: every block ended in contention
    assert sum(t.tied_with_leader for t in flat.tasks) >= 4


def test_leader_check_can_be_cancelled():
    from hfselect_core.errors import CancelledError

    x, y, single, w, b = _head(100, clear=True)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(CancelledError):
        _run(st.iter_check_leaders(x, y, False, single, lambda i, j: (w[i:j], b[i:j]), should_stop=stop))


@pytest.fixture(scope="module")
def dataset() -> TargetDataset:
    texts = make_texts(60, seed=4)
    labels = ["pos" if ("good" in t or "great" in t) else "neg" for t in texts]
    labels[:2] = ["pos", "neg"]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")


@pytest.fixture(scope="module")
def esm_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("esms")
    for i in range(6):
        write_esm_folder(root / f"org__t{i}", f"org/t{i}", seed=i, base_model="tiny/base")
    write_esm_folder(root / "local_task", "local_task_without_hub_id", seed=9, base_model="tiny/base")
    return root


def test_ranking_carries_stability_deterministically(tiny_bert_dir, dataset, esm_dir, tmp_path):
    settings = st.StabilitySettings(num_resamples=6, max_candidates=4, seed=5)
    kwargs = dict(base_model=str(tiny_bert_dir), source=str(esm_dir), device="cpu", stability=settings)
    first = compute_task_ranking(dataset, **kwargs)
    second = compute_task_ranking(dataset, **kwargs)
    assert [(r.name, r.stability) for r in first] == [(r.name, r.stability) for r in second]
    resampled = [r for r in first if r.stability is not None]
    # A block of 4 is resampled, and the next block while the last resampled place is in contention.
    assert len(resampled) in (4, 7) and [r.rank for r in resampled] == list(range(1, len(resampled) + 1))
    if len(resampled) == 4:
        assert not st.in_contention(resampled[-1].stability, settings.top_k)
    assert first.best.stability.tied_with_leader
    assert "stability" in first.stage_seconds
    assert first.class_counts == dataset.class_counts() and sum(first.class_counts.values()) == len(dataset)
    df = first.to_pandas()
    assert list(df.columns[-len(STABILITY_COLUMNS) :]) == STABILITY_COLUMNS
    assert df["Rank Low"].notna().sum() == len(resampled)
    exported = json.loads(first.to_json())
    assert exported["stability"]["num_resamples"] == 6
    assert exported["ranking"][0]["stability"]["rank_low"] == 1
    assert exported["class_counts"] == first.class_counts
    assert "Top-k Share" in first.to_csv().splitlines()[0]
    plain = compute_task_ranking(dataset, **{**kwargs, "stability": None})
    assert all(r.stability is None for r in plain) and plain.stability is None
    scores = [r.score for r in plain]
    assert scores == sorted(scores, reverse=True)
    # The default order is the sample's own score (bench/RESULTS.md, "Stability"): stability only
    # adds intervals and ties, the order and the scores are the plain ranking's.
    assert settings.order == st.ORDER_SINGLE == st.StabilitySettings().order
    assert [(r.name, r.score) for r in first] == [(r.name, r.score) for r in plain]
    by_rank = compute_task_ranking(dataset, **{**kwargs, "stability": replace(settings, order=st.ORDER_MEAN_RANK)})
    assert sorted(r.score for r in by_rank) == pytest.approx(sorted(r.score for r in plain))
    mean_ranks = [r.stability.mean_rank for r in by_rank if r.stability is not None]
    assert mean_ranks == sorted(mean_ranks)


def test_summary_words_are_honest(tiny_bert_dir, dataset, esm_dir):
    ranking = compute_task_ranking(
        dataset,
        base_model=str(tiny_bert_dir),
        source=str(esm_dir),
        device="cpu",
        stability=st.StabilitySettings(num_resamples=4, max_candidates=7),
    )
    text = summary_markdown(ranking)
    assert "predicted to help" not in text and "predicted to hurt" not in text
    assert "reference" in text.lower()
    assert "neg" in text and "pos" in text  # class counts of the sample
    frame = results_frame(ranking)
    for col in ("Rank Interval", "Top-3 Share"):
        assert col in frame.columns
    linked = frame.loc[frame["ESM"] == "local_task", "Task ID"].iloc[0]
    assert "huggingface.co" not in linked  # an id that is not owner/name is not linked to the Hub
    assert "https://huggingface.co/datasets/org/t" in " ".join(frame["Task ID"])


def test_warnings_for_small_samples_and_tiny_classes():
    small = TargetDataset.from_pandas(
        pd.DataFrame({"text": [f"t {i}" for i in range(40)], "label": ["a"] * 37 + ["b"] * 3}), "text", "label"
    )
    warnings = sample_warnings(small)
    assert any("Only 40 examples" in w for w in warnings)
    assert any("'b' (3)" in w for w in warnings)
    big = TargetDataset.from_pandas(
        pd.DataFrame({"text": [f"t {i}" for i in range(400)], "label": ["a", "b"] * 200}), "text", "label"
    )
    assert sample_warnings(big) == []


def test_order_falls_back_to_score_when_a_class_is_too_small_for_half_splits(tiny_bert_dir, esm_dir):
    texts = make_texts(60, seed=8)
    labels = ["a"] * 52 + ["b"] * 4 + ["c"] * 4
    small_classes = TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")
    ranking = compute_task_ranking(
        small_classes,
        base_model=str(tiny_bert_dir),
        source=str(esm_dir),
        device="cpu",
        stability=st.StabilitySettings(num_resamples=4, max_candidates=5, order=st.ORDER_MEAN_RANK),
    )
    assert ranking.stability.order == st.ORDER_SINGLE
    assert any("order is by score" in note for note in ranking.notes)
    scores = [r.score for r in ranking]
    assert scores == sorted(scores, reverse=True)
    assert all(r.stability is not None for r in ranking.rows[:5])


def test_a_tie_group_reaching_the_last_resampled_places_is_followed(tiny_bert_dir, dataset, tmp_path):
    from helpers import random_map

    for i in range(7):  # near copies of one map: every task is tied with every other
        weight, bias = random_map(32, seed=i, scale=1e-6)
        write_esm_folder(tmp_path / f"org__same{i}", f"org/same{i}", weight=weight, bias=bias, base_model="tiny/base")
    ranking = compute_task_ranking(
        dataset,
        base_model=str(tiny_bert_dir),
        source=str(tmp_path),
        device="cpu",
        stability=st.StabilitySettings(num_resamples=4, max_candidates=3),
    )
    assert all(r.stability is not None for r in ranking)  # 3, then 6, then all 7 resampled
    assert len(ranking.tied_with_leader) >= 5
    assert "indistinguishable" in summary_markdown(ranking)


# --- The bundled examples with the real MiniLM and the bundled pool (bench/RESULTS.md, "Stability") -----

EXAMPLES_DIR = REPO_ROOT / "assets" / "examples"


def _example(name: str) -> tuple[dict, TargetDataset]:
    meta = {e["name"]: e for e in json.loads((EXAMPLES_DIR / "examples.json").read_text())}[name]
    data = TargetDataset.from_file(
        EXAMPLES_DIR / meta["file"], meta["text_columns"], meta["label_column"], meta["task_type"], 100_000, 42
    )
    return meta, data


def test_bundled_examples_are_large_enough_and_their_metadata_in_sync():
    """Every example is above the small-sample threshold (no warning on the showcase), every class
    has enough examples for half-splits, and examples.json / the .md cards give the real row counts."""
    import re

    for meta in json.loads((EXAMPLES_DIR / "examples.json").read_text()):
        _, data = _example(meta["name"])
        assert len(data) == meta["num_rows"] == len(pd.read_csv(EXAMPLES_DIR / meta["file"]))
        assert sample_warnings(data) == [], meta["name"]
        if not data.is_regression:
            assert min(data.class_counts().values()) >= 2 * 10, meta["name"]  # >= 10 per half
        card = (EXAMPLES_DIR / meta["file"]).with_suffix(".md").read_text()
        assert re.search(rf"\*\*total\*\*\s*\|\s*{meta['num_rows']}\s*\|", card), meta["name"]
        assert f"of {meta['num_rows']} " in card or f"contains {meta['num_rows']} " in card, meta["name"]


@pytest.mark.slow
def test_product_reviews_example_has_a_stable_leader():
    """With the real MiniLM and the bundled pool the example's leader is stable (first in the
    single-sample order, rank 1 in some half-split and in the top 3 of at least 80% of them, the
    best mean rank); the other examples are measured by ``python -m bench.bench_stability examples``."""
    from hfselect_core.embedding import BUNDLED_MODEL_ID

    _, data = _example("product_reviews")
    ranking = compute_task_ranking(data, base_model=BUNDLED_MODEL_ID, source="bundled", device="cpu")
    best = ranking.rows[0].stability
    assert best.rank_low == 1 and best.top_k_share >= 0.8
    assert best.mean_rank == min(r.stability.mean_rank for r in ranking.rows if r.stability)
    assert not ranking.warnings
