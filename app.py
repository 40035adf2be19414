"""Gradio Space: which public dataset should I fine-tune on first? (ESM-LogME)

Only wiring lives here; logic is in ``hfselect_core.app_logic`` and ``hfselect_core.plots``.
``demo`` is importable without launching; ``python app.py`` launches it.
"""

from __future__ import annotations

import logging
import os

import gradio as gr
import pandas as pd

from hfselect_core import app_logic as logic
from hfselect_core import limits, plots, studio
from hfselect_core.data import list_columns, list_configs, list_splits, preview_rows
from hfselect_core.errors import HFSelectError
from hfselect_core.hub import hub_reachable
from hfselect_core.ranking import iter_task_ranking
from hfselect_core.studio import gpu_decorator, iter_studio_training, publish_esm

log = logging.getLogger("hfselect.app")

ONLINE = hub_reachable()
EXAMPLES = logic.load_examples()
MODEL_CHOICES = logic.base_model_choices(ONLINE)
DEFAULT_MODEL = logic.default_base_model(ONLINE)
TAB_IDS = {"example": "tab-example", "file": "tab-file", "hub": "tab-hub"}

CSS = """
#status-line {font-size: 0.95em}
#rank-status {min-height: 1.5em}
"""


def _message(error: Exception) -> str:
    if isinstance(error, HFSelectError):
        return str(error)
    log.exception("unexpected error")
    return f"Something went wrong ({type(error).__name__}: {str(error)[:300]}). Please check the inputs and try again."


# --- target source handlers ----------------------------------------------------------------


def fill_example(name: str):
    """Select an example: fills source, columns, task type and preview (nothing is precomputed)."""
    try:
        ex = logic.get_example(name)
        df, types = logic.read_upload(logic.example_file(name))
    except Exception as e:  # noqa: BLE001
        gr.Warning(_message(e))
        return (gr.skip(),) * 7
    choices = logic.column_choices(types)
    info = f"**{ex['title']}** ({len(df)} rows): {ex.get('description', '')}"
    return (
        "example",
        gr.Dropdown(value=name, allow_custom_value=True),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=list(ex["text_columns"])),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=ex["label_column"]),
        ex.get("task_type") or "auto",
        info,
        logic.preview_frame(df),
    )


def fill_file(path: str | None):
    """Read an uploaded file: column dropdowns (with dtypes), guessed columns and a preview."""
    if not path:
        return (gr.skip(),) * 4 + ("",)
    try:
        df, types = logic.read_upload(path, check=True)
    except Exception as e:  # noqa: BLE001
        msg = _message(e)
        gr.Warning(msg)
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ {msg}"
    text, label = logic.guess_columns(types)
    choices = logic.column_choices(types)
    return (
        "file",
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        logic.preview_frame(df),
        f"{len(df):,} rows, {len(types)} columns.",
    )


def hub_lookup(dataset_id: str, subset: str | None = None):
    """Hub dataset id -> subsets, splits, columns and a preview (or a clear message offline)."""
    skip5 = (gr.skip(),) * 5
    if not (dataset_id or "").strip():
        return (*skip5, "Enter a dataset id such as `stanfordnlp/imdb`.")
    if not hub_reachable():
        return (
            *skip5,
            "⚠️ The Hugging Face Hub cannot be reached, so Hub datasets are not available here. "
            "Use an example or upload a file.",
        )
    try:
        dataset_id = dataset_id.strip()
        configs = list_configs(dataset_id)
        subset = subset if subset in configs else (configs[0] if configs else None)
        splits = list_splits(dataset_id, subset)
        split = "train" if "train" in splits else (splits[0] if splits else None)
        types = list_columns(dataset_id, subset)
        text, label = logic.guess_columns(types)
        choices = logic.column_choices(types)
        preview = logic.preview_frame(preview_rows(dataset_id, subset, split)) if split else pd.DataFrame()
    except Exception as e:  # noqa: BLE001
        return (*skip5, f"⚠️ {_message(e)}")
    return (
        gr.Dropdown(allow_custom_value=True, choices=configs, value=subset),
        gr.Dropdown(allow_custom_value=True, choices=splits, value=split),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        preview,
        f"`{dataset_id}`: {len(configs)} subset(s), splits {', '.join(splits)}.",
    )


def hub_split_preview(dataset_id: str, subset: str | None, split: str | None):
    if not (dataset_id and split) or not hub_reachable():
        return gr.skip()
    try:
        return logic.preview_frame(preview_rows(dataset_id.strip(), subset or None, split))
    except Exception as e:  # noqa: BLE001
        gr.Warning(_message(e))
        return gr.skip()


