"""Presenters: a ``TaskRanking`` (or a stored one) turned into what the rank tab shows.

The table (numbers kept numeric, task ids as links), the summary Markdown, the plots (via
:mod:`hfselect_app.plots`), the CSV/JSON downloads and the status lines. Every text that comes from
an ESM config, a card or the user is escaped here.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hfselect_core import limits
from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.ranking import TaskRanking

from . import plots
from .text import md_code, md_text
from .validators import HUB_ID


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
    if "/" in task_id and HUB_ID.match(task_id):
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


def ranking_frame(ranking: TaskRanking) -> pd.DataFrame:
    """The ranking as the core gives it, plus its baseline in a column (the plots mark it)."""
    raw = ranking.to_pandas()
    raw["Baseline"] = ranking.baseline
    return raw


def figures(raw: pd.DataFrame, top_k: Any) -> tuple:
    """The three plots of a ranking frame: top-k bars, score histogram, score vs. ESM training size."""
    k = int(top_k or 10)
    return plots.top_k_bar(raw, k), plots.score_histogram(raw, k), plots.score_vs_size(raw, k)


@dataclass
class RankingView:
    """Everything the rank tab shows for a finished ranking."""

    summary: str
    table: pd.DataFrame
    skipped: pd.DataFrame
    figures: tuple
    files: tuple[str, str]
    raw: pd.DataFrame  # the ranking without links (kept in a State to redraw the plots)


def present(ranking: TaskRanking, top_k: Any = 10) -> RankingView:
    """The view of a ranking, computed now or read from the result cache."""
    raw = ranking_frame(ranking)
    return RankingView(
        summary=summary_markdown(ranking),
        table=results_frame(ranking),
        skipped=ranking.skipped_frame(),
        figures=figures(raw, top_k),
        files=write_exports(ranking),
        raw=raw.astype(object).where(raw.notna(), None),
    )
