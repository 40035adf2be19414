"""LogME parity against an independent, plain per-target implementation of You et al. (2110.10545)."""

from __future__ import annotations

import numpy as np
import pytest

from hfselect_core.logme import AffineLogME, logme


def reference_logme(features: np.ndarray, labels: np.ndarray, regression: bool) -> float:
    """Straightforward fixed-point LogME, one target at a time, numpy float64."""
    f = np.asarray(features, dtype=np.float64)
    n, d = f.shape
    if n > d:
        _, s2, vh = np.linalg.svd(f.T @ f)
        s = np.sqrt(s2)
        k = int((s > 1e-10).sum())
        s, vh = s[:k], vh[:k]
        u = f @ vh.T / s
    else:
        u, s, _ = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    labels = np.asarray(labels)
    if regression:
        targets = labels.astype(np.float64).reshape(n, -1)
        columns = [targets[:, i] for i in range(targets.shape[1])]
    else:
        columns = [(labels == c).astype(np.float64) for c in range(int(labels.max()) + 1)]
    evidences = []
    for y in columns:
        x = u.T @ y
        x2 = x**2
        res_x2 = y @ y - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(50):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / ((t + sigma) ** 2)).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidence = (
            d / 2.0 * np.log(alpha)
            + n / 2.0 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2.0 * res2
            - alpha / 2.0 * m2
            - n / 2.0 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


def _labels(rng, n: int, kind: str) -> tuple[np.ndarray, bool]:
    if kind == "classification":
        labels = rng.integers(0, 4, size=n)
        labels[:4] = np.arange(4)  # every class present
        return labels, False
    outputs = 1 if kind == "regression1" else 3
    values = rng.standard_normal((n, outputs))
    return (values[:, 0] if outputs == 1 else values), True


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


CASES = [
    pytest.param(kind, n, d, seed, id=f"{kind}-N{n}-D{d}-s{seed}")
    for kind in ("classification", "regression1", "regression3")
    for (n, d) in ((80, 8), (12, 20), (16, 16))
    for seed in (0, 1, 2)
]


@pytest.mark.parametrize(("kind", "n", "d", "seed"), CASES)
def test_logme_matches_reference(kind, n, d, seed):
    rng = np.random.default_rng(seed)
    labels, regression = _labels(rng, n, kind)
    # Features that carry some signal about the labels, so the evidence is not trivial.
    signal = np.asarray(labels, dtype=np.float64).reshape(n, -1)
    features = rng.standard_normal((n, d)) + 0.5 * signal[:, :1]
    expected = reference_logme(features, labels, regression)
    assert np.isfinite(expected)
    assert _rel(logme(features, labels, regression), expected) <= 1e-6


@pytest.mark.parametrize(("kind", "n", "d", "seed"), CASES)
def test_affine_logme_matches_reference(kind, n, d, seed):
    rng = np.random.default_rng(100 + seed)
    labels, regression = _labels(rng, n, kind)
    x = rng.standard_normal((n, d))
    weights = np.eye(d)[None] + 0.3 * rng.standard_normal((3, d, d))
    biases = 0.3 * rng.standard_normal((3, d))
    scores = AffineLogME(x, labels, regression).score(weights, biases)
    assert scores.shape == (3,)
    for k in range(3):
        expected = reference_logme(x @ weights[k].T + biases[k], labels, regression)
        assert _rel(float(scores[k]), expected) <= 1e-6, (k, scores[k], expected)


def test_rank_deficient_features_use_the_rank_cut():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((60, 3))
    features = np.hstack([base, base @ rng.standard_normal((3, 5))])  # rank 3 of 8 columns
    labels = rng.integers(0, 3, size=60)
    expected = reference_logme(features, labels, False)
    assert np.isfinite(expected)
    assert _rel(logme(features, labels, False), expected) <= 1e-6


@pytest.mark.parametrize(("n", "d"), [(50, 6), (5, 6)])
def test_batch_of_maps_equals_one_by_one(n, d):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, d)).astype(np.float32)
    labels = rng.integers(0, 3, size=n)
    labels[:3] = [0, 1, 2]
    weights = np.eye(d)[None] + 0.2 * rng.standard_normal((25, d, d))
    biases = 0.2 * rng.standard_normal((25, d))
    scorer = AffineLogME(x, labels, False)
    batch = scorer.score(weights, biases)
    single = np.array([scorer.score(weights[k], biases[k])[0] for k in range(25)])
    np.testing.assert_allclose(batch, single, rtol=1e-9, atol=0)
    assert len(set(np.round(batch, 8))) > 1  # different maps give different scores


def test_identity_map_equals_plain_logme():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((40, 5))
    y = rng.standard_normal(40)
    score = AffineLogME(x, y, regression=True).score(np.eye(5), np.zeros(5))[0]
    assert _rel(score, logme(x, y, regression=True)) <= 1e-6


def test_informative_features_score_higher():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=200)
    noise = rng.standard_normal((200, 4))
    informative = noise + 3.0 * labels[:, None]
    assert logme(informative, labels) > logme(noise, labels)


def test_shape_errors():
    with pytest.raises(ValueError):
        logme(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError):
        logme(np.zeros((5, 2)), np.zeros(4, dtype=int))
    scorer = AffineLogME(np.random.default_rng(0).standard_normal((10, 3)), np.arange(10) % 2)
    with pytest.raises(ValueError):
        scorer.score(np.zeros((1, 4, 4)), np.zeros((1, 4)))