# --- ranking -------------------------------------------------------------------------------

N_RANK_OUTPUTS = 10


def _rank_outputs(status, summary=None, table=None, skipped=None, figs=None, files=None, raw=None):
    s = gr.skip()
    figs = figs or (s, s, s)
    files = files or (s, s)
    return (
        status,
        s if summary is None else summary,
        s if table is None else table,
        s if skipped is None else skipped,
        *figs,
        *files,
        s if raw is None else raw,
    )


def rank(
    source: str,
    example: str | None,
    file: str | None,
    dataset_id: str | None,
    subset: str | None,
    split: str | None,
    text_columns: list[str] | str | None,
    label_column: str | None,
    task_type: str,
    num_examples: float | None,
    seed: float | None,
    max_esms: float | None,
    task_filter: str | None,
    language: str | None,
    base_model: str,
    pool: str,
    top_k: float = 10,
    progress=gr.Progress(),
):
    """Rank intermediate tasks (ESMs) for a target dataset with ESM-LogME.

    Args:
        source: "example", "file" or "hub": where the target data comes from.
        example: example name from assets/examples/examples.json (source "example"), e.g. "product_reviews".
        file: path/URL of a CSV, TSV, JSON, JSONL or Parquet file (source "file"; use gradio_client.handle_file).
        dataset_id: Hub dataset id such as "stanfordnlp/imdb" (source "hub").
        subset: Hub dataset subset/config, or empty.
        split: Hub dataset split, e.g. "train".
        text_columns: list of text column names (joined with " [SEP] "); optional for examples.
        label_column: label column name; optional for examples.
        task_type: "auto", "classification" or "regression".
        num_examples: how many examples to sample (default 1000).
        seed: sampling seed (default 42).
        max_esms: cap on the number of ESMs scored (0 or empty: no cap).
        task_filter: keep only ESMs whose task id contains this text.
        language: keep only ESMs of this language code, e.g. "en".
        base_model: base model id, e.g. "sentence-transformers/all-MiniLM-L6-v2".
        pool: "auto", "bundled", "hub" or "both": where ESMs come from.
        top_k: how many tasks the bar chart shows.

    Returns:
        status, summary Markdown, ranking table, skipped ESMs table, top-k bar, score histogram,
        score-vs-size scatter, CSV file, JSON file, raw ranking table (Task ID without links).
    """
    form = logic.RankForm(
        source=source,
        example=example,
        file=file,
        dataset_id=dataset_id,
        subset=subset,
        split=split,
        text_columns=text_columns,
        label_column=label_column,
        task_type=task_type or "auto",
        num_examples=num_examples,
        seed=seed,
        max_esms=max_esms,
        task_filter=task_filter,
        language=language,
        base_model=(base_model or "").strip(),
        pool=pool or "auto",
    )
    errors = logic.validate_form(form)
    if errors:
        text = "\n".join(f"- {e}" for e in errors)
        gr.Warning(" ".join(errors))
        yield _rank_outputs(f"⚠️ Please fix the form:\n{text}")
        return
    try:
        yield _rank_outputs("⏳ Loading the target data...")
        progress(0.0, desc="Loading the target data")
        dataset = logic.build_dataset(form)
        yield _rank_outputs(f"⏳ Target data: {dataset.summary()}")
        ranking = None
        for event in iter_task_ranking(dataset, form.base_model, source=form.pool, filters=logic.form_filters(form)):
            if event.ranking is not None:
                ranking = event.ranking
                break
            frac = event.done / event.total if event.total else None
            progress(frac, desc=f"{event.stage} {event.done}/{event.total}" if event.total else event.stage)
            yield _rank_outputs(logic.progress_text(event.stage, event.done, event.total, event.message))
        if ranking is None:
            raise HFSelectError("The ranking stopped before it finished.")
        raw = ranking.to_pandas()
        raw["Baseline"] = ranking.baseline  # carried with the table so the plots can mark it
        k = int(top_k or 10)
        figs = (plots.top_k_bar(raw, k), plots.score_histogram(raw, k), plots.score_vs_size(raw, k))
        files = logic.write_exports(ranking)
        yield _rank_outputs(
            f"✅ Done: {dataset.summary()}.",
            logic.summary_markdown(ranking),
            logic.results_frame(ranking),
            ranking.skipped_frame(),
            figs,
            files,
            raw.astype(object).where(raw.notna(), None),
        )
    except Exception as e:  # noqa: BLE001 - the app must keep serving and never show a traceback
        msg = _message(e)
        gr.Warning(msg)
        yield _rank_outputs(f"❌ {msg}")


