"""Rank intermediate tasks for a target dataset: embeddings -> ESM transforms -> LogME -> ranking."""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import limits
from .data import TargetDataset
from .embedding import BUNDLED_MODEL_ID, RANKING_PRECISION, default_precision, load_embedding_model
from .errors import CancelledError, ESMFormatError, HubUnreachableError, InputTooLargeError, NoESMsFoundError
from .esm import ESM, ESMConfig
from .hub import hub_reachable
from .logme import AffineLogME
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
from .stability import StabilitySettings, TaskStability

ProgressCallback = Callable[[str, int, int], None]
COLUMNS = [
    "Rank",
    "Task ID",
    "Task Subset",
    "Text Column",
    "Label Column",
    "Task Split",
    "Num Examples",
    "ESM Architecture",
    "Score",
    "ESM",
]
# Stability columns (empty for tasks that were not resampled, or when stability is off).
STABILITY_COLUMNS = ["Rank Low", "Rank High", "Top-k Share", "Mean Rank", "Tied With Leader"]
DEFAULT_STABILITY = StabilitySettings()


@dataclass(frozen=True)
class RankedTask:
    rank: int
    name: str  # Hub repo id, or folder name for local ESMs
    config: ESMConfig
    score: float
    source: str
    stability: TaskStability | None = None


@dataclass
class TaskRanking:
    """ESMs sorted by LogME score, best first, with the ones that could not be scored."""

    rows: list[RankedTask]
    skipped: list[SkippedESM] = field(default_factory=list)
    base_model: str = ""
    num_examples: int = 0
    task_type: str = ""
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # LogME of the untransformed base embeddings: a reference line, not a verdict on any task.
    baseline: float | None = None
    # How the order was checked: resampling settings (None when off) and its cost.
    stability: StabilitySettings | None = None
    stability_seconds: float = 0.0
    # Examples per class of the target sample, how the sample was drawn, and warnings about its size.
    class_counts: dict[str, int] = field(default_factory=dict)
    sample_note: str = ""
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int | slice) -> RankedTask | TaskRanking:
        if isinstance(index, slice):
            return TaskRanking(
                self.rows[index],
                self.skipped,
                self.base_model,
                self.num_examples,
                self.task_type,
                self.seconds,
                self.stage_seconds,
                self.notes,
                self.baseline,
                self.stability,
                self.stability_seconds,
                self.class_counts,
                self.sample_note,
                self.warnings,
            )
        return self.rows[index]

    def __iter__(self) -> Iterator[RankedTask]:
        return iter(self.rows)

    def __str__(self) -> str:
        lines = []
        for r in self.rows[:10]:
            line = f"{str(r.rank) + '.':<5}{_task_label(r.config):<50}Score: {r.score:.6f}"
            if r.stability is not None and self.stability is not None:
                low, high = r.stability.rank_low, r.stability.rank_high
                ranks = f"{low}" if low == high else f"{low}-{high}"
                line += f"  ranks {ranks}, top-{self.stability.top_k} in {r.stability.top_k_share:.0%}"
                line += " (tied with the leader)" if r.stability.tied_with_leader and r.rank > 1 else ""
            lines.append(line)
        if len(self.rows) > 10:
            lines.append(f"... ({len(self.rows) - 10} more)")
        if self.baseline is not None:
            lines.append(f"(reference line, the base model with no intermediate task: {self.baseline:.6f})")
        lines.extend(f"Warning: {w}" for w in self.warnings)
        if self.skipped:
            lines.append(f"({len(self.skipped)} ESM(s) skipped; see .skipped)")
        return "\n".join(lines)

    __repr__ = __str__

    @property
    def best(self) -> RankedTask | None:
        return self.rows[0] if self.rows else None

    @property
    def tied_with_leader(self) -> list[RankedTask]:
        """The leader and every task this sample cannot separate from it (rank intervals overlap)."""
        return [r for r in self.rows if r.stability is not None and r.stability.tied_with_leader]

    def to_pandas(self) -> pd.DataFrame:
        """One row per ranked ESM, with the columns users know from the reference library."""
        records = [
            {
                "Rank": r.rank,
                "Task ID": r.config.task_id,
                "Task Subset": r.config.task_subset,
                "Text Column": _text(r.config.text_column),
                "Label Column": r.config.label_column,
                "Task Split": r.config.task_split,
                "Num Examples": r.config.num_examples,
                "ESM Architecture": r.config.esm_architecture,
                "Score": r.score,
                "ESM": r.name,
                **_stability_record(r.stability),
            }
            for r in self.rows
        ]
        df = pd.DataFrame.from_records(records, columns=[*COLUMNS, *STABILITY_COLUMNS])
        for col in ("Rank Low", "Rank High"):
            df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int64")
        df["Tied With Leader"] = df["Tied With Leader"].astype("boolean")
        df["Num Examples"] = pd.to_numeric(df["Num Examples"], errors="coerce").astype("Int64")
        return df

    def skipped_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"ESM": s.name, "Reason": s.reason} for s in self.skipped], columns=["ESM", "Reason"])

    def to_csv(self, path: str | Path | None = None) -> str | None:
        text = self.to_pandas().to_csv(index=False)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return None

    def to_dict(self) -> dict:
        return {
            "base_model": self.base_model,
            "num_examples": self.num_examples,
            "task_type": self.task_type,
            "seconds": round(self.seconds, 3),
            "baseline_score": self.baseline,
            "stage_seconds": {k: round(v, 3) for k, v in self.stage_seconds.items()},
            "notes": self.notes,
            "warnings": self.warnings,
            "class_counts": self.class_counts,
            "sample": self.sample_note,
            "stability": None
            if self.stability is None
            else {**asdict(self.stability), "seconds": round(self.stability_seconds, 3)},
            "ranking": [
                {
                    "rank": r.rank,
                    "esm": r.name,
                    "score": r.score,
                    "source": r.source,
                    "stability": None if r.stability is None else asdict(r.stability),
                    **r.config.to_dict(),
                }
                for r in self.rows
            ],
            "skipped": [{"esm": s.name, "reason": s.reason} for s in self.skipped],
        }

    def to_json(self, path: str | Path | None = None) -> str | None:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=_json_default)
        if path is None:
            return text
        Path(path).write_text(text, encoding="utf-8")
        return None


