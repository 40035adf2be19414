"""Every environment variable the core reads, in one place, parsed one way, with its default beside it.

Deployments configure hfselect through the environment (a Space's variables). Modules never read
``os.environ`` themselves: they call :func:`get_settings` and use a field. The object is rebuilt
only when one of the variables it reads changes, so a test's ``monkeypatch.setenv`` or a benchmark
that sets a variable at run time takes effect at once, while a request costs a few dict lookups.

Variables of the Space only (its allowed model folders, host name) belong to the app, not here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# --- variable names ---------------------------------------------------------------------------
HF_HUB_OFFLINE_ENV = "HF_HUB_OFFLINE"
HF_TOKEN_ENV = "HF_TOKEN"
GRADIO_TEMP_DIR_ENV = "GRADIO_TEMP_DIR"
ASSETS_ENV = "HFSELECT_ASSETS_DIR"
TRUST_REMOTE_CODE_ENV = "HFSELECT_TRUST_REMOTE_CODE"
PRECISION_ENV = "HFSELECT_EMBEDDING_PRECISION"
EMBEDDING_CACHE_MB_ENV = "HFSELECT_EMBEDDING_CACHE_MB"
HUB_WORKERS_ENV = "HFSELECT_HUB_WORKERS"
LISTING_TTL_ENV = "HFSELECT_LISTING_TTL_S"
MAX_EXAMPLES_ENV = "HFSELECT_MAX_EXAMPLES"
MAX_TEXT_CHARS_ENV = "HFSELECT_MAX_TEXT_CHARS"
MAX_UPLOAD_MB_ENV = "HFSELECT_MAX_UPLOAD_MB"
MAX_ESMS_ENV = "HFSELECT_MAX_ESMS"
MAX_ROWS_ENV = "HFSELECT_MAX_ROWS"
MAX_COLUMNS_ENV = "HFSELECT_MAX_COLUMNS"
MAX_DECODED_MB_ENV = "HFSELECT_MAX_DECODED_MB"
MAX_CLASSES_ENV = "HFSELECT_MAX_CLASSES"
QUEUE_SIZE_ENV = "HFSELECT_QUEUE_SIZE"
MAX_JOBS_PER_CLIENT_ENV = "HFSELECT_MAX_JOBS_PER_CLIENT"
STUDIO_MAX_EXAMPLES_CPU_ENV = "HFSELECT_STUDIO_MAX_EXAMPLES_CPU"
STUDIO_MAX_EXAMPLES_GPU_ENV = "HFSELECT_STUDIO_MAX_EXAMPLES_GPU"
STUDIO_MAX_EPOCHS_ENV = "HFSELECT_STUDIO_MAX_EPOCHS"
STUDIO_MAX_ZIP_MB_ENV = "HFSELECT_STUDIO_MAX_ZIP_MB"
STUDIO_MAX_BATCH_ENV = "HFSELECT_STUDIO_MAX_BATCH"
RESULT_CACHE_DIR_ENV = "HFSELECT_RESULT_CACHE_DIR"
RESULT_CACHE_MAX_ENTRIES_ENV = "HFSELECT_RESULT_CACHE_MAX_ENTRIES"
RESULT_CACHE_MAX_MB_ENV = "HFSELECT_RESULT_CACHE_MAX_MB"
DATA_DIR_ENV = "HFSELECT_DATA_DIR"

# huggingface_hub's spelling of "true" (constants.ENV_VARS_TRUE_VALUES).
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})
PRECISION_CHOICES = ("fp32", "bf16", "int8", "auto")


def env_flag(value: str | None) -> bool:
    """The one boolean parser: '1', 'true', 'yes', 'on' (any case, spaces ignored) are true."""
    return (value or "").strip().lower() in TRUE_VALUES


def _positive_int(value: str | None, default: int) -> int:
    """A whole number above 0, else ``default`` (unset, garbage, 0 and negatives alike)."""
    try:
        number = int(value) if value is not None and value.strip() else default
    except ValueError:
        return default
    return number if number > 0 else default


def _clamped_int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value) if value is not None and value.strip() else default
    except ValueError:
        return default
    return min(high, max(low, number))


def _non_negative_float(value: str | None, default: float, negative: float | None = None) -> float:
    """A number >= 0, else ``default`` (or ``negative`` for a negative number, when given)."""
    try:
        number = float(value) if value is not None and value.strip() else default
    except ValueError:
        return default
    if number != number:  # NaN
        return default
    if number < 0:
        return default if negative is None else negative
    return number


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


@dataclass(frozen=True)
class Settings:
    """The deployment's configuration, one field per environment variable (name in the comment).

    Build one with :meth:`from_env`; the running process's is :func:`get_settings`.
    """

    # Hub
    hub_offline: bool = False  # HF_HUB_OFFLINE: never try the Hub (tests, air-gapped machines)
    hf_token: str | None = None  # HF_TOKEN: used by the pool builder's CLI only
    hub_workers: int = 8  # HFSELECT_HUB_WORKERS: ESM downloads at once (1 to 64)
    listing_ttl_s: float = 60.0  # HFSELECT_LISTING_TTL_S: how long an anonymous ESM listing is reused
    # Models and embeddings
    trust_remote_code: bool = False  # HFSELECT_TRUST_REMOTE_CODE: allow models that run their own code
    embedding_precision: str | None = None  # HFSELECT_EMBEDDING_PRECISION: fp32, bf16, int8, auto (None: caller's)
    embedding_cache_mb: float = 256.0  # HFSELECT_EMBEDDING_CACHE_MB: in-memory embedding cache (0: off)
    # Files shipped with the package
    assets_dir: Path | None = None  # HFSELECT_ASSETS_DIR: another assets folder (None: the bundled one)
    # Caps on one request (limits.py)
    max_examples: int = 10_000  # HFSELECT_MAX_EXAMPLES
    max_text_chars: int = 20_000  # HFSELECT_MAX_TEXT_CHARS
    max_upload_mb: int = 100  # HFSELECT_MAX_UPLOAD_MB
    max_esms: int = 5_000  # HFSELECT_MAX_ESMS
    max_rows: int = 1_000_000  # HFSELECT_MAX_ROWS
    max_columns: int = 1_000  # HFSELECT_MAX_COLUMNS
    max_decoded_mb: int = 300  # HFSELECT_MAX_DECODED_MB
    max_classes: int = 1_000  # HFSELECT_MAX_CLASSES
    queue_size: int = 20  # HFSELECT_QUEUE_SIZE
    max_jobs_per_client: int = 2  # HFSELECT_MAX_JOBS_PER_CLIENT
    # Caps on one training request (studio.py)
    studio_max_examples_cpu: int = 2_000  # HFSELECT_STUDIO_MAX_EXAMPLES_CPU
    studio_max_examples_gpu: int = 10_000  # HFSELECT_STUDIO_MAX_EXAMPLES_GPU
    studio_max_epochs: int = 10  # HFSELECT_STUDIO_MAX_EPOCHS
    studio_max_zip_mb: int = 100  # HFSELECT_STUDIO_MAX_ZIP_MB
    # Fine-tuning memory grows with the batch: 64 texts of 128 tokens keep MiniLM-sized models within
    # a few GB on CPU; 10^9 let one request take 12.5 GB.
    studio_max_batch: int = 64  # HFSELECT_STUDIO_MAX_BATCH
    # Result cache (result_cache.py)
    result_cache_dir: Path | None = None  # HFSELECT_RESULT_CACHE_DIR (None: see result_cache.default_folder)
    result_cache_max_entries: int = 500  # HFSELECT_RESULT_CACHE_MAX_ENTRIES
    result_cache_max_mb: int = 200  # HFSELECT_RESULT_CACHE_MAX_MB
    data_dir: Path = Path("/data")  # HFSELECT_DATA_DIR: a Space's persistent storage
    # Where Gradio writes uploads (safety.py accepts files from there)
    gradio_temp_dir: Path | None = None  # GRADIO_TEMP_DIR

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable from ``environ`` (default ``os.environ``); bad values fall back to the default."""
        env = os.environ if environ is None else environ
        d = cls()
        precision = (env.get(PRECISION_ENV) or "").strip().lower()

        def pos(name: str, default: int) -> int:
            return _positive_int(env.get(name), default)

        return cls(
            hub_offline=env_flag(env.get(HF_HUB_OFFLINE_ENV)),
            hf_token=env.get(HF_TOKEN_ENV) or None,
            hub_workers=_clamped_int(env.get(HUB_WORKERS_ENV), d.hub_workers, 1, 64),
            listing_ttl_s=max(0.0, _non_negative_float(env.get(LISTING_TTL_ENV), d.listing_ttl_s, negative=0.0)),
            trust_remote_code=env_flag(env.get(TRUST_REMOTE_CODE_ENV)),
            embedding_precision=precision if precision in PRECISION_CHOICES else None,
            embedding_cache_mb=_non_negative_float(env.get(EMBEDDING_CACHE_MB_ENV), d.embedding_cache_mb),
            assets_dir=_path(env.get(ASSETS_ENV)),
            max_examples=pos(MAX_EXAMPLES_ENV, d.max_examples),
            max_text_chars=pos(MAX_TEXT_CHARS_ENV, d.max_text_chars),
            max_upload_mb=pos(MAX_UPLOAD_MB_ENV, d.max_upload_mb),
            max_esms=pos(MAX_ESMS_ENV, d.max_esms),
            max_rows=pos(MAX_ROWS_ENV, d.max_rows),
            max_columns=pos(MAX_COLUMNS_ENV, d.max_columns),
            max_decoded_mb=pos(MAX_DECODED_MB_ENV, d.max_decoded_mb),
            max_classes=pos(MAX_CLASSES_ENV, d.max_classes),
            queue_size=pos(QUEUE_SIZE_ENV, d.queue_size),
            max_jobs_per_client=pos(MAX_JOBS_PER_CLIENT_ENV, d.max_jobs_per_client),
            studio_max_examples_cpu=pos(STUDIO_MAX_EXAMPLES_CPU_ENV, d.studio_max_examples_cpu),
            studio_max_examples_gpu=pos(STUDIO_MAX_EXAMPLES_GPU_ENV, d.studio_max_examples_gpu),
            studio_max_epochs=pos(STUDIO_MAX_EPOCHS_ENV, d.studio_max_epochs),
            studio_max_zip_mb=pos(STUDIO_MAX_ZIP_MB_ENV, d.studio_max_zip_mb),
            studio_max_batch=pos(STUDIO_MAX_BATCH_ENV, d.studio_max_batch),
            result_cache_dir=_path(env.get(RESULT_CACHE_DIR_ENV)),
            result_cache_max_entries=_clamped_int(
                env.get(RESULT_CACHE_MAX_ENTRIES_ENV), d.result_cache_max_entries, 1, 10**12
            ),
            result_cache_max_mb=_clamped_int(env.get(RESULT_CACHE_MAX_MB_ENV), d.result_cache_max_mb, 1, 10**12),
            data_dir=_path(env.get(DATA_DIR_ENV)) or d.data_dir,
            gradio_temp_dir=_path(env.get(GRADIO_TEMP_DIR_ENV)),
        )


# Every variable from_env reads: the memo below is keyed on their values.
ENV_NAMES: tuple[str, ...] = tuple(value for key, value in dict(globals()).items() if key.endswith("_ENV"))


@functools.lru_cache(maxsize=8)
def _settings_for(values: tuple[str | None, ...]) -> Settings:
    return Settings.from_env(dict((k, v) for k, v in zip(ENV_NAMES, values) if v is not None))


def get_settings() -> Settings:
    """The settings in force now (rebuilt only when one of :data:`ENV_NAMES` changed)."""
    return _settings_for(tuple(os.environ.get(name) for name in ENV_NAMES))


get_settings.cache_clear = _settings_for.cache_clear  # type: ignore[attr-defined]
