"""From the form to the core: example datasets, uploaded files, column guesses, and the ``TargetDataset``.

The target picker reads files and examples through here; the handlers turn a filled form into a
``TargetDataset`` (:func:`build_dataset`), ESM filters and a result-cache plan.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from hfselect_core import result_cache, safety
from hfselect_core.data import TargetDataset, read_table
from hfselect_core.errors import HFSelectError
from hfselect_core.sources import ESMFilters, assets_dir

from .validators import DEFAULT_SEED, as_list, source_of

PREVIEW_ROWS = 5


# --- examples ------------------------------------------------------------------------------


def examples_dir() -> Path:
    return assets_dir() / "examples"


@lru_cache(maxsize=1)
def load_examples() -> tuple[dict, ...]:
    """The bundled example datasets (examples.json), in file order."""
    path = examples_dir() / "examples.json"
    if not path.is_file():
        return ()
    return tuple(json.loads(path.read_text(encoding="utf-8")))


def get_example(name: str) -> dict:
    for ex in load_examples():
        if ex["name"] == name:
            return ex
    names = ", ".join(ex["name"] for ex in load_examples()) or "none"
    raise HFSelectError(f"Unknown example '{name}'. Available examples: {names}.")


def example_file(name: str) -> Path:
    return examples_dir() / get_example(name)["file"]


# --- columns, previews and uploads ------------------------------------------------------------


def column_types(df: pd.DataFrame) -> dict[str, str]:
    """Column -> a short dtype ('string', 'int64', ...)."""
    out = {}
    for col in df.columns:
        dtype = df[col].dtype
        out[str(col)] = "string" if str(dtype) in ("object", "str", "string") else str(dtype)
    return out


def column_choices(types: dict[str, str]) -> list[tuple[str, str]]:
    """Dropdown choices (label, value) such as ('review (string)', 'review')."""
    return [(f"{name} ({kind})", name) for name, kind in types.items()]


def guess_columns(types: dict[str, str]) -> tuple[list[str], str | None]:
    """A plausible text column and label column from names and types."""
    names = list(types)
    text_like = [n for n in names if types[n] in ("string", "large_string") or "string" in types[n]]
    text = next((n for n in names if n.lower() in ("text", "sentence", "review", "message", "content")), None)
    text = text or (text_like[0] if text_like else (names[0] if names else None))
    label = next((n for n in names if n.lower() in ("label", "labels", "target", "class", "rating", "score")), None)
    if label is None:
        label = next((n for n in names if n != text), None)
    return ([text] if text else []), label


def preview_frame(df: pd.DataFrame, n: int = PREVIEW_ROWS) -> pd.DataFrame:
    """First rows with long texts shortened, everything as strings (safe to display)."""
    head = df.head(n).copy()
    for col in head.columns:
        head[col] = head[col].map(lambda v: (str(v)[:200] + "...") if len(str(v)) > 200 else str(v))
    return head


def upload_roots() -> list[Path]:
    """Folders a target file may be read from besides Gradio's upload folder(s), which
    :func:`safety.check_upload` always allows (``safety.gradio_upload_dirs()``): the bundled examples."""
    return [examples_dir()]


def checked_upload(path: str | Path) -> Path:
    """The real path of an uploaded file after :func:`safety.check_upload` (location, type, size)."""
    return safety.check_upload(path, allowed_roots=upload_roots())


def read_upload(path: str | Path, check: bool = False) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read a table (size and format checked by read_table); returns the frame and column types.

    ``check=True`` (user uploads) first runs :func:`checked_upload` on the path.
    """
    df = read_table(checked_upload(path) if check else path)
    return df, column_types(df)


# --- the filled form -----------------------------------------------------------------------------


def _int_or(value: Any, default: int | None) -> int | None:
    return int(value) if value not in (None, "") else default


