"""How long a studio run (:func:`hfselect_core.studio.iter_studio_training`) will take.

A model of the real costs, stage by stage, calibrated by ``bench/bench_estimate.py``:

* loading the base model (and copying it for fine-tuning): a constant;
* fine-tuning: ``ceil(epochs * ceil(n / batch))`` optimizer steps, whose cost is proportional to
  the tokens of their batches, each padded to its longest text (batches are drawn at random, so
  the padded length is the expected maximum of a random batch, see :func:`text_profile`), plus
  a fixed part per step (the AdamW update of every weight);
* embedding every text with both models (batches of similar length: mean tokens, no padding);
* the closed-form fit of the map (d x d least squares, twice: held-out check and final fit);
* the self-check: loading the pool and scoring every ESM with LogME on the n embeddings;
* the first model load of a process (importing transformers and building its first model): a
  constant, paid once per process, not by later runs.

Costs scale with model size as layers x d^2 (the weights each token meets); LogME with d^3.
CPU costs are single-thread CPU seconds; the parallel stages (model work) are divided by the
speedup of the threads torch uses, the serial ones (first load, self-check) are not.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

REF_DIM = 384  # all-MiniLM-L6-v2, the model of the calibration
REF_LAYERS = 6
_DEFAULT_TOKENS = 16.5  # short texts (reviews, questions), when the texts are not known
_DEFAULT_PADDING = 1.8  # padded / mean tokens of random batches of 32: 1.8 trec_coarse, 2.0 ag_news, 2.3 emotion

# CPU costs are single-thread CPU seconds (process time with one torch/BLAS thread: the work
# itself, which a shared machine's load does not inflate), measured by bench/bench_estimate.py
# (calibrate: trec_coarse 200 rows and ag_news 600 rows, 2026-11-26) on the project's dev box
# (AMD EPYC, 2 cores, shared) with all-MiniLM-L6-v2, batch 32, 128 tokens:
# - fine-tuning: 0.068 s per step (the AdamW update) plus 0.973 ms per padded token (fitted on
#   batches padded to 24.3 and 104.5 tokens);
# - embedding with both models: 0.33 ms per token plus 0.63 s;
# - model load 1.1-3.2 s (3.2 s the first time in a process); fit and save 0.1 s;
# - self-check (pool of 39 + the new ESM, scoring and stability): 1.5-2.8 s.
# Wall clock on a quiet 2-core CPU (bench_estimate.py validate --threads 2, pinned to 2 cores of the
# GPU machine's Intel Xeon, 2026-11-26; bench/estimate_runs_device.json) corrected three things:
# - the first run of a process paid 6.5-7.8 s of model load (8.8 s on one thread), later runs 0.1 s:
#   importing transformers and building its first model, serial work that the old model lacked
#   ("cold_start", calibrated on the cold 1-epoch and one-thread runs, checked on the cold 3-epoch run);
# - a warm load takes 0.06-0.1 s of wall time, the stage span 0.2-0.5 s: "load" 2.0 -> 0.3;
# - the self-check took as long on two threads as on one (1.7-2.8 s vs 1.9 s): not divided, and
#   "check_fixed" 1.2 -> 1.0 (the two calibration runs' self-checks: 2.6 and 1.9 s).
_CPU = {
    "cold_start": 8.2,
    "load": 0.3,
    "step_fixed": 0.068,
    "per_token": 0.973e-3,
    "embed_fixed": 0.63,
    "embed_per_token": 0.33e-3,
    "fit": 0.1,
    "check_fixed": 1.0,
    "logme_fixed": 0.03,
    "logme_per_example": 1e-5,
}
# Wall time = single-thread CPU time / the speedup of the threads torch uses. Two threads: 1.9,
# first inferred from CPU time on the shared dev box (bench_estimate.py thread-cpu), then confirmed
# on the wall clock of a quiet 2-core CPU (emotion, 300 rows, one thread vs two on the same cores):
# fine-tuning 41.7 s vs 21.7 s (1.92), embedding 4.7 s vs 2.2 s (2.1).
# More threads were not measured: each adds the same 0.9, and at most 4 count (a cautious cap).
_TWO_THREAD_SPEEDUP = 1.9
_MAX_USEFUL_THREADS = 4
_SERIAL = {"self_check"}  # stages that more threads did not speed up
# One H100 (torch 2.11, bf16 autocast), measured earlier with the same model and short texts
# (8,128 examples, ~16.5 tokens): fine-tuning 0.00082 s per example-epoch, both embeddings
# 0.00016 s per example, ~10 s of CUDA warm-up; ZeroGPU's queueing is in "load". Already wall
# seconds (no thread speedup); not re-measured this session (the GPU was another helper's).
_CUDA = {
    "cold_start": 0.0,  # inside "load"
    "load": 20.0,  # the old "overhead": warm-up, model load, fit and saving together
    "step_fixed": 0.0,
    "per_token": 2.7e-5,  # 0.00082 s per example-epoch / ~30 padded tokens
    "embed_fixed": 0.0,
    "embed_per_token": 4.8e-6,  # 0.00016 s per example / (2 x 16.5 tokens)
    "fit": 0.0,
    "check_fixed": 0.0,
    "logme_fixed": 0.02,  # a guess, as before: not timed
    "logme_per_example": 0.0,
}


@dataclass(frozen=True)
class TextProfile:
    """Tokens per text of a dataset: the mean, and the mean length a random batch is padded to."""

    mean_tokens: float = _DEFAULT_TOKENS
    padded_tokens: float = _DEFAULT_TOKENS * _DEFAULT_PADDING


@dataclass
class Estimate:
    """An estimate in seconds, in total and per stage."""

    total: float
    parts: dict[str, float] = field(default_factory=dict)


# Word-piece tokenizers split punctuation off and cut rarer words into pieces: ~1.1 tokens per run
# of letters or digits, one per punctuation mark, plus [CLS] and [SEP]. Against all-MiniLM-L6-v2's
# tokenizer on 400 texts of each of the 39 datasets in /work/shared/datasets: mean error 4.5%,
# worst 14% (the old 1.3 tokens per whitespace word: 11%, worst 33%).
_PIECES = re.compile(r"[^\W\d_]+|\d+|[^\w\s]|_")
_TOKENS_PER_WORD = 1.1
_SPECIAL_TOKENS = 2


def _approx_tokens(text: str, max_length: int) -> float:
    words = punct = 0
    for piece in _PIECES.findall(text):
        if piece[0].isalnum():
            words += 1
        else:
            punct += 1
    return min(max_length, _TOKENS_PER_WORD * words + punct + _SPECIAL_TOKENS)


def _token_counts(texts: list[str], max_length: int, sample: int, tokenizer: Any = None) -> np.ndarray:
    step = max(1, len(texts) // sample)
    picked = [str(t) for t in texts[::step]]
    if tokenizer is not None:
        ids = tokenizer(picked, truncation=True, max_length=max_length)["input_ids"]
        return np.array([len(i) for i in ids], dtype=np.float64)
    return np.array([_approx_tokens(t, max_length) for t in picked], dtype=np.float64)


def approx_mean_tokens(texts: list[str], max_length: int = 128, sample: int = 500) -> float:
    """A cheap guess of tokens per text (words, their pieces and punctuation), no tokenizer needed."""
    if not texts:
        return _DEFAULT_TOKENS
    return float(np.mean(_token_counts(texts, max_length, sample)))


def text_profile(
    texts: list[str], batch_size: int = 32, max_length: int = 128, sample: int = 2000, tokenizer: Any = None
) -> TextProfile:
    """Mean tokens per text and the expected padded length of a random fine-tuning batch.

    With the base model's ``tokenizer`` the counts are exact (a 2,000-text sample tokenises in well
    under a second); without it they are guessed from the words and punctuation.
    """
    if not texts:
        return TextProfile()
    counts = _token_counts(texts, max_length, sample, tokenizer)
    size = max(1, min(int(batch_size), len(counts)))
    rng = np.random.default_rng(0)
    batches = np.stack([rng.permutation(counts)[:size] for _ in range(64)])
    return TextProfile(float(counts.mean()), float(batches.max(axis=1).mean()))


def fine_tune_steps(num_examples: int, epochs: float, batch_size: int = 32) -> int:
    """Optimizer steps of the fine-tuning (as :mod:`hfselect_core.training` counts them)."""
    per_epoch = math.ceil(max(0, int(num_examples)) / max(1, int(batch_size)))
    return max(1, int(math.ceil(per_epoch * float(epochs))))


def _size_factor(dim: int, num_layers: int | None) -> float:
    if num_layers:
        return (num_layers * dim**2) / (REF_LAYERS * REF_DIM**2)
    # Without a layer count, layers grow with width (BERT-base: 12 x 768 -> 8x MiniLM-L6).
    return (dim / REF_DIM) ** 3


def estimate_studio_seconds(
    num_examples: int,
    epochs: float,
    device: str | torch.device | None = None,
    *,
    profile: TextProfile | None = None,
    batch_size: int = 32,
    base_model_dim: int = REF_DIM,
    num_layers: int | None = None,
    pool_size: int = 0,
    self_check: bool = True,
    threads: int | None = None,
    cold: bool | None = None,
) -> Estimate:
    """Seconds a studio run takes, stage by stage (see the module docstring for the model).

    ``profile`` comes from :func:`text_profile` of the texts that will be trained on; without
    it, short texts are assumed. ``pool_size`` is the number of bundled ESMs the self-check ranks
    besides the new one. ``threads``: the CPU threads torch will use (default: as set now).
    ``cold``: whether this process has yet to load its first model (default: whether transformers'
    models are still unimported), which costs seconds once.
    """
    if cold is None:
        cold = "transformers.modeling_utils" not in sys.modules
    is_cuda = torch.device(device or "cpu").type == "cuda"
    c = _CUDA if is_cuda else _CPU
    prof = profile or TextProfile()
    n = max(0, int(num_examples))
    size = _size_factor(int(base_model_dim), num_layers)
    steps = fine_tune_steps(n, epochs, batch_size)
    # Texts the fine-tuning passes through (an epoch's last batch is short), each padded to its batch's longest.
    seen = n * steps / max(1, math.ceil(n / max(1, int(batch_size))))
    logme_scale = (int(base_model_dim) / REF_DIM) ** 3
    parts = {
        "load": c["load"] * size,
        "fine_tune": (steps * c["step_fixed"] + c["per_token"] * seen * prof.padded_tokens) * size,
        "embed": (c["embed_fixed"] + c["embed_per_token"] * 2 * n * prof.mean_tokens) * size,
        "fit": c["fit"] * logme_scale,
    }
    if self_check:
        esms = int(pool_size) + 1
        parts["self_check"] = c["check_fixed"] + esms * (c["logme_fixed"] + c["logme_per_example"] * n) * logme_scale
    if not is_cuda:
        speedup = cpu_speedup(threads if threads is not None else torch.get_num_threads())
        parts = {k: v if k in _SERIAL else v / speedup for k, v in parts.items()}
    if cold:
        parts["load"] += c["cold_start"]
    return Estimate(float(sum(parts.values())), parts)


def cpu_speedup(threads: int) -> float:
    """How much faster than one thread the studio runs on ``threads`` CPU threads."""
    t = max(1, min(int(threads), _MAX_USEFUL_THREADS))
    return 1.0 + (_TWO_THREAD_SPEEDUP - 1.0) * (t - 1)


def estimate_training_seconds(
    num_examples: int,
    epochs: float,
    device: str | torch.device | None = None,
    base_model_dim: int = REF_DIM,
    num_layers: int | None = None,
    mean_tokens: float | None = None,
    pool_size: int = 0,
) -> float:
    """Seconds a studio run takes (the total of :func:`estimate_studio_seconds`, batch 32).

    ``mean_tokens`` (see :func:`approx_mean_tokens`) defaults to short texts; the padded length
    of a batch is then taken as a typical multiple of it. Prefer :func:`estimate_studio_seconds`
    with a :func:`text_profile` of the texts, which measures the padding.
    """
    mean = max(2.0, float(mean_tokens or _DEFAULT_TOKENS))
    profile = TextProfile(mean, min(128.0, mean * _DEFAULT_PADDING))
    return estimate_studio_seconds(
        num_examples,
        epochs,
        device,
        profile=profile,
        base_model_dim=base_model_dim,
        num_layers=num_layers,
        pool_size=pool_size,
    ).total


def format_duration(seconds: float) -> str:
    """'about 40 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 90:
        return f"about {max(5, int(round(seconds / 5.0)) * 5)} s"
    if seconds < 90 * 60:
        return f"about {int(round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


__all__ = [
    "Estimate",
    "TextProfile",
    "approx_mean_tokens",
    "cpu_speedup",
    "estimate_studio_seconds",
    "estimate_training_seconds",
    "fine_tune_steps",
    "format_duration",
    "text_profile",
]
