"""The "Rank datasets" tab: its layout, the public ``/rank`` handler, share links and deep links.

The form is ``fields.RANK_FIELDS``: the target picker builds the target fields, the table's
factories build the others, and the handler, validator, share link and deep links are derived
from the same table. Results are drawn by :mod:`hfselect_app.presenters`.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pandas as pd

from hfselect_core import result_cache
from hfselect_core.errors import CancelledError, HFSelectError
from hfselect_core.hub import hub_reachable
from hfselect_core.ranking import iter_task_ranking

from . import fields, plots, presenters, share, targets
from .admission import admit, admitted, refusal_outputs, request_cancel, zero_gpu
from .picker import fill_example, target_picker
from .progress import CANCELLED, RANK_STAGES, StagedStatus
from .settings import AppSettings
from .text import error_message, fix_form_status, md_message, ordered_outputs, warn
from .validators import field_errors
from .zerogpu import on_zero_gpu, rank_handler_seconds

log = logging.getLogger("hfselect.app")

FIELDS = fields.RANK_FIELDS
RankForm = fields.form_class("RankForm", FIELDS)
TAB_PREFIX = "tab-"
PICKER_IDS = {
    "example": "example-dropdown",
    "text_columns": "text-columns",
    "label_column": "label-column",
    "task_type": "task-type",
}
# The /rank API's outputs, in order (gradio_client callers read them by position).
# "result" is the machine-readable result (the last output API callers get); "raw" and "result_id" are
# States, which gradio does not send to API callers (Python callers of rank() find result_id last).
OUTPUTS = ("status", "summary", "table", "skipped", "bar", "hist", "size", "csv", "json", "result", "raw", "result_id")

__all__ = ["FIELDS", "OUTPUTS", "RankForm", "autorun_rank", "build", "rank", "show_stored_result", "validate_form"]


def outputs(status: str, **values: Any) -> tuple:
    """The handler's outputs in :data:`OUTPUTS` order; the ones not given are left as they are."""
    return ordered_outputs(OUTPUTS, {"status": status, **values})


def finished_outputs(status: str, ranking, top_k: Any, result_id: str = "") -> tuple:
    """Every output of a finished ranking, computed now or read from the result cache."""
    view = presenters.present(ranking, top_k)
    bar, hist, size = view.figures
    csv, json = view.files
    return outputs(
        status,
        summary=view.summary,
        table=view.table,
        skipped=view.skipped,
        bar=bar,
        hist=hist,
        size=size,
        csv=csv,
        json=json,
        raw=view.raw,
        result_id=result_id,
        result=result_payload(ranking, result_id),
    )


def result_payload(ranking, result_id: str = "") -> dict:
    """The ranking for API callers: plain task ids and numbers, baseline and stability (JSON types only)."""
    payload = json.loads(ranking.to_json())
    payload["result_id"] = result_id or None
    return payload


def _cache_plan(form, token):
    try:
        return targets.cache_plan(form, token)
    except Exception:  # noqa: BLE001 - no key (offline, unknown dataset...): rank without the cache
        log.info("result cache not used for this ranking", exc_info=False)
        return None


def show_stored_result(result_id: str | None, top_k: float = 10) -> tuple:
    """The outputs for a stored ranking opened by its short id (share link ``?result=<id>``)."""
    stored = result_cache.default_cache().get_by_id(result_id or "")
    if stored is None:
        return outputs(
            "⚠️ This stored result is not available (it expired, the link is wrong, or it used gated or "
            "private data and is not shared by link). Fill in the form and rank again.",
            result_id="",
        )
    return finished_outputs(presenters.cached_status(stored), stored.ranking, top_k, stored.result_id)


def validate_form(form: Any) -> list[str]:
    """Every problem with a rank form, as messages a user can act on (empty when it is fine)."""
    return [e.message for e in field_errors(FIELDS, form)]


