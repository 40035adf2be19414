"""Gradio Space: which public dataset should I fine-tune on first? (ESM-LogME)

Only wiring lives here; logic is in ``hfselect_core.app_logic`` and ``hfselect_core.plots``.
``demo`` is importable without launching; ``python app.py`` launches it.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
from pathlib import Path

# A Space with persistent storage mounts /data: the Hub cache (ESMs, base models, datasets) goes
# there so that it survives restarts and a warm ranking stays a handful of requests. This must run
# before anything imports huggingface_hub, which reads HF_HOME once, at import.
_DATA_DIR = Path(os.environ.get("HFSELECT_DATA_DIR", "/data"))
if "HF_HOME" not in os.environ and _DATA_DIR.is_dir() and os.access(_DATA_DIR, os.W_OK):
    os.environ["HF_HOME"] = str(_DATA_DIR / ".huggingface")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from hfselect_core import app_logic as logic  # noqa: E402
from hfselect_core import hub, limits, plots, result_cache, studio  # noqa: E402
from hfselect_core.data import list_columns, list_configs, list_splits, preview_rows  # noqa: E402
from hfselect_core.errors import HFSelectError  # noqa: E402
from hfselect_core.hub import hub_reachable  # noqa: E402
from hfselect_core.ranking import iter_task_ranking  # noqa: E402
from hfselect_core.studio import gpu_decorator, iter_studio_training, publish_esm  # noqa: E402
from hfselect_core.zerogpu import on_zero_gpu, rank_handler_seconds  # noqa: E402

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
    """A bounded, plain-text message (escape it for where it is shown: md_text or toast_text)."""
    if isinstance(error, HFSelectError):
        return limits.bounded(str(error))
    log.exception("unexpected error")
    return f"Something went wrong ({type(error).__name__}: {str(error)[:300]}). Please check the inputs and try again."


def _warn(message: str) -> None:
    """A warning toast; toasts render HTML, so the text is entity-escaped."""
    gr.Warning(logic.toast_text(message))


def _md(message: str) -> str:
    return logic.md_text(message, limits.MAX_MESSAGE_CHARS)


# --- admission control (a real bound on waiting work; see JobAdmission) ------------------------

JOBS = logic.JobAdmission()


def _client(request: gr.Request | None) -> tuple[str, str]:
    client = getattr(request, "client", None)
    return logic.client_key(
        dict(getattr(request, "headers", {}) or {}),
        getattr(client, "host", None),
        getattr(request, "session_hash", None),
    )


def _admit(request: gr.Request | None, what: str) -> str | None:
    """Take a waiting ticket for this client (called by the validators); the refusal message, or None."""
    if request is None:
        return None
    try:
        JOBS.admit(*_client(request), what=what)
    except HFSelectError as e:
        return str(e)
    return None


def admitted(what: str, n_outputs: int):
    """Run a generator handler under a JobAdmission ticket, given back however the job ends.

    The handler gets a ``request`` parameter (gradio injects it by its type); direct Python calls
    without one are not counted. A job that arrives without a waiting ticket (the share-link
    autorun has no validator) is admitted here or turned away with the reason.
    """

    def decorate(fn):
        signature = inspect.signature(fn)
        index = len(signature.parameters)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            args = list(args)
            request = args.pop(index) if len(args) > index else kwargs.pop("request", None)
            ticket = None
            if request is not None:
                session, ip = _client(request)
                if JOBS.counts(session)[1] == 0:
                    refused = _admit(request, what)
                    if refused:
                        _warn(refused)
                        yield (f"⚠️ {_md(refused)}",) + (gr.skip(),) * (n_outputs - 1)
                        return
                ticket = JOBS.start(session, ip)
            try:
                yield from fn(*args, **kwargs)
            finally:
                if ticket is not None:
                    JOBS.finish(ticket)

        extra = inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request | None
        )
        run.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])
        run.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request | None}
        return run

    return decorate


def cancel_waiting(request: gr.Request | None = None) -> str:
    """The Cancel buttons: queued jobs of this session give their tickets back (running ones do on exit)."""
    if request is not None:
        JOBS.drop_waiting(_client(request)[0])
    return "Cancelled."


# --- target source handlers ----------------------------------------------------------------


def fill_example(name: str):
    """Select an example: fills source, columns, task type and preview (nothing is precomputed)."""
    try:
        ex = logic.get_example(name)
        df, types = logic.read_upload(logic.example_file(name))
    except Exception as e:  # noqa: BLE001
        _warn(_message(e))
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
        _warn(msg)
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ {_md(msg)}"
    text, label = logic.guess_columns(types)
    choices = logic.column_choices(types)
    return (
        "file",
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        logic.preview_frame(df),
        f"{len(df):,} rows, {len(types)} columns.",
    )


def hub_lookup(dataset_id: str, subset: str | None = None, oauth_token: gr.OAuthToken | None = None):
    """Hub dataset id -> subsets, splits, columns and a preview (or a clear message offline).

    A signed-in user's token opens their gated and private datasets; it is never logged or shown.
    """
    token = oauth_token.token if oauth_token is not None else None
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
        configs = list_configs(dataset_id, token=token)
        subset = subset if subset in configs else (configs[0] if configs else None)
        splits = list_splits(dataset_id, subset, token=token)
        split = "train" if "train" in splits else (splits[0] if splits else None)
        types = list_columns(dataset_id, subset, token=token)
        text, label = logic.guess_columns(types)
        choices = logic.column_choices(types)
        preview = logic.preview_frame(preview_rows(dataset_id, subset, split, token=token)) if split else pd.DataFrame()
    except Exception as e:  # noqa: BLE001
        return (*skip5, f"⚠️ {_md(_message(e))}")
    return (
        gr.Dropdown(allow_custom_value=True, choices=configs, value=subset),
        gr.Dropdown(allow_custom_value=True, choices=splits, value=split),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        preview,
        f"{logic.md_code(dataset_id)}: {len(configs)} subset(s), splits {logic.md_text(', '.join(splits))}.",
    )


def hub_lookup_tab(dataset_id: str, oauth_token: gr.OAuthToken | None = None):
    """The Hub tab's Look up: selects the Hub source, then :func:`hub_lookup`."""
    return ("hub", *hub_lookup(dataset_id, None, oauth_token))


