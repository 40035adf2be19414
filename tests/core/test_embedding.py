"""Base-model embeddings: pooling per model family, padding independence, remote code refusal."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import (
    REPO_ROOT,
    add_sentence_transformers_modules,
    make_texts,
    save_tiny_bert,
    save_tiny_distilbert,
    save_tiny_t5,
)

from hfselect_core.embedding import load_embedding_model, resolve_model_path
from hfselect_core.errors import ModelNotAvailableError, RemoteCodeRefusedError

TEXTS = make_texts(12, seed=3) + ["good", "the very very really not bad cheap phone screen battery works fine"]


def _check_padding_independent(model):
    small = model.embed(TEXTS, batch_size=1, use_cache=False)
    large = model.embed(TEXTS, batch_size=8, use_cache=False)
    assert small.shape == (len(TEXTS), model.dim)
    assert small.dtype == np.float32
    assert np.isfinite(small).all()
    np.testing.assert_allclose(small, large, atol=1e-5, rtol=0)
    # Distinct texts give distinct vectors, and order of input is kept.
    assert not np.allclose(small[0], small[1])
    single = model.embed([TEXTS[5]], batch_size=1, use_cache=False)
    np.testing.assert_allclose(single[0], small[5], atol=1e-5, rtol=0)
    return small


def test_bert_uses_pooler(tmp_path):
    folder = save_tiny_bert(tmp_path / "bert")
    model = load_embedding_model(str(folder), device="cpu")
    assert model.pooling == "pooler"
    assert model.dim == 32
    vectors = _check_padding_independent(model)
    # The pooler output is tanh(dense(first token)): within (-1, 1).
    assert np.abs(vectors).max() < 1.0
    encoded = model.tokenizer([TEXTS[0]], return_tensors="pt")
    with torch.inference_mode():
        expected = model.model(**encoded).pooler_output[0].numpy()
    np.testing.assert_allclose(vectors[0], expected, atol=1e-5)


def test_model_is_cached_per_path(tmp_path):
    folder = save_tiny_bert(tmp_path / "cached")
    assert load_embedding_model(str(folder), device="cpu") is load_embedding_model(str(folder), device="cpu")


def test_distilbert_uses_first_token(tmp_path):
    folder = save_tiny_distilbert(tmp_path / "distil")
    model = load_embedding_model(str(folder), device="cpu")
    assert model.pooling == "cls"
    vectors = _check_padding_independent(model)
    encoded = model.tokenizer([TEXTS[2]], return_tensors="pt")
    with torch.inference_mode():
        expected = model.model(**encoded).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(vectors[2], expected, atol=1e-5)


def test_t5_uses_encoder_mean(tmp_path):
    folder = save_tiny_t5(tmp_path / "t5")
    model = load_embedding_model(str(folder), device="cpu")
    assert model.pooling == "encoder_mean"
    assert model.dim == 32
    vectors = _check_padding_independent(model)
    encoded = model.tokenizer([TEXTS[1]], return_tensors="pt")
    with torch.inference_mode():
        hidden = model.model(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
    np.testing.assert_allclose(vectors[1], hidden.last_hidden_state[0].mean(0).numpy(), atol=1e-5)


def test_sentence_transformers_mean_normalize(tmp_path):
    folder = add_sentence_transformers_modules(save_tiny_bert(tmp_path / "st", seed=1))
    model = load_embedding_model(str(folder), device="cpu")
    assert model.pooling == "st:mean+normalize"
    vectors = _check_padding_independent(model)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    encoded = model.tokenizer([TEXTS[3]], return_tensors="pt")
    with torch.inference_mode():
        mean = model.model(**encoded).last_hidden_state[0].mean(0).numpy()
    np.testing.assert_allclose(vectors[3], mean / np.linalg.norm(mean), atol=1e-5)


@pytest.mark.parametrize(
    ("mode", "normalize", "expected"), [("cls", False, "st:cls"), ("max", True, "st:max+normalize")]
)
def test_sentence_transformers_other_modes(tmp_path, mode, normalize, expected):
    folder = add_sentence_transformers_modules(save_tiny_bert(tmp_path / f"st_{mode}"), normalize=normalize, mode=mode)
    model = load_embedding_model(str(folder), device="cpu")
    assert model.pooling == expected
    _check_padding_independent(model)


def test_remote_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("HFSELECT_TRUST_REMOTE_CODE", raising=False)
    folder = save_tiny_bert(tmp_path / "remote")
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n", encoding="utf-8")
    with pytest.raises(RemoteCodeRefusedError) as info:
        load_embedding_model(str(folder), device="cpu")
    assert "HFSELECT_TRUST_REMOTE_CODE" in str(info.value)


def test_unknown_model_offline():
    with pytest.raises(ModelNotAvailableError, match="offline"):
        resolve_model_path("nobody-here/definitely-not-a-model-xyz")


def test_folder_without_model(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailableError):
        load_embedding_model(str(tmp_path / "empty"), device="cpu")


def test_progress_and_stop(tmp_path):
    from hfselect_core.errors import CancelledError

    folder = save_tiny_bert(tmp_path / "progress")
    model = load_embedding_model(str(folder), device="cpu")
    calls = []
    model.embed(TEXTS, batch_size=4, progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert calls[0] == ("Embedding", 0, len(TEXTS))
    assert calls[-1] == ("Embedding", len(TEXTS), len(TEXTS))
    with pytest.raises(CancelledError):
        model.embed(TEXTS, batch_size=4, should_stop=lambda: True)


def test_concurrent_first_loads_in_a_fresh_process(tiny_bert_dir):
    """Several requests loading models at once in a new process (a Space's first users).

    transformers' lazy imports are not thread-safe; before loads were serialised this failed
    with "cannot import name 'AutoConfig' from 'transformers'".
    """
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import os, threading
        os.environ["HF_HUB_OFFLINE"] = "1"
        from hfselect_core.embedding import load_embedding_model
        errors = []
        def load(i):
            try:
                load_embedding_model({str(tiny_bert_dir)!r}, device="cpu", max_length=16 + i)
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print("errors:", errors)
        raise SystemExit(1 if errors else 0)
        """
    )
    root = REPO_ROOT
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]