def build_dataset(form: Any, token: str | None = None) -> TargetDataset:
    """The target dataset the form describes (raises HFSelectError with a user-facing message)."""
    task_type = None if (form.task_type or "auto") == "auto" else form.task_type
    n = _int_or(form.num_examples, None)
    seed = _int_or(form.seed, DEFAULT_SEED)
    text_columns = as_list(form.text_columns)
    source = source_of(form)
    if source == "example":
        ex = get_example(form.example or "")
        text_columns = text_columns or list(ex["text_columns"])
        label = form.label_column or ex["label_column"]
        if task_type is None and form.task_type == "auto":
            task_type = ex.get("task_type")
        return TargetDataset.from_file(examples_dir() / ex["file"], text_columns, label, task_type, n, seed)
    if source == "file":
        checked = checked_upload(form.file)
        return TargetDataset.from_file(checked, text_columns, form.label_column, task_type, n, seed)
    return TargetDataset.from_hub(
        form.dataset_id.strip(),
        split=form.split.strip(),
        text_columns=text_columns,
        label_column=form.label_column,
        subset=(form.subset or "").strip() or None,
        task_type=task_type,
        num_examples=n,
        seed=seed,
        token=token,
    )


def form_filters(form: Any) -> ESMFilters:
    """The ESM filters of the rank form (max ESMs, task id text, language)."""
    max_esms = int(form.max_esms) if form.max_esms not in (None, "", 0) else None
    return ESMFilters(
        task_contains=(form.task_filter or "").strip() or None,
        language=(form.language or "").strip() or None,
        max_count=max_esms or None,
    )


def cache_plan(form: Any, token: str | None = None):
    """The result-cache plan (key and ESM sources) of the ranking the form asks for.

    Costs a few Hub requests online (dataset commit, base model commit, ESM listing; the listing is
    then reused by the ranking). Raises when the inputs cannot be resolved: rank without the cache then.
    """
    source = source_of(form)
    restricted = False
    if source == "example":
        ex = get_example(form.example or "")
        target, label = result_cache.file_fingerprint(example_file(ex["name"])), f"example {ex['name']}"
    elif source == "file":
        target, label = result_cache.file_fingerprint(checked_upload(form.file)), "an uploaded file"
    else:
        dataset_id = (form.dataset_id or "").strip()
        target, restricted = result_cache.hub_dataset_fingerprint(dataset_id, token)
        label = dataset_id
    return result_cache.plan(
        target=target,
        target_label=label,
        target_restricted=restricted,
        subset=(form.subset or "").strip() or None if source == "hub" else None,
        split=(form.split or "").strip() or None if source == "hub" else None,
        text_columns=as_list(form.text_columns),
        label_column=form.label_column,
        task_type=form.task_type,
        num_examples=_int_or(form.num_examples, None),
        seed=_int_or(form.seed, DEFAULT_SEED),
        base_model=form.base_model,
        pool=form.pool,
        filters=form_filters(form),
        token=token,
    )


def task_meta(form: Any) -> dict:
    """Task id / subset / split recorded in a new ESM's card for the chosen dataset."""
    source = source_of(form)
    if source == "example" and form.example:
        return {"task_id": form.example}
    if source == "hub" and form.dataset_id:
        return {
            "task_id": form.dataset_id.strip(),
            "task_subset": (form.subset or "").strip() or None,
            "task_split": (form.split or "").strip() or None,
        }
    return {}


def filter_error(form: Any, error: Exception, token: str | None = None) -> str | None:
    """The message for a ranking that found no ESM because of the form's filters (None otherwise).

    The core only knows that no ESM was left; when the base model does have ESMs, the filter is
    what the user must change, so the message names it.
    """
    from hfselect_core.errors import NoESMsFoundError
    from hfselect_core.sources import esm_coverage

    filters = form_filters(form)
    if not isinstance(error, NoESMsFoundError) or not (filters.task_contains or filters.language):
        return None
    coverage = esm_coverage(include_hub=(form.pool or "auto") != "bundled", token=token)
    available = max(coverage["bundled"].get(form.base_model, 0), coverage["hub"].get(form.base_model, 0))
    if not available:
        return None
    parts = []
    if filters.task_contains:
        parts.append(f"the task filter '{filters.task_contains}'")
    if filters.language:
        parts.append(f"the language filter '{filters.language}'")
    return (
        f"No ESM matches {' and '.join(parts)} among the {available} ESMs for base model "
        f"'{form.base_model}'. Clear the filter or try another spelling (the task filter matches part of a "
        "task id, e.g. 'glue' or 'imdb'; the language filter is a code such as 'en')."
    )
