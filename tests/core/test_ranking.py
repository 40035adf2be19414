"""Ranking end to end on a tiny random BERT and ESM folders written in tmp."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, make_texts, random_map, write_esm_folder

from hfselect_core.data import TargetDataset
from hfselect_core.embedding import load_embedding_model
from hfselect_core.errors import CancelledError, NoESMsFoundError
from hfselect_core.esm import ESM
from hfselect_core.logme import logme
from hfselect_core.ranking import (
    COLUMNS,
    STABILITY_COLUMNS,
    RankingEvent,
    TaskRanking,
    compute_task_ranking,
    iter_task_ranking,
)

GOOD = ["org/task_a", "org/task_b", "org/task_c", "org/task_d"]


@pytest.fixture(scope="module")
def dataset() -> TargetDataset:
    texts = make_texts(48, seed=9)
    labels = [("pos" if ("good" in t or "great" in t or "love" in t) else "neg") for t in texts]
    labels[:2] = ["pos", "neg"]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")


@pytest.fixture(scope="module")
def esm_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("esms")
    for i, task in enumerate(GOOD[:3]):
        write_esm_folder(root / task.replace("/", "__"), task, seed=i, base_model="tiny/base")
    write_esm_folder(root / "org__task_d", GOOD[3], seed=3, legacy=True)
    corrupt = write_esm_folder(root / "org__corrupt", "org/corrupt", seed=4)
    (corrupt / "model.safetensors").write_bytes(b"definitely not safetensors")
    write_esm_folder(root / "org__wrong_dim", "org/wrong_dim", dim=16, seed=5)
    return root


def test_ranking_from_folder(tiny_bert_dir, dataset, esm_dir):
    calls = []
    ranking = compute_task_ranking(
        dataset,
        base_model=str(tiny_bert_dir),
        source=str(esm_dir),
        device="cpu",
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert isinstance(ranking, TaskRanking)
    assert len(ranking) == 4
    assert sorted(r.config.task_id for r in ranking) == GOOD
    scores = [r.score for r in ranking]
    # The default order is by mean rank over resamples when every class is large enough for
    # half-splits (see ranking.effective_stability), else by score; it holds every task once.
    key = [r.stability.mean_rank for r in ranking] if ranking.stability.order == "mean_rank" else [-x for x in scores]
    assert key == sorted(key)
    assert [r.rank for r in ranking] == [1, 2, 3, 4]
    assert all(np.isfinite(scores))
    assert len(set(scores)) == 4
    assert ranking.best is ranking[0]
    skipped = {s.name: s.reason for s in ranking.skipped}
    assert set(skipped) == {"org__corrupt", "org__wrong_dim"}
    assert "safetensors" in skipped["org__corrupt"]
    assert "dimension 16" in skipped["org__wrong_dim"] and "32" in skipped["org__wrong_dim"]
    assert ranking.num_examples == len(dataset)
    assert ranking.task_type == "classification"
    assert ranking.base_model == str(tiny_bert_dir)
    stages = {c[0] for c in calls}
    assert {"Loading ESMs", "Embedding", "Scoring"} <= stages
    assert ("Scoring", 4, 4) in calls
    assert "Score:" in str(ranking)

    # Scores equal LogME of the mapped embeddings, computed independently.
    model = load_embedding_model(str(tiny_bert_dir), device="cpu")
    embeddings = model.embed(dataset.texts, batch_size=7).astype(np.float64)
    # The maps as written (helpers.random_map with each folder's seed), not read back by the loader under test.
    written = {f"org__task_{c}": random_map(32, seed) for seed, c in enumerate("abcd")}
    for row in ranking:
        weight, bias = written[row.name]
        features = embeddings @ weight.astype(np.float64).T + bias.astype(np.float64)
        expected = logme(features, dataset.labels, regression=False)
        assert abs(row.score - expected) <= 1e-5 * abs(expected), (row.name, row.score, expected)

    df = ranking.to_pandas()
    assert list(df.columns) == [*COLUMNS, *STABILITY_COLUMNS]
    assert df["Rank"].tolist() == [1, 2, 3, 4]
    assert df["Score"].dtype == np.float64
    assert df["Num Examples"].tolist() == [1000] * 4
    assert set(df["ESM Architecture"]) == {"linear"}
    assert set(df["Task ID"]) == set(GOOD)

    back = pd.read_csv(StringIO(ranking.to_csv()))
    assert list(back.columns) == [*COLUMNS, *STABILITY_COLUMNS]
    np.testing.assert_allclose(back["Score"].to_numpy(), df["Score"].to_numpy(), rtol=1e-12)
    assert back["Task ID"].tolist() == df["Task ID"].tolist()

    data = json.loads(ranking.to_json())
    assert [r["esm"] for r in data["ranking"]] == df["ESM"].tolist()
    assert [r["score"] for r in data["ranking"]] == df["Score"].tolist()
    assert {s["esm"] for s in data["skipped"]} == {"org__corrupt", "org__wrong_dim"}


def test_ranking_files_round_trip(tiny_bert_dir, dataset, esm_dir, tmp_path):
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(esm_dir), device="cpu")
    ranking.to_csv(tmp_path / "r.csv")
    ranking.to_json(tmp_path / "r.json")
    back = pd.read_csv(tmp_path / "r.csv")
    assert back["ESM"].tolist() == [r.name for r in ranking]
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["num_examples"] == len(dataset)
    assert [r["task_id"] for r in data["ranking"]] == [r.config.task_id for r in ranking]
    top2 = ranking[:2]
    assert isinstance(top2, TaskRanking) and len(top2) == 2


def test_given_esms_and_regression(tiny_bert_dir, dataset):
    rng = np.random.default_rng(0)
    regression = TargetDataset(
        texts=dataset.texts,
        labels=rng.standard_normal(len(dataset)),
        task_type="regression",
        text_columns=["text"],
        label_column="y",
    )
    esms = [ESM.from_weights(*random_map(32, seed=s)) for s in range(3)]
    for i, esm in enumerate(esms):
        esm.name = f"esm{i}"
    ranking = compute_task_ranking(regression, base_model=str(tiny_bert_dir), esms=esms, device="cpu")
    assert len(ranking) == 3
    model = load_embedding_model(str(tiny_bert_dir), device="cpu")
    x = model.embed(regression.texts).astype(np.float64)
    for row in ranking:
        w, b = next(e for e in esms if e.name == row.name).weight_and_bias()
        expected = logme(x @ w.astype(np.float64).T + b, regression.labels, regression=True)
        assert abs(row.score - expected) <= 1e-5 * abs(expected)


def test_iter_task_ranking_events(tiny_bert_dir, dataset, esm_dir):
    events = list(iter_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(esm_dir), device="cpu"))
    assert all(isinstance(e, RankingEvent) for e in events)
    assert events[0].stage == "Loading ESMs"
    assert events[-1].stage == "Done"
    assert isinstance(events[-1].ranking, TaskRanking)
    assert all(e.ranking is None for e in events[:-1])
    stages = [e.stage for e in events]
    assert stages.index("Loading base model") < stages.index("Embedding") < stages.index("Scoring")


def test_should_stop_cancels(tiny_bert_dir, dataset, esm_dir):
    with pytest.raises(CancelledError):
        for _ in iter_task_ranking(
            dataset, base_model=str(tiny_bert_dir), source=str(esm_dir), device="cpu", should_stop=lambda: True
        ):
            pass
    # Stopping later (after some events) also ends the job before a ranking is produced.
    seen = []

    def stop_after_embedding() -> bool:
        return "Embedding" in seen

    with pytest.raises(CancelledError):
        for event in iter_task_ranking(
            dataset,
            base_model=str(tiny_bert_dir),
            source=str(esm_dir),
            device="cpu",
            should_stop=stop_after_embedding,
        ):
            seen.append(event.stage)
            assert event.ranking is None


def test_no_esms(tiny_bert_dir, dataset, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoESMsFoundError) as info:
        compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(tmp_path / "empty"), device="cpu")
    assert str(tiny_bert_dir) in str(info.value)


def test_only_broken_esms(tiny_bert_dir, dataset, tmp_path):
    folder = write_esm_folder(tmp_path / "pool" / "broken", "org/broken")
    (folder / "config.json").write_text("{", encoding="utf-8")
    with pytest.raises(NoESMsFoundError) as info:
        compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(tmp_path / "pool"), device="cpu")
    assert "broken" in str(info.value)


@pytest.mark.slow
def test_bundled_model_and_pool():

    from hfselect_core.embedding import BUNDLED_MODEL_ID

    path = REPO_ROOT / "assets" / "examples" / "product_reviews.csv"
    ds = TargetDataset.from_file(path, "review", "sentiment")
    ranking = compute_task_ranking(ds, base_model=BUNDLED_MODEL_ID, source="bundled", device="cpu")
    assert len(ranking) == 39
    assert not ranking.skipped
    df = ranking.to_pandas()
    assert np.isfinite(df["Score"]).all()
    assert df["Score"].is_monotonic_decreasing
    assert df["Task ID"].notna().all()