def _rank(
    form, oauth_token: gr.OAuthToken | None = None, progress=None, should_stop=None, may_deliver=None
) -> Iterator[tuple]:
    messages = validate_form(form)
    if messages:
        warn(" ".join(messages))
        yield outputs(fix_form_status(messages))
        return
    staged = StagedStatus(RANK_STAGES, "Ranking")
    token = None
    try:
        yield outputs(staged.update("Target data", message="reading the sample"))
        progress(0.0, desc="Loading the target data")
        # A signed-in user's token reaches gated datasets and ESMs; it is never logged or shown.
        token = oauth_token.token if oauth_token is not None else None
        plan = _cache_plan(form, token)
        stored = result_cache.default_cache().get(plan.key) if plan is not None else None
        if stored is not None:
            shared_id = "" if stored.restricted else stored.result_id  # gated/private: no link
            if may_deliver is not None and not may_deliver():
                raise CancelledError()
            yield finished_outputs(presenters.cached_status(stored), stored.ranking, form.top_k, shared_id)
            return
        dataset = targets.build_dataset(form, token=token)
        yield outputs(staged.update("Target data", 1, 1, dataset.summary()))
        ranking = None
        events = iter_task_ranking(
            dataset,
            form.base_model,
            source=plan.sources if plan is not None else form.pool,
            filters=targets.form_filters(form),
            token=token,
            should_stop=should_stop,
        )
        for event in events:
            if event.ranking is not None:
                ranking = event.ranking
                break
            if should_stop is not None and should_stop():
                raise CancelledError()
            if event.stage == "Warning":  # a sample too small to be stable: say so before scoring
                warn(event.message)
            frac = event.done / event.total if event.total else None
            progress(frac, desc=f"{event.stage} {event.done}/{event.total}" if event.total else event.stage)
            yield outputs(staged.update(event.stage, event.done, event.total, event.message))
        if ranking is None:
            raise HFSelectError("The ranking stopped before it finished.")
        result_id = ""
        if plan is not None:
            result_id = result_cache.default_cache().put(plan.key, ranking, plan.restricted, plan.target_label)
            result_id = "" if plan.restricted else result_id  # gated/private inputs: never offered as a link
        # A Cancel that came before this point wins (the previous results stay, as its status says);
        # after it, the results are shown and the Cancel button no longer claims otherwise.
        if may_deliver is not None and not may_deliver():
            raise CancelledError()
        yield finished_outputs(f"✅ Done: {dataset.summary()}.", ranking, form.top_k, result_id)
    except CancelledError:
        yield outputs(CANCELLED)  # the user asked for it: neutral, and the previous results stay
    except Exception as e:  # noqa: BLE001 - the app must keep serving and never show a traceback
        msg = targets.filter_error(form, e, token) or error_message(e)
        warn(msg)
        yield outputs(f"❌ {md_message(msg)}")


_EXTRA = [
    inspect.Parameter(
        "oauth_token", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.OAuthToken | None
    ),
    inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
    # Given by admission.admitted: true once this client pressed Cancel (keyword-only: not an API input).
    inspect.Parameter("should_stop", inspect.Parameter.KEYWORD_ONLY, default=None),
    # Given by admission.admitted: false once Cancel came first (the results must not be shown then).
    inspect.Parameter("may_deliver", inspect.Parameter.KEYWORD_ONLY, default=None),
]
_DOC = fields.api_docstring(
    "Rank intermediate tasks (ESMs) for a target dataset with ESM-LogME.",
    FIELDS,
    "status, summary Markdown, ranking table, skipped ESMs table, top-k bar, score histogram, "
    "score-vs-size scatter, CSV file, JSON file, and the result as JSON (plain task ids and scores per ESM, "
    "baseline_score, stability, skipped, result_id).",
)

#: The public ``/rank`` handler: one parameter per rank field (by name), then ``oauth_token``.
rank = admitted("ranking", len(OUTPUTS))(
    on_zero_gpu(rank_handler_seconds)(fields.form_handler(FIELDS, RankForm, _rank, _EXTRA, name="rank", doc=_DOC))
)

#: The Rank button's validator: every field checked (and a queue ticket taken) before queueing.
validate_rank = fields.form_validator(FIELDS, RankForm, "ranking")
#: The /rank API's validator: only the queue ticket (bad input is answered by the handler's status).
admit_rank_api = fields.admission_validator(FIELDS, "ranking")