RANK_FIELDS = [
    "source",
    "example",
    "file",
    "dataset_id",
    "subset",
    "split",
    "text_columns",
    "label_column",
    "task_type",
    "num_examples",
    "seed",
    "max_esms",
    "task_filter",
    "language",
    "base_model",
    "pool",
]


def _validations(fields: list[str], errors: list[tuple[str, str]], extra: int = 0) -> list:
    """One gr.validate per input (in input order); a message on the first input it concerns."""
    messages: dict[str, str] = {}
    for field, message in errors:
        messages[field] = f"{messages[field]} {message}" if field in messages else message
    out = [gr.validate(name not in messages, messages.get(name, "")) for name in fields]
    return out + [gr.validate(True, "")] * extra


def validate_rank(*args):
    """Checks the Rank form before the event is queued (the handler checks again for direct calls)."""
    form = logic.RankForm(*[None if v == "" and i >= 11 else v for i, v in enumerate(args[: len(RANK_FIELDS)])])
    form.base_model = (form.base_model or "").strip()
    return _validations(RANK_FIELDS, logic.form_field_errors(form), extra=len(args) - len(RANK_FIELDS))


def replot(raw: pd.DataFrame | None, k: float):
    if raw is None or len(raw) == 0:
        return gr.skip(), gr.skip(), gr.skip()
    raw = pd.DataFrame(raw)
    raw["Score"] = pd.to_numeric(raw["Score"], errors="coerce")
    return plots.top_k_bar(raw, int(k)), plots.score_histogram(raw, int(k)), plots.score_vs_size(raw, int(k))


def make_share_link(base_url, source, example, dataset_id, subset, split, text, label, task_type, n, seed, model, pool):
    form = logic.RankForm(
        source=source,
        example=example,
        dataset_id=dataset_id,
        subset=subset,
        split=split,
        text_columns=text,
        label_column=label,
        task_type=task_type,
        num_examples=n,
        seed=seed,
        base_model=model,
        pool=pool,
    )
    try:
        return logic.share_url(base_url, form)
    except (TypeError, ValueError):
        return ""


def on_load(request: gr.Request):
    """Status line, base URL, and form values from the URL query parameters (deep links)."""
    online = hub_reachable()
    headers = dict(request.headers) if request is not None else {}
    path = getattr(getattr(request, "request", None), "url", None)
    base = logic.base_url_from_headers(headers, path.path.split("gradio_api")[0] if path is not None else "/")
    params = dict(request.query_params) if request is not None else {}
    q = logic.parse_query(params)
    s = gr.skip()
    source = q.get("source")
    values = {
        "status": logic.status_line(online),
        "base": base,
        "autorun": q.get("autorun", False),
        "source": source or s,
        "tabs": gr.Tabs(selected=TAB_IDS[source]) if source else s,
        "example": s,
        "example_info": s,
        "example_preview": s,
        "text": s,
        "label": s,
        "task_type": q.get("task_type", s),
        "n": q.get("num_examples", s),
        "seed": q.get("seed", s),
        "model": q.get("base_model", s),
        "pool": q.get("pool", s),
        "dataset": q.get("dataset_id", s),
        "subset": s,
        "split": s,
    }
    if source == "example":
        _, ex_dd, text_dd, label_dd, ex_task, info, preview = fill_example(q["example"])
        values.update(example=ex_dd, text=text_dd, label=label_dd, example_info=info, example_preview=preview)
        if "task_type" not in q:
            values["task_type"] = ex_task
    if source == "hub":
        values["subset"] = gr.Dropdown(
            allow_custom_value=True, choices=[q["subset"]] if q.get("subset") else [], value=q.get("subset")
        )
        values["split"] = gr.Dropdown(allow_custom_value=True, choices=[q["split"]], value=q["split"])
    if "text_columns" in q:
        values["text"] = gr.Dropdown(value=q["text_columns"], allow_custom_value=True)
    if "label_column" in q:
        values["label"] = gr.Dropdown(value=q["label_column"], allow_custom_value=True)
    return tuple(values.values())


def autorun_rank(flag: bool, *args):
    if not flag:
        yield (gr.skip(),) * N_RANK_OUTPUTS
        return
    yield from rank(*args)


# --- layout --------------------------------------------------------------------------------

