"""Pure helpers behind the Gradio app: form validation, dataset building, tables, share links.

No gradio import here, so everything is testable without a UI.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd

from . import arguments, limits, safety
from .data import TargetDataset, read_table
from .embedding import BUNDLED_MODEL_ID
from .errors import BaseModelNotAllowedError, BusyError, HFSelectError
from .ranking import TaskRanking
from .sources import ESMFilters, assets_dir, esm_coverage
from .training import TrainingSettings

ONLINE_DEFAULT_MODEL = "bert-base-multilingual-uncased"
SOURCES = ("example", "file", "hub")
TASK_TYPES = ("auto", "classification", "regression")
POOLS = ("auto", "bundled", "hub", "both")
DEFAULT_NUM_EXAMPLES = 1000
DEFAULT_SEED = 42
MAX_NUM_EXAMPLES_UI = 10_000
PREVIEW_ROWS = 5
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


# --- escaping ------------------------------------------------------------------------------

# Characters that are HTML, or that Markdown turns into links, images, code, emphasis, math or
# headings. Each becomes a numeric character reference: shown as the character, never parsed as
# syntax (a backslash escape would show inside autolinked URLs). Quotes, full stops, colons and
# slashes stay as they are so messages remain readable, also raw through the API; the sequences
# that start an automatic link ("https://", "www.", "a@b") are broken separately.
_MD_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "\\`*{}[]<>&#~$@|"}
_AUTOLINK = re.compile(r"(?i)(:)(//)|(www)(\.)")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_text(value: object, max_chars: int = 500) -> str:
    """Untrusted text (URL, upload, column name, Hub card, ESM config) made safe inside Markdown/HTML.

    Characters that could start HTML or Markdown syntax (tags, links, images, code, emphasis,
    headings, math) are written as numeric character references, and automatic links are broken,
    so the text renders as typed and never as a link, form, image or heading. Whitespace runs
    become one space (no line breaks, no code blocks); long values are cut so one field cannot
    flood the page. Underscores inside words (``HFSELECT_MAX_EXAMPLES``) are left alone: they
    never make emphasis.
    """
    text = "" if value is None else str(value)
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    text = " ".join(text.split()).translate(_MD_ENTITIES)
    text = _AUTOLINK.sub(lambda m: f"{m[1]}&#47;&#47;" if m[1] else f"{m[3]}&#46;", text)
    return _EDGE_UNDERSCORE.sub("&#95;", text)


def md_code(value: object, max_chars: int = 200) -> str:
    """Untrusted text as a Markdown code span: shown literally (renderers escape HTML inside code spans)."""
    text = " ".join(("" if value is None else str(value)).split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    return "`" + (text.replace("`", "'") or " ") + "`"


def toast_text(value: object, max_chars: int = limits.MAX_MESSAGE_CHARS) -> str:
    """A message for gr.Warning/gr.Info, which render HTML: entity-escaped and bounded."""
    return html.escape(limits.bounded(" ".join(str(value).split()), max_chars), quote=True)


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

    def __post_init__(self) -> None:
        # Gradio sends None for untouched radios, and typed ids may carry stray spaces; every
        # handler and the validator see the same normalised form.
        self.task_type = self.task_type or "auto"
        self.pool = self.pool or "auto"
        self.base_model = (self.base_model or "").strip()


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value if str(v).strip()]


def form_field_errors(form: RankForm) -> list[tuple[str, str]]:
    """Problems with the form as (RankForm field, message) pairs, in form order (empty when it is fine)."""
    errors: list[tuple[str, str]] = []
    source = (form.source or "").lower()
    if source not in SOURCES:
        errors.append(("source", f"Target source must be one of {', '.join(SOURCES)}, not '{form.source}'."))
    elif source == "example" and not form.example:
        errors.append(("example", "Pick an example dataset (or switch to 'Upload a file' / 'Hub dataset')."))
    elif source == "file" and not form.file:
        errors.append(("file", "Upload a CSV, TSV, JSON, JSONL or Parquet file first."))
    elif source == "hub" and not (form.dataset_id or "").strip():
        errors.append(("dataset_id", "Enter a Hub dataset id such as 'stanfordnlp/imdb'."))
    elif source == "hub" and not (form.split or "").strip():
        errors.append(("split", "Pick a split of the Hub dataset (e.g. 'train')."))
    if source in SOURCES and source != "example":
        if not _as_list(form.text_columns):
            errors.append(("text_columns", "Choose at least one text column."))
        if not form.label_column:
            errors.append(("label_column", "Choose the label column."))
    if (form.task_type or "auto") not in TASK_TYPES:
        errors.append(("task_type", f"Task type must be one of {', '.join(TASK_TYPES)}, not '{form.task_type}'."))
    n = form.num_examples
    if n is not None and n != "":
        try:
            n = arguments.whole_number(n, "Number of examples")
        except HFSelectError as e:
            errors.append(("num_examples", str(e)))
        else:
            if n < 2:
                errors.append(("num_examples", "Number of examples must be at least 2."))
            elif n > limits.max_examples():
                errors.append(
                    (
                        "num_examples",
                        f"Number of examples {n:,} is over the limit of {limits.max_examples():,} "
                        f"({limits.MAX_EXAMPLES_ENV}).",
                    )
                )
    try:
        arguments.check_seed(form.seed if form.seed not in (None, "") else DEFAULT_SEED)
    except HFSelectError as e:
        errors.append(("seed", str(e)))
    if form.max_esms not in (None, "", 0):
        try:
            if arguments.whole_number(form.max_esms, "Max ESMs") < 1:
                errors.append(("max_esms", "Max ESMs must be at least 1 (or 0 for no cap)."))
        except HFSelectError as e:
            errors.append(("max_esms", str(e)))
    if not (form.base_model or "").strip():
        errors.append(("base_model", "Choose a base model."))
    else:
        try:
            check_base_model_allowed(form.base_model)
        except HFSelectError as e:
            errors.append(("base_model", str(e)))
    if (form.pool or "auto") not in POOLS:
        errors.append(("pool", f"ESM pool must be one of {', '.join(POOLS)}, not '{form.pool}'."))
    # Messages quote what was typed: a 1 MB value must not become a 1 MB message.
    return [(field, limits.bounded(message, 400)) for field, message in errors]


def validate_form(form: RankForm) -> list[str]:
    """Problems with the form, as messages a user can act on (empty when it is fine)."""
    return [message for _, message in form_field_errors(form)]


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


# --- base models ---------------------------------------------------------------------------


ALLOWED_MODEL_DIRS_ENV = "HFSELECT_ALLOWED_MODEL_DIRS"


def allowed_model_dirs() -> list[Path]:
    """Server folders a deployment allows as base models (HFSELECT_ALLOWED_MODEL_DIRS, os.pathsep-separated)."""
    raw = os.environ.get(ALLOWED_MODEL_DIRS_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def check_base_model_allowed(model: str) -> str:
    """A base model the app may load: a Hub id, the bundled model, or a folder inside an allowed folder.

    Anything else (an absolute or relative server path, '~', '..') is refused with the same message
    whether or not it exists, so the app never tells which folders the server has.
    """
    model = (model or "").strip()
    if model == BUNDLED_MODEL_ID:
        return model
    for root in allowed_model_dirs():
        try:
            safety.resolve_inside(model, root)
            if Path(model).is_absolute():
                return model
        except HFSelectError:
            continue
    looks_like_path = model.startswith(("/", ".", "~", "\\")) or "\\" in model or ".." in model
    if looks_like_path or not _HUB_ID.match(model) or len(model) > 96 * 2 + 1 or Path(model).exists():
        raise BaseModelNotAllowedError(model)
    return model


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
    """The task id, escaped, linked to its Hub dataset page only when it is an ``owner/name`` id.

    One-part names are not linked: the bundled pool names tasks that have no Hub dataset this way
    (their cards say so), and a guessed ``huggingface.co/datasets/<name>`` page may not exist.
    """
    if not isinstance(task_id, str) or not task_id:
        return "" if task_id is None else md_text(task_id)
    if "/" in task_id and _HUB_ID.match(task_id):
        return f"[{md_text(task_id)}](https://huggingface.co/datasets/{task_id})"
    return md_text(task_id)


TOP_K = 3
RESULT_COLUMNS = [
    "Rank",
    "Task ID",
    "Task Subset",
    "Score",
    "Rank Interval",
    f"Top-{TOP_K} Share",
    "Tied With Leader",
    "Text Column",
    "Label Column",
    "Task Split",
    "Num Examples",
    "ESM",
]
RESULT_DATATYPES = ["number", "markdown", "str", "number", "str", "number", "str", "str", "str", "str", "number", "str"]


def results_frame(ranking: TaskRanking) -> pd.DataFrame:
    """The ranking for display: numbers kept numeric, Task ID as a Hub link, stability beside the score.

    Rank Interval and the top-k share are filled for the resampled leading tasks only; "tied" marks
    the tasks this sample cannot separate from the leader.
    """
    df = ranking.to_pandas()
    low, high = df["Rank Low"], df["Rank High"]
    interval = [
        "" if pd.isna(lo) else (f"{int(lo)}" if int(lo) == int(hi) else f"{int(lo)}–{int(hi)}")
        for lo, hi in zip(low, high)
    ]
    share = pd.to_numeric(df["Top-k Share"], errors="coerce").astype("float64").round(2)
    flags = [t is True for t in df["Tied With Leader"].astype(object)]
    tied = ["" if not t else ("leader" if i == 0 else "tied") for i, t in enumerate(flags)]
    if sum(flags) >= 2:
        tied[0] = "leader (tied)"
    out = pd.DataFrame(
        {
            "Rank": df["Rank"].astype(int),
            "Task ID": df["Task ID"].map(task_link),
            "Task Subset": df["Task Subset"].fillna("").astype(str),
            "Score": df["Score"].astype(float).round(6),
            "Rank Interval": interval,
            f"Top-{TOP_K} Share": share,
            "Tied With Leader": tied,
            "Text Column": df["Text Column"].fillna("").astype(str),
            "Label Column": df["Label Column"].fillna("").astype(str),
            "Task Split": df["Task Split"].fillna("").astype(str),
            "Num Examples": df["Num Examples"].astype("float64"),
            "ESM": df["ESM"].astype(str),
        },
        columns=RESULT_COLUMNS,
    )
    return out


def empty_results() -> pd.DataFrame:
    return pd.DataFrame(columns=RESULT_COLUMNS)


def _task_name(row) -> str:
    subset = row.config.task_subset
    name = md_text(row.config.task_id)
    return f"{name} ({md_text(subset)})" if subset and subset != "default" else name


def summary_markdown(ranking: TaskRanking) -> str:
    """What the numbers are: a relative order of candidate tasks, how stable it is, and the sample behind it."""
    best = ranking.best
    if best is None:
        return f"No ESM could be scored ({len(ranking.skipped)} skipped)."
    parts = []
    for warning in ranking.warnings:
        parts.append(f"⚠️ {md_text(warning, max_chars=600)}")
    tied = ranking.tied_with_leader
    if ranking.stability is not None and len(tied) > 1:
        names = ", ".join(_task_name(r) for r in tied[:-1]) + f" and {_task_name(tied[-1])}"
        head = (
            f"**Top candidates: {names}** are indistinguishable on this sample (their rank intervals over "
            f"{ranking.stability.num_resamples} resamples overlap the leader's)."
        )
    else:
        first = f"**Top candidate: {task_link(best.config.task_id)}"
        first += f" ({md_text(best.config.task_subset)})**" if best.config.task_subset else "**"
        head = first + (
            f", first in {best.stability.top_k_share:.0%} of resamples' top {ranking.stability.top_k}"
            if best.stability is not None and ranking.stability is not None
            else ""
        )
        head += "."
    parts.append(head)
    parts.append(
        "The scores rank the candidate intermediate tasks by how well your labels can be predicted from your "
        "texts' embeddings after each task's map (LogME evidence per example; higher is more promising). "
        "They are a relative order, not a forecast of accuracy: no score says that a task will help or hurt."
    )
    if ranking.baseline is not None:
        above = sum(1 for row in ranking.rows if row.score > ranking.baseline)
        parts.append(
            f"Reference line: the base model with no intermediate task scores {ranking.baseline:.4f} "
            f"({above} of {len(ranking)} tasks score above it). It is a point of comparison, not a verdict: "
            "on held-out targets with real fine-tuning results, being above it did not mean that a task helped."
        )
    if any(row.score < 0 for row in ranking.rows) or (ranking.baseline is not None and ranking.baseline < 0):
        parts.append(
            "Negative scores are normal: LogME is a log-likelihood per example, and it is below zero when "
            "the labels are hard to predict linearly (many classes, few examples). Only the differences matter."
        )
    sample = f"{ranking.num_examples} {md_text(ranking.task_type)} examples"
    if ranking.class_counts:
        counts = sorted(ranking.class_counts.items(), key=lambda kv: -kv[1])
        shown = ", ".join(f"{md_text(name, 60)}: {count}" for name, count in counts[:12])
        sample += f" ({len(counts)} classes: {shown}{', …' if len(counts) > 12 else ''})"
    line = f"Sample: {sample} | base model {md_code(ranking.base_model)} | {len(ranking)} ESMs scored"
    line += f", {len(ranking.skipped)} skipped | {ranking.seconds:.1f} s"
    if ranking.stage_seconds:
        line += " (" + ", ".join(f"{k} {v:.1f} s" for k, v in ranking.stage_seconds.items()) + ")"
    parts.append(line)
    if ranking.sample_note:
        parts.append(md_text(ranking.sample_note, max_chars=600))
    if ranking.stability is not None:
        s = ranking.stability
        parts.append(
            f"Stability: the top {sum(r.stability is not None for r in ranking.rows)} tasks were re-scored on {s.num_resamples} "
            f"{'half-splits' if s.method == 'half' else 'bootstrap resamples'} of the embedded sample; "
            f"the table's rank interval holds the central {s.interval:.0%} of each task's ranks, and the order "
            + ("is by mean rank over the resamples." if s.order == "mean_rank" else "is by score.")
        )
    if ranking.notes:
        parts.append("\n".join(f"- {md_text(note, max_chars=600)}" for note in ranking.notes))
    return "\n\n".join(parts)


ABOUT_METHOD = """\
**What the ranking is.** Each candidate intermediate task has an *Embedding Space Map* (ESM): a linear map that
imitates how the base model's embeddings change when it is fine-tuned on that task. Your texts are embedded once,
pushed through every ESM, and LogME measures how well your labels can be predicted from each result. Tasks are
ordered by that score. It is a cheap proxy for fine-tuning on every candidate, not a measurement of it.