# --- embedding cache and precision options -----------------------------------------------------


def _forward_counter(model) -> list:
    calls: list = []
    model.model.register_forward_hook(lambda *args: calls.append(1))
    return calls


def test_embedding_cache_skips_the_model_for_texts_seen_before(tmp_path):
    folder = save_tiny_bert(tmp_path / "cache-bert")
    model = load_embedding_model(str(folder), device="cpu")
    calls = _forward_counter(model)
    first = model.embed(TEXTS, batch_size=4)
    computed = len(calls)
    assert computed > 0
    again = model.embed(TEXTS, batch_size=4)
    assert len(calls) == computed  # served from the cache
    np.testing.assert_array_equal(again, first)
    again[:] = 0.0  # a caller's copy: the cached vectors stay intact
    np.testing.assert_array_equal(model.embed(TEXTS), first)
    # Other texts, another order, or the cache turned off: embedded again.
    reordered = model.embed(TEXTS[::-1])
    np.testing.assert_allclose(reordered[::-1], first, atol=1e-5)
    assert len(calls) > computed
    computed = len(calls)
    model.embed(TEXTS, use_cache=False)
    assert len(calls) > computed


def test_embedding_cache_key_separates_model_settings(tmp_path):
    from hfselect_core.embedding_cache import texts_key

    folder = save_tiny_bert(tmp_path / "key-bert")
    fp32 = load_embedding_model(str(folder), device="cpu")
    short = load_embedding_model(str(folder), device="cpu", max_length=8)
    bf16 = load_embedding_model(str(folder), device="cpu", precision="bf16")
    keys = {texts_key(m.cache_identity, TEXTS) for m in (fp32, short, bf16)}
    assert len(keys) == 3
    assert texts_key(fp32.cache_identity, ["ab", "c"]) != texts_key(fp32.cache_identity, ["a", "bc"])
    # Rewriting the weights (a new revision of a local folder) changes the key.
    load_embedding_model.__globals__["_model_cache"].clear()
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    reloaded = load_embedding_model(str(folder), device="cpu")
    assert texts_key(reloaded.cache_identity, TEXTS) != texts_key(fp32.cache_identity, TEXTS)