def hub_split_preview(dataset_id: str, subset: str | None, split: str | None, oauth_token: gr.OAuthToken | None = None):
    if not (dataset_id and split) or not hub_reachable():
        return gr.skip()
    token = oauth_token.token if oauth_token is not None else None
    try:
        return logic.preview_frame(preview_rows(dataset_id.strip(), subset or None, split, token=token))
    except Exception as e:  # noqa: BLE001
        _warn(_message(e))
        return gr.skip()


# --- ranking -------------------------------------------------------------------------------

N_RANK_OUTPUTS = 11


def _rank_outputs(status, summary=None, table=None, skipped=None, figs=None, files=None, raw=None, result_id=None):
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
        s if result_id is None else result_id,
    )


def _finished_outputs(status: str, ranking, top_k, result_id: str = ""):
    """Every output of a finished ranking, computed now or read from the result cache."""
    raw = ranking.to_pandas()
    raw["Baseline"] = ranking.baseline  # carried with the table so the plots can mark it
    k = int(top_k or 10)
    figs = (plots.top_k_bar(raw, k), plots.score_histogram(raw, k), plots.score_vs_size(raw, k))
    return _rank_outputs(
        status,
        logic.summary_markdown(ranking),
        logic.results_frame(ranking),
        ranking.skipped_frame(),
        figs,
        logic.write_exports(ranking),
        raw.astype(object).where(raw.notna(), None),
        result_id,
    )


def _cache_plan(form, token):
    try:
        return logic.cache_plan(form, token)
    except Exception:  # noqa: BLE001 - no key (offline, unknown dataset...): rank without the cache
        log.info("result cache not used for this ranking", exc_info=False)
        return None


def show_stored_result(result_id: str | None, top_k: float = 10):
    """The outputs for a stored ranking opened by its short id (share link ``?result=<id>``)."""
    stored = result_cache.default_cache().get_by_id(result_id or "")
    if stored is None:
        return _rank_outputs(
            "⚠️ This stored result is not available (it expired, the link is wrong, or it used gated or "
            "private data and is not shared by link). Fill in the form and rank again.",
            result_id="",
        )
    return _finished_outputs(logic.cached_status(stored), stored.ranking, top_k, stored.result_id)