def _stability_record(stability: TaskStability | None) -> dict:
    if stability is None:
        return dict.fromkeys(STABILITY_COLUMNS)
    return {
        "Rank Low": stability.rank_low,
        "Rank High": stability.rank_high,
        "Top-k Share": stability.top_k_share,
        "Mean Rank": stability.mean_rank,
        "Tied With Leader": stability.tied_with_leader,
    }


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _text(value) -> str | None:
    return " + ".join(value) if isinstance(value, list) else value


def _task_label(config: ESMConfig) -> str:
    subset = f" ({config.task_subset})" if config.task_subset and config.task_subset != "default" else ""
    return f"{config.task_id}{subset}"


@dataclass
class RankingEvent:
    """One step of a ranking job: a stage with progress counts, or the finished ranking."""

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    ranking: TaskRanking | None = None


ESMSourceLike = str | LocalESMSource | HubESMSource | Sequence[object]


def resolve_sources(source: ESMSourceLike | None, base_model: str, token: str | None = None) -> list:
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
    if isinstance(source, (LocalESMSource, HubESMSource)):
        return [source]
    return list(source)


def load_esms(
    sources: list,
    base_model: str,
    filters: ESMFilters | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedESMs:
    """Load ESMs from every source; a source that fails (e.g. the Hub offline) is noted, not fatal."""
    filters = filters or ESMFilters()
    merged = LoadedESMs([], [], [])
    for src in sources:
        try:
            if isinstance(src, HubESMSource):
                loaded = src.load(base_model, filters, progress, should_stop=should_stop)
            else:
                loaded = src.load(base_model, filters, progress)
        except HubUnreachableError as e:
            merged.notes.append(str(e))
            if not any(isinstance(s, BundledESMSource) for s in sources):
                fallback = BundledESMSource(base_model)
                loaded = fallback.load(base_model, filters, progress)
                if loaded.esms:
                    merged.notes.append(f"Used the bundled pool ({len(loaded.esms)} ESMs) instead of the Hub.")
            else:
                continue
        for esm in loaded.esms:
            esm.source_label = getattr(src, "label", "local")  # type: ignore[attr-defined]
        merged.esms.extend(loaded.esms)
        merged.skipped.extend(loaded.skipped)
        merged.notes.extend(loaded.notes)
    if filters.max_count:
        merged.esms = merged.esms[: filters.max_count]
    return merged


def iter_task_ranking(
    dataset: TargetDataset,
    base_model: str = BUNDLED_MODEL_ID,
    esms: Sequence[ESM] | None = None,
    source: ESMSourceLike | None = None,
    filters: ESMFilters | None = None,
    batch_size: int = 64,
    esm_batch_size: int = 16,
    device: str | None = None,
    max_length: int = 128,
    token: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    stability: StabilitySettings | None = DEFAULT_STABILITY,
) -> Iterator[RankingEvent]:
    """Run a ranking step by step, yielding progress events; the last event holds the ranking.

    Written as a generator so a UI can stream progress and cancel between steps. ``stability``
    re-scores the leading tasks on resamples of the embedded sample (see :mod:`.stability`);
    None turns it off.
    """
    started = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    events: list[RankingEvent] = []

    def progress(stage: str, done: int, total: int) -> None:
        events.append(RankingEvent(stage, done, total))

    def check_stop() -> None:
        if should_stop and should_stop():
            raise CancelledError()

    if len(dataset) > limits.max_examples():
        raise InputTooLargeError(
            f"{len(dataset)} examples is over the limit of {limits.max_examples()} "
            f"({limits.MAX_EXAMPLES_ENV}); use a smaller sample."
        )
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    yield RankingEvent("Loading ESMs", 0, 0, "Finding ESMs")
    t0 = time.perf_counter()
    notes: list[str] = []
    if esms is None:
        sources = resolve_sources(source, base_model, token)
        loaded = yield from _load_streaming(sources, base_model, filters, should_stop)
        esm_list, skipped, notes = loaded.esms, list(loaded.skipped), loaded.notes
        if _is_auto(source) and all(isinstance(s, BundledESMSource) for s in sources):
            notes.insert(
                0,
                "The Hugging Face Hub cannot be reached (or HF_HUB_OFFLINE=1), so the bundled pool "
                f"({len(esm_list)} ESMs) was used instead of the Hub.",
            )
    else:
        esm_list, skipped = list(esms), []
    if len(esm_list) > limits.max_esms():
        notes.append(f"Scored the first {limits.max_esms()} of {len(esm_list)} ESMs ({limits.MAX_ESMS_ENV}).")
        esm_list = esm_list[: limits.max_esms()]
    if not esm_list:
        coverage = bundled_base_models()
        detail = " ".join(notes)
        if skipped:
            detail += f" {len(skipped)} ESM(s) could not be loaded: " + "; ".join(
                f"{s.name}: {s.reason}" for s in skipped[:5]
            )
        try:
            hub_cov = esm_coverage(include_hub=True, token=token)["hub"]
        except Exception:
            hub_cov = {}
        raise NoESMsFoundError(base_model, {**coverage, **hub_cov}, detail.strip())
    stage_seconds["load ESMs"] = time.perf_counter() - t0
    check_stop()

    yield RankingEvent("Loading base model", 0, 1, base_model)
    t0 = time.perf_counter()
    # bf16 where the hardware computes it natively: the same rankings, faster (bench/RESULTS.md).
    precision = default_precision(RANKING_PRECISION)
    model = load_embedding_model(base_model, device=device, max_length=max_length, precision=precision)
    stage_seconds["load model"] = time.perf_counter() - t0
    warnings = sample_warnings(dataset, model.dim)
    for warning in warnings:  # before embedding and scoring, so a UI can show them while the job runs
        yield RankingEvent("Warning", 0, 0, warning)
    check_stop()

    t0 = time.perf_counter()
    embeddings = yield from _embed_streaming(model, dataset.texts, batch_size, should_stop)
    stage_seconds["embed"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    usable: list[ESM] = []
    for esm in esm_list:
        if esm.embedding_dim != model.dim:
            skipped.append(
                SkippedESM(esm.name, f"dimension {esm.embedding_dim} does not match the base model's {model.dim}")
            )
        else:
            usable.append(esm)
    scores = np.full(len(usable), np.nan)
    scorer = AffineLogME(embeddings, dataset.labels, dataset.is_regression, device=device)
    total = len(usable)
    yield RankingEvent("Scoring", 0, total, f"Scoring {total} ESMs")
    # On a GPU each progress step scores several batches concurrently (see AffineLogME.score_many).
    step = esm_batch_size * (8 if scorer.device.type == "cuda" else 1)
    for start in range(0, total, step):
        check_stop()
        chunk = usable[start : start + step]
        scores[start : start + len(chunk)] = _score_chunk(scorer, chunk)
        yield RankingEvent("Scoring", start + len(chunk), total)
    dim = model.dim
    baseline = float(scorer.score(np.eye(dim, dtype=np.float32)[None], np.zeros((1, dim), dtype=np.float32))[0])
    stage_seconds["score"] = time.perf_counter() - t0

    rows_unsorted = []
    for esm, score in zip(usable, scores):
        if math.isfinite(score):
            rows_unsorted.append((esm, float(score)))
        else:
            skipped.append(SkippedESM(esm.name, "the score is not a number (degenerate map or features)"))
    rows_unsorted.sort(key=lambda item: -item[1])
    checked: dict[int, TaskStability] = {}
    stability_seconds = 0.0
    if stability is not None and len(rows_unsorted) >= 2:
        t0 = time.perf_counter()
        stability, note = effective_stability(stability, dataset)
        if note:
            notes.append(note)
        order, checked = yield from _check_stability(scorer, embeddings, dataset, rows_unsorted, stability, should_stop)
        rows_unsorted = [rows_unsorted[i] for i in order]
        stability_seconds = time.perf_counter() - t0
        stage_seconds["stability"] = stability_seconds
    rows = [
        RankedTask(i + 1, esm.name, esm.config, score, getattr(esm, "source_label", "given"), checked.get(id(esm)))
        for i, (esm, score) in enumerate(rows_unsorted)
    ]
    ranking = TaskRanking(
        rows,
        skipped,
        base_model,
        len(dataset),
        dataset.task_type,
        time.perf_counter() - started,
        stage_seconds,
        notes,
        baseline,
        stability if checked else None,
        stability_seconds,
        dataset.class_counts(),
        dataset.sample_info.describe() if getattr(dataset, "sample_info", None) is not None else "",
        warnings,
    )
    yield RankingEvent("Done", total, total, "", ranking)


def _check_stability(scorer, embeddings, dataset, rows, settings, should_stop):
    """Resample the leading rows; returns (new order of rows, {id(esm): TaskStability}).

    When one of the last two resampled places is still tied with the leader, the next
    ``max_candidates`` tasks are resampled too (on the same resamples, up to 3 rounds), so a tie group is never cut short.
    """
    from . import stability as st

    step = len(rows) if not settings.max_candidates else settings.max_candidates
    resamples = st.resample_indices(len(dataset), settings.num_resamples, settings.method, settings.seed)
    yield RankingEvent("Checking stability", 0, len(resamples), f"Re-scoring the top {min(step, len(rows))} tasks")
    scorers = []
    for b, idx in enumerate(resamples):
        if should_stop and should_stop():
            raise CancelledError()
        scorers.append(AffineLogME(embeddings[idx], dataset.labels[idx], dataset.is_regression, device=scorer.device))
    leading: list = []
    columns: list[np.ndarray] = []
    for _round in range(3):
        new = [esm for esm, _ in rows[len(leading) : len(leading) + step]]
        if not new:
            break
        pairs = [esm.weight_and_bias() for esm in new]
        weights, biases = np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs])
        block = np.empty((len(scorers), len(new)))
        for b, sub in enumerate(scorers):
            if should_stop and should_stop():
                raise CancelledError()
            block[b] = sub.score_many(weights, biases)
            yield RankingEvent("Checking stability", b + 1, len(scorers))
        leading += new
        columns.append(block)
        scores = np.concatenate(columns, axis=1)
        single = np.array([score for _, score in rows[: len(leading)]])
        order = st.aggregate_order(scores, settings.order, single)
        summary = st.summarise(scores, order, settings)
        if len(summary) < 3 or not any(t.tied_with_leader for t in summary[-2:]):
            break  # the tie group ends above the last resampled places
    m = len(leading)
    new_order = [int(i) for i in order] + list(range(m, len(rows)))
    return new_order, {id(leading[int(j)]): task for j, task in zip(order, summary)}


