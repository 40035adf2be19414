"""ESM training: the closed-form and SGD map fits, the full pipeline on a tiny model, the model card."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import make_texts

from hfselect_core.card import card_metadata, render_card
from hfselect_core.data import TargetDataset
from hfselect_core.errors import InvalidLabelsError
from hfselect_core.esm import ESM, ESMConfig
from hfselect_core.ranking import compute_task_ranking
from hfselect_core.training import (
    FitReport,
    TrainingSettings,
    fit_esm_map,
    fit_linear_map,
    fit_linear_map_sgd,
    map_quality,
    train_esm,
)


def _known_map(n: int = 200, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, d))
    b = rng.standard_normal(d)
    x = rng.standard_normal((n, d))
    return x, x @ w.T + b, w, b


def test_fit_linear_map_recovers_exact_map():
    x, y, w, b = _known_map()
    w_hat, b_hat = fit_linear_map(x, y, ridge=0.0)
    np.testing.assert_allclose(w_hat, w, atol=1e-8, rtol=0)
    np.testing.assert_allclose(b_hat, b, atol=1e-8, rtol=0)
    # The default tiny ridge is negligible for well-posed data.
    w_default, b_default = fit_linear_map(x, y)
    np.testing.assert_allclose(w_default, w, atol=1e-4)
    np.testing.assert_allclose(b_default, b, atol=1e-4)
    mse, r2 = map_quality(w_hat, b_hat, x, y)
    assert mse < 1e-15 and r2 == pytest.approx(1.0)


def test_fit_linear_map_rank_deficient_is_finite():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 2)) @ rng.standard_normal((2, 5))  # rank 2 in 5 dims
    y = x @ rng.standard_normal((5, 5)).T
    w, b = fit_linear_map(x, y)
    assert np.isfinite(w).all() and np.isfinite(b).all()
    assert map_quality(w, b, x, y)[0] < 1e-6


def test_fit_linear_map_sgd_gets_close():
    x, y, w, b = _known_map(n=512, d=4, seed=2)
    w_hat, b_hat = fit_linear_map_sgd(x, y, epochs=60, batch_size=32, learning_rate=0.02, weight_decay=0.0)
    assert np.abs(w_hat - w).max() < 0.05
    assert np.abs(b_hat - b).max() < 0.05
    mse, r2 = map_quality(w_hat, b_hat, x, y)
    assert r2 > 0.99


def test_fit_esm_map_reports_heldout_quality():
    x, y, w, b = _known_map(n=100, d=4, seed=3)
    y = y + 0.01 * np.random.default_rng(0).standard_normal(y.shape)
    w_hat, b_hat, report = fit_esm_map(x, y, TrainingSettings())
    assert isinstance(report, FitReport)
    assert report.num_heldout_pairs == 10 and report.num_train_pairs == 90
    assert report.r2 > 0.99
    assert report.mse < 1e-3
    np.testing.assert_allclose(w_hat, w, atol=0.02)


@pytest.fixture(scope="module")
def train_dataset() -> TargetDataset:
    texts = make_texts(40, seed=4)
    labels = ["a" if i % 2 else "b" for i in range(40)]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")


def test_train_esm_writes_a_loadable_rankable_folder(tiny_bert_dir, train_dataset, tmp_path):
    settings = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=1e-3, max_length=32)
    calls = []
    result = train_esm(
        train_dataset,
        str(tiny_bert_dir),
        settings=settings,
        device="cpu",
        output_dir=tmp_path / "esm",
        progress=lambda stage, done, total: calls.append(stage),
        task_id="tests/tiny_task",
        language="en",
    )
    assert result.folder == tmp_path / "esm"
    assert len(result.lm_losses) == 5  # 40 examples / batch 8, one epoch
    assert np.isfinite(result.lm_losses).all()
    assert {"Fine-tuning", "Embedding", "Fitting the map"} <= set(calls)
    for name in ("config.json", "model.safetensors", "README.md"):
        assert (result.folder / name).is_file()
    esm = ESM.from_folder(result.folder)
    assert esm.embedding_dim == 32
    assert esm.config.task_id == "tests/tiny_task"
    assert esm.config.base_model_name == str(tiny_bert_dir)
    assert esm.config.num_examples == 40
    assert esm.config.pooling == "pooler"
    assert esm.config.extra["task_type"] == "classification"
    np.testing.assert_allclose(esm.weight_and_bias()[0], result.esm.weight_and_bias()[0])
    config = json.loads((result.folder / "config.json").read_text(encoding="utf-8"))
    assert config["esm_architecture"] == "linear" and config["version"] == "0.2.0"
    readme = (result.folder / "README.md").read_text(encoding="utf-8")
    assert "embedding_space_map" in readme and "tests/tiny_task" in readme
    # The fine-tuned model moved, so the map is not the identity.
    assert not np.allclose(esm.weight_and_bias()[0], np.eye(32), atol=1e-3)

    ranking = compute_task_ranking(
        train_dataset, base_model=str(tiny_bert_dir), source=str(result.folder), device="cpu"
    )
    assert len(ranking) == 1
    assert ranking[0].config.task_id == "tests/tiny_task"
    assert np.isfinite(ranking[0].score)


def test_train_esm_single_class_refused(tiny_bert_dir, train_dataset):
    import copy

    one = copy.copy(train_dataset)
    one.labels = np.zeros(len(train_dataset), dtype=np.int64)
    with pytest.raises(InvalidLabelsError):
        train_esm(one, str(tiny_bert_dir), settings=TrainingSettings(lm_num_epochs=1), device="cpu")


def _front_matter(card: str) -> str:
    assert card.startswith("---\n")
    return card.split("---\n")[1]


def test_render_card_metadata():
    config = ESMConfig(
        base_model_name="google-bert/bert-base-uncased",
        task_id="stanfordnlp/imdb",
        task_subset="plain_text",
        num_examples=1000,
        esm_embedding_dim=768,
    )
    card = render_card(config)
    meta = _front_matter(card)
    lines = meta.splitlines()
    assert 'license: "apache-2.0"' in lines or "license: apache-2.0" in lines
    assert lines[lines.index("datasets:") + 1] == '- "stanfordnlp/imdb"'
    assert 'base_model: "google-bert/bert-base-uncased"' in lines
    tags = lines[lines.index("tags:") + 1 : lines.index("tags:") + 3]
    assert tags == ['- "embedding_space_map"', '- "BaseLM:google-bert/bert-base-uncased"']
    assert "stanfordnlp/imdb" in card.split("---\n", 2)[2]
    assert card_metadata(config)["tags"] == ["embedding_space_map", "BaseLM:google-bert/bert-base-uncased"]


def test_render_card_front_matter_is_yaml():
    yaml = pytest.importorskip("yaml")
    config = ESMConfig(base_model_name="org/base: model", task_id="org/task")
    meta = yaml.safe_load(_front_matter(render_card(config)))
    assert meta["license"] == "apache-2.0"
    assert meta["datasets"] == ["org/task"]
    assert meta["base_model"] == "org/base: model"
    assert meta["tags"] == ["embedding_space_map", "BaseLM:org/base: model"]


def test_render_card_with_report():
    config = ESMConfig(base_model_name="org/base", task_id="org/task", esm_num_epochs=10, esm_batch_size=32)
    report = FitReport(mse=0.00123, r2=0.9, train_mse=0.001, num_train_pairs=90, num_heldout_pairs=10, method="sgd")
    card = render_card(config, report, notes="Trained in a test.")
    assert "AdamW" in card
    assert "0.00123" in card
    assert "Trained in a test." in card


def test_train_esm_after_the_base_model_embedded_the_same_texts(tiny_bert_dir, train_dataset, monkeypatch):
    """The embedding cache keys vectors by model identity: the fine-tuned copy must not be served
    the base model's cached vectors of the same texts (that made every map the identity)."""
    from hfselect_core.embedding import load_embedding_model

    monkeypatch.setenv("HFSELECT_EMBEDDING_CACHE_MB", "64")
    base = load_embedding_model(str(tiny_bert_dir), device="cpu", max_length=32)
    base.embed(train_dataset.texts)
    settings = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=1e-3, max_length=32)
    result = train_esm(train_dataset, base, settings=settings)
    assert result.fit.r2 < 1 - 1e-6 and result.fit.mse > 1e-10
    assert not np.allclose(result.esm.weight_and_bias()[0], np.eye(32), atol=1e-3)