@admitted("ranking", N_RANK_OUTPUTS)
@on_zero_gpu(rank_handler_seconds)
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
    oauth_token: gr.OAuthToken | None = None,
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
        task_type=task_type,
        num_examples=num_examples,
        seed=seed,
        max_esms=max_esms,
        task_filter=task_filter,
        language=language,
        base_model=base_model,
        pool=pool,
    )
    errors = logic.validate_form(form)
    if errors:
        text = "\n".join(f"- {_md(e)}" for e in errors)
        _warn(" ".join(errors))
        yield _rank_outputs(f"⚠️ Please fix the form:\n{text}")
        return
    try:
        yield _rank_outputs("⏳ Loading the target data...")
        progress(0.0, desc="Loading the target data")
        # A signed-in user's token reaches gated datasets and ESMs; it is never logged or shown.
        token = oauth_token.token if oauth_token is not None else None
        plan = _cache_plan(form, token)
        stored = result_cache.default_cache().get(plan.key) if plan is not None else None
        if stored is not None:
            shared_id = "" if stored.restricted else stored.result_id  # gated/private: no link
            yield _finished_outputs(logic.cached_status(stored), stored.ranking, top_k, shared_id)
            return
        dataset = logic.build_dataset(form, token=token)
        yield _rank_outputs(f"⏳ Target data: {_md(dataset.summary())}")
        ranking = None
        events = iter_task_ranking(
            dataset,
            form.base_model,
            source=plan.sources if plan is not None else form.pool,
            filters=logic.form_filters(form),
            token=token,
        )
        for event in events:
            if event.ranking is not None:
                ranking = event.ranking
                break
            if event.stage == "Warning":  # a sample too small to be stable: say so before scoring
                _warn(event.message)
            frac = event.done / event.total if event.total else None
            progress(frac, desc=f"{event.stage} {event.done}/{event.total}" if event.total else event.stage)
            yield _rank_outputs(logic.progress_text(event.stage, event.done, event.total, event.message))
        if ranking is None:
            raise HFSelectError("The ranking stopped before it finished.")
        result_id = ""
        if plan is not None:
            result_id = result_cache.default_cache().put(plan.key, ranking, plan.restricted, plan.target_label)
            result_id = "" if plan.restricted else result_id  # gated/private inputs: never offered as a link
        yield _finished_outputs(f"✅ Done: {dataset.summary()}.", ranking, top_k, result_id)
    except Exception as e:  # noqa: BLE001 - the app must keep serving and never show a traceback
        msg = _message(e)
        _warn(msg)
        yield _rank_outputs(f"❌ {_md(msg)}")


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
    """Checks the Rank form before the event is queued (the handler checks again for direct calls).

    A valid form also takes a JobAdmission ticket here, before Gradio queues the event: refused
    (the app or this client has too much waiting), the message shows at the base model field.
    """
    args = list(args)
    request = args.pop() if args and isinstance(args[-1], gr.Request) else None
    form = logic.RankForm(*args[: len(RANK_FIELDS)])
    errors = logic.form_field_errors(form)
    if not errors:
        refused = _admit(request, "ranking")
        if refused:
            errors = [("base_model", refused)]
    return _validations(RANK_FIELDS, errors, extra=len(args) - len(RANK_FIELDS))


def _with_request(validator, n_inputs: int):
    """``validator`` with ``n_inputs`` positional parameters and a trailing ``request: gr.Request``
    (gradio fills in a request only for a parameter it can see by type)."""

    def run(*args):
        return validator(*args)

    params = [inspect.Parameter(f"arg{i}", inspect.Parameter.POSITIONAL_ONLY) for i in range(n_inputs)]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
    run.__signature__ = inspect.Signature(params)
    run.__annotations__ = {"request": gr.Request}
    return run


def replot(raw: pd.DataFrame | None, k: float):
    if raw is None or len(raw) == 0:
        return gr.skip(), gr.skip(), gr.skip()
    raw = pd.DataFrame(raw)
    raw["Score"] = pd.to_numeric(raw["Score"], errors="coerce")
    return plots.top_k_bar(raw, int(k)), plots.score_histogram(raw, int(k)), plots.score_vs_size(raw, int(k))