def effective_stability(settings: StabilitySettings, dataset: TargetDataset) -> tuple[StabilitySettings, str]:
    """The settings to use for this sample, and a note when the order falls back to the score.

    Half-splits stand for the sample only when each half holds several examples of every class:
    with fewer, the order by mean rank over half-splits was worse than the plain order on real
    targets (bench/RESULTS.md, "Stability"), so the intervals are still shown but the order is by score.
    """
    if settings.order == "single" or dataset.is_regression:
        return settings, ""
    smallest = min(dataset.class_counts().values(), default=0)
    if smallest >= MIN_CLASS_EXAMPLES_FOR_AGGREGATION:
        return settings, ""
    return replace(settings, order="single"), (
        f"The order is by score, not by mean rank over resamples: the smallest class has {smallest} "
        f"example(s), too few (under {MIN_CLASS_EXAMPLES_FOR_AGGREGATION}) for half-splits to stand for the sample."
    )


# Measured in bench/bench_stability.py (bench/RESULTS.md, "Stability") with all-MiniLM-L6-v2 (d=384):
# below 250 examples regret@5 rose from about 3 to about 13 and two disjoint samples agreed on the
# top task 58% of the time (79% at 250). Only d=384 was measured; for larger models the threshold
# is assumed to grow with d (LogME fits d features per class), at the same ratio.
MIN_STABLE_EXAMPLES = 250
MEASURED_DIM = 384
MIN_CLASS_EXAMPLES = 5
MIN_CLASS_EXAMPLES_FOR_AGGREGATION = 2 * MIN_CLASS_EXAMPLES


