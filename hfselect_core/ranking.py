"""The ranking: scores of ESMs on a target's embeddings, ordered and checked, as a :class:`TaskRanking`.

:func:`iter_rank_embeddings` / :func:`rank_embeddings` start from embeddings already computed; the
stages before them (loading ESMs, embedding the texts) and the whole chain are in :mod:`.pipeline`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import CLASSIFICATION, REGRESSION, TargetDataset, count_classes
from .errors import ESMFormatError
from .esm import ESMConfig
from .events import (
    CHECKING_STABILITY,
    DONE,
    SCORING,
    WARNING,
    Event,
    ProgressCallback,  # noqa: F401 - the callback alias stays importable here
    StopCheck,
    check_stop,
)
from .logme import AffineLogME
from .protocols import ESMLike
from .sources import SkippedESM
from .stability import StabilitySettings, TaskStability

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
        """The leader and every task this sample cannot separate from it (rank intervals overlap);
        empty when the leader is clear (no other task overlaps it)."""
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


RankingEvent = Event  # the old name of a ranking's event


@dataclass(frozen=True)
class Labels:
    """A target's labels without its texts: what the scoring stages need.

    Args:
        values: int class ids (classification) or float values (regression), one per example.
        task_type: 'classification' or 'regression'.
        label_names: class names by id, when known.
        sample_note: how the sample was drawn, for the ranking's record.
    """

    values: np.ndarray
    task_type: str = CLASSIFICATION
    label_names: list[str] | None = None
    sample_note: str = ""

    def __len__(self) -> int:
        return len(self.values)

    @property
    def labels(self) -> np.ndarray:
        return self.values

    @property
    def is_regression(self) -> bool:
        return self.task_type == REGRESSION

    def class_counts(self) -> dict[str, int]:
        return {} if self.is_regression else count_classes(self.values, self.label_names)

    @classmethod
    def of(cls, y: np.ndarray | Sequence | TargetDataset | Labels, task_type: str | None = None, label_names=None):
        """``y`` as Labels; an array's task type is regression when its values are not whole numbers."""
        if isinstance(y, Labels):
            return y
        if isinstance(y, TargetDataset):
            info = y.sample_info.describe() if getattr(y, "sample_info", None) is not None else ""
            return cls(y.labels, y.task_type, y.label_names, info)
        values = np.asarray(y)
        if values.ndim != 1:
            raise ValueError(f"labels must be one value per example (1-D), got shape {values.shape}")
        if task_type is None:
            whole = values.dtype.kind in "iub" or (
                values.dtype.kind == "f"
                and bool(np.all(np.isfinite(values)))
                and bool(np.all(values == np.round(values)))
            )
            task_type = CLASSIFICATION if whole else REGRESSION
        if task_type == CLASSIFICATION:
            values = values.astype(np.int64)
        else:
            values = values.astype(np.float64)
        return cls(values, task_type, list(label_names) if label_names is not None else None)


