"""LogME parity against an independent, plain per-target implementation of You et al. (2110.10545),
and scale invariance (issue 10: 1000 x the identity must not outrank real ESMs)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REPO_ROOT

from hfselect_core.logme import AffineLogME, logme


def reference_logme(features: np.ndarray, labels: np.ndarray, regression: bool, scale_invariant: bool = True) -> float:
    """Straightforward fixed-point LogME, one target at a time, numpy float64.

    ``scale_invariant=False`` is the published formula: ``D/2 log(alpha)`` whatever the rank;
    True counts the prior's dimensions as the number of singular values kept (the exact evidence).
    """
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
        alpha_dims = len(sigma) if scale_invariant else d
        evidence = (
            alpha_dims / 2.0 * np.log(alpha)
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
    pytest.param(kind, n, d, seed, invariant, id=f"{kind}-N{n}-D{d}-s{seed}-{'exact' if invariant else 'published'}")
    for kind in ("classification", "regression1", "regression3")
    for (n, d) in ((80, 8), (12, 20), (16, 16))
    for seed in (0, 1, 2)
    for invariant in (True, False)
]


@pytest.mark.parametrize(("kind", "n", "d", "seed", "invariant"), CASES)
def test_logme_matches_reference(kind, n, d, seed, invariant):
    rng = np.random.default_rng(seed)
    labels, regression = _labels(rng, n, kind)
    # Features that carry some signal about the labels, so the evidence is not trivial.
    signal = np.asarray(labels, dtype=np.float64).reshape(n, -1)
    features = rng.standard_normal((n, d)) + 0.5 * signal[:, :1]
    expected = reference_logme(features, labels, regression, invariant)
    assert np.isfinite(expected)
    assert _rel(logme(features, labels, regression, scale_invariant=invariant), expected) <= 1e-6


@pytest.mark.parametrize(("kind", "n", "d", "seed", "invariant"), CASES)
def test_affine_logme_matches_reference(kind, n, d, seed, invariant):
    rng = np.random.default_rng(100 + seed)
    labels, regression = _labels(rng, n, kind)
    x = rng.standard_normal((n, d))
    weights = np.eye(d)[None] + 0.3 * rng.standard_normal((3, d, d))
    biases = 0.3 * rng.standard_normal((3, d))
    # Two workers score maps side by side (each with single-threaded BLAS).
    scores = AffineLogME(x, labels, regression, scale_invariant=invariant, workers=2).score(weights, biases)
    assert scores.shape == (3,)
    for k in range(3):
        expected = reference_logme(x @ weights[k].T + biases[k], labels, regression, invariant)
        assert _rel(float(scores[k]), expected) <= 1e-6, (k, scores[k], expected)


@pytest.mark.parametrize("gram", ["cholesky", "factor"])
def test_gram_formations_agree(gram):
    """Cholesky + triangular multiply + rank-k update, or eigen-factor + GEMM: same scores."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((300, 24))
    labels = rng.integers(0, 5, size=300)
    weights = np.eye(24)[None] + 0.2 * rng.standard_normal((6, 24, 24))
    biases = 0.2 * rng.standard_normal((6, 24))
    scores = AffineLogME(x, labels, gram=gram).score(weights, biases)
    for k in range(6):
        assert _rel(float(scores[k]), reference_logme(x @ weights[k].T + biases[k], labels, False)) <= 1e-9


def test_singular_embeddings_fall_back_from_cholesky():
    """A constant embedding column makes [X, 1] rank-deficient: no Cholesky factor, same scores."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((200, 10))
    x[:, 3] = 1.0
    labels = rng.integers(0, 3, size=200)
    with pytest.raises(ValueError, match="singular"):
        AffineLogME(x, labels, gram="cholesky")
    weights = np.eye(10)[None] + 0.2 * rng.standard_normal((2, 10, 10))
    biases = 0.2 * rng.standard_normal((2, 10))
    scores = AffineLogME(x, labels).score(weights, biases)
    for k in range(2):
        assert _rel(float(scores[k]), reference_logme(x @ weights[k].T + biases[k], labels, False)) <= 1e-6


def test_zero_or_overflowing_map_scores_nan_not_error():
    rng = np.random.default_rng(23)
    x = rng.standard_normal((100, 6))
    labels = rng.integers(0, 2, size=100)
    weights = np.stack([np.zeros((6, 6)), np.full((6, 6), 1e300), np.eye(6)])
    scores = AffineLogME(x, labels).score(weights, np.zeros((3, 6)))
    assert np.isnan(scores[0]) and np.isnan(scores[1]) and np.isfinite(scores[2])


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


# --- Scale invariance on real embeddings and real ESMs (issue 10, "ranking poisoning") -----------

EXAMPLES = REPO_ROOT / "assets" / "examples"


@pytest.fixture(scope="module")
def real_embeddings():
    """The bundled MiniLM's embeddings of the example datasets: N = 200 (well under d = 384) and N > d."""
    import pandas as pd

    from hfselect_core.embedding import BUNDLED_MODEL_ID, load_embedding_model

    model = load_embedding_model(BUNDLED_MODEL_ID, device="cpu")
    texts, labels, offset = [], [], 0
    for name, text_col, label_col in (
        ("product_reviews", "review", "sentiment"),
        ("support_messages", "message", "intent"),
        ("news_headlines", "headline", "topic"),
    ):
        df = pd.read_csv(EXAMPLES / f"{name}.csv")
        codes = pd.Categorical(df[label_col]).codes
        texts += df[text_col].astype(str).tolist()
        labels.append(codes + offset)
        offset += int(codes.max()) + 1
    x = model.embed(texts)
    y = np.concatenate(labels)
    # The first 200 product reviews: the N << d case the published formula gets wrong (the whole
    # example, 383 rows, sits just under d, where the effect is too small to show).
    small = min(len(labels[0]), 200)
    return {"small": (x[:small], y[:small]), "large": (x, y)}