def min_stable_examples(dim: int = MEASURED_DIM) -> int:
    """The sample size under which a ranking is flagged as unstable, for a base model of dimension dim."""
    return max(MIN_STABLE_EXAMPLES, math.ceil(MIN_STABLE_EXAMPLES * dim / MEASURED_DIM))


def sample_warnings(dataset: TargetDataset, dim: int = MEASURED_DIM) -> list[str]:
    """Plain-text warnings about a sample too small to give a stable order (empty when it is fine)."""
    out = []
    threshold = min_stable_examples(dim)
    if len(dataset) < threshold:
        out.append(
            f"Only {len(dataset)} examples: below about {threshold} the order of the tasks changes a lot "
            "from one sample to another (measured on real targets), so treat close positions as ties and use "
            "more examples if you have them."
        )
    if not dataset.is_regression:
        small = {name: count for name, count in dataset.class_counts().items() if count < MIN_CLASS_EXAMPLES}
        if small:
            shown = ", ".join(f"'{name[:60]}' ({count})" for name, count in list(small.items())[:5])
            more = f" and {len(small) - 5} more" if len(small) > 5 else ""
            out.append(
                f"{len(small)} class(es) have fewer than {MIN_CLASS_EXAMPLES} examples: {shown}{more}. "
                "Scores for such classes rest on a handful of texts."
            )
    return out