**Evidence.** The method's paper (Schulte, Hamborg and Akbik, *Less is More: Parameter-Efficient Selection of
Intermediate Tasks for Transfer Learning*, EMNLP 2024, [arXiv:2410.15148](https://arxiv.org/abs/2410.15148))
measured it on about 12,000 source–target pairs with real fine-tuning: an average regret@5 of 2.95, i.e. the best
of its top 5 suggestions was on average 2.95% below the best available intermediate task, while needing about
10 times less time and 278 times less disk space than scoring fine-tuned models.

**Limits.**
- The order is relative. A score above the reference line (no intermediate task) does not show that a task helps,
  and one below it does not show that it hurts; on our own held-out targets with real fine-tuning results the two
  often disagreed.
- The order depends on the sample. The rank interval and the top-3 share come from re-scoring the leading tasks on
  half-splits of your sample; tasks marked *tied* cannot be told apart here. Below about 250 examples the order
  changes a lot from sample to sample.
- Only tasks that have an ESM for your base model are candidates, and an ESM is an approximation of fine-tuning.
- Scores are comparable within one ranking only (same sample, same base model).

**Measured on the bundled pool.** On 8 target tasks with real fine-tuning results for all-MiniLM-L6-v2, the best of
the top 5 suggestions was on average 1.4% below the best of the 38 candidates (regret@5 1.39; the first suggestion
alone 12.1% below), over samples of 250 to 1,000 examples (`bench/quality.py`; method and figures in
`bench/RESULTS.md`, "Selection quality").
"""


EXPORT_PREFIX = "hfselect_export_"
EXPORT_MAX_AGE_S = 2 * 3600


def remove_old_temp_dirs(prefix: str, max_age_s: float) -> int:
    """Delete this app's temp folders older than max_age_s (a long-running Space must not fill its disk)."""
    removed = 0
    cutoff = time.time() - max_age_s
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        try:
            if path.is_dir() and path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def write_exports(ranking: TaskRanking, stem: str = "hfselect_ranking") -> tuple[str, str]:
    """Write CSV and JSON exports to a fresh temp folder; returns both paths."""
    remove_old_temp_dirs(EXPORT_PREFIX, EXPORT_MAX_AGE_S)
    folder = Path(tempfile.mkdtemp(prefix=EXPORT_PREFIX))
    csv_path, json_path = folder / f"{stem}.csv", folder / f"{stem}.json"
    ranking.to_csv(csv_path)
    ranking.to_json(json_path)
    return str(csv_path), str(json_path)


def progress_text(stage: str, done: int, total: int, message: str = "") -> str:
    counts = f" {done}/{total}" if total else ""
    return f"⏳ {md_text(stage, 100)}{counts}{': ' + md_text(message, 300) if message else ''}"


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
    """Form values from URL query parameters.

    Unknown keys are ignored. A value that is given but unusable (n, seed, result id) is left out and
    described under ``"problems"`` (already escaped), and then the link does not autorun.
    """
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
    problems: list[str] = []
    if p.get("n") not in (None, ""):
        n = _int_param(p.get("n"), None)
        top = limits.max_examples()
        if n is None or not 2 <= n <= top:
            problems.append(
                f"the number of examples in the link ({md_text(p['n'], 40)}) is not a whole number from 2 to "
                f"{top:,}, so the default is used"
            )
        else:
            out["num_examples"] = n
    if p.get("seed") not in (None, ""):
        seed = _int_param(p.get("seed"), None)
        if seed is None or seed < 0:
            problems.append(
                f"the seed in the link ({md_text(p['seed'], 40)}) is not a whole number of 0 or more, "
                "so the default is used"
            )
        else:
            out["seed"] = seed
    if p.get("model"):
        out["base_model"] = p["model"]
    if p.get("pool") in POOLS:
        out["pool"] = p["pool"]
    out["autorun"] = str(p.get("autorun", "")).lower() in ("1", "true", "yes")
    if re.fullmatch(r"[0-9a-f]{16}", str(p.get("result") or "")):
        out["result_id"] = p["result"]
    elif p.get("result"):
        problems.append("the result id in the link is not one this app gives out (16 letters 0-9 and a-f)")
    if problems:
        out["problems"] = problems
        # A link with a wrong value is shown, not run: the user sees what was dropped first.
        out["autorun"] = False
    return out


# --- stored results (result cache) ---------------------------------------------------------


def cache_plan(form: RankForm, token: str | None = None):
    """The result-cache plan (key and ESM sources) of the ranking the form asks for.

    Costs a few Hub requests online (dataset commit, base model commit, ESM listing; the listing is
    then reused by the ranking). Raises when the inputs cannot be resolved: rank without the cache then.
    """
    from . import result_cache

    source = (form.source or "").lower()
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
        text_columns=_as_list(form.text_columns),
        label_column=form.label_column,
        task_type=form.task_type,
        num_examples=int(form.num_examples) if form.num_examples not in (None, "") else None,
        seed=int(form.seed) if form.seed not in (None, "") else DEFAULT_SEED,
        base_model=form.base_model,
        pool=form.pool,
        filters=form_filters(form),
        token=token,
    )


