"""A ranking as a chain of stages: target -> ESMs and embeddings -> scores -> ranking.

Each stage is a generator of :class:`~.events.Event` whose return value (``yield from``) is what
the next stage needs, so a caller can enter anywhere:

* :func:`iter_load_esms`: ESM sources -> :class:`~.sources.LoadedESMs` (streams per ESM, stops between ESMs);
* :func:`iter_embed`: texts -> (N, d) embeddings with the base model;
* :func:`.ranking.iter_rank_embeddings`: embeddings + labels + ESMs -> :class:`~.ranking.TaskRanking`
  (LogME scores, order, stability, baseline); :func:`.ranking.rank_embeddings` without events.

:func:`iter_task_ranking` chains them for a :class:`~.data.TargetDataset`; :func:`compute_task_ranking`
is the same as a plain function with a progress callback.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence

import numpy as np
import torch

from . import limits
from .data import TargetDataset
from .embedding import BUNDLED_MODEL_ID, RANKING_PRECISION, EmbeddingModel, default_precision, load_embedding_model
from .errors import HubUnreachableError, InputTooLargeError, NoESMsFoundError
from .events import EMBEDDING, LOADING_ESMS, LOADING_MODEL, WARNING, Event, ProgressCallback, StopCheck, check_stop
from .hub import hub_reachable
from .protocols import ESMLike, ESMSource
from .ranking import DEFAULT_STABILITY, TaskRanking, iter_rank_embeddings, sample_warnings
from .sources import (
    BundledESMSource,
    ESMFilters,
    HubESMSource,
    LoadedESMs,
    LocalESMSource,
    SkippedESM,
    bundled_base_models,
    esm_coverage,
)
from .stability import StabilitySettings

# 'auto', 'hub', 'bundled', 'both', a folder path, one source, or several.
ESMSourceLike = str | ESMSource | Sequence[ESMSource]


def resolve_sources(source: ESMSourceLike | None, base_model: str, token: str | None = None) -> list[ESMSource]:
    """Turn 'hub' / 'bundled' / 'both' / 'auto' / a folder path / source objects into source objects.

    'auto' (the default) uses the Hub when it answers and the bundled pool otherwise.
    """
    if source is None:
        source = "auto"
    if isinstance(source, str):
        key = source.lower()
        if key == "auto":
            return [HubESMSource(token)] if hub_reachable() else [BundledESMSource(base_model)]
        if key == "hub":
            return [HubESMSource(token)]
        if key == "bundled":
            return [BundledESMSource(base_model)]
        if key == "both":
            return [HubESMSource(token), BundledESMSource(base_model)]
        return [LocalESMSource(source)]
    if isinstance(source, ESMSource):
        return [source]
    return list(source)


def load_esms(
    sources: list[ESMSource],
    base_model: str,
    filters: ESMFilters | None = None,
    progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
) -> LoadedESMs:
    """Load ESMs from every source; a source that fails (e.g. the Hub offline) is noted, not fatal."""
    filters = filters or ESMFilters()
    merged = LoadedESMs([], [], [])
    for src in sources:
        try:
            loaded = src.load(base_model, filters, progress, should_stop)
        except HubUnreachableError as e:
            merged.notes.append(str(e))
            if any(isinstance(s, BundledESMSource) for s in sources):
                continue
            loaded = BundledESMSource(base_model).load(base_model, filters, progress, should_stop)
            if loaded.esms:
                merged.notes.append(f"Used the bundled pool ({len(loaded.esms)} ESMs) instead of the Hub.")
        merged.esms.extend(loaded.esms)
        merged.skipped.extend(loaded.skipped)
        merged.notes.extend(loaded.notes)
    if filters.max_count:
        merged.esms = merged.esms[: filters.max_count]
    return merged


_TICK = object()


def iter_load_esms(
    source: ESMSourceLike | None,
    base_model: str,
    filters: ESMFilters | None = None,
    token: str | None = None,
    should_stop: StopCheck | None = None,
) -> Generator[Event, None, LoadedESMs]:
    """Stage 1: load the ESMs for ``base_model``, yielding progress per ESM while it runs.

    Downloads from the Hub can take minutes: sources load in a worker thread, the caller sees
    per-ESM progress (at most ten events a second, the last count always), and closing this
    generator (what Gradio's Cancel does) or ``should_stop()`` stops the loading between two ESMs
    within a second. Returns the :class:`~.sources.LoadedESMs`; with ``source='auto'`` and no Hub,
    its first note says that the bundled pool was used.
    """
    sources = resolve_sources(source, base_model, token)
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    result: dict[str, object] = {}

    def stopped() -> bool:
        return stop.is_set() or bool(should_stop and should_stop())

    def work() -> None:
        try:
            result["loaded"] = load_esms(
                sources, base_model, filters, lambda s, d, t: events.put(Event(s, d, t)), stopped
            )
        except BaseException as e:  # noqa: BLE001 - handed to the generator's thread below
            result["error"] = e
        finally:
            events.put(None)

    threading.Thread(target=work, daemon=True, name="load-esms").start()
    sent = Event(LOADING_ESMS, 0, 0, "Finding ESMs")
    latest: Event | None = None
    sent_at = time.monotonic()
    try:
        while True:
            try:
                item = events.get(timeout=0.2)
            except queue.Empty:
                check_stop(should_stop)
                item = _TICK
            if item is None:
                break
            if item is not _TICK:
                latest = item
            now = time.monotonic()
            # A quiet spell still yields once a second so that a consumer can close this generator promptly.
            if latest is not None and (now - sent_at >= 0.1 or latest.done >= latest.total):
                sent, latest, sent_at = latest, None, now
                yield sent
            elif now - sent_at >= 1.0:
                sent_at = now
                yield sent
    finally:
        stop.set()  # also when the consumer closes this generator: no new download or file read starts
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    loaded: LoadedESMs = result["loaded"]  # type: ignore[assignment]
    if _is_auto(source) and all(isinstance(s, BundledESMSource) for s in sources):
        loaded.notes.insert(
            0,
            "The Hugging Face Hub cannot be reached (or HF_HUB_OFFLINE=1), so the bundled pool "
            f"({len(loaded.esms)} ESMs) was used instead of the Hub.",
        )
    return loaded


def _is_auto(source: ESMSourceLike | None) -> bool:
    return source is None or (isinstance(source, str) and source.lower() == "auto")


def iter_embed(
    model: EmbeddingModel, texts: Sequence[str], batch_size: int = 64, should_stop: StopCheck | None = None
) -> Generator[Event, None, np.ndarray]:
    """Stage 2: embed ``texts`` in chunks, yielding progress per chunk; returns the (N, d) float32 array."""
    total = len(texts)
    chunk = max(batch_size * 4, 256)
    parts = []
    yield Event(EMBEDDING, 0, total, f"Embedding {total} examples")
    for start in range(0, total, chunk):
        check_stop(should_stop)
        # should_stop is also checked between the model's batches: a chunk can take seconds on a CPU.
        parts.append(model.embed(texts[start : start + chunk], batch_size=batch_size, should_stop=should_stop))
        yield Event(EMBEDDING, min(start + chunk, total), total)
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, model.dim), dtype=np.float32)


def _checked_pool(
    esm_list: list[ESMLike], skipped: list[SkippedESM], notes: list[str], base_model: str, token: str | None
) -> list[ESMLike]:
    """The ESMs to score (at most ``limits.max_esms()``); a clear error when there are none."""
    if len(esm_list) > limits.max_esms():
        notes.append(f"Scored the first {limits.max_esms()} of {len(esm_list)} ESMs ({limits.MAX_ESMS_ENV}).")
        esm_list = esm_list[: limits.max_esms()]
    if esm_list:
        return esm_list
    detail = " ".join(notes)
    if skipped:
        detail += f" {len(skipped)} ESM(s) could not be loaded: " + "; ".join(
            f"{s.name}: {s.reason}" for s in skipped[:5]
        )
    try:
        hub_cov = esm_coverage(include_hub=True, token=token)["hub"]
    except Exception:
        hub_cov = {}
    raise NoESMsFoundError(base_model, {**bundled_base_models(), **hub_cov}, detail.strip())


def iter_task_ranking(
    dataset: TargetDataset,
    base_model: str = BUNDLED_MODEL_ID,
    esms: Sequence[ESMLike] | None = None,
    source: ESMSourceLike | None = None,
    filters: ESMFilters | None = None,
    batch_size: int = 64,
    esm_batch_size: int = 16,
    device: str | None = None,
    max_length: int = 128,
    token: str | None = None,
    should_stop: StopCheck | None = None,
    stability: StabilitySettings | None = DEFAULT_STABILITY,
) -> Iterator[Event]:
    """Run a ranking stage by stage, yielding progress events; the last event holds the ranking.

    Written as a generator so a UI can stream progress and cancel between steps. ``esms`` skips
    the loading stage; ``stability`` re-scores the leading tasks on resamples of the embedded
    sample (see :mod:`.stability`); None turns it off.
    """
    started = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    if len(dataset) > limits.max_examples():
        raise InputTooLargeError(
            f"{len(dataset)} examples is over the limit of {limits.max_examples()} "
            f"({limits.MAX_EXAMPLES_ENV}); use a smaller sample."
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")

    yield Event(LOADING_ESMS, 0, 0, "Finding ESMs")
    t0 = time.perf_counter()
    if esms is None:
        loaded = yield from iter_load_esms(source, base_model, filters, token, should_stop)
        esm_list, skipped, notes = list(loaded.esms), list(loaded.skipped), list(loaded.notes)
    else:
        esm_list, skipped, notes = list(esms), [], []
    esm_list = _checked_pool(esm_list, skipped, notes, base_model, token)
    stage_seconds["load ESMs"] = time.perf_counter() - t0
    check_stop(should_stop)

    yield Event(LOADING_MODEL, 0, 1, base_model)
    t0 = time.perf_counter()
    # bf16 where the hardware computes it natively: the same rankings, faster (bench/RESULTS.md).
    precision = default_precision(RANKING_PRECISION)
    model = load_embedding_model(base_model, device=device, max_length=max_length, precision=precision)
    stage_seconds["load model"] = time.perf_counter() - t0
    warnings = sample_warnings(dataset, model.dim)
    for warning in warnings:  # before embedding and scoring, so a UI can show them while the job runs
        yield Event(WARNING, 0, 0, warning)
    check_stop(should_stop)

    t0 = time.perf_counter()
    embeddings = yield from iter_embed(model, dataset.texts, batch_size, should_stop)
    stage_seconds["embed"] = time.perf_counter() - t0

    for event in iter_rank_embeddings(
        embeddings,
        dataset,
        esm_list,
        base_model=base_model,
        stability=stability,
        device=device,
        esm_batch_size=esm_batch_size,
        should_stop=should_stop,
        skipped=skipped,
        notes=notes,
        warnings=warnings,
    ):
        if event.is_final:
            ranking: TaskRanking = event.result
            ranking.stage_seconds = {**stage_seconds, **ranking.stage_seconds}
            ranking.seconds = time.perf_counter() - started
        yield event


def compute_task_ranking(
    dataset: TargetDataset,
    base_model: str = BUNDLED_MODEL_ID,
    esms: Sequence[ESMLike] | None = None,
    source: ESMSourceLike | None = None,
    filters: ESMFilters | None = None,
    batch_size: int = 64,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    token: str | None = None,
    max_length: int = 128,
    stability: StabilitySettings | None = DEFAULT_STABILITY,
) -> TaskRanking:
    """Rank the intermediate tasks (ESMs) for ``dataset`` by ESM-LogME, best first.

    Args:
        dataset: the target task.
        base_model: Hub id or local path of the base model the ESMs were trained for.
        esms: ESMs to rank; when None they come from ``source``.
        source: 'auto' (Hub when reachable, else bundled), 'hub', 'bundled', 'both', a folder of
            ESM folders, or source objects.
        filters: task id substring, language, maximum count.
        progress: called as ``progress(stage, done, total)``.
        stability: resampling of the leading tasks (rank intervals, ties with the leader, and
            the order by mean rank over resamples); None for the plain single-sample order.
    """
    ranking = None
    for event in iter_task_ranking(
        dataset,
        base_model,
        esms=esms,
        source=source,
        filters=filters,
        batch_size=batch_size,
        device=device,
        token=token,
        max_length=max_length,
        stability=stability,
    ):
        if progress and event.total:
            progress(event.stage, event.done, event.total)
        if event.is_final:
            ranking = event.result
    if ranking is None:
        raise RuntimeError("the ranking ended without a result")  # a bug, not a user error
    return ranking