_TICK = object()


def _load_streaming(
    sources: list, base_model: str, filters: ESMFilters | None, should_stop: Callable[[], bool] | None
) -> Iterator[RankingEvent]:
    """Load ESMs in a worker thread and yield its progress while it runs (returns the LoadedESMs).

    Downloads from the Hub can take minutes: the caller sees per-ESM progress, and closing this
    generator (what Gradio's Cancel does) or ``should_stop()`` stops the downloads within a second.
    """
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    result: dict[str, object] = {}

    def stopped() -> bool:
        return stop.is_set() or bool(should_stop and should_stop())

    def work() -> None:
        try:
            result["loaded"] = load_esms(
                sources, base_model, filters, lambda s, d, t: events.put(RankingEvent(s, d, t)), stopped
            )
        except BaseException as e:  # noqa: BLE001 - handed to the generator's thread below
            result["error"] = e
        finally:
            events.put(None)

    threading.Thread(target=work, daemon=True, name="load-esms").start()
    sent = RankingEvent("Loading ESMs", 0, 0, "Finding ESMs")
    latest: RankingEvent | None = None
    sent_at = time.monotonic()
    try:
        while True:
            try:
                item = events.get(timeout=0.2)
            except queue.Empty:
                if should_stop and should_stop():
                    raise CancelledError() from None
                item = _TICK
            if item is None:
                break
            if item is not _TICK:
                latest = item
            now = time.monotonic()
            # At most ten updates a second, the last count always; a quiet spell still yields once a
            # second so that a consumer can close this generator (Cancel) promptly.
            if latest is not None and (now - sent_at >= 0.1 or latest.done >= latest.total):
                sent, latest, sent_at = latest, None, now
                yield sent
            elif now - sent_at >= 1.0:
                sent_at = now
                yield sent
    finally:
        stop.set()  # also when the consumer closes this generator: no new download starts
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["loaded"]