def describe_age(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    return f"{round(seconds / 86400)} days ago"


def cached_status(stored) -> str:
    """The status line of a ranking served from the result cache: where it came from and how old it is."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stored.created))
    return (
        f"♻️ From the result cache: computed {describe_age(stored.age_seconds)} ({when}) for "
        f"{md_text(stored.target_label, 200)} with the same inputs; nothing was recomputed."
    )


def result_url(base_url: str, result_id: str) -> str:
    """A link that opens a stored ranking by its short id (no data, no form values in it)."""
    return f"{(base_url or '').split('?')[0]}?{urlencode({'result': result_id})}"


# --- "Add your dataset" (ESM studio) ---------------------------------------------------------

STUDIO_DEFAULT_EXAMPLES = {"cpu": 500, "cuda": 2_000}
FIT_METHOD_CHOICES = [
    ("Closed form (exact least squares)", "closed_form"),
    ("SGD (the reference library's recipe)", "sgd"),
]
_KNOWN_MODEL_SIZES = {BUNDLED_MODEL_ID: (384, 6), ONLINE_DEFAULT_MODEL: (768, 12), "bert-base-uncased": (768, 12)}


def studio_default_examples(device: str | None = None) -> int:
    """Default sample size: 500 on CPU, 2,000 on a GPU (never above the deployment's cap)."""
    from .studio import default_device, studio_limits

    device = device or default_device()
    kind = "cuda" if str(device).startswith("cuda") else "cpu"
    return min(STUDIO_DEFAULT_EXAMPLES[kind], studio_limits().max_examples(device))


def studio_field_errors(
    form: RankForm,
    epochs: float | None,
    batch_size: float | None,
    learning_rate: float | None,
    fit_method: str | None,
    device: str | None = None,
) -> list[tuple[str, str]]:
    """Problems with the studio form as (field, message) pairs; fields are RankForm names plus
    'epochs', 'batch_size', 'learning_rate' and 'fit_method'."""
    from .studio import MIN_TRAINING_EXAMPLES, check_training_request

    errors = [(f, m) for f, m in form_field_errors(form) if f not in ("max_esms", "pool", "num_examples")]
    try:
        n = int(form.num_examples) if form.num_examples not in (None, "") else None
    except (TypeError, ValueError):
        n = None
        errors.append(("num_examples", f"Number of examples must be a whole number, not '{form.num_examples}'."))
    try:
        e = float(epochs) if epochs not in (None, "") else None
    except (TypeError, ValueError):
        e = None
    if e is None:
        errors.append(("epochs", "Set the number of fine-tuning epochs (the ESMs on the Hub use 3)."))
    checks = [("num_examples", n, 1), ("epochs", MIN_TRAINING_EXAMPLES, e)]
    for name, n_check, e_check in checks:
        if n_check is None or e_check is None:
            continue
        try:
            check_training_request(n_check, e_check, device)
        except HFSelectError as err:
            errors.append((name, str(err)))
    from .studio import studio_limits

    caps = studio_limits()
    try:
        b = arguments.whole_number(batch_size, "Batch size")
        if not 1 <= b <= caps.max_batch_size:
            raise ValueError
    except (HFSelectError, ValueError):
        errors.append(
            (
                "batch_size",
                f"Batch size must be a whole number from 1 to {caps.max_batch_size} (the ESMs on the Hub use 32; "
                "larger batches only multiply memory).",
            )
        )
    try:
        if not (0 < float(learning_rate) < 1):
            raise ValueError
    except (TypeError, ValueError):
        errors.append(
            ("learning_rate", "Learning rate must be a number between 0 and 1 (the ESMs on the Hub use 2e-5).")
        )
    if fit_method not in {value for _, value in FIT_METHOD_CHOICES}:
        errors.append(("fit_method", "Fit method must be 'closed_form' or 'sgd'."))
    return errors


def studio_settings(num_examples, seed, epochs, batch_size, learning_rate, fit_method) -> TrainingSettings:
    """TrainingSettings from the studio form (card defaults for everything not on the form)."""
    settings = TrainingSettings(
        lm_num_epochs=float(epochs),
        lm_batch_size=int(batch_size),
        lm_learning_rate=float(learning_rate),
        seed=int(seed) if seed not in (None, "") else DEFAULT_SEED,
        fit_method=fit_method or "closed_form",
    )
    if num_examples not in (None, ""):
        settings.max_examples = int(num_examples)
    if float(epochs).is_integer():
        settings.lm_num_epochs = int(epochs)
    return settings


def model_size(model_id: str) -> tuple[int, int | None]:
    """(hidden size, layers) of a base model, from its cached config when there is one (no download)."""
    model_id = (model_id or "").strip()
    if model_id in _KNOWN_MODEL_SIZES:
        return _KNOWN_MODEL_SIZES[model_id]
    try:
        # A server folder the app may not load must not leak through the estimate either.
        check_base_model_allowed(model_id)
        from .embedding import TRANSFORMERS_LOCK

        with TRANSFORMERS_LOCK:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model_id, local_files_only=True)
        dim = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or 768
        return int(dim), getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)
    except Exception:  # noqa: BLE001 - unknown model: assume a BERT-base-sized one
        return 768, 12


