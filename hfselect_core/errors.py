"""Every error hfselect_core raises on purpose, with a message a user can act on.

The app shows ``str(error)`` as it is, so each message says what was wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class HFSelectError(Exception):
    """Base class: anything raised by hfselect_core that is the input's fault, not a bug."""


def _names(values: Iterable[object], limit: int = 20, quote: bool = False) -> str:
    """A bounded list for a message: at most ``limit`` names of at most 60 characters each."""
    items = list(values)
    shown = [str(v) if len(str(v)) <= 60 else str(v)[:57] + "..." for v in items[:limit]]
    text = ", ".join(repr(v) if quote else v for v in shown) or "none"
    return text + (f", ... ({len(items):,} in all)" if len(items) > limit else "")


def _cut(value: object, limit: int = 120) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- target data -------------------------------------------------------------------------


class DatasetNotFoundError(HFSelectError):
    def __init__(self, dataset_id: str, detail: str = ""):
        dataset_id = _cut(dataset_id)
        super().__init__(
            f"Dataset '{dataset_id}' was not found. Check the spelling (it looks like 'owner/name') "
            f"or upload the data as a file instead.{' ' + detail if detail else ''}"
        )
        self.dataset_id = dataset_id


class DatasetAccessError(HFSelectError):
    def __init__(self, dataset_id: str):
        dataset_id = _cut(dataset_id)
        super().__init__(
            f"Dataset '{dataset_id}' is gated or private. Accept its terms on the Hub and sign in "
            "(or pass a token), or upload the data as a file."
        )
        self.dataset_id = dataset_id


class ConfigNotFoundError(HFSelectError):
    def __init__(self, dataset_id: str, config: str, available: Iterable[str]):
        names = _names(available)
        super().__init__(f"Dataset '{_cut(dataset_id)}' has no subset '{_cut(config)}'. Available subsets: {names}.")


class SplitNotFoundError(HFSelectError):
    def __init__(self, source: str, split: str, available: Iterable[str]):
        names = _names(available)
        super().__init__(f"'{_cut(source)}' has no split '{_cut(split)}'. Available splits: {names}.")


class ColumnNotFoundError(HFSelectError):
    def __init__(self, column: str, available: Iterable[str], role: str = "column"):
        names = _names(available, quote=True)
        super().__init__(f"The {role} '{_cut(column)}' does not exist. Columns in this data: {names}.")
        self.column = column


class NotATextColumnError(HFSelectError):
    def __init__(self, column: str, found: str):
        super().__init__(
            f"Column '{_cut(column)}' holds {found}, not text. Pick a column of strings as the text column."
        )


class InvalidLabelsError(HFSelectError):
    """Labels that cannot define a classification or regression task."""


class TooManyClassesError(InvalidLabelsError):
    """More classes than a ranking can say anything about (see ``limits.max_classes``).

    Catch it to offer regression instead::

        try:
            TargetDataset.from_pandas(df, "text", "score")
        except TooManyClassesError:
            TargetDataset.from_pandas(df, "text", "score", task_type="regression")
    """


class InvalidColumnsError(HFSelectError):
    """A column choice that cannot work: a column listed twice, or duplicate column names in a file."""


class TooFewExamplesError(HFSelectError):
    def __init__(self, found: int, needed: int, detail: str = ""):
        super().__init__(
            f"Only {found} usable example(s) remain; at least {needed} are needed to score tasks."
            f"{' ' + detail if detail else ''}"
        )


class UnsupportedFileError(HFSelectError):
    """A file that is not CSV/TSV/JSON/JSONL/Parquet, or that cannot be parsed as one."""


class InputTooLargeError(HFSelectError):
    """An input over one of the configured caps (see ``hfselect_core.limits``)."""


class UnsafePathError(HFSelectError):
    def __init__(self, path: str, root: str):
        super().__init__(f"The path '{path}' points outside the allowed folder '{root}'. Use a path inside it.")


# --- models ------------------------------------------------------------------------------


class ModelNotAvailableError(HFSelectError):
    """The base model cannot be loaded (unknown id, offline and not cached, not a text encoder)."""


class BaseModelNotAllowedError(HFSelectError):
    """A base model given as a server folder this deployment does not allow (see HFSELECT_ALLOWED_MODEL_DIRS)."""

    def __init__(self, model: str):
        super().__init__(
            f"'{_cut(model, 80)}' is not a Hugging Face model id (like 'owner/name'), and local folders are not "
            "allowed as base models here. Pick a model from the list or type a Hub model id."
        )


class RemoteCodeRefusedError(HFSelectError):
    def __init__(self, model_id: str):
        super().__init__(
            f"Model '{model_id}' needs trust_remote_code=True, i.e. running code from its repository. "
            "This deployment does not allow that. Pick another base model, or set the environment "
            "variable HFSELECT_TRUST_REMOTE_CODE=1 where you run hfselect (only if you trust the model)."
        )
        self.model_id = model_id


# --- ESMs ----------------------------------------------------------------------------------


class ESMFormatError(HFSelectError):
    """An ESM folder or repo whose files are missing, unreadable or inconsistent."""


class ESMDimensionError(HFSelectError):
    def __init__(self, name: str, esm_dim: int, model_dim: int):
        super().__init__(
            f"ESM '{name}' maps {esm_dim}-dimensional embeddings but the base model gives {model_dim}; "
            "it was trained for another base model."
        )


class NoESMsFoundError(HFSelectError):
    def __init__(self, base_model: str, coverage: Mapping[str, int] | None = None, detail: str = ""):
        msg = f"No ESMs were found for base model '{base_model}'."
        if detail:
            msg += f" {detail}"
        if coverage:
            top = sorted(coverage.items(), key=lambda kv: -kv[1])[:8]
            msg += " Base models that have ESMs: " + ", ".join(f"{m} ({n})" for m, n in top) + "."
        super().__init__(msg)
        self.base_model = base_model


# --- network -------------------------------------------------------------------------------


LOCAL_FALLBACK = (
    "Working with what is available locally: the bundled base model, the bundled ESM pool, the examples "
    "and uploaded files."
)


class HubUnreachableError(HFSelectError):
    """The Hub is needed and cannot be reached. ``instead`` says what the caller can do (default: what
    works offline); a request that cannot go on without the Hub says so rather than promising a fallback."""

    def __init__(self, what: str = "The Hugging Face Hub", instead: str = LOCAL_FALLBACK):
        super().__init__(f"{what} cannot be reached (offline, or HF_HUB_OFFLINE=1). {instead}".strip())


class PoorFitError(HFSelectError):
    """A trained ESM whose map fits poorly (low held-out R^2), refused for publishing unless forced."""


class InvalidArgumentError(HFSelectError):
    """A setting outside its allowed range (a batch size of 0, a negative seed, an unknown device)."""


class BusyError(HFSelectError):
    """Too much work is already waiting: the app turns new jobs away instead of queueing without bound."""


class CancelledError(HFSelectError):
    def __init__(self) -> None:
        super().__init__("The job was cancelled.")


# --- pool building --------------------------------------------------------------------------


class PoolManifestError(HFSelectError):
    """A pool manifest (the list of tasks to build ESMs for) or its base model that cannot be used.

    Catch it around :func:`hfselect_core.pool.load_task_manifest`; the message names the task and field.
    """