def make_result_link(base_url: str, result_id: str | None) -> str:
    """The link to the stored ranking (a short id: no data, works for uploads too); empty when none."""
    return logic.result_url(base_url, result_id) if result_cache.is_result_id(result_id) else ""


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
    status = logic.status_line(online)
    if q.get("problems"):
        status += "\n\n⚠️ This link has values that could not be used: " + "; ".join(q["problems"]) + "."
    values = {
        "status": status,
        "base": base,
        "autorun": q.get("autorun", False),
        "result_ref": q.get("result_id", ""),
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


def autorun_rank(flag: bool, result_id: str | None, *args):
    args = list(args)
    # gradio passes the request last (see the signature below): a share link's autorun is admitted
    # like a click on Rank, so links opened by many cannot queue unbounded work.
    request = args.pop() if args and isinstance(args[-1], gr.Request) else None
    if result_id:
        yield show_stored_result(result_id, args[-1] if args else 10)
        return
    if not flag:
        yield (gr.skip(),) * N_RANK_OUTPUTS
        return
    refused = _admit(request, "ranking")  # the ticket the Rank button's validator would take
    if refused:
        _warn(refused)
        yield (f"⚠️ {_md(refused)}",) + (gr.skip(),) * (N_RANK_OUTPUTS - 1)
        return
    yield from rank(*args, request=request)


autorun_rank.__signature__ = inspect.Signature(
    [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
        for name in ["flag", "result_id", *RANK_FIELDS, "top_k"]
    ]
    + [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)]
)
autorun_rank.__annotations__ = {"request": gr.Request}


# --- "Add your dataset" (ESM studio) --------------------------------------------------------

STUDIO_FIELDS = [
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
    "base_model",
    "epochs",
    "batch_size",
    "learning_rate",
    "fit_method",
]
N_STUDIO_OUTPUTS = 6


def _studio_form(source, example, file, dataset_id, subset, split, text, label, task_type, n, seed, model):
    return logic.RankForm(
        source=source,
        example=example,
        file=file,
        dataset_id=dataset_id,
        subset=subset,
        split=split,
        text_columns=text,
        label_column=label,
        task_type=task_type,
        num_examples=n,
        seed=seed,
        base_model=model,
    )


def studio_estimate(source, example, file, dataset_id, subset, split, text, label, n, epochs, model):
    """The device / time-estimate line, refreshed when the data, size, epochs or base model change."""
    form = _studio_form(source, example, file, dataset_id, subset, split, text, label, "auto", n, None, model)
    try:
        return logic.studio_estimate_markdown(form, epochs)
    except Exception as e:  # noqa: BLE001 - only a hint
        return f"⚠️ {_md(_message(e))}"


def validate_studio(*args):
    """Checks the training form before the event is queued (train_esm checks again for direct calls)."""
    args = list(args)
    request = args.pop() if args and isinstance(args[-1], gr.Request) else None
    form = _studio_form(*args[:12])
    errors = logic.studio_field_errors(form, *args[12:16])
    if not errors:
        refused = _admit(request, "training")
        if refused:
            errors = [("base_model", refused)]
    return _validations(STUDIO_FIELDS, errors, extra=len(args) - len(STUDIO_FIELDS))


def _studio_outputs(status, fit=None, check=None, card=None, download=None, folder=None):
    s = gr.skip()
    return (
        status,
        s if fit is None else fit,
        s if check is None else check,
        s if card is None else card,
        s if download is None else download,
        s if folder is None else folder,
    )


def _gpu_seconds(*args, **kwargs) -> int:
    """ZeroGPU duration for train_esm: the GPU estimate with a margin, within 60-900 s."""
    try:
        n, epochs = int(args[9]), float(args[12])
        seconds = studio.estimate_training_seconds(n, epochs, "cuda", pool_size=40)
    except Exception:  # noqa: BLE001
        return 300
    return int(min(900, max(60, 2 * seconds)))