def replot(raw: pd.DataFrame | None, k: float):
    """The plots again for another top k (from the ranking kept in a State); a k out of its range
    is clamped and written back to the box (only then: writing back an in-range value would undo
    keys pressed while this ran)."""
    clamped = presenters.clamp_plot_k(k)
    try:
        box = clamped if float(k) != clamped else gr.skip()
    except (TypeError, ValueError):
        box = clamped
    if raw is None or len(raw) == 0:
        return gr.skip(), gr.skip(), gr.skip(), box
    raw = pd.DataFrame(raw)
    raw["Score"] = pd.to_numeric(raw["Score"], errors="coerce")
    return (*presenters.figures(raw, clamped), box)


def make_embed_snippet(base_url: str) -> str:
    """The embed HTML naming this Space (``SPACE_HOST`` / ``SPACE_ID``, set by Spaces), else this app's URL."""
    settings = AppSettings.from_env()
    return share.embed_snippet(share.space_url(settings.space_id, settings.space_host) or base_url, gr.__version__)


def make_result_link(base_url: str, result_id: str | None) -> str:
    """The link to the stored ranking (a short id: no data, works for uploads too); empty when none."""
    return share.result_url(base_url, result_id) if result_cache.is_result_id(result_id) else ""


def make_share_link(base_url: str, *args: Any) -> tuple[str, str]:
    """(link, note): the link that fills the form in as it is now (``args``: the rank fields, in
    table order), and a line saying why there is none (an uploaded file cannot travel in a link)."""
    try:
        form = RankForm(**fields.bind(FIELDS, args, {}))
    except (TypeError, ValueError):
        return "", ""
    return share.form_link(FIELDS, base_url, form)


# Labels of the outputs without one of their own: gradio_client and the API page name outputs by label.
API_LABELS = {
    "status": "Status",
    "summary": "Summary",
    "table": "Ranking table",
    "skipped": "Skipped ESMs",
    "bar": "Top k",
    "hist": "Score distribution",
    "size": "Score vs. training-set size",
    "csv": "CSV file",
    "json": "JSON file",
}


# The API page shows `oauth_token="hf_..."` for /rank because gated or private data need one; say it is optional.
API_TOKEN_NOTE = (
    "No token is needed for examples, uploads and public Hub datasets: `Client(url)` is enough. Pass "
    "`oauth_token=` to `Client` only to rank a gated or private dataset (or use gated ESMs) you can access."
)


def running_buttons() -> tuple:
    """Rank locked and Cancel offered while a ranking runs."""
    return gr.Button(interactive=False), gr.Button(interactive=True)


def idle_buttons() -> tuple:
    """Rank offered again and Cancel locked, however the ranking ended (done, error, refused)."""
    return gr.Button(interactive=True), gr.Button(interactive=False)


def cancelled(request: gr.Request | None = None) -> tuple:
    """The Cancel button: the job is asked to stop; a neutral status at once (the previous results
    stay). Rank is offered again by the job's last update, once it has ended (on ZeroGPU, where
    Gradio's cancel closes the job, at once). When the job had already shown its results, the
    status is left as the job wrote it ("Done"): those results are the new ones."""
    stopped = request_cancel(request)
    return CANCELLED if stopped else gr.skip(), *(
        idle_buttons() if zero_gpu() else (gr.skip(), gr.Button(interactive=False))
    )


def _locking_buttons(handler):
    """The page's Rank: ``handler``'s updates plus Rank/Cancel, locked while it runs and offered again
    however it ends. Only a job that passed the validator runs, so a refused form never locks Rank."""

    @functools.wraps(handler)  # same signature: gradio injects the request and token as for ``handler``
    def run(*args, **kwargs):
        unchanged = (gr.skip(),) * len(OUTPUTS)
        yield (*unchanged, *running_buttons())
        for update in handler(*args, **kwargs):
            yield (*update, gr.skip(), gr.skip())
        yield (*unchanged, *idle_buttons())

    return run


#: The page's Rank: the same handler, with the Rank and Cancel buttons as two more outputs.
rank_page = _locking_buttons(rank)


