"""Train an ESM: fine-tune the base model on a task, embed with both models, fit the linear map.

Importable with torch + transformers + numpy/pandas only (no ``datasets``, no gradio), so the
same code trains the bundled pool on a GPU machine and ESMs in the Space.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .card import render_card
from .data import TargetDataset
from .embedding import EmbeddingModel, load_embedding_model
from .errors import CancelledError, InvalidLabelsError
from .esm import CARD_NAME, ESM, ESMConfig
from .events import Event, ProgressCallback

FIT_CLOSED_FORM = "closed_form"
FIT_SGD = "sgd"
HEAD_COSINE = "cosine"
HEAD_LINEAR = "linear"
RIDGE_TO_ZERO = "zero"
RIDGE_TO_IDENTITY = "identity"
# The fine-tuning recipe of the ESMs already on the Hub: the defaults of every training entry point
# (TrainingSettings, the studio's checks, the pool CLI, the app's form) come from here.
DEFAULT_LM_EPOCHS = 3
DEFAULT_LM_BATCH_SIZE = 32
DEFAULT_LM_LEARNING_RATE = 2e-5


@dataclass
class TrainingSettings:
    """Defaults are those of the ESMs already on the Hub (3 epochs, batch 32, lr 2e-5, AdamW)."""

    lm_num_epochs: float = DEFAULT_LM_EPOCHS
    lm_batch_size: int = DEFAULT_LM_BATCH_SIZE
    lm_learning_rate: float = DEFAULT_LM_LEARNING_RATE
    lm_weight_decay: float = 0.01
    head_learning_rate: float | None = None  # None: the head trains at lm_learning_rate
    # 'linear': a plain linear head on the embedding before normalisation, the recipe of the
    # Hub's ESMs and of the bundled pool (bench/RESULTS.md, "Selection quality": better first
    # pick and NDCG than 'cosine'); 'cosine': the normalised embedding times a learned scale.
    head: str = HEAD_LINEAR
    max_examples: int = 10_000
    seed: int = 42
    fit_method: str = FIT_CLOSED_FORM
    ridge: float = 1e-6  # relative to the mean eigenvalue of the Gram matrix
    ridge_toward: str = RIDGE_TO_ZERO  # what the ridge pulls W toward: 0, or the identity map
    esm_num_epochs: int = 10  # the SGD recipe of the reference library
    esm_batch_size: int = 32
    esm_learning_rate: float = 0.01
    esm_weight_decay: float = 0.01
    holdout_fraction: float = 0.1
    max_length: int = 128
    embed_batch_size: int = 128


@dataclass
class FitReport:
    mse: float  # on held-out pairs
    r2: float  # on held-out pairs
    train_mse: float
    num_train_pairs: int
    num_heldout_pairs: int
    method: str


@dataclass
class TrainingResult:
    esm: ESM
    fit: FitReport
    lm_losses: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    folder: Path | None = None


# Training yields the same events as every other job (the old name is kept for callers).
TrainingEvent = Event


# --- the linear map -------------------------------------------------------------------------


def fit_linear_map(
    source: np.ndarray, target: np.ndarray, ridge: float = 1e-6, toward_identity: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares ``target ~ source @ W.T + b`` in float64, with a ridge on W (not on b).

    Returns (W, b). The ridge is scaled by the mean eigenvalue of the Gram matrix so it is
    negligible for well-posed data and keeps rank-deficient data solvable. With
    ``toward_identity`` the ridge pulls W toward the identity instead of zero (source and target
    must have the same width): directions the fitting texts barely cover are left as the base
    model has them rather than switched off.
    """
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if toward_identity:
        if x.shape[1] != y.shape[1]:
            raise ValueError("a map toward the identity needs source and target of the same width")
        w, b = fit_linear_map(x, y - x, ridge)
        return w + np.eye(x.shape[1]), b
    n, d = x.shape
    x1 = np.hstack([x, np.ones((n, 1))])
    gram = x1.T @ x1
    scale = np.trace(gram[:d, :d]) / max(d, 1)
    penalty = np.full(d + 1, ridge * max(scale, 1e-12))
    penalty[-1] = 0.0
    gram[np.diag_indices(d + 1)] += penalty
    try:
        solution = np.linalg.solve(gram, x1.T @ y)
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(gram, x1.T @ y, rcond=None)[0]
    return solution[:d].T.copy(), solution[d].copy()