def _bundled_maps(count: int):
    from hfselect_core.embedding import BUNDLED_MODEL_ID
    from hfselect_core.esm import StoredESM
    from hfselect_core.sources import bundled_pool_dir

    folders = sorted(p for p in bundled_pool_dir(BUNDLED_MODEL_ID).iterdir() if p.is_dir())[:count]
    pairs = [StoredESM.open(f).weight_and_bias() for f in folders]
    return np.stack([w for w, _ in pairs]).astype(np.float64), np.stack([b for _, b in pairs]).astype(np.float64)


@pytest.mark.parametrize("size", ["small", "large"])
def test_scaled_identity_scores_as_identity(real_embeddings, size):
    x, y = real_embeddings[size]
    assert (len(x) <= x.shape[1]) == (size == "small")  # both regimes: N <= d and N > d
    d = x.shape[1]
    scorer = AffineLogME(x, y)
    eye = np.eye(d)[None]
    identity = scorer.score(eye, np.zeros((1, d)))[0]
    for c in (1e-3, 1.0, 1e3):
        assert _rel(scorer.score(c * eye, np.zeros((1, d)))[0], identity) <= 1e-6, c


@pytest.mark.parametrize("size", ["small", "large"])
def test_scaled_copy_of_a_real_esm_scores_as_the_original(real_embeddings, size):
    x, y = real_embeddings[size]
    weights, biases = _bundled_maps(3)
    scorer = AffineLogME(x, y)
    original = scorer.score(weights, biases)
    for c in (1e-3, 0.5, 3.0, 1e3):
        np.testing.assert_allclose(scorer.score(c * weights, c * biases), original, rtol=1e-6, atol=0)


def test_published_formula_is_what_the_attack_exploited(real_embeddings):
    """The cause: with N <= d the published evidence counts d/2 log(alpha) but only N eigenvalues
    in the log-determinant, so it grows with the scale; the exact evidence does not."""
    x, y = real_embeddings["small"]
    d = x.shape[1]
    weights, biases = _bundled_maps(39)
    published = AffineLogME(x, y, scale_invariant=False)
    poisoned = published.score(1e3 * np.eye(d)[None], np.zeros((1, d)))[0]
    assert poisoned > published.score(weights, biases).max() + 1.0
    exact = AffineLogME(x, y)
    assert exact.score(1e3 * np.eye(d)[None], np.zeros((1, d)))[0] < exact.score(weights, biases).max()


def test_scaled_identity_esm_does_not_win_a_ranking(real_embeddings):
    """Through the public ranking API: 1000 x identity and 0.001 x identity score as the baseline
    (the unmapped embeddings) and the real ESMs come first."""
    import pandas as pd

    from hfselect_core import TargetDataset, compute_task_ranking
    from hfselect_core.embedding import BUNDLED_MODEL_ID
    from hfselect_core.esm import ESM, ESMConfig
    from hfselect_core.sources import BundledESMSource

    df = pd.read_csv(EXAMPLES / "product_reviews.csv")
    dataset = TargetDataset.from_pandas(df, "review", "sentiment")
    real = BundledESMSource(BUNDLED_MODEL_ID).load(BUNDLED_MODEL_ID).esms
    d = 384
    hostile = [
        ESM.from_weights(
            c * np.eye(d), np.zeros(d), ESMConfig(task_id=f"evil/x{c:g}", base_model_name=BUNDLED_MODEL_ID)
        )
        for c in (1e3, 1e-3)
    ]
    ranking = compute_task_ranking(dataset, BUNDLED_MODEL_ID, esms=[*hostile, *real], device="cpu")
    assert len(ranking) == len(real) + 2
    assert not ranking.rows[0].config.task_id.startswith("evil/")
    scores = {r.name: r.score for r in ranking.rows}
    for esm in hostile:
        assert _rel(scores[esm.name], ranking.baseline) <= 1e-6