@gpu_decorator(_gpu_seconds)
@admitted("training", N_STUDIO_OUTPUTS)
def train_esm(
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
    base_model: str,
    epochs: float,
    batch_size: float,
    learning_rate: float,
    fit_method: str,
    progress=gr.Progress(),
):
    """Train an ESM for a dataset (the bundled-ESM format), self-check it and zip it.

    Yields status updates; the last one has the fit quality, the self-check sentence, the model
    card, the zip for download and the ESM folder (kept in a State for publishing).
    """
    form = _studio_form(
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
        base_model,
    )
    errors = logic.studio_field_errors(form, epochs, batch_size, learning_rate, fit_method)
    if errors:
        messages = [m for _, m in errors]
        _warn(" ".join(messages))
        yield _studio_outputs("⚠️ Please fix the form:\n" + "\n".join(f"- {_md(m)}" for m in messages))
        return
    try:
        yield _studio_outputs("⏳ Loading the data...")
        progress(0.0, desc="Loading the data")
        settings = logic.studio_settings(num_examples, seed, epochs, batch_size, learning_rate, fit_method)
        dataset = logic.build_dataset(form)
        # Runs cancelled mid-way may leave their folders; anything older than a day goes.
        logic.remove_old_temp_dirs("hfselect_esm_", 24 * 3600)
        yield _studio_outputs(f"⏳ Data: {_md(dataset.summary())}")
        result = None
        for event in iter_studio_training(
            dataset, form.base_model, settings=settings, **logic.studio_task_meta(form), self_check=True
        ):
            if event.result is not None:
                result = event.result  # the last event: do not break (closing the generator deletes the ESM)
                continue
            desc = f"{event.stage} {event.done}/{event.total}" if event.total else event.stage
            progress(event.fraction, desc=f"{desc}: {event.message}" if event.message else desc)
            yield _studio_outputs(logic.progress_text(event.stage, event.done, event.total, event.message))
        if result is None:
            raise HFSelectError("The training stopped before it finished.")
        problem = result.fit_problem()
        if problem:
            _warn(f"The ESM was trained but is not reliable: {problem}")
        status = (
            f"⚠️ Done, but the ESM is not reliable: {_md(problem)}"
            if problem
            else f"✅ Done: an ESM for {_md(dataset.summary())}."
        )
        yield _studio_outputs(
            status,
            logic.studio_fit_markdown(result),
            f"**Self-check:** {result.self_check_message()}",
            logic.card_for_display(result.card_markdown),
            gr.DownloadButton(value=str(result.zip_path), visible=True),
            str(result.folder),
        )
    except Exception as e:  # noqa: BLE001 - messages, never tracebacks
        msg = _message(e)
        _warn(msg)
        yield _studio_outputs(f"❌ {_md(msg)}")


def suggest_repo(folder: str | None, profile: gr.OAuthProfile | None = None):
    """Pre-fill the repository id with '<user>/ESM_<dataset>' when signed in."""
    try:
        username = getattr(profile, "username", None) or (profile or {}).get("preferred_username")
    except Exception:  # noqa: BLE001 - no OAuth support: nothing to suggest
        username = None
    repo = logic.suggest_repo_id(username, folder)
    return gr.skip() if repo is None else repo


def publish(folder: str | None, repo_id: str, private: bool, token: gr.OAuthToken | None = None, force: bool = False):
    """Publish the last trained ESM to the Hub under the signed-in account; returns a Markdown message.

    An ESM whose map fits poorly is refused unless ``force`` ('Publish even though the fit is poor').
    """
    if not hub.hub_reachable():
        return (
            "⚠️ The Hugging Face Hub cannot be reached, so the ESM cannot be published from here right now. "
            "Download the zip and upload it later, or try again when the Hub is reachable."
        )
    if not folder:
        return "⚠️ Train an ESM first: publishing uploads the last ESM trained here."
    if token is None:
        return (
            "⚠️ Sign in with Hugging Face to publish"
            + (
                " (the button at the top)."
                if os.environ.get("SPACE_ID")
                else " (available when this app runs as a Space)."
            )
            + " You can also download the zip and upload it yourself."
        )
    try:
        url = publish_esm(folder, repo_id, token, private=bool(private), allow_poor_fit=bool(force))
    except Exception as e:  # noqa: BLE001 - the token is never part of the message
        return f"❌ {_md(_message(e))}"
    return f"✅ Published: [{url}]({url}). It is tagged `embedding_space_map`, so rankings on the Hub will find it."


# --- layout --------------------------------------------------------------------------------