def _is_auto(source: ESMSourceLike | None) -> bool:
    return source is None or (isinstance(source, str) and source.lower() == "auto")


def _drain(events: list[RankingEvent]) -> Iterator[RankingEvent]:
    while events:
        yield events.pop(0)


def _embed_streaming(model, texts, batch_size, should_stop) -> Iterator[RankingEvent]:
    """Embed in chunks so progress events reach the caller while embedding runs."""
    total = len(texts)
    chunk = max(batch_size * 4, 256)
    parts = []
    yield RankingEvent("Embedding", 0, total, f"Embedding {total} examples")
    for start in range(0, total, chunk):
        if should_stop and should_stop():
            raise CancelledError()
        parts.append(model.embed(texts[start : start + chunk], batch_size=batch_size))
        yield RankingEvent("Embedding", min(start + chunk, total), total)
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, model.dim), dtype=np.float32)


def _score_chunk(scorer: AffineLogME, chunk: list) -> np.ndarray:
    try:
        pairs = [esm.weight_and_bias() for esm in chunk]
        return scorer.score_many(np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs]))
    except (RuntimeError, ValueError, ESMFormatError):
        if len(chunk) == 1:
            return np.array([np.nan])
        # Find the ESM that broke the batch; score the rest one by one.
        return np.concatenate([_score_chunk(scorer, [esm]) for esm in chunk])


def compute_task_ranking(
    dataset: TargetDataset,
    base_model: str = BUNDLED_MODEL_ID,
    esms: Sequence[ESM] | None = None,
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
        if event.ranking is not None:
            ranking = event.ranking
    assert ranking is not None
    return ranking
