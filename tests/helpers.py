"""Builders used by the tests: tiny models, tokenizers and ESM folders in the on-disk format."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a good bad great terrible movie film product phone screen battery works broken love hate "
    "fine slow fast cheap expensive support team answer question news sports market world game "
    "price quality service delivery late early happy sad really not very"
).split()
HIDDEN = 32
# The checkout's root and tests/ folder, for tests in any sub-folder of tests/.
TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent


def write_vocab(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(SPECIAL + WORDS) + "\n", encoding="utf-8")
    return path


def tokenizer_for(folder: Path):
    from transformers import BertTokenizerFast

    return BertTokenizerFast(vocab_file=str(write_vocab(folder)), do_lower_case=True)


def vocab_size() -> int:
    return len(SPECIAL) + len(WORDS)


def _save(model, folder: Path) -> Path:
    tokenizer = tokenizer_for(folder)
    tokenizer.save_pretrained(str(folder))
    model.save_pretrained(str(folder))
    return folder


def save_tiny_bert(folder: Path, seed: int = 0, hidden: int = HIDDEN) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return _save(BertModel(config).eval(), folder)


def save_tiny_distilbert(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import DistilBertConfig, DistilBertModel

    torch.manual_seed(seed)
    config = DistilBertConfig(
        vocab_size=vocab_size(), dim=HIDDEN, n_layers=2, n_heads=4, hidden_dim=2 * HIDDEN, max_position_embeddings=64
    )
    return _save(DistilBertModel(config).eval(), folder)


def save_tiny_t5(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import T5Config, T5Model

    torch.manual_seed(seed)
    config = T5Config(
        vocab_size=vocab_size(),
        d_model=HIDDEN,
        d_kv=8,
        d_ff=2 * HIDDEN,
        num_layers=1,
        num_decoder_layers=1,
        num_heads=4,
        pad_token_id=0,
        eos_token_id=3,
        decoder_start_token_id=0,
        dropout_rate=0.0,
    )
    return _save(T5Model(config).eval(), folder)


def add_sentence_transformers_modules(folder: Path, normalize: bool = True, mode: str = "mean") -> Path:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    pooling = {
        "word_embedding_dimension": HIDDEN,
        "pooling_mode_cls_token": mode == "cls",
        "pooling_mode_mean_tokens": mode == "mean",
        "pooling_mode_max_tokens": mode == "max",
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")
    return folder


def esm_config_dict(task_id: str, base_model: str, dim: int, **overrides) -> dict:
    config = {
        "base_model_name": base_model,
        "task_id": task_id,
        "task_subset": None,
        "text_column": "text",
        "label_column": "label",
        "task_split": "train",
        "num_examples": 1000,
        "seed": 42,
        "language": "en",
        "esm_architecture": "linear",
        "esm_embedding_dim": dim,
        "lm_num_epochs": 3.0,
        "lm_batch_size": 32,
        "lm_learning_rate": 2e-05,
        "lm_weight_decay": 0.01,
        "lm_optimizer": "AdamW",
        "esm_num_epochs": 10,
        "esm_batch_size": 32,
        "esm_learning_rate": 0.01,
        "esm_weight_decay": 0.01,
        "esm_optimizer": "AdamW",
        "developers": "tests",
        "version": "0.2.0",
    }
    config.update(overrides)
    return config


def random_map(dim: int, seed: int, scale: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weight = np.eye(dim) + scale * rng.standard_normal((dim, dim))
    bias = scale * rng.standard_normal(dim)
    return weight.astype(np.float32), bias.astype(np.float32)


def write_esm_folder(
    folder: Path,
    task_id: str,
    base_model: str = "tiny/base",
    dim: int = HIDDEN,
    seed: int = 0,
    legacy: bool = False,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    config: dict | None = None,
) -> Path:
    """An ESM folder as the Hub holds them; ``legacy`` uses version 0.1.0 and ``sequential.0.*`` keys."""
    folder.mkdir(parents=True, exist_ok=True)
    if weight is None:
        weight, bias = random_map(dim, seed)
    prefix = "sequential.0" if legacy else "model"
    save_file(
        {f"{prefix}.weight": np.ascontiguousarray(weight), f"{prefix}.bias": np.ascontiguousarray(bias)},
        str(folder / "model.safetensors"),
        metadata={"format": "pt"},
    )
    if config is None:
        config = esm_config_dict(task_id, base_model, dim, **({"version": "0.1.0"} if legacy else {}))
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (folder / "README.md").write_text(f"# ESM for {task_id}\n", encoding="utf-8")
    return folder


def make_texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 12)))) for _ in range(n)]


# Debian's Chromium, driven by Playwright (never `playwright install`).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
