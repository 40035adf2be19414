"""Rankings and trainings on ZeroGPU: ``@spaces.GPU`` with a duration sized to the job, the CPU when absent.

On a Space with ZeroGPU hardware a GPU is attached only while a function decorated with
``spaces.GPU`` runs, and the Space is charged for the duration it asks for, so the request is
sized from the job: the number of examples and of ESMs the form asks for. Without the
``spaces`` package (or off ZeroGPU, where ``spaces.GPU`` returns the function unchanged) the
ranking runs where it is, on the CPU when no GPU is visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Seconds, from bench/RESULTS.md ("GPU end to end"), with margins: an H100 embeds ~1000 texts
# of a BERT-base model in well under a second and scores an ESM of d = 768 in ~6 ms; the first
# call of a worker also loads the base model, and Hub ESMs are downloaded inside the slot.
_FIXED_SECONDS = 20.0
_SECONDS_PER_EXAMPLE = 0.002
_SECONDS_PER_ESM = 0.03  # download (first time) + weights read + scoring
MIN_GPU_SECONDS = 30
MAX_GPU_SECONDS = 300
DEFAULT_ESMS = 1500  # a Hub pool for a popular base model, when the form sets no maximum
DEFAULT_EXAMPLES = 1000


def ranking_gpu_seconds(num_examples: int | None, num_esms: int | None) -> int:
    """GPU seconds to request for ranking ``num_esms`` ESMs on ``num_examples`` examples."""
    n = DEFAULT_EXAMPLES if not num_examples or num_examples <= 0 else int(num_examples)
    k = DEFAULT_ESMS if not num_esms or num_esms <= 0 else int(num_esms)
    seconds = _FIXED_SECONDS + n * _SECONDS_PER_EXAMPLE + k * _SECONDS_PER_ESM
    return int(min(MAX_GPU_SECONDS, max(MIN_GPU_SECONDS, round(seconds))))


def _number(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number == number and abs(number) < 1e9 else None


def rank_handler_seconds(*args: Any, **kwargs: Any) -> int:
    """Duration for the app's ``rank`` handler, called by ``spaces.GPU`` with the handler's own
    arguments (laid out as the rank field table says); malformed values get defaults."""
    from .fields import RANK_FIELDS, bind

    values = bind(RANK_FIELDS, args, kwargs)
    return ranking_gpu_seconds(_number(values["num_examples"]), _number(values["max_esms"]))


def training_handler_seconds(*args: Any, **kwargs: Any) -> int:
    """Duration for the app's ``train_esm`` handler: the GPU estimate with a margin, within 60-900 s."""
    from hfselect_core.estimate import estimate_training_seconds

    from .fields import STUDIO_FIELDS, bind

    values = bind(STUDIO_FIELDS, args, kwargs)
    try:
        n, epochs = int(values["num_examples"]), float(values["epochs"])
        seconds = estimate_training_seconds(n, epochs, "cuda", pool_size=40)
    except Exception:  # noqa: BLE001 - a malformed form is refused later; ask for a default slot
        return 300
    return int(min(900, max(60, 2 * seconds)))


def on_zero_gpu(duration: int | Callable[..., int] = rank_handler_seconds) -> Callable[[Callable], Callable]:
    """Decorator: run the function inside ``spaces.GPU(duration=...)`` when ``spaces`` is installed.

    Works on plain functions and on generators (Gradio streaming handlers); without ``spaces``
    (or off ZeroGPU, where ``spaces.GPU`` returns the function unchanged) the function runs where
    it is, on the CPU when no GPU is visible.
    """
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)