@lru_cache(maxsize=32)
def _file_mean_tokens(path: str, mtime: float, columns: tuple[str, ...]) -> float | None:
    from .studio import approx_mean_tokens

    df = read_table(path)
    cols = [c for c in columns if c in df.columns]
    if not cols:
        return None
    texts = df[cols].astype(str).agg(" [SEP] ".join, axis=1).tolist()
    return approx_mean_tokens(texts)


def studio_mean_tokens(form: RankForm) -> float | None:
    """Approximate tokens per text of the chosen example/uploaded file (None when unknown)."""
    try:
        source = (form.source or "").lower()
        if source == "example" and form.example:
            ex = get_example(form.example)
            path, cols = example_file(form.example), _as_list(form.text_columns) or list(ex["text_columns"])
        elif source == "file" and form.file:
            path, cols = checked_upload(form.file), _as_list(form.text_columns)
        else:
            return None
        return _file_mean_tokens(str(path), Path(path).stat().st_mtime, tuple(cols))
    except Exception:  # noqa: BLE001 - only an estimate
        return None


def studio_estimate_markdown(form: RankForm, epochs, device: str | None = None) -> str:
    """'Device: CPU · estimated time: about 2 min (...)' for the chosen size, epochs and base model."""
    from .studio import default_device, estimate_training_seconds, format_duration, studio_limits

    device = device or default_device()
    where = "GPU" if str(device).startswith("cuda") else "CPU"
    try:
        n = int(form.num_examples)
        e = float(epochs)
    except (TypeError, ValueError):
        return f"Device: **{where}**. Set the number of examples and epochs to see a time estimate."
    model = (form.base_model or BUNDLED_MODEL_ID).strip()
    dim, layers = model_size(model)
    pool = esm_coverage(include_hub=False)["bundled"].get(model, 0)
    seconds = estimate_training_seconds(
        n, e, device, base_model_dim=dim, num_layers=layers, mean_tokens=studio_mean_tokens(form), pool_size=pool
    )
    cap = studio_limits().max_examples(device)
    return (
        f"Device: **{where}** · estimated time: **{format_duration(seconds)}** "
        f"({n:,} examples × {e:g} epoch(s) with {md_code(model)}, then a self-check against {pool} bundled ESM(s); "
        f"at most {cap:,} examples on {where} here)."
    )


