"""Pure helpers behind the Gradio app: form validation, dataset building, tables, share links.

No gradio import here, so everything is testable without a UI.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd

from . import limits
from .data import TargetDataset, read_table
from .embedding import BUNDLED_MODEL_ID
from .errors import HFSelectError
from .ranking import TaskRanking
from .sources import ESMFilters, assets_dir, esm_coverage

ONLINE_DEFAULT_MODEL = "bert-base-multilingual-uncased"
SOURCES = ("example", "file", "hub")
TASK_TYPES = ("auto", "classification", "regression")
POOLS = ("auto", "bundled", "hub", "both")
DEFAULT_NUM_EXAMPLES = 1000
DEFAULT_SEED = 42
MAX_NUM_EXAMPLES_UI = 10_000
PREVIEW_ROWS = 5
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


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


# --- columns and previews --------------------------------------------------------------------


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


def read_upload(path: str | Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Read an uploaded file (size and format checked by read_table); returns the frame and column types."""
    df = read_table(path)
    return df, column_types(df)


# --- form ----------------------------------------------------------------------------------


@dataclass
class RankForm:
    """Everything the Rank button sends, in API order."""

    source: str = "example"
    example: str | None = None
    file: str | None = None
    dataset_id: str | None = None
    subset: str | None = None
    split: str | None = "train"
    text_columns: list[str] | None = None
    label_column: str | None = None
    task_type: str = "auto"
    num_examples: int | float | None = DEFAULT_NUM_EXAMPLES
    seed: int | float | None = DEFAULT_SEED
    max_esms: int | float | None = None
    task_filter: str | None = None
    language: str | None = None
    base_model: str | None = BUNDLED_MODEL_ID
    pool: str = "auto"


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]


def validate_form(form: RankForm) -> list[str]:
    """Problems with the form, as messages a user can act on (empty when it is fine)."""
    errors = []
    source = (form.source or "").lower()
    if source not in SOURCES:
        errors.append(f"Target source must be one of {', '.join(SOURCES)}, not '{form.source}'.")
    elif source == "example" and not form.example:
        errors.append("Pick an example dataset (or switch to 'Upload a file' / 'Hub dataset').")
    elif source == "file" and not form.file:
        errors.append("Upload a CSV, TSV, JSON, JSONL or Parquet file first.")
    elif source == "hub" and not (form.dataset_id or "").strip():
        errors.append("Enter a Hub dataset id such as 'stanfordnlp/imdb'.")
    elif source == "hub" and not (form.split or "").strip():
        errors.append("Pick a split of the Hub dataset (e.g. 'train').")
    if source in SOURCES and source != "example":
        if not _as_list(form.text_columns):
            errors.append("Choose at least one text column.")
        if not form.label_column:
            errors.append("Choose the label column.")
    if (form.task_type or "auto") not in TASK_TYPES:
        errors.append(f"Task type must be one of {', '.join(TASK_TYPES)}, not '{form.task_type}'.")
    n = form.num_examples
    if n is not None and n != "":
        try:
            n = int(n)
        except (TypeError, ValueError):
            errors.append(f"Number of examples must be a whole number, not '{form.num_examples}'.")
        else:
            if n < 2:
                errors.append("Number of examples must be at least 2.")
            elif n > limits.max_examples():
                errors.append(
                    f"Number of examples {n:,} is over the limit of {limits.max_examples():,} "
                    f"({limits.MAX_EXAMPLES_ENV})."
                )
    try:
        int(form.seed if form.seed not in (None, "") else DEFAULT_SEED)
    except (TypeError, ValueError):
        errors.append(f"Seed must be a whole number, not '{form.seed}'.")
    if form.max_esms not in (None, "", 0):
        try:
            if int(form.max_esms) < 1:
                errors.append("Max ESMs must be at least 1 (or 0 for no cap).")
        except (TypeError, ValueError):
            errors.append(f"Max ESMs must be a whole number, not '{form.max_esms}'.")
    if not (form.base_model or "").strip():
        errors.append("Choose a base model.")
    if (form.pool or "auto") not in POOLS:
        errors.append(f"ESM pool must be one of {', '.join(POOLS)}, not '{form.pool}'.")
    return errors


def form_filters(form: RankForm) -> ESMFilters:
    max_esms = int(form.max_esms) if form.max_esms not in (None, "", 0) else None
    return ESMFilters(
        task_contains=(form.task_filter or "").strip() or None,
        language=(form.language or "").strip() or None,
        max_count=max_esms or None,
    )


