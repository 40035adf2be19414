"""How much of a ranking's order is signal: re-score the already embedded sample on resamples.

A ranking comes from one sample of the target. Scoring every candidate ESM on B resamples of
that sample (by default complementary half-splits: two disjoint halves at a time, the situation
of a user who had drawn a different sample; or bootstrap resamples) shows how much each position
moves. Half-splits are the default: the bootstrap repeats rows, and LogME's evidence rewards
repeated rows (with N close to d a bootstrap resample scores far above the sample itself), so
its spread says more about the duplicates than about the data. Only LogME's d x d statistics
and the per-ESM spectral step are redone; the embeddings are computed once. Resampling is limited
to the leading candidates (the others are far from the top and keep their single-sample rank).

Per task this gives a rank interval (the central ``interval`` share of its ranks over the
resamples), the share of resamples in which it is in the top k, its mean rank and mean score.
Tasks whose rank interval overlaps the leader's are "tied with the leader": this sample cannot
tell them apart.

Aggregating (ordering by mean rank over the resamples instead of the single-sample score) is a
bagged ranking; ``bench/bench_stability.py`` measures whether it agrees better between two
disjoint samples of the same target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .logme import AffineLogME

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
        max_candidates: resample only the leading tasks of the single-sample order (0: all).
        top_k: the k of "share of resamples in the top k".
        interval: central share of the resampled ranks reported as the rank interval.
        seed: seed of the resamples (the same seed gives the same intervals).
        order: the final order: 'mean_rank' over resamples, 'mean_score', or 'single' (the
            sample's own LogME score).
    """

    num_resamples: int = 10
    method: str = HALF
    max_candidates: int = 8
    top_k: int = 3
    interval: float = 0.9
    seed: int = 0
    order: str = ORDER_MEAN_RANK

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, not {self.order!r}")
        if self.num_resamples < 2:
            raise ValueError("num_resamples must be at least 2")
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
        """Tasks (the leader included) that this sample cannot separate from the leader."""
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
    out = np.empty((len(rows_per_resample), len(weights)))
    for b, rows in enumerate(rows_per_resample):
        scorer = AffineLogME(embeddings[rows], labels[rows], regression, device=device)
        out[b] = scorer.score_many(weights, biases)
    return out


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
    out = []
    for j in order:
        j = int(j)
        tied = j == leader or low[j] <= high[leader]
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


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score (or negated rank) vectors of the same items."""
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)