with gr.Blocks(title="hfselect: which dataset should I fine-tune on first?") as demo:
    gr.Markdown(
        "# Which public dataset should I fine-tune on first?\n"
        "Give a small labelled sample of **your** task. hfselect ranks public intermediate tasks with "
        "**ESM-LogME** (embedding space maps + LogME): fine-tune on the top task first, then on your own data."
    )
    status_line = gr.Markdown(logic.status_line(ONLINE), elem_id="status-line")
    if os.environ.get("SPACE_ID"):
        try:
            gr.LoginButton()
        except Exception:  # noqa: BLE001 - gradio[oauth] missing: no sign-in
            pass
    base_url = gr.State("")
    autorun = gr.State(False)
    raw_table = gr.State(None)

    with gr.Row():
        with gr.Column(scale=3):
            source = gr.Radio(list(logic.SOURCES), value="example", label="Target source", visible=False)
            with gr.Tabs(selected=TAB_IDS["example"]) as tabs:
                with gr.Tab("Examples", id=TAB_IDS["example"]) as tab_example:
                    gr.Markdown("One click fills the whole form. Nothing is precomputed: Rank runs live.")
                    with gr.Row():
                        example_buttons = [
                            gr.Button(ex["title"], size="sm", elem_id=f"example-{ex['name']}") for ex in EXAMPLES
                        ]
                    example = gr.Dropdown(
                        [(ex["title"], ex["name"]) for ex in EXAMPLES],
                        value=None,
                        label="Example dataset",
                        allow_custom_value=True,
                        elem_id="example-dropdown",
                    )
                    example_info = gr.Markdown()
                    example_preview = gr.Dataframe(label="First rows", interactive=False, max_height=260, wrap=True)
                with gr.Tab("Upload a file", id=TAB_IDS["file"]) as tab_file:
                    file = gr.File(
                        label=f"CSV, TSV, JSON, JSONL or Parquet (up to {limits.max_upload_bytes() // 1_000_000} MB)",
                        file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet"],
                        type="filepath",
                    )
                    file_info = gr.Markdown()
                    file_preview = gr.Dataframe(label="First rows", interactive=False, max_height=260, wrap=True)
                with gr.Tab("Hub dataset", id=TAB_IDS["hub"]) as tab_hub:
                    with gr.Row():
                        dataset_id = gr.Textbox(
                            label="Dataset id", placeholder="owner/name, e.g. stanfordnlp/imdb", scale=3
                        )
                        hub_button = gr.Button("Look up", scale=1)
                    with gr.Row():
                        subset = gr.Dropdown([], label="Subset", allow_custom_value=True)
                        split = gr.Dropdown(["train"], value="train", label="Split", allow_custom_value=True)
                    hub_info = gr.Markdown(
                        "" if ONLINE else "⚠️ Offline: Hub datasets are not available. Use an example or upload a file."
                    )
                    hub_preview = gr.Dataframe(label="First rows", interactive=False, max_height=260, wrap=True)

            with gr.Row():
                text_columns = gr.Dropdown(
                    [],
                    multiselect=True,
                    label="Text column(s)",
                    allow_custom_value=True,
                    elem_id="text-columns",
                    scale=2,
                )
                label_column = gr.Dropdown([], label="Label column", allow_custom_value=True, elem_id="label-column")
                task_type = gr.Radio(list(logic.TASK_TYPES), value="auto", label="Task type", elem_id="task-type")
        with gr.Column(scale=2):
            base_model = gr.Dropdown(
                MODEL_CHOICES,
                value=DEFAULT_MODEL,
                label="Base model (ESM count)",
                allow_custom_value=True,
                elem_id="base-model",
            )
            pool = gr.Radio(
                list(logic.POOLS),
                value="auto",
                label="ESM pool",
                info="auto: the Hub when online, else the bundled pool",
                elem_id="pool",
            )
            with gr.Accordion("Advanced", open=False):
                num_examples = gr.Number(
                    logic.DEFAULT_NUM_EXAMPLES,
                    label="Number of examples",
                    precision=0,
                    minimum=2,
                    maximum=limits.max_examples(),
                    elem_id="num-examples",
                )
                seed = gr.Number(logic.DEFAULT_SEED, label="Seed", precision=0, elem_id="seed")
                max_esms = gr.Number(0, label="Max ESMs (0: no cap)", precision=0, minimum=0)
                task_filter = gr.Textbox(label="Task id contains", placeholder="e.g. glue")
                language = gr.Textbox(label="Language code", placeholder="e.g. en")
                gr.Markdown(logic.limits_markdown())
            with gr.Row():
                rank_button = gr.Button("Rank", variant="primary", elem_id="rank-button")
                cancel_button = gr.Button("Cancel", variant="stop")
            rank_status = gr.Markdown(elem_id="rank-status")
            with gr.Accordion("Share link", open=True):
                share_box = gr.Textbox(label="Link with this form filled in", buttons=["copy"], elem_id="share-link")
                share_button = gr.Button("Update link", size="sm")

    gr.Markdown("## Results")
    summary = gr.Markdown(elem_id="summary")
    results = gr.Dataframe(
        logic.empty_results(),
        datatype=logic.RESULT_DATATYPES,
        interactive=False,
        show_search="filter",
        buttons=["copy", "fullscreen"],
        pinned_columns=2,
        max_height=520,
        label="Ranking (higher score = more promising intermediate task)",
        elem_id="results",
    )
    with gr.Row():
        csv_button = gr.DownloadButton("Download CSV", value=None, size="sm")
        json_button = gr.DownloadButton("Download JSON", value=None, size="sm")
    with gr.Accordion("Skipped ESMs", open=False):
        skipped = gr.Dataframe(pd.DataFrame(columns=["ESM", "Reason"]), interactive=False, wrap=True)
    top_k = gr.Slider(3, 50, value=10, step=1, label="Top k in the plots")
    bar_plot = gr.Plot(plots.empty_figure(), label="Top k", elem_id="bar-plot")
    with gr.Row():
        hist_plot = gr.Plot(plots.empty_figure(), label="Score distribution", elem_id="hist-plot")
        size_plot = gr.Plot(plots.empty_figure(), label="Score vs. training-set size", elem_id="size-plot")

    # --- events --------------------------------------------------------------------------
    example_outputs = [source, example, text_columns, label_column, task_type, example_info, example_preview]
    for button, ex in zip(example_buttons, EXAMPLES):
        button.click(lambda name=ex["name"]: fill_example(name), None, example_outputs, api_visibility="private")
    example.input(fill_example, example, example_outputs, api_visibility="private")
    tab_example.select(lambda: "example", None, source, api_visibility="private")
    tab_file.select(lambda: "file", None, source, api_visibility="private")
    tab_hub.select(lambda: "hub", None, source, api_visibility="private")
    file.upload(
        fill_file, file, [source, text_columns, label_column, file_preview, file_info], api_visibility="private"
    )
    hub_outputs = [subset, split, text_columns, label_column, hub_preview, hub_info]
    gr.on(
        [dataset_id.submit, hub_button.click],
        lambda d: ("hub", *hub_lookup(d)),
        dataset_id,
        [source, *hub_outputs],
        api_visibility="private",
    )
    subset.input(hub_lookup, [dataset_id, subset], hub_outputs, api_visibility="private")
    split.input(hub_split_preview, [dataset_id, subset, split], hub_preview, api_visibility="private")

    rank_inputs = [
        source,
        example,
        file,
        dataset_id,
        subset,
        split,
        text_columns,
        label_column,
        task_type,
        num_examples,
        seed,
        max_esms,
        task_filter,
        language,
        base_model,
        pool,
        top_k,
    ]
    rank_outputs = [
        rank_status,
        summary,
        results,
        skipped,
        bar_plot,
        hist_plot,
        size_plot,
        csv_button,
        json_button,
        raw_table,
    ]
    share_inputs = [
        base_url,
        source,
        example,
        dataset_id,
        subset,
        split,
        text_columns,
        label_column,
        task_type,
        num_examples,
        seed,
        base_model,
        pool,
    ]
    rank_event = rank_button.click(rank, rank_inputs, rank_outputs, api_name="rank", concurrency_limit=2)
    rank_event.then(make_share_link, share_inputs, share_box, api_visibility="private")
    cancel_button.click(
        lambda: "Cancelled.", None, rank_status, cancels=[rank_event], api_visibility="private", queue=False
    )
    share_button.click(make_share_link, share_inputs, share_box, api_visibility="private")
    top_k.release(replot, [raw_table, top_k], [bar_plot, hist_plot, size_plot], api_visibility="private")

    load_outputs = [
        status_line,
        base_url,
        autorun,
        source,
        tabs,
        example,
        example_info,
        example_preview,
        text_columns,
        label_column,
        task_type,
        num_examples,
        seed,
        base_model,
        pool,
        dataset_id,
        subset,
        split,
    ]
    load_event = demo.load(on_load, None, load_outputs, api_visibility="private")
    auto_event = load_event.then(
        autorun_rank, [autorun, *rank_inputs], rank_outputs, api_visibility="private", concurrency_limit=2
    )
    auto_event.then(make_share_link, share_inputs, share_box, api_visibility="private")
    cancel_button.click(None, None, None, cancels=[auto_event], api_visibility="private", queue=False)

demo.queue(max_size=int(os.environ.get("HFSELECT_QUEUE_SIZE", "20")), default_concurrency_limit=2)


if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        max_file_size=limits.max_upload_bytes(),
        theme=gr.themes.Soft(primary_hue="orange"),
        css=CSS,
    )