def test_reranking_the_same_data_does_not_embed_again(tmp_path):
    """Through the public API: a second ranking of the same target (another pool) reuses the vectors."""
    from helpers import write_esm_folder

    from hfselect_core import TargetDataset, compute_task_ranking

    folder = save_tiny_bert(tmp_path / "rerank-bert")
    pools = [tmp_path / "pool_a", tmp_path / "pool_b"]
    for p, pool in enumerate(pools):
        for i in range(2):
            write_esm_folder(pool / f"org__t{p}{i}", f"org/t{p}{i}", base_model=str(folder), seed=10 * p + i)
    texts = make_texts(30, seed=9)
    dataset = TargetDataset(texts, np.arange(30) % 3, "classification", ["text"], "label")
    model = load_embedding_model(str(folder), device="cpu")
    calls = _forward_counter(model)
    first = compute_task_ranking(dataset, base_model=str(folder), source=str(pools[0]), device="cpu")
    computed = len(calls)
    second = compute_task_ranking(dataset, base_model=str(folder), source=str(pools[1]), device="cpu")
    assert computed > 0 and len(calls) == computed
    assert {r.config.task_id for r in second} == {"org/t10", "org/t11"}
    assert second.baseline == pytest.approx(first.baseline, rel=1e-12)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_reduced_precision_embeddings_stay_close(tmp_path, precision):
    folder = save_tiny_bert(tmp_path / f"{precision}-bert")
    exact = load_embedding_model(str(folder), device="cpu").embed(TEXTS, use_cache=False)
    model = load_embedding_model(str(folder), device="cpu", precision=precision)
    assert model.precision == precision
    reduced = model.embed(TEXTS, use_cache=False)
    assert reduced.dtype == np.float32 and reduced.shape == exact.shape
    cosine = (reduced * exact).sum(1) / np.linalg.norm(reduced, axis=1) / np.linalg.norm(exact, axis=1)
    assert cosine.min() > 0.99


def test_unknown_precision_is_refused(tmp_path):
    folder = save_tiny_bert(tmp_path / "p-bert")
    with pytest.raises(ValueError, match="precision must be one of"):
        load_embedding_model(str(folder), device="cpu", precision="fp8")


def test_rankings_embed_in_bf16_where_the_hardware_has_it(tmp_path, monkeypatch):
    """The default for rankings: bf16 on CPUs with AVX-512 BF16 / AMX (and GPUs), else fp32."""
    from helpers import write_esm_folder

    from hfselect_core import TargetDataset, compute_task_ranking
    from hfselect_core.embedding import PRECISION_ENV, native_bf16, resolve_precision
    from hfselect_core.esm import ESM
    from hfselect_core.logme import AffineLogME

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    expected = "bf16" if native_bf16(torch.device("cpu")) else "fp32"
    assert resolve_precision("auto", torch.device("cpu")) == expected
    assert resolve_precision(None, torch.device("cpu")) == "fp32"  # everything else keeps fp32
    folder = save_tiny_bert(tmp_path / "auto-bert")
    pool = tmp_path / "pool"
    for i in range(3):
        write_esm_folder(pool / f"org__a{i}", f"org/a{i}", base_model=str(folder), seed=i)
    texts = make_texts(40, seed=4)
    dataset = TargetDataset(texts, np.arange(40) % 2, "classification", ["text"], "label")
    ranking = compute_task_ranking(dataset, base_model=str(folder), source=str(pool), device="cpu")
    maps = [ESM.from_folder(pool / r.name).weight_and_bias() for r in ranking]
    w, b = np.stack([m[0] for m in maps]), np.stack([m[1] for m in maps])
    got = np.array([r.score for r in ranking])
    for precision in ("fp32", "bf16"):
        x = load_embedding_model(str(folder), device="cpu", precision=precision).embed(texts)
        scores = AffineLogME(x, dataset.labels).score(w, b)
        if precision == expected:
            np.testing.assert_allclose(got, scores, rtol=1e-9)
        else:
            assert np.abs(got - scores).max() > 1e-9
    monkeypatch.setenv(PRECISION_ENV, "fp32")  # the deployment's choice wins
    assert resolve_precision(None, torch.device("cpu")) == "fp32"
