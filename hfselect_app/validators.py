"""Checks of the form fields: each returns the problem with one field as a message, or None.

The field table (:mod:`hfselect_app.fields`) names the check of every field; :func:`field_errors`
runs them all and returns every problem at once (a form with three mistakes gets three messages,
each shown at its own input). A check sees the value and the whole form, for rules such as
"a Hub dataset needs a split".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from hfselect_core import arguments, limits, safety
from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.errors import BaseModelNotAllowedError, HFSelectError
from hfselect_core.training import DEFAULT_LM_BATCH_SIZE, DEFAULT_LM_EPOCHS, DEFAULT_LM_LEARNING_RATE

from .settings import AppSettings

# What the form accepts.
SOURCES = ("example", "file", "hub")
TASK_TYPES = ("auto", "classification", "regression")
POOLS = ("auto", "bundled", "hub", "both")
FIT_METHOD_CHOICES = [
    ("Closed form (exact least squares)", "closed_form"),
    ("SGD (the reference library's recipe)", "sgd"),
]
DEFAULT_NUM_EXAMPLES = 1000
DEFAULT_SEED = 42
# "2e-5" as people write it (Python writes 2e-05).
LEARNING_RATE_TEXT = f"{DEFAULT_LM_LEARNING_RATE:g}".replace("e-0", "e-")
MAX_MESSAGE_CHARS = 400  # messages quote what was typed: a 1 MB value must not become a 1 MB message
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class FieldError(NamedTuple):
    """One problem with one field: ``field`` is the field's name in the field table."""

    field: str
    message: str


def field_errors(fields: Sequence, form: Any) -> list[FieldError]:
    """Every problem with ``form``, in field order (empty when it is fine)."""
    errors = []
    for field in fields:
        if field.check is None:
            continue
        message = field.check(getattr(form, field.name), form)
        if message:
            errors.append(FieldError(field.name, limits.bounded(message, MAX_MESSAGE_CHARS)))
    return errors