# Uploaded files and served downloads older than two hours are deleted from Gradio's cache every hour.
with gr.Blocks(title="hfselect: which dataset should I fine-tune on first?", delete_cache=(3600, 7200)) as demo:
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
    result_ref = gr.State("")  # short id of the stored result shown (result cache)

    with gr.Tabs(selected="tab-rank", elem_id="main-tabs"):
        with gr.Tab("Rank datasets", id="tab-rank", elem_id="tab-rank"):
            with gr.Row():
                with gr.Column(scale=3):
                    source = gr.Radio(list(logic.SOURCES), value="example", label="Target source", visible=False)
                    with gr.Tabs(selected=TAB_IDS["example"]) as tabs:
                        with gr.Tab("Examples", id=TAB_IDS["example"]) as tab_example:
                            gr.Markdown("One click fills the whole form. Nothing is precomputed: Rank runs live.")
                            with gr.Row():
                                example_buttons = [
                                    gr.Button(ex["title"], size="sm", elem_id=f"example-{ex['name']}")
                                    for ex in EXAMPLES
                                ]
                            example = gr.Dropdown(
                                [(ex["title"], ex["name"]) for ex in EXAMPLES],
                                value=None,
                                label="Example dataset",
                                allow_custom_value=True,
                                elem_id="example-dropdown",
                            )
                            example_info = gr.Markdown()
                            example_preview = gr.Dataframe(
                                label="First rows", interactive=False, max_height=260, wrap=True
                            )
                        with gr.Tab("Upload a file", id=TAB_IDS["file"]) as tab_file:
                            file = gr.File(
                                label=f"CSV, TSV, JSON, JSONL or Parquet (up to {limits.max_upload_bytes() // 1_000_000} MB)",
                                file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet"],
                                type="filepath",
                            )
                            file_info = gr.Markdown()
                            file_preview = gr.Dataframe(
                                label="First rows", interactive=False, max_height=260, wrap=True
                            )
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
                                ""
                                if ONLINE
                                else "⚠️ Offline: Hub datasets are not available. Use an example or upload a file."
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
                        label_column = gr.Dropdown(
                            [], label="Label column", allow_custom_value=True, elem_id="label-column"
                        )
                        task_type = gr.Radio(
                            list(logic.TASK_TYPES), value="auto", label="Task type", elem_id="task-type"
                        )
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
                        share_box = gr.Textbox(
                            label="Link with this form filled in", buttons=["copy"], elem_id="share-link"
                        )
                        share_button = gr.Button("Update link", size="sm")
                        result_link = gr.Textbox(
                            label="Link to this result (the stored ranking: nothing is recomputed, no data in it)",
                            buttons=["copy"],
                            elem_id="result-link",
                        )

            gr.Markdown("## Results")
            summary = gr.Markdown(elem_id="summary")
            with gr.Accordion("About the method: what the scores mean, the evidence, the limits", open=False):
                gr.Markdown(logic.ABOUT_METHOD, elem_id="about-method")
            results = gr.Dataframe(
                logic.empty_results(),
                datatype=logic.RESULT_DATATYPES,
                interactive=False,
                show_search="filter",
                buttons=["copy", "fullscreen"],
                pinned_columns=2,
                max_height=520,
                label="Ranking: a relative order of candidate tasks (higher score = more promising; rank interval and ties from resampling)",
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

        with gr.Tab("Add your dataset", id="tab-studio", elem_id="tab-studio"):
            gr.Markdown(
                "Train an **ESM** (embedding space map) for your own dataset, in the same format as the ESMs on the "
                "Hub, check that it ranks its own task near the top, download it, and publish it so that everyone's "
                "rankings can suggest your dataset."
            )
            s_source = gr.Radio(list(logic.SOURCES), value="example", label="Dataset source", visible=False)
            with gr.Row():
                with gr.Column(scale=3):
                    with gr.Tabs(selected="s-tab-example"):
                        with gr.Tab("Examples", id="s-tab-example") as s_tab_example:
                            s_example = gr.Dropdown(
                                [(ex["title"], ex["name"]) for ex in EXAMPLES],
                                value=None,
                                label="Example dataset",
                                allow_custom_value=True,
                                elem_id="studio-example",
                            )
                            s_example_info = gr.Markdown()
                        with gr.Tab("Upload a file", id="s-tab-file") as s_tab_file:
                            s_file = gr.File(
                                label="CSV, TSV, JSON, JSONL or Parquet",
                                file_types=[".csv", ".tsv", ".json", ".jsonl", ".parquet"],
                                type="filepath",
                                elem_id="studio-file",
                            )
                            s_file_info = gr.Markdown()
                        with gr.Tab("Hub dataset", id="s-tab-hub") as s_tab_hub:
                            with gr.Row():
                                s_dataset_id = gr.Textbox(label="Dataset id", placeholder="owner/name", scale=3)
                                s_hub_button = gr.Button("Look up", scale=1)
                            with gr.Row():
                                s_subset = gr.Dropdown([], label="Subset", allow_custom_value=True)
                                s_split = gr.Dropdown(["train"], value="train", label="Split", allow_custom_value=True)
                            s_hub_info = gr.Markdown(
                                "" if ONLINE else "⚠️ Offline: Hub datasets are not available. Use an example or a file."
                            )
                    s_preview = gr.Dataframe(label="First rows", interactive=False, max_height=220, wrap=True)
                    with gr.Row():
                        s_text = gr.Dropdown(
                            [], multiselect=True, label="Text column(s)", allow_custom_value=True, elem_id="studio-text"
                        )
                        s_label = gr.Dropdown([], label="Label column", allow_custom_value=True, elem_id="studio-label")
                        s_task_type = gr.Radio(list(logic.TASK_TYPES), value="auto", label="Task type")
                with gr.Column(scale=2):
                    s_model = gr.Dropdown(
                        MODEL_CHOICES,
                        value=logic.BUNDLED_MODEL_ID,
                        label="Base model",
                        allow_custom_value=True,
                        elem_id="studio-model",
                    )
                    with gr.Row():
                        s_n = gr.Number(
                            logic.studio_default_examples(),
                            label="Number of examples (sample)",
                            precision=0,
                            minimum=studio.MIN_TRAINING_EXAMPLES,
                            elem_id="studio-n",
                        )
                        s_seed = gr.Number(logic.DEFAULT_SEED, label="Seed", precision=0, elem_id="studio-seed")
                    with gr.Accordion("Training settings (defaults: those of the ESMs on the Hub)", open=False):
                        s_epochs = gr.Number(3, label="Fine-tuning epochs", minimum=0, elem_id="studio-epochs")
                        s_batch = gr.Number(32, label="Batch size", precision=0, minimum=1, elem_id="studio-batch")
                        s_lr = gr.Number(2e-5, label="Learning rate", minimum=0, elem_id="studio-lr")
                        s_fit = gr.Radio(
                            logic.FIT_METHOD_CHOICES, value="closed_form", label="Fit method", elem_id="studio-fit"
                        )
                        gr.Markdown(
                            "Limits: " + "; ".join(f"{k}: {v}" for k, v in studio.studio_limits().describe().items())
                        )
                    s_estimate = gr.Markdown(elem_id="studio-estimate")
                    with gr.Row():
                        train_button = gr.Button("Train ESM", variant="primary", elem_id="train-button")
                        train_cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
                    s_status = gr.Markdown(elem_id="studio-status")
            gr.Markdown("## Your ESM")
            s_fit_md = gr.Markdown(elem_id="studio-fit-quality")
            s_check_md = gr.Markdown(elem_id="studio-self-check")
            s_download = gr.DownloadButton(
                "Download the ESM (zip)", value=None, visible=False, elem_id="studio-download"
            )
            with gr.Accordion("Model card", open=True):
                s_card = gr.Markdown(elem_id="studio-card")
            s_folder = gr.State(None)
            with gr.Accordion("Publish to the Hub", open=True):
                gr.Markdown(
                    "Publishing creates a model repository under your account with the ESM's three files. "
                    + (
                        "Sign in with the button at the top first."
                        if os.environ.get("SPACE_ID")
                        else "Sign-in is available when the app runs as a Space; here, download the zip instead."
                    )
                )
                with gr.Row():
                    s_repo = gr.Textbox(
                        label="Repository id", placeholder="your-username/ESM_name", scale=3, elem_id="studio-repo"
                    )
                    s_private = gr.Checkbox(False, label="Private", scale=1)
                    s_force = gr.Checkbox(False, label="Publish even though the fit is poor (not recommended)", scale=1)
                publish_button = gr.Button("Publish", elem_id="publish-button")
                s_publish_md = gr.Markdown(elem_id="studio-publish")

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
        hub_lookup_tab,
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
        result_ref,
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
    rank_event = rank_button.click(
        rank,
        rank_inputs,
        rank_outputs,
        api_name="rank",
        concurrency_limit=2,
        concurrency_id="rank",
        validator=_with_request(validate_rank, len(rank_inputs)),
    )
    rank_event.then(make_share_link, share_inputs, share_box, api_visibility="private")
    rank_event.then(make_result_link, [base_url, result_ref], result_link, api_visibility="private")
    cancel_button.click(cancel_waiting, None, rank_status, cancels=[rank_event], api_visibility="private", queue=False)
    share_button.click(make_share_link, share_inputs, share_box, api_visibility="private")
    top_k.release(replot, [raw_table, top_k], [bar_plot, hist_plot, size_plot], api_visibility="private")

    load_outputs = [
        status_line,
        base_url,
        autorun,
        result_ref,
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
        autorun_rank,
        [autorun, result_ref, *rank_inputs],
        rank_outputs,
        api_visibility="private",
        concurrency_limit=2,
        concurrency_id="rank",
    )
    auto_event.then(make_share_link, share_inputs, share_box, api_visibility="private")
    auto_event.then(make_result_link, [base_url, result_ref], result_link, api_visibility="private")
    cancel_button.click(None, None, None, cancels=[auto_event], api_visibility="private", queue=False)

    # --- studio events -------------------------------------------------------------------
    s_example.input(
        fill_example,
        s_example,
        [s_source, s_example, s_text, s_label, s_task_type, s_example_info, s_preview],
        api_visibility="private",
    )
    s_tab_example.select(lambda: "example", None, s_source, api_visibility="private")
    s_tab_file.select(lambda: "file", None, s_source, api_visibility="private")
    s_tab_hub.select(lambda: "hub", None, s_source, api_visibility="private")
    s_file.upload(fill_file, s_file, [s_source, s_text, s_label, s_preview, s_file_info], api_visibility="private")
    s_hub_outputs = [s_subset, s_split, s_text, s_label, s_preview, s_hub_info]
    gr.on(
        [s_dataset_id.submit, s_hub_button.click],
        hub_lookup_tab,
        s_dataset_id,
        [s_source, *s_hub_outputs],
        api_visibility="private",
    )
    s_subset.input(hub_lookup, [s_dataset_id, s_subset], s_hub_outputs, api_visibility="private")
    estimate_inputs = [
        s_source,
        s_example,
        s_file,
        s_dataset_id,
        s_subset,
        s_split,
        s_text,
        s_label,
        s_n,
        s_epochs,
        s_model,
    ]
    gr.on(
        [demo.load, s_n.change, s_epochs.change, s_model.change, s_source.change, s_example.change, s_text.change],
        studio_estimate,
        estimate_inputs,
        s_estimate,
        api_visibility="private",
        queue=False,
        show_progress="hidden",
    )
    studio_inputs = [
        s_source,
        s_example,
        s_file,
        s_dataset_id,
        s_subset,
        s_split,
        s_text,
        s_label,
        s_task_type,
        s_n,
        s_seed,
        s_model,
        s_epochs,
        s_batch,
        s_lr,
        s_fit,
    ]
    studio_outputs = [s_status, s_fit_md, s_check_md, s_card, s_download, s_folder]
    train_event = train_button.click(
        train_esm,
        studio_inputs,
        studio_outputs,
        api_name="train_esm",
        concurrency_limit=1,
        concurrency_id="train",
        validator=_with_request(validate_studio, len(studio_inputs)),
    )
    train_event.then(suggest_repo, s_folder, s_repo, api_visibility="private")
    train_cancel.click(cancel_waiting, None, s_status, cancels=[train_event], api_visibility="private", queue=False)
    publish_button.click(
        publish, [s_folder, s_repo, s_private, s_force], s_publish_md, api_visibility="private", concurrency_limit=1
    )

# Gradio's max_size is a second line only: it is overshot when requests arrive together (see JOBS).
demo.queue(max_size=limits.max_queued_jobs(), default_concurrency_limit=2)


_blocks_launch = demo.launch


def _launch(*args, **kwargs):
    """demo.launch with this app's defaults (upload cap, theme, CSS) however it is launched (tests too)."""
    kwargs.setdefault("max_file_size", limits.max_upload_bytes())
    kwargs.setdefault("theme", gr.themes.Soft(primary_hue="orange"))
    kwargs.setdefault("css", CSS)
    return _blocks_launch(*args, **kwargs)


demo.launch = _launch


if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