def studio_fit_markdown(result) -> str:
    """Fit quality and timings of a StudioResult, as Markdown."""
    fit = result.fit
    secs = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in result.seconds.items())
    from .studio import fit_problem

    problem = fit_problem(fit.r2)
    text = (f"⚠️ **This ESM is not reliable.** {problem}\n\n" if problem else "") + (
        f"**Fit quality** of the linear map on held-out pairs: MSE **{fit.mse:.4g}**, R² **{fit.r2:.3f}** "
        f"({fit.method.replace('_', ' ')}, {fit.num_train_pairs} training / {fit.num_heldout_pairs} held-out pairs).\n\n"
        f"Trained on {result.num_examples:,} examples on {result.device.upper()}" + (f" ({secs})." if secs else ".")
    )
    if result.notes:
        text += "\n\n" + "\n".join(f"- {md_text(note, 1000)}" for note in result.notes)
    return text


def studio_task_meta(form: RankForm) -> dict:
    """Task id / subset / split recorded in the ESM card for the chosen dataset."""
    source = (form.source or "").lower()
    if source == "example" and form.example:
        return {"task_id": form.example}
    if source == "hub" and form.dataset_id:
        return {
            "task_id": form.dataset_id.strip(),
            "task_subset": (form.subset or "").strip() or None,
            "task_split": (form.split or "").strip() or None,
        }
    return {}