def lock_for_autorun(flag: bool, result_id: str | None) -> tuple:
    """Rank locked (Cancel offered) while a share link's autorun ranks."""
    return running_buttons() if flag and not result_id else (gr.skip(), gr.skip())


def load_values(request: gr.Request | None) -> dict[str, Any]:
    """What the page shows on load, by name: the status line, base URL, autorun flag, stored
    result id, and the form values of a share link (field names; "tabs", "example_info", ...)."""
    settings = AppSettings.from_env()
    headers = dict(request.headers) if request is not None else {}
    path = getattr(getattr(request, "request", None), "url", None)
    base = share.base_url_from_headers(
        headers, path.path.split("gradio_api")[0] if path is not None else "/", settings.space_host
    )
    q = share.parse_query(FIELDS, dict(request.query_params) if request is not None else {})
    status = presenters.status_line(hub_reachable())
    q, stored_note = _stored_form(q)
    if stored_note:
        status += "\n\nℹ️ " + stored_note
    if q.get("problems"):
        status += "\n\n⚠️ This link has values that could not be used: " + "; ".join(q["problems"]) + "."
    values: dict[str, Any] = {
        "status": status,
        "base": base,
        "autorun": q.get("autorun", False),
        "result_ref": q.get("result_id", ""),
    }
    values.update({f.name: q[f.name] for f in FIELDS if f.name in q})
    source = q.get("source")
    if source:
        values["tabs"] = gr.Tabs(selected=TAB_PREFIX + source)
    if source == "example":
        _, ex_dd, text_dd, label_dd, ex_task, info, preview = fill_example(q["example"])
        values.update(
            example=ex_dd, text_columns=text_dd, label_column=label_dd, example_info=info, example_preview=preview
        )
        if "task_type" not in q:
            values["task_type"] = ex_task
    if source == "hub":
        subset = q.get("subset")
        values["subset"] = gr.Dropdown(allow_custom_value=True, choices=[subset] if subset else [], value=subset)
        values["split"] = gr.Dropdown(allow_custom_value=True, choices=[q["split"]], value=q["split"])
    for name in ("text_columns", "label_column"):
        if name in q:
            values[name] = gr.Dropdown(value=q[name], allow_custom_value=True)
    return values


def _stored_form(q: dict) -> tuple[dict, str]:
    """A ``?result=`` link's query, with the form filled from the stored ranking's own inputs (so
    that ranking again with another seed is one click), and a note when its file must be uploaded
    again. A link that also carries form values keeps them as they are."""
    if not q.get("result_id") or any(f.name in q for f in FIELDS):
        return q, ""
    stored = result_cache.default_cache().get_by_id(q["result_id"])
    if stored is None or not stored.key:
        return q, ""
    params, extra, note = share.stored_query(stored.key, stored.target_label)
    filled = share.parse_query(FIELDS, params)
    filled.pop("problems", None)
    return {**filled, **extra, **{k: v for k, v in q.items() if k != "autorun"}, "autorun": False}, note


def autorun_rank(flag: bool, result_id: str | None, *args):
    """After load: open the stored result of a ``?result=`` link, or run the ranking of an ``autorun`` link."""
    args = list(args)
    # gradio passes the request last (see the signature below): a share link's autorun is admitted
    # like a click on Rank, so links opened by many cannot queue unbounded work.
    request = args.pop() if args and isinstance(args[-1], gr.Request) else None
    if result_id:
        yield show_stored_result(result_id, fields.bind(FIELDS, args, {})["top_k"])
        return
    if not flag:
        yield (gr.skip(),) * len(OUTPUTS)
        return
    refused = admit(request, "ranking")  # the ticket the Rank button's validator would take
    if refused:
        yield refusal_outputs(refused, len(OUTPUTS))
        return
    yield from rank(*args, request=request)


autorun_rank.__signature__ = inspect.Signature(
    [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
        for name in ["flag", "result_id", *fields.names(FIELDS)]
    ]
    + [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)]
)
autorun_rank.__annotations__ = {"request": gr.Request}