def iter_rank_embeddings(
    embeddings: np.ndarray,
    y: np.ndarray | Sequence | TargetDataset | Labels,
    esms: Sequence[ESMLike],
    *,
    task_type: str | None = None,
    label_names: Sequence[str] | None = None,
    base_model: str = "",
    stability: StabilitySettings | None = DEFAULT_STABILITY,
    device: str | torch.device | None = None,
    esm_batch_size: int = 16,
    should_stop: StopCheck | None = None,
    skipped: Sequence[SkippedESM] = (),
    notes: Sequence[str] = (),
    warnings: Sequence[str] | None = None,
) -> Iterator[Event]:
    """Stages 3 and 4: score every ESM on embeddings already computed, order them, check the order.

    Args:
        embeddings: (N, d) base-model embeddings of the target's texts.
        y: the N labels (an array, or the :class:`~.data.TargetDataset` they came from).
        esms: the ESMs to rank (any :class:`~.protocols.ESMLike`); one whose dimension is not d is skipped.
        task_type: 'classification' or 'regression' for an array ``y`` (default: guessed from its values).
        label_names: class names by id, for an array ``y``.
        base_model: recorded in the ranking.
        stability: resampling of the leading tasks; None for the plain order by score.
        esm_batch_size: ESMs scored per progress event (1: an event per ESM).
        skipped, notes: carried into the ranking (what earlier stages left out or noted).
        warnings: sample-size warnings already shown; None computes and yields them here.

    Yields progress events; the last one holds the :class:`TaskRanking`.
    """
    started = time.perf_counter()
    target = Labels.of(y, task_type, label_names)
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 2 or len(embeddings) != len(target):
        raise ValueError(f"embeddings must be (N, d) with N = {len(target)} labels, got shape {embeddings.shape}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    skipped, notes = list(skipped), list(notes)
    dim = embeddings.shape[1]
    if warnings is None:
        warnings = sample_warnings(target, dim)
        for warning in warnings:
            yield Event(WARNING, 0, 0, warning)
    stage_seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    usable: list[ESMLike] = []
    for esm in esms:
        if esm.embedding_dim != dim:
            skipped.append(SkippedESM(esm.name, f"dimension {esm.embedding_dim} does not match the base model's {dim}"))
        else:
            usable.append(esm)
    scores = np.full(len(usable), np.nan)
    scorer = AffineLogME(embeddings, target.labels, target.is_regression, device=device)
    total = len(usable)
    yield Event(SCORING, 0, total, f"Scoring {total} ESMs")
    # On a GPU each progress step scores several batches concurrently (see AffineLogME.score_many).
    step = max(1, esm_batch_size) * (8 if scorer.device.type == "cuda" else 1)
    for start in range(0, total, step):
        check_stop(should_stop)
        chunk = usable[start : start + step]
        scores[start : start + len(chunk)] = _score_chunk(scorer, chunk)
        yield Event(SCORING, start + len(chunk), total)
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
        stability, note = effective_stability(stability, target)
        if note:
            notes.append(note)
        order, checked = yield from _check_stability(scorer, embeddings, target, rows_unsorted, stability, should_stop)
        rows_unsorted = [rows_unsorted[i] for i in order]
        stability_seconds = time.perf_counter() - t0
        stage_seconds["stability"] = stability_seconds
    rows = [
        RankedTask(i + 1, esm.name, esm.config, score, getattr(esm, "source", "given"), checked.get(id(esm)))
        for i, (esm, score) in enumerate(rows_unsorted)
    ]
    ranking = TaskRanking(
        rows,
        skipped,
        base_model,
        len(target),
        target.task_type,
        time.perf_counter() - started,
        stage_seconds,
        notes,
        baseline,
        stability if checked else None,
        stability_seconds,
        target.class_counts(),
        target.sample_note,
        list(warnings),
    )
    yield Event(DONE, total, total, "", result=ranking)


def rank_embeddings(
    embeddings: np.ndarray,
    y: np.ndarray | Sequence | TargetDataset | Labels,
    esms: Sequence[ESMLike],
    **options,
) -> TaskRanking:
    """Rank ``esms`` for a target whose base-model embeddings are already computed (no model is loaded).

    ``embeddings`` is (N, d), ``y`` the N labels (or the TargetDataset); ``options`` are those of
    :func:`iter_rank_embeddings` (task_type, label_names, stability, device, should_stop...).

    Example::

        X = load_embedding_model(BUNDLED_MODEL_ID).embed(texts)
        ranking = rank_embeddings(X, labels, BundledESMSource(BUNDLED_MODEL_ID).load(BUNDLED_MODEL_ID).esms)
    """
    for event in iter_rank_embeddings(embeddings, y, esms, **options):
        if event.is_final:
            return event.result
    raise RuntimeError("the ranking ended without a result")  # a bug, not a user error


def _check_stability(scorer, embeddings, dataset, rows, settings, should_stop):
    """Resample the leading rows (:func:`.stability.iter_check_leaders`: block by block while the
    last resampled place is in contention); returns (new order of rows, {id(esm): TaskStability})."""
    from . import stability as st

    def maps(start: int, stop: int):
        pairs = [esm.weight_and_bias() for esm, _ in rows[start:stop]]
        return np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs])

    check = yield from st.iter_check_leaders(
        embeddings,
        dataset.labels,
        dataset.is_regression,
        np.array([score for _, score in rows]),
        maps,
        settings,
        progress=lambda done, total, message: Event(CHECKING_STABILITY, done, total, message),
        should_stop=should_stop,
        device=scorer.device,
    )
    new_order = check.order + list(range(len(check.order), len(rows)))
    return new_order, {id(rows[j][0]): task for j, task in zip(check.order, check.tasks)}


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


def _score_chunk(scorer: AffineLogME, chunk: list) -> np.ndarray:
    try:
        pairs = [esm.weight_and_bias() for esm in chunk]
        return scorer.score_many(np.stack([w for w, _ in pairs]), np.stack([b for _, b in pairs]))
    except (RuntimeError, ValueError, ESMFormatError):
        if len(chunk) == 1:
            return np.array([np.nan])
        # Find the ESM that broke the batch; score the rest one by one.
        return np.concatenate([_score_chunk(scorer, [esm]) for esm in chunk])


# The orchestrator moved to .pipeline; these names keep working from here (imported on first use,
# since pipeline imports this module).
_MOVED = {"iter_task_ranking", "compute_task_ranking", "resolve_sources", "load_esms", "ESMSourceLike"}


def __getattr__(name: str):
    if name in _MOVED:
        from . import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