def as_list(value: object) -> list[str]:
    """Column names from a multiselect (a list) or typed text ('a, b')."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]  # type: ignore[union-attr]


def source_of(form: Any) -> str:
    return (getattr(form, "source", None) or "").lower()


# --- base models -----------------------------------------------------------------------------


def check_base_model_allowed(model: str) -> str:
    """A base model the app may load: a Hub id, the bundled model, or a folder inside an allowed folder.

    Anything else (an absolute or relative server path, '~', '..') is refused with the same message
    whether or not it exists, so the app never tells which folders the server has.
    """
    model = (model or "").strip()
    if model == BUNDLED_MODEL_ID:
        return model
    for root in AppSettings.from_env().allowed_model_dirs:
        try:
            safety.resolve_inside(model, root)
            if Path(model).is_absolute():
                return model
        except HFSelectError:
            continue
    looks_like_path = model.startswith(("/", ".", "~", "\\")) or "\\" in model or ".." in model
    if looks_like_path or not HUB_ID.match(model) or len(model) > 96 * 2 + 1 or Path(model).exists():
        raise BaseModelNotAllowedError(model)
    return model


# --- the target (shared by both tabs) ----------------------------------------------------------


def check_source(value: Any, form: Any) -> str | None:
    if source_of(form) not in SOURCES:
        return f"Target source must be one of {', '.join(SOURCES)}, not '{value}'."
    return None


def check_example(value: Any, form: Any) -> str | None:
    if source_of(form) == "example" and not value:
        return "Pick an example dataset (or switch to 'Upload a file' / 'Hub dataset')."
    return None


def check_file(value: Any, form: Any) -> str | None:
    if source_of(form) == "file" and not value:
        return "Upload a CSV, TSV, JSON, JSONL or Parquet file first."
    return None


def check_dataset_id(value: Any, form: Any) -> str | None:
    if source_of(form) == "hub" and not (value or "").strip():
        return "Enter a Hub dataset id such as 'stanfordnlp/imdb'."
    return None


def check_split(value: Any, form: Any) -> str | None:
    # Only once there is a dataset id: one problem at a time about the Hub dataset.
    if source_of(form) == "hub" and (form.dataset_id or "").strip() and not (value or "").strip():
        return "Pick a split of the Hub dataset (e.g. 'train')."
    return None


def check_text_columns(value: Any, form: Any) -> str | None:
    # Examples bring their own columns.
    if source_of(form) in ("file", "hub") and not as_list(value):
        return "Choose at least one text column."
    return None


def check_label_column(value: Any, form: Any) -> str | None:
    if source_of(form) in ("file", "hub") and not value:
        return "Choose the label column."
    return None


def check_task_type(value: Any, form: Any) -> str | None:
    if (value or "auto") not in TASK_TYPES:
        return f"Task type must be one of {', '.join(TASK_TYPES)}, not '{value}'."
    return None


def check_seed(value: Any, form: Any) -> str | None:
    try:
        arguments.check_seed(value if value not in (None, "") else DEFAULT_SEED)
    except HFSelectError as e:
        return str(e)
    return None


def check_base_model(value: Any, form: Any) -> str | None:
    if not (value or "").strip():
        return "Choose a base model."
    try:
        check_base_model_allowed(value)
    except HFSelectError as e:
        return str(e)
    return None


# --- ranking -----------------------------------------------------------------------------------


def check_num_examples(value: Any, form: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        n = arguments.whole_number(value, "Number of examples")
    except HFSelectError as e:
        return str(e)
    if n < 2:
        return "Number of examples must be at least 2."
    if n > limits.max_examples():
        return f"Number of examples {n:,} is over the limit of {limits.max_examples():,} ({limits.MAX_EXAMPLES_ENV})."
    return None


def check_max_esms(value: Any, form: Any) -> str | None:
    if value in (None, "", 0):
        return None
    try:
        if arguments.whole_number(value, "Max ESMs") < 1:
            return "Max ESMs must be at least 1 (or 0 for no cap)."
    except HFSelectError as e:
        return str(e)
    return None


def check_pool(value: Any, form: Any) -> str | None:
    if (value or "auto") not in POOLS:
        return f"ESM pool must be one of {', '.join(POOLS)}, not '{value}'."
    return None


# --- training (the studio) ---------------------------------------------------------------------


def check_training_examples(value: Any, form: Any) -> str | None:
    from hfselect_core.studio import check_training_request

    if value is None or value == "":
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return f"Number of examples must be a whole number, not '{value}'."
    try:
        check_training_request(n, 1)
    except HFSelectError as e:
        return str(e)
    return None


def check_epochs(value: Any, form: Any) -> str | None:
    from hfselect_core.studio import MIN_TRAINING_EXAMPLES, check_training_request

    try:
        epochs = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        epochs = None
    if epochs is None:
        return f"Set the number of fine-tuning epochs (the ESMs on the Hub use {DEFAULT_LM_EPOCHS})."
    try:
        check_training_request(MIN_TRAINING_EXAMPLES, epochs)
    except HFSelectError as e:
        return str(e)
    return None


def check_batch_size(value: Any, form: Any) -> str | None:
    from hfselect_core.studio import studio_limits

    cap = studio_limits().max_batch_size
    try:
        if 1 <= arguments.whole_number(value, "Batch size") <= cap:
            return None
    except HFSelectError:
        pass
    return (
        f"Batch size must be a whole number from 1 to {cap} (the ESMs on the Hub use {DEFAULT_LM_BATCH_SIZE}; "
        "larger batches only multiply memory)."
    )


def check_learning_rate(value: Any, form: Any) -> str | None:
    try:
        if 0 < float(value) < 1:
            return None
    except (TypeError, ValueError):
        pass
    return f"Learning rate must be a number between 0 and 1 (the ESMs on the Hub use {LEARNING_RATE_TEXT})."


def check_fit_method(value: Any, form: Any) -> str | None:
    if value not in {v for _, v in FIT_METHOD_CHOICES}:
        return "Fit method must be 'closed_form' or 'sgd'."
    return None
