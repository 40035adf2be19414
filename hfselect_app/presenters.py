"""Presenters: a ``TaskRanking`` (or a stored one) turned into what the rank tab shows.

The table (numbers kept numeric, task ids as links), the summary Markdown, the plots (via
:mod:`hfselect_app.plots`), the CSV/JSON downloads and the status lines. Every text that comes from
an ESM config, a card or the user is escaped here.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hfselect_core import limits
from hfselect_core.card import hub_dataset_id
from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.esm import ESMConfig
from hfselect_core.ranking import RankedTask, TaskRanking

from . import plots
from .text import md_code, md_text


def status_line(online: bool) -> str:
    if online:
        return "**Online**: ESMs are searched on the Hugging Face Hub; Hub datasets can be used."
    return (
        f"**Offline**: the Hugging Face Hub cannot be reached, so the bundled base model (`{BUNDLED_MODEL_ID}`), "
        "the bundled ESM pool and the example datasets are used. Uploaded files work as usual."
    )


_ENV_NAME = re.compile(r"\s*\([A-Z][A-Z0-9_]+\)")


def limits_markdown() -> str:
    """The caps in force, in words (the settings' variable names belong in the README, not the form)."""
    caps = "; ".join(f"{k}: {_ENV_NAME.sub('', v)}" for k, v in limits.describe().items())
    return f"This Space's limits per request: {caps}."


# --- results -------------------------------------------------------------------------------


def hub_dataset(config: ESMConfig) -> str | None:
    """The Hub dataset id an ESM was trained on, or None when its task is not a Hub dataset.

    The same rule that writes the ``datasets:`` entry of the ESM's model card
    (:func:`hfselect_core.card.hub_dataset_id`): 'owner/name' ids, or any repo id when the config
    says its data came from the Hub; names of uploads, examples and local files never count.
    """
    kind = config.extra.get("data_source_kind") if isinstance(config.extra, dict) else None
    return hub_dataset_id(config.task_id, kind if isinstance(kind, str) else None)


def task_link(task_id, linkable: bool | None = None) -> str:
    """The task id, escaped, linked to its Hub dataset page only when it is a Hub dataset.

    ``linkable`` is what the ESM's config says (:func:`hub_dataset`); when not given, only
    'owner/name' ids are linked (one-part names such as ``crowdflower_tweet_sentiment`` name
    tasks that have no Hub dataset page).
    """
    if not isinstance(task_id, str) or not task_id:
        return "" if task_id is None else md_text(task_id)
    if linkable is None:
        linkable = hub_dataset_id(task_id) is not None
    if linkable:
        return f"[{md_text(task_id)}](https://huggingface.co/datasets/{task_id})"
    return md_text(task_id)


def task_kind(config: ESMConfig) -> str:
    """'classification', 'pair classification', 'regression'... from the ESM's config ('' when not recorded)."""
    kind = config.extra.get("task_type") if isinstance(config.extra, dict) else None
    if kind not in ("classification", "regression"):
        return ""
    columns = config.extra.get("text_columns")
    pair = isinstance(columns, list) and len(columns) >= 2
    return f"pair {kind}" if pair else kind


def num_classes(config: ESMConfig) -> int | None:
    names = config.extra.get("label_names") if isinstance(config.extra, dict) else None
    return len(names) if isinstance(names, list) and names else None


def _subset(value) -> str:
    return value if isinstance(value, str) and value and value != "default" else ""


def task_names(rows: list[RankedTask]) -> list[str]:
    """One readable, unescaped name per row: 'dataset · subset', told apart when two rows share it.

    Two ESMs of one dataset and subset (CogComp/trec's coarse and fine labels, one task from two
    pools) would look like duplicates: the label column is added when it differs, else the ESM's
    own name, else where it came from.
    """
    base = []
    for r in rows:
        name = str(r.config.task_id or r.name)
        if _subset(r.config.task_subset):
            name += f" · {r.config.task_subset}"
        base.append(name)
    names = list(base)
    for name in set(base):
        same = [i for i, b in enumerate(base) if b == name]
        if len(same) < 2:
            continue
        labels = [rows[i].config.label_column for i in same]
        esms = [rows[i].name for i in same]
        for i, label, esm in zip(same, labels, esms):
            if len(set(labels)) == len(same) and label:
                names[i] = f"{name} · label {label}"
            elif len(set(esms)) == len(same) and esm != name:
                names[i] = f"{name} · {esm}"
            else:
                names[i] = f"{name} · {rows[i].source}"
    return names


TOP_K = 3
RESULT_COLUMNS = [
    "Rank",
    "Task ID",
    "Task Subset",
    "Score",
    "Δ vs Baseline",
    "Rank Interval",
    f"Top-{TOP_K} Share",
    "Tied With Leader",
    "Text Column",
    "Label Column",
    "Task Split",
    "Num Examples",
    "ESM",
]
RESULT_DATATYPES = [
    "number",
    "markdown",
    "str",
    "number",
    "number",
    "str",
    "number",
    "str",
    "str",
    "str",
    "str",
    "number",
    "str",
]


def results_frame(ranking: TaskRanking) -> pd.DataFrame:
    """The ranking for display: numbers kept numeric, Task ID as a Hub link, stability beside the score.

    "Δ vs Baseline" is the score minus the base model's own score (NaN when there is no baseline).

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
            "Task ID": [task_link(r.config.task_id, hub_dataset(r.config) is not None) for r in ranking.rows],
            "Task Subset": df["Task Subset"].fillna("").astype(str),
            "Score": df["Score"].astype(float).round(6),
            "Δ vs Baseline": (
                (df["Score"].astype(float) - ranking.baseline).round(6)
                if ranking.baseline is not None
                else pd.Series([float("nan")] * len(df), dtype="float64")
            ),
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


# --- the leaderboard (HTML table, sorted by clicking a header) --------------------------------

# (header, css class, sort kind, first click) per column; the extra columns show with "details".
LEADERBOARD_COLUMNS = (
    ("Rank", "lb-rank", "num", "ascending"),
    ("Task", "lb-task", "text", "ascending"),
    ("Type", "lb-type", "text", "ascending"),
    ("Score", "lb-score", "num", "descending"),
    ("Δ vs base", "lb-delta", "num", "descending"),
    ("Stability", "lb-stab", "num", "descending"),
    ("Examples", "lb-n", "num", "descending"),
    ("Split", "lb-extra", "text", "ascending"),
    ("Text column(s)", "lb-extra", "text", "ascending"),
    ("Label column", "lb-extra", "text", "ascending"),
    ("ESM", "lb-extra", "text", "ascending"),
    ("Source", "lb-extra", "text", "ascending"),
)
HEADER_TITLES = {
    "Score": "LogME evidence per example of your labels on the mapped embeddings (higher is more promising)",
    "Δ vs base": "Score minus the base model's own score with no intermediate task (a reference, not a verdict)",
    "Stability": f"Rank interval over resamples of your sample, and how often the task was in the top {TOP_K}",
    "Examples": "How many examples the task's ESM was trained on",
}

#: Sorting and the type filter, run once when the component loads (``gr.HTML(js_on_load=...)``).
#: Listeners sit on the component's root, so they keep working when a new ranking replaces the table.
LEADERBOARD_JS = """
const root = element;
const keyOf = (row, i, num) => {
  const v = row.cells[i] ? row.cells[i].getAttribute('data-v') : '';
  if (!num) return (v || '').toLowerCase();
  return v === null || v === '' ? NaN : parseFloat(v);
};
root.addEventListener('click', (ev) => {
  const button = ev.target.closest('button.lb-sort');
  if (!button || !root.contains(button)) return;
  const th = button.closest('th');
  const table = th.closest('table');
  const index = Array.from(th.parentNode.children).indexOf(th);
  const now = th.getAttribute('aria-sort');
  const dir = now === 'ascending' ? 'descending' : now === 'descending' ? 'ascending' : button.dataset.first;
  table.querySelectorAll('thead th[aria-sort]').forEach((h) => h.removeAttribute('aria-sort'));
  th.setAttribute('aria-sort', dir);
  const num = button.dataset.kind === 'num';
  const sign = dir === 'ascending' ? 1 : -1;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = keyOf(a, index, num), y = keyOf(b, index, num);
    if (num) {
      if (isNaN(x) || isNaN(y)) return isNaN(x) - isNaN(y);  // missing values last
      return sign * (x - y) || keyOf(a, 0, true) - keyOf(b, 0, true);
    }
    return sign * x.localeCompare(y) || keyOf(a, 0, true) - keyOf(b, 0, true);
  });
  rows.forEach((row) => body.appendChild(row));
  const status = root.querySelector('.lb-live');
  if (status) status.textContent = 'Sorted by ' + button.textContent.trim() + ', ' + dir + '.';
});
root.addEventListener('change', (ev) => {
  const select = ev.target.closest('select.lb-filter');
  if (!select) return;
  const rows = root.querySelectorAll('table.lb-table tbody tr');
  let shown = 0;
  rows.forEach((row) => {
    const keep = !select.value || row.dataset.kind === select.value;
    row.hidden = !keep;
    shown += keep ? 1 : 0;
  });
  const count = root.querySelector('.lb-count');
  if (count) count.textContent = shown + ' of ' + rows.length + ' tasks';
});
"""


def _attr(value: object) -> str:
    """Untrusted text for an HTML attribute value (double-quoted)."""
    return md_text(value, max_chars=300).replace('"', "&quot;").replace("'", "&#39;")


def _num_attr(value: object) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if number != number else repr(number)  # NaN -> ''


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _cell(css: str, text: str, sort_value: str, extra: str = "") -> str:
    return f'<td class="{css}" data-v="{sort_value}"{extra}>{text}</td>'


def _stability_cell(row: dict, tied_count: int) -> str:
    low, high, share, tied = (
        row.get("Rank Low"),
        row.get("Rank High"),
        row.get("Top-k Share"),
        row.get("Tied With Leader"),
    )
    if _missing(low) or _missing(high):
        return _cell("lb-stab", '<span class="lb-muted">not resampled</span>', "")
    parts = [f"ranks {int(low)}" if int(low) == int(high) else f"ranks {int(low)}–{int(high)}"]
    if not _missing(share):
        parts.append(f"top-{TOP_K} {float(share):.0%}")
    # A tie needs two: a leader no other task overlaps is not badged (stored results may flag it).
    badge = ' <span class="lb-badge">tied</span>' if tied is True and tied_count >= 2 else ""
    return _cell("lb-stab", " · ".join(parts) + badge, _num_attr(share))


def leaderboard_html(raw: pd.DataFrame | None) -> str:
    """The ranking as a compact, sortable leaderboard (HTML; every value from a config escaped).

    ``raw`` is :func:`ranking_frame`'s output (kept by the tab in a State). Rank, Task (dataset and
    subset as one name, linked only to a real Hub dataset page), type, Score, Δ vs the base model,
    stability and the ESM's training examples; split, columns, ESM and source show with "details".
    Headers are buttons that sort (``LEADERBOARD_JS``); a select filters by task type.
    """
    if raw is None or len(raw) == 0:
        return '<div class="lb lb-empty"><p class="lb-muted">Rank a target dataset to see the leaderboard.</p></div>'
    frame = pd.DataFrame(raw)
    baseline = plots._baseline(frame)
    tied_count = sum(1 for t in frame.get("Tied With Leader", []) if t is True)
    body = []
    kinds: list[str] = []
    for row in frame.to_dict("records"):
        kind = row.get("Task Type") or ""
        if kind and kind not in kinds:
            kinds.append(kind)
        name = row.get("Task") or row.get("Task ID") or row.get("ESM") or ""
        hub = row.get("Hub Dataset")
        label = md_text(name, max_chars=200)
        if isinstance(hub, str) and hub:
            label = f'<a href="https://huggingface.co/datasets/{_attr(hub)}" target="_blank" rel="noopener">{label}</a>'
        score = float(row["Score"])
        delta = score - baseline if baseline is not None else None
        classes = row.get("Classes")
        kind_text = md_text(kind or "—") + (
            f'<span class="lb-muted"> · {int(classes)}</span>' if not _missing(classes) else ""
        )
        examples = row.get("Num Examples")
        text_cols = row.get("Text Column")
        cells = [
            _cell("lb-rank", str(int(row["Rank"])), str(int(row["Rank"]))),
            _cell("lb-task", label, _attr(name)),
            _cell(
                "lb-type", kind_text, _attr(kind), f' title="{int(classes)} classes"' if not _missing(classes) else ""
            ),
            _cell("lb-score", f"{score:.4f}", _num_attr(score)),
            _cell(
                "lb-delta",
                "—" if delta is None else f"{delta:+.4f}".replace("-", "−"),
                _num_attr(delta),
            ),
            _stability_cell(row, tied_count),
            _cell("lb-n", "—" if _missing(examples) else f"{int(examples):,}", _num_attr(examples)),
            _cell("lb-extra", md_text(row.get("Task Split") or "—"), _attr(row.get("Task Split") or "")),
            _cell("lb-extra", md_text(text_cols or "—"), _attr(text_cols or "")),
            _cell("lb-extra", md_text(row.get("Label Column") or "—"), _attr(row.get("Label Column") or "")),
            _cell("lb-extra", md_text(row.get("ESM") or "—"), _attr(row.get("ESM") or "")),
            _cell("lb-extra", md_text(row.get("Source") or "—"), _attr(row.get("Source") or "")),
        ]
        tied_class = ' class="lb-tied"' if row.get("Tied With Leader") is True and tied_count >= 2 else ""
        body.append(f'<tr data-kind="{_attr(kind)}"{tied_class}>' + "".join(cells) + "</tr>")
    head = []
    for title, css, sort_kind, first in LEADERBOARD_COLUMNS:
        sort = ' aria-sort="ascending"' if title == "Rank" else ""
        hint = HEADER_TITLES.get(title)
        tip = f' title="{hint}"' if hint else ""
        head.append(
            f'<th scope="col" class="{css}"{sort}><button type="button" class="lb-sort" data-kind="{sort_kind}" '
            f'data-first="{first}"{tip}>{title}</button></th>'
        )
    options = ['<option value="">all types</option>'] + [
        f'<option value="{_attr(k)}">{md_text(k)}</option>' for k in sorted(kinds)
    ]
    reference = (
        f"Δ vs base: score minus the base model's own score ({baseline:.4f}), with no intermediate task."
        if baseline is not None
        else "No baseline was computed for this ranking."
    )
    return (
        '<div class="lb">'
        '<div class="lb-bar">'
        '<label class="lb-filter-label">Task type <select class="lb-filter" aria-label="Filter by task type">'
        + "".join(options)
        + "</select></label>"
        f'<span class="lb-count">{len(frame)} of {len(frame)} tasks</span>'
        '<details class="lb-cols"><summary>Show split, columns, ESM and source</summary></details>'
        f'<span class="lb-muted lb-note">{md_text(reference)} Click a header to sort.</span>'
        "</div>"
        '<div class="lb-scroll" tabindex="0" role="region" aria-label="Ranking of intermediate tasks">'
        '<table class="lb-table"><thead><tr>' + "".join(head) + "</tr></thead>"
        "<tbody>" + "".join(body) + "</tbody></table></div>"
        '<p class="lb-live" aria-live="polite"></p>'
        "</div>"
    )


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
        first = f"**Top candidate: {task_link(best.config.task_id, hub_dataset(best.config) is not None)}"
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
the top 5 suggestions was on average 1.4% below the best of the 38 candidates (the 39 ESMs less the target's own
task, left out when it is the target; regret@5 1.39; the first suggestion
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
    """The ranking as the core gives it, plus what the leaderboard and the plots need: the baseline,
    the readable task name, the task type and classes, the Hub dataset (None when not on the Hub)
    and where the ESM came from. Plain values, never markup."""
    raw = ranking.to_pandas()
    raw["Baseline"] = ranking.baseline
    raw["Task"] = task_names(ranking.rows)
    raw["Task Type"] = [task_kind(r.config) for r in ranking.rows]
    raw["Classes"] = pd.array([num_classes(r.config) for r in ranking.rows], dtype="Int64")
    raw["Hub Dataset"] = [hub_dataset(r.config) for r in ranking.rows]
    raw["Source"] = [r.source for r in ranking.rows]
    return raw


# The plots' top-k control: a typed value outside this range is clamped, never an error.
PLOT_K_RANGE = (3, 50)


def clamp_plot_k(value: Any) -> int:
    """The plots' k from whatever the control holds (a number, text, out of range or empty): 10 if unreadable."""
    try:
        k = float(value)
    except (TypeError, ValueError):
        return 10
    if k != k:  # NaN
        return 10
    return int(min(max(round(k), PLOT_K_RANGE[0]), PLOT_K_RANGE[1]))


def figures(raw: pd.DataFrame, top_k: Any) -> tuple:
    """The three plots of a ranking frame: top-k bars, score histogram, score vs. ESM training size."""
    k = clamp_plot_k(top_k)
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
