"""The ranking as stages: entering at the embeddings (rank_embeddings), streaming and stopping the ESM
loading stage, the protocols, and the studio's self-check scoring without embedding again."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pandas as pd
import pytest
from helpers import make_texts, write_esm_folder

from hfselect_core import (
    EmbeddingModel,
    ESMLike,
    ESMSource,
    Event,
    LocalESMSource,
    TargetDataset,
    compute_task_ranking,
    iter_load_esms,
    load_embedding_model,
    pipeline,
    rank_embeddings,
    resources,
    studio,
)
from hfselect_core.errors import CancelledError
from hfselect_core.esm import ESM, safe_name
from hfselect_core.ranking import iter_rank_embeddings
from hfselect_core.sources import BundledESMSource, LoadedESMs, SkippedESM
from hfselect_core.training import TrainingSettings


@pytest.fixture(scope="module")
def dataset() -> TargetDataset:
    texts = make_texts(60, seed=11)
    labels = [("pos", "neg", "mid")[i % 3] for i in range(60)]
    return TargetDataset.from_pandas(pd.DataFrame({"text": texts, "label": labels}), "text", "label")


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("pool")
    for i in range(6):
        write_esm_folder(root / f"task_{i}", f"org/task_{i}", base_model=str(tiny_bert_dir), seed=i)
    write_esm_folder(root / "wide", "org/wide", base_model=str(tiny_bert_dir), dim=48, seed=9)
    return root


def test_rank_embeddings_gives_the_full_pipelines_ranking(dataset, pool, tiny_bert_dir):
    full = compute_task_ranking(dataset, str(tiny_bert_dir), source=str(pool), device="cpu")
    X = load_embedding_model(str(tiny_bert_dir), device="cpu").embed(dataset.texts)
    esms = LocalESMSource(pool).load(str(tiny_bert_dir)).esms
    ranking = rank_embeddings(X, dataset.labels, esms, device="cpu", base_model=str(tiny_bert_dir))
    assert [r.name for r in ranking] == [r.name for r in full]
    np.testing.assert_allclose([r.score for r in ranking], [r.score for r in full], rtol=1e-9)
    assert ranking.baseline == pytest.approx(full.baseline, rel=1e-9)
    assert ranking.task_type == "classification" and ranking.num_examples == len(dataset)
    assert [s.name for s in ranking.skipped] == ["wide"]  # dimension 48, not the model's 32
    assert ranking.class_counts == {"0": 20, "1": 20, "2": 20}  # ids: an array carries no class names
    assert all(r.source == "folder " + str(pool) for r in ranking)
    # The same with the dataset as labels: its class names come along.
    named = rank_embeddings(X, dataset, esms, device="cpu", stability=None)
    assert named.class_counts == dataset.class_counts() and named.stability is None


def test_rank_embeddings_guesses_regression_and_checks_shapes(dataset, pool, tiny_bert_dir):
    X = load_embedding_model(str(tiny_bert_dir), device="cpu").embed(dataset.texts)
    esms = LocalESMSource(pool).load(str(tiny_bert_dir)).esms[:3]
    y = np.linspace(0.0, 1.0, len(X))
    assert rank_embeddings(X, y, esms, stability=None, device="cpu").task_type == "regression"
    with pytest.raises(ValueError, match="N = 59"):
        rank_embeddings(X, y[:-1], esms, device="cpu")


def test_scoring_yields_an_event_per_esm_when_asked(dataset, pool, tiny_bert_dir):
    X = load_embedding_model(str(tiny_bert_dir), device="cpu").embed(dataset.texts)
    esms = LocalESMSource(pool).load(str(tiny_bert_dir)).esms
    events = list(iter_rank_embeddings(X, dataset, esms, esm_batch_size=1, stability=None, device="cpu"))
    scoring = [e.done for e in events if e.stage == "Scoring"]
    assert scoring == list(range(7 - 1 + 1))  # 0, then one per usable ESM (6)
    assert isinstance(events[-1], Event) and events[-1].is_final and events[-1].ranking is events[-1].result


class SlowSource:
    """An ESMSource of its own kind (the protocol is all it needs): one ESM every 50 ms."""

    label = "slow"

    def __init__(self, folder, count: int):
        self.inner, self.count, self.read = LocalESMSource(folder), count, 0

    def load(self, base_model, filters=None, progress=None, should_stop=None) -> LoadedESMs:
        folders = self.inner.list_folders()
        esms = []
        for i in range(self.count):
            if should_stop and should_stop():
                raise CancelledError()
            time.sleep(0.05)
            esm = ESM.from_folder(folders[i % len(folders)][1], name=f"slow_{i}")
            esm.source = self.label
            esms.append(esm)
            self.read += 1
            if progress:
                progress("Loading ESMs", i + 1, self.count)
        return LoadedESMs(esms, [SkippedESM("none", "example")][:0], [])


def test_protocols_are_met_by_every_esm_and_source(pool, tiny_bert_dir):
    stored = LocalESMSource(pool).load(str(tiny_bert_dir)).esms[0]
    assert isinstance(stored, ESMLike) and isinstance(stored.load(), ESMLike)
    for source in (LocalESMSource(pool), BundledESMSource("x"), pipeline.HubESMSource(), SlowSource(pool, 1)):
        assert isinstance(source, ESMSource)


def test_loading_streams_per_esm_while_it_runs(pool, tiny_bert_dir):
    source = SlowSource(pool, 20)
    seen = []
    loader = iter_load_esms([source], str(tiny_bert_dir))
    try:
        while True:
            event = next(loader)
            seen.append((event.done, source.read))
    except StopIteration as end:
        loaded = end.value
    assert len(loaded.esms) == 20
    # Events arrived while loading was still going (not all buffered until the end).
    assert any(0 < done < 20 for done, _ in seen), seen
    assert any(read < 20 for _, read in seen), seen


def test_closing_the_loading_stage_stops_the_source_between_esms(pool, tiny_bert_dir):
    source = SlowSource(pool, 200)  # 10 s if nothing stopped it
    loader = iter_load_esms([source], str(tiny_bert_dir))
    started = time.monotonic()
    for event in loader:
        if event.done >= 3:
            break
    loader.close()  # what Gradio's Cancel does
    time.sleep(0.3)
    read = source.read
    time.sleep(0.3)
    assert source.read == read < 200  # the worker stopped, it does not go on in the background
    assert time.monotonic() - started < 5


def test_should_stop_cancels_loading(pool, tiny_bert_dir):
    source = SlowSource(pool, 200)
    flag = threading.Event()
    threading.Timer(0.3, flag.set).start()
    with pytest.raises(CancelledError):
        for _ in iter_load_esms([source], str(tiny_bert_dir), should_stop=flag.is_set):
            pass
    assert source.read < 200


def test_studio_self_check_scores_the_training_embeddings(tmp_path, monkeypatch, tiny_bert_dir):
    """The self-check ranks the new ESM against a pool from the embeddings made for training:
    no second embedding pass (the embedding stage is never entered), an event per ESM."""
    assets = tmp_path / "assets"  # a deployment's own assets: the card template and a pool for this model
    assets.mkdir()
    shutil.copy2(resources.card_template_path(), assets / resources.CARD_TEMPLATE)
    pool_dir = assets / "esms" / safe_name(str(tiny_bert_dir))
    for i in range(4):
        write_esm_folder(pool_dir / f"t{i}", f"org/t{i}", base_model=str(tiny_bert_dir), seed=20 + i)
    monkeypatch.setenv("HFSELECT_ASSETS_DIR", str(assets))

    def no_second_embedding(*args, **kwargs):
        raise AssertionError("the self-check embedded the data again")

    monkeypatch.setattr(pipeline, "iter_embed", no_second_embedding)
    monkeypatch.setattr(pipeline, "iter_task_ranking", no_second_embedding)
    passes = []  # forward passes over the whole target: the base model's and the fine-tuned copy's
    real_embed = EmbeddingModel._embed

    def counting_embed(self, texts, *args, **kwargs):
        passes.append(len(texts))
        return real_embed(self, texts, *args, **kwargs)

    monkeypatch.setattr(EmbeddingModel, "_embed", counting_embed)
    texts = make_texts(30, seed=5)
    data = TargetDataset.from_pandas(
        pd.DataFrame({"text": texts, "label": ["a" if i % 2 else "b" for i in range(30)]}), "text", "label"
    )
    settings = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=1e-3, max_length=32)
    events = list(studio.iter_studio_training(data, str(tiny_bert_dir), settings, device="cpu", workdir=tmp_path))
    result = events[-1].result
    assert result.self_rank_total == 5 and result.self_rank is not None
    assert {r.source for r in result.ranking} == {"new", "bundled pool"}
    scoring = [e.done for e in events if e.stage == "Self-check" and e.message == "Scoring"]
    assert scoring == [0, 1, 2, 3, 4, 5]
    assert passes.count(len(data)) == 2  # training's two; the self-check's came from the embedding cache
