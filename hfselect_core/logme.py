"""LogME: the Bayesian evidence of a linear model predicting the labels from features.

Fixed-point evidence maximisation of You et al. (arXiv 2110.10545), float64, no intercept column.
Classification uses one one-hot target per class, regression one target per output; the score
is the mean over targets of evidence / N. The iteration (start, stopping rule, epsilon, the
rank cut of singular values at 1e-10) follows the published method so the numbers match the
reference library on the same features.

Two entry points:

* :func:`logme` scores one feature matrix.
* :class:`AffineLogME` scores many affine maps ``F = X W^T + b`` of one embedding matrix ``X``.
  An affine map only changes the second-moment statistics of the features, so after one
  pass over ``X`` every map costs O(d^3), independent of N, and nothing of size K x N x d
  is ever held in memory.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

_EPSILON = 1e-5  # added to the alpha/beta denominators, as in the published method
_MAX_ITERATIONS = 50
_TOLERANCE = 1e-3  # relative change of alpha / beta that ends the iteration
_RANK_CUT = 1e-10  # singular values at or below this are treated as zero
_LOG_2PI = float(np.log(2.0 * np.pi))


def label_targets(labels: np.ndarray, regression: bool) -> np.ndarray:
    """The (N, C) float64 target matrix: one-hot classes, or the regression outputs."""
    labels = np.asarray(labels)
    if regression:
        y = labels.astype(np.float64)
        return y.reshape(len(y), -1)
    ids = labels.astype(np.int64)
    num_classes = int(ids.max()) + 1
    return (ids[:, None] == np.arange(num_classes)[None, :]).astype(np.float64)


def evidence_from_spectrum(
    sigma: torch.Tensor,
    x2: torch.Tensor,
    res_x2: torch.Tensor,
    num_examples: int,
    feature_dim: int,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Maximise the evidence for every target of a batch of feature matrices.

    Args:
        sigma: (B, k) squared singular values of each feature matrix (0 where masked out).
        x2: (B, k, C) squared projections of each target on the left singular vectors.
        res_x2: (B, C) squared norm of each target outside the span of the features.
        num_examples: N.
        feature_dim: D, the number of feature columns.
        mask: (B, k) booleans, False for singular values below the rank cut.

    Returns:
        (B, C) evidence / N per target.
    """
    sigma = sigma.to(torch.float64)
    if mask is None:
        mask = torch.ones_like(sigma, dtype=torch.bool)
    sigma = torch.where(mask, sigma, torch.zeros_like(sigma))
    x2 = torch.where(mask[:, :, None], x2, torch.zeros_like(x2))
    n = float(num_examples)
    batch, _, num_targets = x2.shape
    s = sigma[:, :, None]
    alpha = torch.ones(batch, num_targets, dtype=torch.float64, device=sigma.device)
    beta = torch.ones_like(alpha)
    m2 = torch.zeros_like(alpha)
    res2 = torch.zeros_like(alpha)
    active = torch.ones_like(alpha, dtype=torch.bool)
    for _ in range(_MAX_ITERATIONS):
        t = alpha / beta
        denominator = s + t[:, None, :]
        gamma = (s / denominator).sum(1)
        new_m2 = (s * x2 / denominator**2).sum(1)
        new_res2 = (x2 / (1.0 + s / t[:, None, :]) ** 2).sum(1) + res_x2
        new_alpha = gamma / (new_m2 + _EPSILON)
        new_beta = (n - gamma) / (new_res2 + _EPSILON)
        # A target that has converged keeps the values of its last iteration.
        alpha = torch.where(active, new_alpha, alpha)
        beta = torch.where(active, new_beta, beta)
        m2 = torch.where(active, new_m2, m2)
        res2 = torch.where(active, new_res2, res2)
        converged = (new_alpha / new_beta - t).abs() / t <= _TOLERANCE
        active = active & ~converged
        if not bool(active.any()):
            break
    log_det = (torch.log(alpha[:, None, :] + beta[:, None, :] * s) * mask[:, :, None]).sum(1)
    evidence = (
        feature_dim / 2.0 * torch.log(alpha)
        + n / 2.0 * torch.log(beta)
        - 0.5 * log_det
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * _LOG_2PI
    )
    return evidence / n


def _spectrum_of_features(features: torch.Tensor, targets: torch.Tensor):
    """Squared singular values and target projections of a batch of (B, N, D) feature matrices."""
    _, n, d = features.shape
    yy = (targets**2).sum(1)  # (B, C)
    if n > d:
        gram = features.transpose(1, 2) @ features
        return _spectrum_of_gram(gram, features.transpose(1, 2) @ targets, yy)
    u, s, _ = torch.linalg.svd(features, full_matrices=False)
    x = u.transpose(1, 2) @ targets
    x2 = x**2
    mask = torch.ones_like(s, dtype=torch.bool)
    return s**2, x2, yy - x2.sum(1), mask


def _spectrum_of_gram(gram: torch.Tensor, ft_y: torch.Tensor, yy: torch.Tensor):
    """Spectrum from the D x D Gram matrix F^T F and F^T Y (the N > D case)."""
    eigenvalues, vectors = torch.linalg.eigh(gram)
    # The eigenvalues of a Gram matrix are its squared singular values; rounding can make the
    # null ones slightly negative, and the rank cut treats them by magnitude like an SVD would.
    sigma = eigenvalues.abs()
    mask = sigma.sqrt() > _RANK_CUT
    safe = torch.where(mask, sigma, torch.ones_like(sigma))
    proj = vectors.transpose(1, 2) @ ft_y  # (B, D, C) = S U^T y
    x2 = torch.where(mask[:, :, None], proj**2 / safe[:, :, None], torch.zeros_like(proj))
    return sigma, x2, yy - x2.sum(1), mask