def build_dataset(form: RankForm, token: str | None = None) -> TargetDataset:
    """The target dataset the form describes (raises HFSelectError with a user-facing message)."""
    task_type = None if (form.task_type or "auto") == "auto" else form.task_type
    n = int(form.num_examples) if form.num_examples not in (None, "") else None
    seed = int(form.seed) if form.seed not in (None, "") else DEFAULT_SEED
    text_columns = _as_list(form.text_columns)
    source = form.source.lower()
    if source == "example":
        ex = get_example(form.example or "")
        text_columns = text_columns or list(ex["text_columns"])
        label = form.label_column or ex["label_column"]
        if task_type is None and form.task_type == "auto":
            task_type = ex.get("task_type")
        return TargetDataset.from_file(examples_dir() / ex["file"], text_columns, label, task_type, n, seed)
    if source == "file":
        return TargetDataset.from_file(form.file, text_columns, form.label_column, task_type, n, seed)
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


# --- base models ---------------------------------------------------------------------------


def default_base_model(online: bool) -> str:
    return ONLINE_DEFAULT_MODEL if online else BUNDLED_MODEL_ID


def base_model_choices(online: bool, token: str | None = None) -> list[tuple[str, str]]:
    """(label, id) per base model with ESM counts: bundled pools first, then the Hub when online."""
    coverage = esm_coverage(include_hub=online, token=token)
    choices: dict[str, str] = {}
    for model, count in coverage["bundled"].items():
        choices[model] = f"{model} ({count} bundled ESMs)"
    for model, count in coverage["hub"].items():
        prefix = choices.get(model)
        choices[model] = f"{prefix[:-1]}, {count} on the Hub)" if prefix else f"{model} ({count} ESMs on the Hub)"
    default = default_base_model(online)
    if default not in choices:
        choices[default] = default
    return [(label, model) for model, label in choices.items()]


def status_line(online: bool) -> str:
    if online:
        return "**Online**: ESMs are searched on the Hugging Face Hub; Hub datasets can be used."
    return (
        f"**Offline**: the Hugging Face Hub cannot be reached, so the bundled base model (`{BUNDLED_MODEL_ID}`), "
        "the bundled ESM pool and the example datasets are used. Uploaded files work as usual."
    )


def limits_markdown() -> str:
    return "Limits: " + "; ".join(f"{k}: {v}" for k, v in limits.describe().items())


# --- results -------------------------------------------------------------------------------


def task_link(task_id) -> str:
    if not isinstance(task_id, str) or not task_id:
        return "" if task_id is None else str(task_id)
    if _HUB_ID.match(task_id):
        return f"[{task_id}](https://huggingface.co/datasets/{task_id})"
    return task_id


RESULT_COLUMNS = [
    "Rank",
    "Task ID",
    "Task Subset",
    "Text Column",
    "Label Column",
    "Task Split",
    "Num Examples",
    "Score",
    "ESM",
]
RESULT_DATATYPES = ["number", "markdown", "str", "str", "str", "str", "number", "number", "str"]


def results_frame(ranking: TaskRanking) -> pd.DataFrame:
    """The ranking for display: numeric Score and Num Examples, Task ID as a Hub link."""
    df = ranking.to_pandas()
    out = pd.DataFrame(
        {
            "Rank": df["Rank"].astype(int),
            "Task ID": df["Task ID"].map(task_link),
            "Task Subset": df["Task Subset"].fillna("").astype(str),
            "Text Column": df["Text Column"].fillna("").astype(str),
            "Label Column": df["Label Column"].fillna("").astype(str),
            "Task Split": df["Task Split"].fillna("").astype(str),
            "Num Examples": df["Num Examples"].astype("float64"),
            "Score": df["Score"].astype(float).round(6),
            "ESM": df["ESM"].astype(str),
        },
        columns=RESULT_COLUMNS,
    )
    return out


def empty_results() -> pd.DataFrame:
    return pd.DataFrame(columns=RESULT_COLUMNS)