def suggest_repo_id(username: str | None, folder: str | None) -> str | None:
    """'<user>/ESM_<task>_<subset>' for the last trained ESM (None without a user or an ESM)."""
    from .studio import default_repo_id

    if not username or not folder:
        return None
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        return default_repo_id(username, config.get("task_id") or "dataset", config.get("task_subset"))
    except (OSError, ValueError, HFSelectError):
        return None


def card_for_display(card: str) -> str:
    """A model card for gr.Markdown: the YAML metadata as a code block, then the body.

    The card carries names from the user's data (file name, columns, labels): HTML in it is
    entity-escaped so it shows as text, and the metadata block cannot be closed early.
    """
    if card.startswith("---"):
        parts = card.split("---", 2)
        if len(parts) == 3:
            meta = parts[1].strip().replace("```", "'''")
            return f"Metadata:\n\n```yaml\n{meta}\n```\n\n{html.escape(parts[2].lstrip(), quote=False)}"
    return html.escape(card, quote=False)


# --- admission control ----------------------------------------------------------------------


@dataclass
class _Ticket:
    session: str
    ip: str
    since: float
    running: bool = False


class JobAdmission:
    """A real bound on waiting plus running jobs, overall and per client, checked before queueing.

    Gradio's ``queue(max_size=...)`` compares the queue length before its validators run, so 50
    requests arriving at once are all admitted. Here every job takes a ticket under a lock in the
    validator (before the event is queued) and gives it back when its handler ends or is
    cancelled. A ticket whose job never started (the client left while waiting) expires after
    ``pending_ttl_s``, so a lost ticket cannot block anyone for long.

    ``max_total`` and ``max_per_client`` are callables so a deployment's environment is read on use.
    """

    def __init__(
        self,
        max_total=limits.max_queued_jobs,
        max_per_client=limits.max_jobs_per_client,
        ip_factor: int = 4,
        pending_ttl_s: float = 900.0,
    ):
        import threading

        self._lock = threading.Lock()
        self._tickets: list[_Ticket] = []
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.ip_factor = ip_factor
        self.pending_ttl_s = pending_ttl_s

    def _expire(self, now: float) -> None:
        self._tickets = [t for t in self._tickets if t.running or now - t.since < self.pending_ttl_s]

    def counts(self, session: str | None = None, ip: str | None = None) -> tuple[int, int, int]:
        """(all tickets, this session's, this IP's)."""
        with self._lock:
            self._expire(time.monotonic())
            return self._counts(session, ip)

    def _counts(self, session: str | None, ip: str | None) -> tuple[int, int, int]:
        mine = sum(1 for t in self._tickets if session and t.session == session)
        same_ip = sum(1 for t in self._tickets if ip and t.ip == ip)
        return len(self._tickets), mine, same_ip

    def admit(self, session: str, ip: str, what: str = "ranking") -> None:
        """Take a waiting ticket, or raise :class:`BusyError` saying which bound was reached."""
        with self._lock:
            now = time.monotonic()
            self._expire(now)
            total, mine, same_ip = self._counts(session, ip)
            per_client = self.max_per_client()
            if mine >= per_client or same_ip >= per_client * self.ip_factor:
                raise BusyError(
                    f"You already have {max(mine, same_ip)} job(s) waiting or running; at most {per_client} per "
                    f"client ({limits.MAX_JOBS_PER_CLIENT_ENV}). Wait for one to finish or cancel it, then "
                    f"start the {what} again."
                )
            if total >= self.max_total():
                raise BusyError(
                    f"The app is busy: {total} jobs are waiting or running, the most it takes "
                    f"({limits.QUEUE_SIZE_ENV}). Try again in a minute."
                )
            self._tickets.append(_Ticket(session, ip, now))

    def start(self, session: str, ip: str) -> _Ticket:
        """Mark the oldest waiting ticket of ``session`` as running (a new one if it has none)."""
        with self._lock:
            for ticket in self._tickets:
                if ticket.session == session and not ticket.running:
                    ticket.running = True
                    return ticket
            ticket = _Ticket(session, ip, time.monotonic(), running=True)
            self._tickets.append(ticket)
            return ticket

    def finish(self, ticket: _Ticket) -> None:
        with self._lock:
            self._tickets = [t for t in self._tickets if t is not ticket]

    def drop_waiting(self, session: str) -> int:
        """Give back the waiting tickets of ``session`` (its queued jobs were cancelled)."""
        with self._lock:
            before = len(self._tickets)
            self._tickets = [t for t in self._tickets if t.running or t.session != session]
            return before - len(self._tickets)


def client_key(headers: dict | None, host: str | None, session_hash: str | None) -> tuple[str, str]:
    """(session, ip) of a request: behind a proxy (Spaces) the last X-Forwarded-For address, the one the
    proxy itself added (earlier entries are whatever the client sent), else the peer address."""
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    forwarded = headers.get("x-forwarded-for", "").split(",")[-1].strip()
    return session_hash or "", forwarded or host or ""
