"""Guards for the studio (issue 18): the saved map is the trained map, and the self-check is a real ranking.

The map: a tiny random BERT is fine-tuned for real (a learning rate that moves its embeddings), and
the map saved in the ESM folder must reproduce the fine-tuned embeddings of texts it never saw. The
self-check: the real MiniLM and its real bundled pool, so "rank 1 of 1" cannot pass, and the new
ESM's place is computed here from the weight files and LogME, not read back from the studio.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT, make_texts
from safetensors.numpy import load_file

from hfselect_core.data import TargetDataset
from hfselect_core.embedding import load_embedding_model
from hfselect_core.esm import safe_name
from hfselect_core.logme import logme
from hfselect_core.studio import iter_studio_training
from hfselect_core.training import TrainingSettings, fine_tune_encoder

TINY_SETTINGS = dict(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=2e-3, seed=5)
POSITIVE = {"good", "great", "love", "happy", "fine", "fast", "cheap"}
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_POOL = REPO_ROOT / "assets" / "esms" / safe_name(MINILM)


def _run_studio(dataset: TargetDataset, model: str, settings: TrainingSettings, workdir, **kw):
    events = list(iter_studio_training(dataset, model, settings, device="cpu", workdir=workdir, **kw))
    assert events[-1].result is not None
    return events[-1].result


def _weights(folder) -> tuple[np.ndarray, np.ndarray]:
    """The map as stored on disk, read with safetensors (not with the ESM loader under test)."""
    tensors = load_file(str(folder / "model.safetensors"))
    weight = next(v for k, v in tensors.items() if k.endswith("weight"))
    bias = next(v for k, v in tensors.items() if k.endswith("bias"))
    return weight.astype(np.float64), bias.astype(np.float64)


@pytest.fixture(scope="module")
def tiny_run(tiny_bert_dir, tmp_path_factory):
    texts = make_texts(40, seed=21)
    labels = ["pos" if POSITIVE & set(t.split()) else "neg" for t in texts]
    dataset = TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")
    settings = TrainingSettings(**TINY_SETTINGS)
    result = _run_studio(dataset, str(tiny_bert_dir), settings, tmp_path_factory.mktemp("tiny"), self_check=False)
    return dataset, result


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    dataset = TargetDataset.from_file(
        REPO_ROOT / "assets" / "examples" / "product_reviews.csv", ["review"], "sentiment", "classification", 40, 11
    )
    settings = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, seed=5)
    result = _run_studio(dataset, MINILM, settings, tmp_path_factory.mktemp("minilm"), task_id="guard/own_task")
    return dataset, result


def _r2(pred: np.ndarray, target: np.ndarray) -> float:
    residual = ((target - pred) ** 2).sum()
    total = ((target - target.mean(axis=0)) ** 2).sum()
    return float(1 - residual / total)


def test_the_saved_map_reproduces_the_fine_tuned_embeddings_of_held_out_texts(tiny_run, tiny_bert_dir):
    dataset, result = tiny_run
    weight, bias = _weights(result.folder)

    # The fine-tuned model again (same data, settings and seed), and texts the map never saw.
    base = load_embedding_model(str(tiny_bert_dir), device="cpu")
    tuned, _ = fine_tune_encoder(base, dataset, TrainingSettings(**TINY_SETTINGS))
    held_out = [t for t in make_texts(80, seed=777) if t not in set(dataset.texts)]
    x = base.embed(held_out, use_cache=False).astype(np.float64)
    y = tuned.embed(held_out, use_cache=False).astype(np.float64)

    r2_map = _r2(x @ weight.T + bias, y)
    r2_identity = _r2(x, y)
    assert r2_map > 0.8, f"the saved map explains R² {r2_map:.3f} of the fine-tuned embeddings"
    # Real signal: the fine-tune moved the embeddings, and the map follows that move.
    assert r2_identity < 0.5, f"the fine-tune barely moved the embeddings (identity R² {r2_identity:.3f})"


def test_the_self_check_ranks_the_new_esm_within_the_bundled_pool(minilm_run):
    dataset, result = minilm_run
    pool = sorted(p for p in MINILM_POOL.iterdir() if (p / "config.json").exists())
    assert len(pool) >= 30
    assert result.self_rank_total == len(pool) + 1  # the pool and the new ESM, not "1 of 1"

    x = load_embedding_model(MINILM, device="cpu").embed(dataset.texts).astype(np.float64)
    scores = {"new": logme(x @ _weights(result.folder)[0].T + _weights(result.folder)[1], dataset.labels)}
    for folder in pool:
        weight, bias = _weights(folder)
        scores[folder.name] = logme(x @ weight.T + bias, dataset.labels)
    order = sorted(scores, key=lambda k: -scores[k])
    expected = order.index("new") + 1
    assert expected > 1, f"no pool ESM beats the new one here: the test would not notice 'always 1' {scores}"
    neighbours = [scores[k] for k in order[max(0, expected - 2) : expected + 1] if k != "new"]
    assert all(abs(scores["new"] - v) > 1e-6 * abs(v) for v in neighbours), "a tie decides the rank"
    assert result.self_rank == expected, (result.self_rank, expected, order[:5])
    assert f"{expected} of {len(pool) + 1}" in result.self_check_message()
