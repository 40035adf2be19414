"""How much of a ranking's order is signal: re-score the already embedded sample on resamples.

A ranking comes from one sample of the target. Scoring every candidate ESM on B resamples of
that sample (by default complementary half-splits: two disjoint halves at a time, the situation
of a user who had drawn a different sample; or bootstrap resamples) shows how much each position
moves. Half-splits are the default: the bootstrap repeats rows, and LogME's evidence rewards
repeated rows (with N close to d a bootstrap resample scores far above the sample itself), so
its spread says more about the duplicates than about the data. Only LogME's d x d statistics
and the per-ESM spectral step are redone; the embeddings are computed once. Resampling is limited
to the leading candidates: the top k and one more first, then the next block of tasks only while
the last resampled place is still in contention (it is in the top k in a fifth of the resamples
or more, or is tied with the leader), so a tie group is followed to its end and a clear head
costs little.

Per task this gives a rank interval (the central ``interval`` share of its ranks over the
resamples), the share of resamples in which it is in the top k, its mean rank and mean score.
Tasks whose rank interval overlaps the leader's are "tied with the leader": this sample cannot
tell them apart. The leader itself is flagged only when at least one other task is tied with it.

Aggregating (ordering by mean rank over the resamples instead of the single-sample score) is a
bagged ranking; ``bench/bench_stability.py`` measures whether it agrees better between two
disjoint samples of the same target.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from .errors import CancelledError
from .logme import AffineLogME, label_targets

Event = TypeVar("Event")

BOOTSTRAP = "bootstrap"
HALF = "half"
METHODS = (BOOTSTRAP, HALF)
ORDER_SINGLE = "single"
ORDER_MEAN_RANK = "mean_rank"
ORDER_MEAN_SCORE = "mean_score"
ORDERS = (ORDER_SINGLE, ORDER_MEAN_RANK, ORDER_MEAN_SCORE)


@dataclass(frozen=True)
class StabilitySettings:
    """How to resample a ranking.

    Args:
        num_resamples: B, resamples scored per candidate.
        method: 'bootstrap' (n rows drawn with replacement) or 'half' (n/2 rows without).
        max_candidates: the block of leading tasks (of the single-sample order) resampled at a
            time (0: all at once); the next block follows while the last resampled place is
            in contention.
        max_rounds: at most this many blocks (the cap on the tasks resampled).
        top_k: the k of "share of resamples in the top k".
        interval: central share of the resampled ranks reported as the rank interval.
        seed: seed of the resamples (the same seed gives the same intervals).
        order: the final order: 'mean_rank' over resamples, 'mean_score', or 'single' (the
            sample's own LogME score).
    """

    num_resamples: int = 10
    method: str = HALF
    max_candidates: int = 4
    max_rounds: int = 6
    top_k: int = 3
    interval: float = 0.9
    seed: int = 0
    order: str = ORDER_SINGLE

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {self.order!r}")
        if self.num_resamples < 2:
            raise ValueError("num_resamples must be at least 2")
        if self.max_candidates < 0 or self.max_rounds < 1:
            raise ValueError("max_candidates must be >= 0 and max_rounds >= 1")
        if not 0 < self.interval <= 1:
            raise ValueError("interval must be in (0, 1]")


@dataclass(frozen=True)
class TaskStability:
    """One task's behaviour over the resamples (ranks are 1-based, among the resampled tasks)."""

    rank_low: int
    rank_high: int
    top_k_share: float
    mean_rank: float
    mean_score: float
    tied_with_leader: bool = False


@dataclass
class StabilityReport:
    """Stability of the leading tasks of a ranking; ``tasks[i]`` belongs to ``candidates[i]``."""

    settings: StabilitySettings
    candidates: list[int]  # indices into the scored list, in the final order
    tasks: list[TaskStability]
    num_examples: int
    seconds: float = 0.0
    scores: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (B, M) resampled scores

    def for_index(self, index: int) -> TaskStability | None:
        try:
            return self.tasks[self.candidates.index(index)]
        except ValueError:
            return None

    @property
    def tied_count(self) -> int:
        """Tasks (the leader included) that this sample cannot separate from the leader; 0 for a clear leader."""
        return sum(1 for t in self.tasks if t.tied_with_leader)


def resample_indices(num_examples: int, num_resamples: int, method: str = HALF, seed: int = 0) -> list[np.ndarray]:
    """Row indices of each resample, deterministic for a given seed.

    'half': complementary half-splits (a random half, then the other half), so every row is in
    exactly half of the resamples; 'bootstrap': n rows drawn with replacement.
    """
    rng = np.random.default_rng(seed)
    if method == BOOTSTRAP:
        return [np.sort(rng.integers(0, num_examples, size=num_examples)) for _ in range(num_resamples)]
    if method == HALF:
        half = num_examples // 2
        out: list[np.ndarray] = []
        while len(out) < num_resamples:
            perm = rng.permutation(num_examples)
            out.extend([np.sort(perm[:half]), np.sort(perm[half : 2 * half])])
        return out[:num_resamples]
    raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def resample_scores(
    embeddings: np.ndarray,
    labels: np.ndarray,
    regression: bool,
    weights: np.ndarray,
    biases: np.ndarray,
    settings: StabilitySettings | None = None,
    device: str = "cpu",
) -> np.ndarray:
    """(B, M) exact LogME scores of M affine maps (weights (M, d, d), biases (M, d)) on B resamples.

    Each resample builds LogME's statistics from its rows of the already computed embeddings and
    redoes the per-map spectral step (:class:`AffineLogME`); nothing is embedded again. A
    classification resample that lost a class is still scored: every map sees the same labels.
    """
    settings = settings or StabilitySettings()
    embeddings = np.asarray(embeddings)
    labels = np.asarray(labels)
    rows_per_resample = resample_indices(len(labels), settings.num_resamples, settings.method, settings.seed)
    scorer = ResampleScorer(embeddings, labels, regression, rows_per_resample, device)
    if scorer.shared_kernel:
        return scorer.kernel_scores(np.asarray(weights), np.asarray(biases))
    return np.stack([scorer.score(b, weights, biases) for b in range(len(rows_per_resample))])


class ResampleScorer:
    """Exact LogME scores of affine maps on fixed row subsets (the resamples) of one embedded sample.

    Each resample's statistics are built once and reused for every map. When every resample has
    at most d rows (half-splits of samples up to 2d), LogME works on the N_r x N_r kernel of the
    mapped features, and a resample's kernel is its rows and columns of the whole sample's kernel:
    each map is then multiplied out once for the sample (O(N d^2 + N^2 d)) instead of once per
    resample, and only the small spectral step is done per resample. Otherwise (or on a GPU) each
    resample's :class:`AffineLogME` scores the maps from its own d x d statistics.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        labels: np.ndarray,
        regression: bool,
        rows_per_resample: list[np.ndarray],
        device: str = "cpu",
        workers: int | None = None,
    ):
        self.workers = workers
        self.embeddings = np.asarray(embeddings)
        self.labels = np.asarray(labels)
        self.regression = regression
        self.rows = rows_per_resample
        self.device = device
        dim = self.embeddings.shape[1]
        self.shared_kernel = str(device) == "cpu" and all(len(r) <= dim for r in rows_per_resample)
        self._scorers: list[AffineLogME | None] = [None] * len(rows_per_resample)
        self._label_targets: list[np.ndarray | None] = [None] * len(rows_per_resample)
        self._x1 = np.hstack([self.embeddings.astype(np.float64), np.ones((len(self.embeddings), 1))])

    def _scorer(self, b: int) -> AffineLogME:
        if self._scorers[b] is None:
            from threadpoolctl import threadpool_limits

            rows = self.rows[b]
            # Single-threaded BLAS for these small products and factorisations: on a busy machine a
            # threaded Cholesky of a 385 x 385 matrix waited on its second thread 15-25x longer than
            # it computed (bench/RESULTS.md, "Stability").
            with threadpool_limits(limits=1, user_api="blas"):
                self._scorers[b] = AffineLogME(
                    self.embeddings[rows], self.labels[rows], self.regression, device=self.device, workers=self.workers
                )
        return self._scorers[b]

    def score(self, b: int, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """(M,) scores of the maps on resample b (its own statistics)."""
        return self._scorer(b).score_many(weights, biases)

    def kernel_scores(self, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
        """(B, M) scores of the maps on every resample, from each map's kernel over the sample."""
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        scorers = [self._scorer(r) for r in range(len(self.rows))]
        targets = [self._targets(r) for r in range(len(self.rows))]

        def one(j: int) -> np.ndarray:
            w1 = np.hstack([np.asarray(weights[j], dtype=np.float64), np.asarray(biases[j], dtype=np.float64)[:, None]])
            features = self._x1 @ w1.T
            kernel = features @ features.T
            column = np.empty(len(self.rows))
            for r, rows in enumerate(self.rows):
                sub = np.asfortranarray(kernel[np.ix_(rows, rows)])
                # The evidence AffineLogME computes from this resample's own kernel (N_r <= d).
                column[r] = scorers[r]._evidence_cpu(sub, targets[r].copy(order="F"), kernel=True)
            return column

        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = max(1, min(len(weights), self.workers or cores))
        # Single-threaded BLAS in each worker, as AffineLogME does: two single-threaded reductions
        # beat one two-threaded one on these small matrices.
        with threadpool_limits(limits=1, user_api="blas"):
            with ThreadPoolExecutor(max_workers=workers) as pool:
                columns = list(pool.map(one, range(len(weights))))
        return np.stack(columns, axis=1) if columns else np.zeros((len(self.rows), 0))

    def _targets(self, b: int) -> np.ndarray:
        if self._label_targets[b] is None:
            self._label_targets[b] = np.asfortranarray(label_targets(self.labels[self.rows[b]], self.regression))
        return self._label_targets[b]


def rank_matrix(scores: np.ndarray) -> np.ndarray:
    """1-based ranks of each column within each row (best score = 1; NaN ranks last)."""
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-filled, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(1, scores.shape[1] + 1)[None, :]
    return ranks


def aggregate_order(scores: np.ndarray, how: str = ORDER_MEAN_RANK, single: np.ndarray | None = None) -> np.ndarray:
    """Column order (best first) from (B, M) resampled scores; ties broken by the single-sample score.

    ``how``: 'mean_rank' (mean rank over the resamples), 'mean_score', or 'single' (``single`` itself).
    """
    m = scores.shape[1]
    tiebreak = -np.asarray(single, dtype=float) if single is not None else np.zeros(m)
    if how == ORDER_SINGLE:
        if single is None:
            raise ValueError("the 'single' order needs the single-sample scores")
        return np.lexsort((np.arange(m), tiebreak))
    if how == ORDER_MEAN_RANK:
        key = rank_matrix(scores).mean(0)
    elif how == ORDER_MEAN_SCORE:
        key = -np.nanmean(np.where(np.isfinite(scores), scores, np.nan), axis=0)
    else:
        raise ValueError(f"how must be one of {ORDERS}, not {how!r}")
    return np.lexsort((np.arange(m), tiebreak, key))


def summarise(scores: np.ndarray, order: np.ndarray, settings: StabilitySettings) -> list[TaskStability]:
    """Per column of ``scores`` in ``order`` (order[0] is the leader): intervals, top-k share, ties."""
    ranks = rank_matrix(scores)
    tail = (1 - settings.interval) / 2
    low = np.floor(np.quantile(ranks, tail, axis=0, method="lower")).astype(int)
    high = np.ceil(np.quantile(ranks, 1 - tail, axis=0, method="higher")).astype(int)
    top_share = (ranks <= settings.top_k).mean(0)
    leader = int(order[0])
    finite = np.where(np.isfinite(scores), scores, np.nan)
    # The leader is flagged only when some other task overlaps it: a clear leader is not "tied".
    others_tied = any(int(j) != leader and low[int(j)] <= high[leader] for j in order)
    out = []
    for j in order:
        j = int(j)
        tied = others_tied and (j == leader or low[j] <= high[leader])
        out.append(
            TaskStability(
                int(low[j]),
                int(high[j]),
                float(top_share[j]),
                float(ranks[:, j].mean()),
                float(np.nanmean(finite[:, j])) if np.isfinite(finite[:, j]).any() else float("nan"),
                bool(tied),
            )
        )
    return out


def assess(
    embeddings: np.ndarray,
    labels: np.ndarray,
    regression: bool,
    weights: np.ndarray,
    biases: np.ndarray,
    single_scores: np.ndarray,
    settings: StabilitySettings | None = None,
    device: str = "cpu",
) -> StabilityReport:
    """Resample the leading candidates and return their stability, in the final order.

    Args:
        embeddings: (N, d) base-model embeddings of the target sample.
        labels: the target labels (class ids or regression values).
        regression: whether the labels are regression values.
        weights: (M, d, d) maps of the candidates, already restricted to the leading ones.
        biases: (M, d) their biases.
        single_scores: (M,) their LogME scores on the whole sample (the tie-break).
        settings: resampling settings.
    """
    import time

    settings = settings or StabilitySettings()
    started = time.perf_counter()
    scores = resample_scores(embeddings, labels, regression, weights, biases, settings, device)
    order = aggregate_order(scores, settings.order, single_scores)
    tasks = summarise(scores, order, settings)
    return StabilityReport(settings, [int(i) for i in order], tasks, len(labels), time.perf_counter() - started, scores)


@dataclass
class LeaderCheck:
    """The resampled head of a ranking (positions index the single-sample order, best first)."""

    order: list[int]  # positions 0..M-1 of the resampled tasks, in the final order
    tasks: list[TaskStability]  # tasks[i] belongs to order[i]
    scores: np.ndarray  # (B, M) resampled scores; column j is position j


def _check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise CancelledError()


# A resampled task in the top k in at least this share of the resamples may have neighbours below
# it that reach the top k too: the next block is then resampled. Below it, the tasks left out can
# move a shown top-k share by about that much at most (measured: bench/RESULTS.md, "Stability").
CONTENTION_SHARE = 0.2


def in_contention(task: TaskStability, top_k: int) -> bool:
    """Whether a task could still change the head: it is tied with the leader (its rank interval
    overlaps the leader's), or in the top k in at least :data:`CONTENTION_SHARE` of the resamples."""
    return task.tied_with_leader or task.top_k_share >= CONTENTION_SHARE


def iter_check_leaders(
    embeddings: np.ndarray,
    labels: np.ndarray,
    regression: bool,
    single_scores: np.ndarray,
    maps: Callable[[int, int], tuple[np.ndarray, np.ndarray]],
    settings: StabilitySettings | None = None,
    progress: Callable[[int, int, str], Event] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
) -> Generator[Event, None, LeaderCheck]:
    """Resample the head of a ranking block by block; yields ``progress(done, total, message)``.

    Args:
        embeddings: (N, d) base-model embeddings of the target sample (computed once).
        labels: the target labels (class ids or regression values).
        regression: whether the labels are regression values.
        single_scores: (K,) the sample's own scores, sorted best first.
        maps: ``maps(start, stop)`` gives the (weights, biases) of positions start..stop-1.
        settings: resampling settings (block size, rounds, resamples, order).
        progress: builds the value yielded after each resample (None: nothing is yielded).
        should_stop: polled between resamples; True raises :class:`CancelledError`.

    The first block is ``settings.max_candidates`` tasks; the next block is resampled (on the same
    resamples) while the last resampled place is in contention (:func:`in_contention`), up to
    ``settings.max_rounds`` blocks. Each resample's scores are exact (:class:`AffineLogME` on its
    rows); its statistics are built once and reused by every block.
    """
    settings = settings or StabilitySettings()
    single_scores = np.asarray(single_scores, dtype=float)
    total = len(single_scores)
    if total == 0:
        return LeaderCheck([], [], np.zeros((settings.num_resamples, 0)))
    step = settings.max_candidates or total
    rows_per_resample = resample_indices(len(labels), settings.num_resamples, settings.method, settings.seed)
    scorer = ResampleScorer(embeddings, labels, regression, rows_per_resample, device)
    columns: list[np.ndarray] = []
    m = 0
    for _round in range(settings.max_rounds):
        start, stop = m, min(m + step, total)
        if start >= stop:
            break
        weights, biases = maps(start, stop)
        message = f"Re-scoring the top {stop} tasks on {len(rows_per_resample)} resamples"
        if scorer.shared_kernel:  # one map at a time, every resample
            block = np.empty((len(rows_per_resample), stop - start))
            for j in range(stop - start):
                _check_stop(should_stop)
                block[:, j : j + 1] = scorer.kernel_scores(weights[j : j + 1], biases[j : j + 1])
                if progress is not None:
                    yield progress(j + 1, stop - start, message)
        else:  # one resample at a time, every map
            block = np.empty((len(rows_per_resample), stop - start))
            for b in range(len(rows_per_resample)):
                _check_stop(should_stop)
                block[b] = scorer.score(b, weights, biases)
                if progress is not None:
                    yield progress(b + 1, len(rows_per_resample), message)
        columns.append(block)
        m = stop
        scores = np.concatenate(columns, axis=1)
        order = aggregate_order(scores, settings.order, single_scores[:m])
        tasks = summarise(scores, order, settings)
        # The lowest-scoring resampled task and the last of the new order border the rest.
        edge = [tasks[[int(j) for j in order].index(m - 1)], tasks[-1]]
        if m >= total or not any(in_contention(t, settings.top_k) for t in edge):
            break
    return LeaderCheck([int(j) for j in order], tasks, scores)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score (or negated rank) vectors of the same items."""
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)