def fit_linear_map_sgd(
    source: np.ndarray,
    target: np.ndarray,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.01,
    weight_decay: float = 0.01,
    seed: int = 42,
    device: str | torch.device = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """The reference library's recipe: a Linear(d, d) trained with AdamW on MSE."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.as_tensor(source, dtype=torch.float32)
    y = torch.as_tensor(target, dtype=torch.float32)
    layer = torch.nn.Linear(x.shape[1], y.shape[1]).to(device)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=learning_rate, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = torch.nn.functional.mse_loss(layer(x[idx].to(device)), y[idx].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return layer.weight.detach().cpu().numpy(), layer.bias.detach().cpu().numpy()


def map_quality(weight: np.ndarray, bias: np.ndarray, source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(MSE, R^2) of the map on pairs; R^2 over all output dimensions around their means."""
    pred = np.asarray(source, dtype=np.float64) @ np.asarray(weight, dtype=np.float64).T + bias
    y = np.asarray(target, dtype=np.float64)
    sse = float(((pred - y) ** 2).sum())
    sst = float(((y - y.mean(0)) ** 2).sum())
    return sse / y.size, (1.0 - sse / sst) if sst > 0 else float("nan")


def fit_esm_map(
    base: np.ndarray,
    tuned: np.ndarray,
    settings: TrainingSettings,
    device: str | torch.device = "cpu",
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, FitReport]:
    """Fit on all but a held-out share of the pairs, report held-out quality, then refit on all.

    ``extra`` holds more (base, tuned) pairs, of texts from outside the task, that are always fitted
    on; the held-out quality is measured on the task's own pairs.
    """
    n = len(base)
    extra_base = np.zeros((0, base.shape[1]), base.dtype) if extra is None else extra[0]
    extra_tuned = np.zeros((0, tuned.shape[1]), tuned.dtype) if extra is None else extra[1]
    all_base = np.concatenate([base, extra_base])
    all_tuned = np.concatenate([tuned, extra_tuned])
    order = np.random.default_rng(settings.seed).permutation(n)
    held = max(1, int(round(n * settings.holdout_fraction))) if n >= 10 else 0
    test_idx = order[:held]
    train_idx = np.concatenate([order[held:], np.arange(n, len(all_base))])
    w, b = _fit_map(all_base[train_idx], all_tuned[train_idx], settings, device)
    train_mse, _ = map_quality(w, b, all_base[train_idx], all_tuned[train_idx])
    if held:
        mse, r2 = map_quality(w, b, base[test_idx], tuned[test_idx])
        w, b = _fit_map(all_base, all_tuned, settings, device)
    else:
        mse, r2 = train_mse, float("nan")
    return w, b, FitReport(mse, r2, train_mse, len(train_idx), held, settings.fit_method)


def _fit_map(
    base: np.ndarray, tuned: np.ndarray, settings: TrainingSettings, device: str | torch.device
) -> tuple[np.ndarray, np.ndarray]:
    if settings.fit_method == FIT_SGD:
        return fit_linear_map_sgd(
            base,
            tuned,
            settings.esm_num_epochs,
            settings.esm_batch_size,
            settings.esm_learning_rate,
            settings.esm_weight_decay,
            settings.seed,
            device,
        )
    return fit_linear_map(base, tuned, settings.ridge, settings.ridge_toward == RIDGE_TO_IDENTITY)


# --- fine-tuning ------------------------------------------------------------------------------


class _Classifier(torch.nn.Module):
    """The encoder plus a linear head on the same pooled embedding the ranking uses.

    With the 'cosine' head and a pooling that normalises, the head sees the unit vector times a
    learned scale (a cosine classifier): on unit vectors a plain linear head starts with near-zero
    logits and the encoder would have to do all the work, distorting the embedding far more than
    the task needs. The 'linear' head sees the pooled embedding before normalisation, as a
    classification head on a mean-pooled encoder usually does.
    """

    def __init__(self, encoder: EmbeddingModel, num_outputs: int, head: str = HEAD_COSINE):
        super().__init__()
        if head not in (HEAD_COSINE, HEAD_LINEAR):
            raise ValueError(f"head must be '{HEAD_COSINE}' or '{HEAD_LINEAR}', not {head!r}")
        if head == HEAD_LINEAR:
            # Same weights, pooled without the final normalisation.
            encoder = dataclasses.replace(encoder, pooling=encoder.pooling.removesuffix("+normalize"))
        self.encoder = encoder
        self.backbone = encoder.model
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(encoder.dim, num_outputs)
        normalised = encoder.pooling.endswith("+normalize")
        self.log_scale = torch.nn.Parameter(torch.tensor(math.log(math.sqrt(encoder.dim)) if normalised else 0.0))
        self.log_scale.requires_grad_(normalised)

    def head_parameters(self) -> list[torch.nn.Parameter]:
        return [*self.head.parameters(), self.log_scale]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = self.encoder._pool(input_ids, attention_mask) * self.log_scale.exp()
        return self.head(self.dropout(pooled))


def _fine_tune(
    base: EmbeddingModel,
    dataset: TargetDataset,
    settings: TrainingSettings,
    should_stop: Callable[[], bool] | None,
) -> Iterator[TrainingEvent | EmbeddingModel | list[float]]:
    torch.manual_seed(settings.seed)
    device = base.device
    tuned = copy.copy(base)
    tuned.model = copy.deepcopy(base.model).train()
    # A new identity: the embedding cache keys vectors by the model's identity, and the base
    # model's cached vectors of the same texts must never be returned for the fine-tuned one.
    tuned.revision = f"{base.revision}+fine-tuned-{uuid.uuid4().hex}"
    regression = dataset.is_regression
    num_outputs = 1 if regression else int(dataset.labels.max()) + 1
    net = _Classifier(tuned, num_outputs, settings.head).to(device)
    labels = torch.as_tensor(np.array(dataset.labels), dtype=torch.float32 if regression else torch.long)
    encoded = base.tokenizer(list(dataset.texts), truncation=True, max_length=settings.max_length, padding=False)[
        "input_ids"
    ]
    n = len(encoded)
    steps_per_epoch = math.ceil(n / settings.lm_batch_size)
    total_steps = max(1, int(math.ceil(steps_per_epoch * settings.lm_num_epochs)))
    head_ids = {id(p) for p in net.head_parameters()}
    body = [(name, p) for name, p in net.named_parameters() if id(p) not in head_ids and p.requires_grad]
    no_decay = [p for name, p in body if p.ndim < 2 or "norm" in name.lower()]
    decay = [p for name, p in body if not (p.ndim < 2 or "norm" in name.lower())]
    head_lr = settings.head_learning_rate or settings.lm_learning_rate
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.lm_weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
            {"params": [p for p in net.head_parameters() if p.requires_grad], "lr": head_lr, "weight_decay": 0.0},
        ],
        lr=settings.lm_learning_rate,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    use_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    gen = torch.Generator().manual_seed(settings.seed)
    losses: list[float] = []
    step = 0
    report_every = max(1, total_steps // 50)
    while step < total_steps:
        order = torch.randperm(n, generator=gen).tolist()
        for start in range(0, n, settings.lm_batch_size):
            if step >= total_steps:
                break
            if should_stop and should_stop():
                raise CancelledError()
            idx = order[start : start + settings.lm_batch_size]
            batch = base.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
            input_ids = batch["input_ids"].to(device)
            mask = batch["attention_mask"].to(device)
            target = labels[idx].to(device)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
                out = net(input_ids, mask).float()
            if regression:
                loss = torch.nn.functional.mse_loss(out.squeeze(-1), target)
            else:
                loss = torch.nn.functional.cross_entropy(out, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % report_every == 0 or step == total_steps:
                recent = losses[-report_every:]
                yield TrainingEvent(
                    "Fine-tuning", step, total_steps, f"epoch {step / steps_per_epoch:.2f}, loss {np.mean(recent):.4f}"
                )
    tuned.model.eval()
    yield losses
    yield tuned


def fine_tune_encoder(
    base: EmbeddingModel,
    dataset: TargetDataset,
    settings: TrainingSettings | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[EmbeddingModel, list[float]]:
    """Fine-tune a copy of ``base`` on ``dataset`` (the first step of training an ESM).

    Returns the fine-tuned encoder (same tokenizer and pooling) and the loss of every step.
    """
    tuned: EmbeddingModel | None = None
    losses: list[float] = []
    for item in _fine_tune(base, dataset, settings or TrainingSettings(), should_stop):
        if isinstance(item, list):
            losses = item
        elif isinstance(item, EmbeddingModel):
            tuned = item
    assert tuned is not None
    return tuned, losses


def sample_dataset(dataset: TargetDataset, n: int, seed: int) -> TargetDataset:
    """A reproducible sample of n examples (order kept), as training draws it."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(dataset), n, replace=False))
    sampled = copy.copy(dataset)
    sampled.texts = [dataset.texts[i] for i in pick]
    sampled.labels = dataset.labels[pick]
    return sampled


def iter_train_esm(
    dataset: TargetDataset,
    base_model: str | EmbeddingModel,
    settings: TrainingSettings | None = None,
    device: str | None = None,
    output_dir: str | Path | None = None,
    task_id: str | None = None,
    task_subset: str | None = None,
    task_split: str | None = None,
    language: str | None = None,
    developers: str | None = None,
    card_notes: str = "",
    should_stop: Callable[[], bool] | None = None,
    fit_texts: Sequence[str] | None = None,
) -> Iterator[TrainingEvent]:
    """Train an ESM step by step, yielding progress; the last event holds the result.

    ``fit_texts``: unlabelled texts from outside the task, embedded with both models and added to
    the pairs the map is fitted on, so the map also holds for texts unlike the task's own.
    """
    settings = settings or TrainingSettings()
    times: dict[str, float] = {}
    if len(dataset) > settings.max_examples:
        dataset = sample_dataset(dataset, settings.max_examples, settings.seed)
    if not dataset.is_regression and len(np.unique(dataset.labels)) < 2:
        raise InvalidLabelsError("Training an ESM needs at least 2 classes.")
    t0 = time.perf_counter()
    yield TrainingEvent("Loading base model", 0, 1)
    if isinstance(base_model, EmbeddingModel):
        base = base_model
    else:
        base = load_embedding_model(base_model, device=device, max_length=settings.max_length)
    times["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    tuned = losses = None
    for item in _fine_tune(base, dataset, settings, should_stop):
        if isinstance(item, TrainingEvent):
            yield item
        elif isinstance(item, list):
            losses = item
        else:
            tuned = item
    times["fine_tune"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    yield TrainingEvent("Embedding", 0, 2, f"Embedding {len(dataset)} texts with the base model")
    base_emb = base.embed(dataset.texts, settings.embed_batch_size, should_stop=should_stop)
    yield TrainingEvent("Embedding", 1, 2, "Embedding with the fine-tuned model")
    # Vectors of a one-off model: nothing to gain from caching them.
    tuned_emb = tuned.embed(dataset.texts, settings.embed_batch_size, should_stop=should_stop, use_cache=False)
    extra = None
    if fit_texts:
        extra = (
            base.embed(list(fit_texts), settings.embed_batch_size, should_stop=should_stop),
            tuned.embed(list(fit_texts), settings.embed_batch_size, should_stop=should_stop, use_cache=False),
        )
    del tuned
    times["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    yield TrainingEvent("Fitting the map", 0, 1, settings.fit_method)
    weight, bias, report = fit_esm_map(base_emb, tuned_emb, settings, base.device, extra)
    times["fit"] = time.perf_counter() - t0

    base_name = base.model_id if isinstance(base_model, EmbeddingModel) else base_model
    config = esm_config(
        dataset,
        base_name,
        base,
        settings,
        report,
        task_id=task_id,
        task_subset=task_subset,
        task_split=task_split,
        language=language,
        developers=developers,
        num_fit_texts=len(fit_texts or []),
    )
    esm = ESM.from_weights(weight, bias, config=config, name=config.task_id)
    result = TrainingResult(esm, report, losses or [], times)
    if output_dir is not None:
        result.folder = save_esm_folder(esm, output_dir, report, card_notes)
    yield TrainingEvent("Done", 1, 1, "", result=result)


def esm_config(
    dataset: TargetDataset,
    base_name: str,
    base: EmbeddingModel,
    settings: TrainingSettings,
    report: FitReport,
    task_id: str | None = None,
    task_subset: str | None = None,
    task_split: str | None = None,
    language: str | None = None,
    developers: str | None = None,
    num_fit_texts: int = 0,
) -> ESMConfig:
    """The config of an ESM trained on ``dataset`` with ``settings`` (what its card reports)."""
    return ESMConfig(
        base_model_name=base_name,
        task_id=task_id or dataset.source,
        task_subset=task_subset if task_subset is not None else dataset.subset,
        text_column=", ".join(dataset.text_columns),
        label_column=dataset.label_column,
        task_split=task_split if task_split is not None else dataset.split,
        num_examples=len(dataset),
        seed=settings.seed,
        language=language,
        esm_architecture="linear",
        esm_embedding_dim=base.dim,
        lm_num_epochs=settings.lm_num_epochs,
        lm_batch_size=settings.lm_batch_size,
        lm_learning_rate=settings.lm_learning_rate,
        lm_weight_decay=settings.lm_weight_decay,
        lm_optimizer="AdamW",
        esm_num_epochs=settings.esm_num_epochs if settings.fit_method == FIT_SGD else None,
        esm_batch_size=settings.esm_batch_size if settings.fit_method == FIT_SGD else None,
        esm_learning_rate=settings.esm_learning_rate if settings.fit_method == FIT_SGD else None,
        esm_weight_decay=settings.esm_weight_decay if settings.fit_method == FIT_SGD else None,
        esm_optimizer="AdamW" if settings.fit_method == FIT_SGD else "closed-form least squares",
        developers=developers,
        pooling=base.pooling,
        extra={
            "text_columns": list(dataset.text_columns),
            "task_type": dataset.task_type,
            "label_names": dataset.label_names,
            "esm_fit_method": settings.fit_method,
            "esm_mse": report.mse,
            "esm_r2": report.r2,
            "lm_max_length": settings.max_length,
            "lm_head_learning_rate": settings.head_learning_rate,
            "lm_head": settings.head,
            "esm_ridge": settings.ridge if settings.fit_method == FIT_CLOSED_FORM else None,
            "esm_ridge_toward": settings.ridge_toward if settings.fit_method == FIT_CLOSED_FORM else None,
            "esm_num_fit_texts_outside_task": num_fit_texts,
        },
    )


def train_esm(
    dataset: TargetDataset,
    base_model: str | EmbeddingModel,
    settings: TrainingSettings | None = None,
    device: str | None = None,
    output_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
    **metadata,
) -> TrainingResult:
    """Fine-tune ``base_model`` on ``dataset`` and fit its ESM; write the folder if ``output_dir``.

    ``metadata`` goes to :func:`iter_train_esm` (task_id, task_subset, task_split, language,
    developers, card_notes).
    """
    result = None
    for event in iter_train_esm(dataset, base_model, settings, device, output_dir, **metadata):
        if progress and event.total:
            progress(event.stage, event.done, event.total)
        if event.result is not None:
            result = event.result
    assert result is not None
    return result


def save_esm_folder(esm: ESM, folder: str | Path, report: FitReport | None = None, notes: str = "") -> Path:
    """Write config, weights and model card of an ESM."""
    folder = Path(folder)
    esm.save(folder)
    (folder / CARD_NAME).write_text(render_card(esm.config, report, notes), encoding="utf-8")
    return folder