def summary_markdown(ranking: TaskRanking) -> str:
    best = ranking.best
    if best is None:
        return f"No ESM could be scored ({len(ranking.skipped)} skipped)."
    subset = f" ({best.config.task_subset})" if best.config.task_subset else ""
    text = (
        f"**Best task: {task_link(best.config.task_id)}{subset}**, score {best.score:.4f} | "
        f"{len(ranking)} ESMs scored, {len(ranking.skipped)} skipped | "
        f"{ranking.num_examples} {ranking.task_type} examples, base model `{ranking.base_model}` | "
        f"{ranking.seconds:.1f} s"
    )
    if ranking.stage_seconds:
        text += " (" + ", ".join(f"{k} {v:.1f} s" for k, v in ranking.stage_seconds.items()) + ")"
    if ranking.notes:
        text += "\n\n" + "\n".join(f"- {note}" for note in ranking.notes)
    return text


def write_exports(ranking: TaskRanking, stem: str = "hfselect_ranking") -> tuple[str, str]:
    """Write CSV and JSON exports to a fresh temp folder; returns both paths."""
    folder = Path(tempfile.mkdtemp(prefix="hfselect_"))
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    ranking.to_csv(csv_path)
    ranking.to_json(json_path)
    return str(csv_path), str(json_path)


def progress_text(stage: str, done: int, total: int, message: str = "") -> str:
    counts = f" {done}/{total}" if total else ""
    return f"⏳ {stage}{counts}{': ' + message if message else ''}"


# --- share links ---------------------------------------------------------------------------

QUERY_KEYS = ("example", "dataset", "subset", "split", "text", "label", "task_type", "n", "seed", "model", "pool")


def share_query(form: RankForm, autorun: bool = False) -> str:
    """Query string encoding the form (uploaded files cannot be shared and are left out)."""
    params: dict[str, str] = {}
    source = (form.source or "").lower()
    if source == "example" and form.example:
        params["example"] = form.example
    elif source == "hub" and form.dataset_id:
        params["dataset"] = form.dataset_id.strip()
        if form.subset:
            params["subset"] = form.subset
        if form.split:
            params["split"] = form.split
    if source != "example" or _as_list(form.text_columns) or form.label_column:
        if _as_list(form.text_columns):
            params["text"] = ",".join(_as_list(form.text_columns))
        if form.label_column:
            params["label"] = form.label_column
    if form.task_type and form.task_type != "auto":
        params["task_type"] = form.task_type
    if form.num_examples not in (None, "") and int(form.num_examples) != DEFAULT_NUM_EXAMPLES:
        params["n"] = str(int(form.num_examples))
    if form.seed not in (None, "") and int(form.seed) != DEFAULT_SEED:
        params["seed"] = str(int(form.seed))
    if form.base_model:
        params["model"] = form.base_model
    if form.pool and form.pool != "auto":
        params["pool"] = form.pool
    if autorun:
        params["autorun"] = "1"
    return urlencode(params)


def share_url(base_url: str, form: RankForm, autorun: bool = False) -> str:
    query = share_query(form, autorun)
    base = (base_url or "").split("?")[0]
    return f"{base}?{query}" if query else base


def base_url_from_headers(headers: dict, path: str = "/") -> str:
    """The public URL of the app: SPACE_HOST on Spaces, else the request's host headers."""
    space_host = os.environ.get("SPACE_HOST")
    if space_host:
        return f"https://{space_host}/"
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    host = headers.get("x-forwarded-host") or headers.get("host") or "127.0.0.1:7860"
    scheme = headers.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}{path or '/'}"


def _int_param(value: str | None, default: int | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def parse_query(params: dict) -> dict:
    """Form values from URL query parameters; unknown keys and bad values are ignored."""
    p = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(params or {}).items()}
    out: dict = {}
    if p.get("example"):
        names = {ex["name"] for ex in load_examples()}
        if p["example"] in names:
            out["source"] = "example"
            out["example"] = p["example"]
    if p.get("dataset"):
        out["source"] = "hub"
        out["dataset_id"] = p["dataset"].strip()
        out["subset"] = p.get("subset") or None
        out["split"] = p.get("split") or "train"
    if p.get("text"):
        out["text_columns"] = _as_list(p["text"])
    if p.get("label"):
        out["label_column"] = p["label"]
    if p.get("task_type") in TASK_TYPES:
        out["task_type"] = p["task_type"]
    if (n := _int_param(p.get("n"), None)) is not None:
        out["num_examples"] = n
    if (seed := _int_param(p.get("seed"), None)) is not None:
        out["seed"] = seed
    if p.get("model"):
        out["base_model"] = p["model"]
    if p.get("pool") in POOLS:
        out["pool"] = p["pool"]
    out["autorun"] = str(p.get("autorun", "")).lower() in ("1", "true", "yes")
    return out