def logme(features: np.ndarray, labels: np.ndarray, regression: bool = False) -> float:
    """LogME score of one (N, D) feature matrix for the labels (class ids, or regression values)."""
    f = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if f.ndim != 2:
        raise ValueError(f"features must be a 2-D array, got shape {tuple(f.shape)}")
    y = torch.as_tensor(label_targets(labels, regression))
    if y.shape[0] != f.shape[0]:
        raise ValueError(f"{f.shape[0]} feature rows but {y.shape[0]} labels")
    sigma, x2, res_x2, mask = _spectrum_of_features(f[None], y[None])
    evidence = evidence_from_spectrum(sigma, x2, res_x2, f.shape[0], f.shape[1], mask)
    return float(evidence.mean())


class AffineLogME:
    """LogME of many affine maps of one embedding matrix, without materialising the mapped features.

    For ``F = X W^T + 1 b^T`` write ``X1 = [X, 1]`` and ``W1 = [W, b]``: then ``F^T F = W1 G W1^T``
    with ``G = X1^T X1`` and ``F^T Y = W1 (X1^T Y)``. ``G`` is factored once as ``B B^T`` so each map
    costs one (d x d+1) product, one Gram product and one symmetric eigendecomposition.
    """

    def __init__(
        self,
        embeddings: np.ndarray,
        labels: np.ndarray,
        regression: bool = False,
        device: str | torch.device = "cpu",
    ):
        self.device = torch.device(device)
        x = torch.as_tensor(np.asarray(embeddings, dtype=np.float64), device=self.device)
        if x.ndim != 2:
            raise ValueError(f"embeddings must be a 2-D array, got shape {tuple(x.shape)}")
        self.num_examples, self.dim = x.shape
        self.regression = regression
        y = torch.as_tensor(label_targets(labels, regression), device=self.device)
        if y.shape[0] != self.num_examples:
            raise ValueError(f"{self.num_examples} embeddings but {y.shape[0]} labels")
        x1 = torch.cat([x, torch.ones(self.num_examples, 1, dtype=torch.float64, device=self.device)], dim=1)
        self._direct = self.num_examples <= self.dim
        self._yy = (y**2).sum(0)
        if self._direct:
            # With N <= D the features are no larger than one map, and the SVD path is the
            # one that matches the reference exactly.
            self._x1 = x1
            self._y = y
        else:
            eigenvalues, vectors = torch.linalg.eigh(x1.T @ x1)
            self._factor = vectors * eigenvalues.clamp(min=0.0).sqrt()  # G = B B^T
            self._x1_t_y = x1.T @ y

    def score(self, weights: torch.Tensor | np.ndarray, biases: torch.Tensor | np.ndarray) -> np.ndarray:
        """LogME of ``X W_k^T + b_k`` for each map k: weights (K, d, d), biases (K, d)."""
        w = torch.as_tensor(weights, dtype=torch.float64, device=self.device)
        b = torch.as_tensor(biases, dtype=torch.float64, device=self.device)
        if w.ndim == 2:
            w, b = w[None], b[None]
        if w.shape[1:] != (self.dim, self.dim) or b.shape[1:] != (self.dim,):
            raise ValueError(f"maps must be ({self.dim}, {self.dim}) with a ({self.dim},) bias")
        w1 = torch.cat([w, b[:, :, None]], dim=2)  # (K, d, d+1)
        yy = self._yy.expand(len(w1), -1)
        if self._direct:
            features = self._x1 @ w1.transpose(1, 2)
            sigma, x2, res_x2, mask = _spectrum_of_features(features, self._y.expand(len(w1), -1, -1))
        else:
            k = w1 @ self._factor
            gram = k @ k.transpose(1, 2)
            sigma, x2, res_x2, mask = _spectrum_of_gram(gram, w1 @ self._x1_t_y, yy)
        evidence = evidence_from_spectrum(sigma, x2, res_x2, self.num_examples, self.dim, mask)
        return evidence.mean(1).cpu().numpy()

    def score_many(
        self,
        weights: torch.Tensor | np.ndarray,
        biases: torch.Tensor | np.ndarray,
        batch_size: int = 16,
        cuda_streams: int = 4,
    ) -> np.ndarray:
        """Score K maps in batches. On a GPU the batches run on several CUDA streams at once:
        a d x d eigendecomposition is latency-bound and leaves most of the device idle."""
        k = len(weights)
        starts = list(range(0, k, batch_size))
        if self.device.type != "cuda" or cuda_streams <= 1 or len(starts) == 1:
            return np.concatenate([self.score(weights[i : i + batch_size], biases[i : i + batch_size]) for i in starts])

        def run(start: int, stream: torch.cuda.Stream) -> np.ndarray:
            with torch.cuda.stream(stream):
                out = self.score(weights[start : start + batch_size], biases[start : start + batch_size])
            return out

        streams = [torch.cuda.Stream(device=self.device) for _ in range(cuda_streams)]
        with ThreadPoolExecutor(max_workers=cuda_streams) as pool:
            parts = list(pool.map(run, starts, [streams[i % cuda_streams] for i in range(len(starts))]))
        return np.concatenate(parts)