def build(ctx, status_line: gr.Markdown, demo: gr.Blocks) -> None:
    """The tab's layout and events (call inside ``gr.Tab``)."""
    base_url = gr.State("")
    autorun = gr.State(False)
    raw_table = gr.State(None)
    result_ref = gr.State("")  # short id of the stored result shown (result cache)
    with gr.Row():
        with gr.Column(scale=3):
            picker = target_picker(
                ctx.examples, ctx.online, ids=PICKER_IDS, tab_prefix=TAB_PREFIX, example_buttons=True
            )
        with gr.Column(scale=2):
            components = {**picker.components(), **fields.build_components(FIELDS, "model", ctx)}
            with gr.Accordion("Advanced", open=False):
                components.update(fields.build_components(FIELDS, "advanced", ctx))
                gr.Markdown(presenters.limits_markdown())
            with gr.Row():
                rank_button = gr.Button("Rank", variant="primary", elem_id="rank-button")
                cancel_button = gr.Button("Cancel", variant="stop", interactive=False, elem_id="cancel-button")
            rank_status = gr.Markdown(elem_id="rank-status")
            with gr.Accordion("Share link", open=True):
                share_box = gr.Textbox(label="Link with this form filled in", buttons=["copy"], elem_id="share-link")
                share_note = gr.Markdown(elem_id="share-note")
                result_link = gr.Textbox(
                    label="Link to this result (the stored ranking: nothing is recomputed, no data in it)",
                    buttons=["copy"],
                    elem_id="result-link",
                )
                embed_box = gr.Textbox(
                    label="Embed this app in a web page (Gradio's web component, or an iframe)",
                    lines=5,
                    buttons=["copy"],
                    elem_id="embed-snippet",
                )

    gr.Markdown("## Results")
    summary = gr.Markdown(elem_id="summary")
    with gr.Accordion("About the method: what the scores mean, the evidence, the limits", open=False):
        gr.Markdown(presenters.ABOUT_METHOD, elem_id="about-method")
    # The leaderboard (sortable HTML, drawn from the raw ranking after each run) is what people read;
    # the full table below keeps every column numeric for copying, searching and the API.
    leaderboard = gr.HTML(
        presenters.leaderboard_html(None), js_on_load=presenters.LEADERBOARD_JS, elem_id="results", padding=False
    )
    with gr.Accordion("All columns (table to copy, search or open full screen)", open=False):
        results = gr.Dataframe(
            presenters.empty_results(),
            datatype=presenters.RESULT_DATATYPES,
            interactive=False,
            show_search="filter",
            buttons=["copy", "fullscreen"],
            pinned_columns=2,
            max_height=520,
            label="Ranking: a relative order of candidate tasks (higher score = more promising; rank interval and ties from resampling)",
            elem_id="results-table",
        )
    with gr.Row():
        csv_button = gr.DownloadButton("Download CSV", value=None, size="sm")
        json_button = gr.DownloadButton("Download JSON", value=None, size="sm")
    with gr.Accordion("Skipped ESMs", open=False):
        skipped = gr.Dataframe(pd.DataFrame(columns=["ESM", "Reason"]), interactive=False, wrap=True)
    components.update(fields.build_components(FIELDS, "plots", ctx))
    top_k = components["top_k"]
    # The figures carry their own titles: a Gradio label on top would repeat them.
    bar_plot = gr.Plot(plots.empty_figure(), label="Top k", show_label=False, elem_id="bar-plot")
    with gr.Row():
        hist_plot = gr.Plot(plots.empty_figure(), label="Score distribution", show_label=False, elem_id="hist-plot")
        size_plot = gr.Plot(
            plots.empty_figure(), label="Score vs. training-set size", show_label=False, elem_id="size-plot"
        )

    # --- events ----------------------------------------------------------------------------
    picker.wire()
    private = {"api_visibility": "private"}
    rank_inputs = fields.inputs(FIELDS, components)
    named_outputs = {
        "status": rank_status,
        "summary": summary,
        "table": results,
        "skipped": skipped,
        "bar": bar_plot,
        "hist": hist_plot,
        "size": size_plot,
        "csv": csv_button,
        "json": json_button,
        "raw": raw_table,
        "result_id": result_ref,
    }
    named_outputs["result"] = gr.JSON(visible=False, label="Result (JSON)", elem_id="result-json")
    for name, component in named_outputs.items():
        if name in API_LABELS and not getattr(component, "label", None):
            component.label = API_LABELS[name]  # the API page and gradio_client name outputs by label
    rank_outputs = [named_outputs[name] for name in OUTPUTS]
    share_inputs = [base_url, *rank_inputs]
    buttons = [rank_button, cancel_button]
    job = {"concurrency_limit": 2, "concurrency_id": "rank", "show_progress": "hidden"}
    # The page's Rank: checked field by field before queueing (messages at the inputs), Rank locked
    # while it runs. API callers get the same handler without the field checks (the API event below
    # only takes the admission ticket), so a bad input comes back as the status message instead of a
    # client-side ValidationError.
    # (A click's trigger_mode "once" already ignores clicks while the event waits in the queue.)
    rank_event = rank_button.click(
        rank_page, rank_inputs, [*rank_outputs, *buttons], validator=validate_rank, api_name="rank_page", **job,
        **private,
    )  # fmt: skip
    rank_event.then(make_result_link, [base_url, result_ref], result_link, **private)
    api_trigger = gr.Button(visible=False, elem_id="rank-api")
    api_trigger.click(rank, rank_inputs, rank_outputs, api_name="rank", validator=admit_rank_api, **job)
    # Cancel stops the job from inside (admission's stop flag, checked between ESMs and batches): the
    # job ends normally with a neutral status, where Gradio's cancel would mark every output "Error".
    cancel_button.click(
        cancelled, None, [rank_status, *buttons], cancels=[rank_event] if zero_gpu() else None, queue=False,
        **private,
    )  # fmt: skip
    # The share link follows the form: every change of a field (an example picked, a column, a number).
    # Not top k (never in a link): its change would preprocess a typed 999 before replot clamps it (a 500).
    gr.on(
        [c.change for c in rank_inputs if c is not top_k] + [base_url.change],
        make_share_link,
        share_inputs,
        [share_box, share_note],
        queue=False,
        show_progress="hidden",
        trigger_mode="always_last",
        **private,
    )
    base_url.change(make_embed_snippet, base_url, embed_box, queue=False, show_progress="hidden", **private)
    fields.document_api(demo, "/rank", FIELDS, API_TOKEN_NOTE)
    # Any change of top k redraws (typing, arrow keys, dragging); only the newest value is drawn.
    # No preprocessing: the slider's own range check answers a typed 999 with a 500; replot clamps
    # it and sets the box back to the k drawn.
    top_k.change(
        replot,
        [raw_table, top_k],
        [bar_plot, hist_plot, size_plot, top_k],
        preprocess=False,
        trigger_mode="always_last",
        show_progress="hidden",
        **private,
    )
    rank_event.then(presenters.leaderboard_html, raw_table, leaderboard, show_progress="hidden", **private)

    # Deep links: on_load returns values by name; here the names become components.
    by_name = {
        **components,
        "status": status_line,
        "base": base_url,
        "autorun": autorun,
        "result_ref": result_ref,
        "tabs": picker.tabs,
        "example_info": picker.example_info,
        "example_preview": picker.example_preview,
    }

    def on_load(request: gr.Request):
        return {by_name[name]: value for name, value in load_values(request).items()}

    load_event = demo.load(on_load, None, list(by_name.values()), **private)
    auto_event = load_event.then(lock_for_autorun, [autorun, result_ref], buttons, queue=False, **private).then(
        autorun_rank,
        [autorun, result_ref, *rank_inputs],
        rank_outputs,
        concurrency_limit=2,
        concurrency_id="rank",
        show_progress="hidden",
        **private,
    )
    auto_event.then(make_result_link, [base_url, result_ref], result_link, **private)
    auto_event.then(idle_buttons, None, buttons, queue=False, **private)
    auto_event.then(presenters.leaderboard_html, raw_table, leaderboard, show_progress="hidden", **private)
