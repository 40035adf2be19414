"""The "Add your dataset" tab (ESM studio): train an ESM for a dataset, self-check it, download, publish.

The form is ``fields.STUDIO_FIELDS`` (the same target picker as the rank tab, then the training
fields); the handler, validator and API parameter names are derived from it.
"""

from __future__ import annotations

import html
import inspect
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import gradio as gr

from hfselect_core import card, estimate, hub, studio
from hfselect_core.data import read_table
from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.errors import CancelledError, HFSelectError, PoorFitError
from hfselect_core.sources import esm_coverage
from hfselect_core.training import DEFAULT_LM_BATCH_SIZE, TrainingSettings

from . import fields, presenters, targets
from .admission import admitted, cancel_waiting, zero_gpu
from .context import ONLINE_DEFAULT_MODEL
from .picker import target_picker
from .progress import STUDIO_CANCELLED, STUDIO_STAGES, StagedStatus
from .settings import AppSettings
from .text import error_message, fix_form_status, md_code, md_message, md_text, ordered_outputs, warn
from .validators import DEFAULT_SEED, as_list, check_base_model_allowed, field_errors, source_of
from .zerogpu import on_zero_gpu, training_handler_seconds

FIELDS = fields.STUDIO_FIELDS
StudioForm = fields.form_class("StudioForm", FIELDS)
PICKER_IDS = {
    "example": "studio-example",
    "file": "studio-file",
    "text_columns": "studio-text",
    "label_column": "studio-label",
}
# The train_esm API's outputs, in order.
OUTPUTS = ("status", "fit", "check", "card", "download", "folder")
FORCE_LABEL = "Publish even though the fit is poor (not recommended)"
# The form's target source -> what the card says about the data (only a Hub dataset gets a datasets: entry).
SOURCE_KINDS = {"hub": card.SOURCE_HUB, "file": card.SOURCE_UPLOAD, "example": card.SOURCE_EXAMPLE}
_KNOWN_MODEL_SIZES = {BUNDLED_MODEL_ID: (384, 6), ONLINE_DEFAULT_MODEL: (768, 12), "bert-base-uncased": (768, 12)}


def outputs(status: str, **values: Any) -> tuple:
    """The handler's outputs in :data:`OUTPUTS` order; the ones not given are left as they are."""
    return ordered_outputs(OUTPUTS, {"status": status, **values})


# --- presenting a run --------------------------------------------------------------------------------


def training_settings(form: Any) -> TrainingSettings:
    """TrainingSettings from the studio form (card defaults for everything not on the form)."""
    epochs = float(form.epochs)
    settings = TrainingSettings(
        lm_num_epochs=int(epochs) if epochs.is_integer() else epochs,
        lm_batch_size=int(form.batch_size),
        lm_learning_rate=float(form.learning_rate),
        seed=int(form.seed) if form.seed not in (None, "") else DEFAULT_SEED,
        fit_method=form.fit_method or "closed_form",
    )
    if form.num_examples not in (None, ""):
        settings.max_examples = int(form.num_examples)
    return settings


def model_size(model_id: str) -> tuple[int, int | None]:
    """(hidden size, layers) of a base model, from its cached config when there is one (no download)."""
    model_id = (model_id or "").strip()
    if model_id in _KNOWN_MODEL_SIZES:
        return _KNOWN_MODEL_SIZES[model_id]
    try:
        # A server folder the app may not load must not leak through the estimate either.
        check_base_model_allowed(model_id)
        from hfselect_core.embedding import TRANSFORMERS_LOCK

        with TRANSFORMERS_LOCK:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model_id, local_files_only=True)
        dim = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or 768
        return int(dim), getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)
    except Exception:  # noqa: BLE001 - unknown model: assume a BERT-base-sized one
        return 768, 12


@lru_cache(maxsize=32)
def _file_profile(
    path: str, mtime: float, columns: tuple[str, ...], batch_size: int
) -> tuple[int, estimate.TextProfile | None]:
    df = read_table(path)
    cols = [c for c in columns if c in df.columns]
    if not cols:
        return len(df), None
    texts = df[cols].astype(str).agg(" [SEP] ".join, axis=1).tolist()
    return len(df), estimate.text_profile(texts, batch_size=batch_size)


def target_profile(form: Any, batch_size: int = 32) -> tuple[int | None, estimate.TextProfile | None]:
    """(rows, text profile) of the chosen example or uploaded file; (None, None) when unknown (Hub, nothing chosen)."""
    try:
        source = source_of(form)
        if source == "example" and form.example:
            ex = targets.get_example(form.example)
            path, cols = targets.example_file(form.example), as_list(form.text_columns) or list(ex["text_columns"])
        elif source == "file" and form.file:
            path, cols = targets.checked_upload(form.file), as_list(form.text_columns)
        else:
            return None, None
        return _file_profile(str(path), Path(path).stat().st_mtime, tuple(cols), batch_size)
    except Exception:  # noqa: BLE001 - only an estimate
        return None, None


def mean_tokens(form: Any) -> float | None:
    """Approximate tokens per text of the chosen example/uploaded file (None when unknown)."""
    profile = target_profile(form)[1]
    return profile.mean_tokens if profile is not None else None


def _seconds(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else estimate.format_duration(seconds).removeprefix("about ")


def estimate_markdown(form: Any, device: str | None = None) -> str:
    """'Device: CPU · estimated time: about 2 min (...)' for the rows that will really be trained on,
    their text lengths, the epochs, batch size and base model (``hfselect_core.estimate``)."""
    device = device or studio.default_device()
    where = "GPU" if str(device).startswith("cuda") else "CPU"
    try:
        n = int(form.num_examples)
        e = float(form.epochs)
        batch = int(form.batch_size) if form.batch_size not in (None, "") else DEFAULT_LM_BATCH_SIZE
    except (TypeError, ValueError):
        return f"Device: **{where}**. Set the number of examples and epochs to see a time estimate."
    model = (form.base_model or BUNDLED_MODEL_ID).strip()
    dim, layers = model_size(model)
    pool = esm_coverage(include_hub=False)["bundled"].get(model, 0)
    rows, profile = target_profile(form, max(1, batch))
    trained = min(n, rows) if rows else n
    est = estimate.estimate_studio_seconds(
        trained, e, device, profile=profile, batch_size=max(1, batch), base_model_dim=dim, num_layers=layers,
        pool_size=pool,
    )  # fmt: skip
    cap = studio.studio_limits().max_examples(device)
    size = f"{trained:,} examples" + (f" (all {rows:,} rows of the data)" if rows and rows <= n else "")
    parts = est.parts
    return (
        f"Device: **{where}** · estimated time: **{estimate.format_duration(est.total)}** on an otherwise idle "
        f"machine (fine-tuning ~{_seconds(parts['fine_tune'])}, embedding and fit ~{_seconds(parts['embed'] + parts['fit'])}, "
        f"self-check against {pool} bundled ESM(s) ~{_seconds(parts.get('self_check', 0.0))}): {size} × {e:g} epoch(s) "
        f"with {md_code(model)}; at most {cap:,} examples on {where} here."
    )


def fit_markdown(result) -> str:
    """Fit quality and timings of a StudioResult, as Markdown."""
    fit = result.fit
    secs = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in result.seconds.items())
    problem = studio.fit_problem(fit.r2)
    text = (f"⚠️ **This ESM is not reliable.** {problem}\n\n" if problem else "") + (
        f"**Fit quality** of the linear map on held-out pairs: MSE **{fit.mse:.4g}**, R² **{fit.r2:.3f}** "
        f"({fit.method.replace('_', ' ')}, {fit.num_train_pairs} training / {fit.num_heldout_pairs} held-out pairs).\n\n"
        f"Trained on {result.num_examples:,} examples on {result.device.upper()}" + (f" ({secs})." if secs else ".")
    )
    if result.notes:
        text += "\n\n" + "\n".join(f"- {md_text(note, 1000)}" for note in result.notes)
    return text


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


def suggest_repo_id(username: str | None, folder: str | None) -> str | None:
    """'<user>/ESM_<task>_<subset>' for the last trained ESM (None without a user or an ESM)."""
    if not username or not folder:
        return None
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        return studio.default_repo_id(username, config.get("task_id") or "dataset", config.get("task_subset"))
    except (OSError, ValueError, HFSelectError):
        return None


# --- handlers ------------------------------------------------------------------------------------------


def studio_estimate(*args: Any) -> str:
    """The device / time-estimate line (``args``: the studio fields, in table order)."""
    try:
        return estimate_markdown(StudioForm(**fields.bind(FIELDS, args, {})))
    except Exception as e:  # noqa: BLE001 - only a hint
        return f"⚠️ {md_message(error_message(e))}"


def _train(form, progress=None, should_stop=None) -> Iterator[tuple]:
    messages = [e.message for e in field_errors(FIELDS, form)]
    if messages:
        warn(" ".join(messages))
        yield outputs(fix_form_status(messages))
        return
    staged = StagedStatus(STUDIO_STAGES, "Training")
    try:
        yield outputs(staged.update("Data", message="reading the sample"))
        progress(0.0, desc="Loading the data")
        settings = training_settings(form)
        dataset = targets.build_dataset(form)
        # Runs cancelled mid-way may leave their folders; anything older than a day goes.
        presenters.remove_old_temp_dirs("hfselect_esm_", 24 * 3600)
        yield outputs(staged.update("Data", 1, 1, dataset.summary()))
        result = None
        events = studio.iter_studio_training(
            dataset,
            form.base_model,
            settings=settings,
            **targets.task_meta(form),
            self_check=True,
            should_stop=should_stop,
        )
        for event in events:
            if event.result is not None:
                result = event.result  # the last event: do not break (closing the generator deletes the ESM)
                continue
            desc = f"{event.stage} {event.done}/{event.total}" if event.total else event.stage
            progress(event.fraction, desc=f"{desc}: {event.message}" if event.message else desc)
            yield outputs(staged.update(event.stage, event.done, event.total, event.message))
        if result is None:
            raise HFSelectError("The training stopped before it finished.")
        # The card fields of the form go into config.json and README.md; the zip is made again so
        # that it carries them.
        card_text = card.apply_card_fields(
            result.folder,
            language=form.language or None,
            license=form.license or None,
            data_source=form.data_source or None,
            source_kind=SOURCE_KINDS.get(source_of(form)),
        )
        studio.zip_esm_folder(result.folder, result.zip_path)
        problem = result.fit_problem()
        if problem:
            warn(f"The ESM was trained but is not reliable: {problem}")
        status = (
            f"⚠️ Done, but the ESM is not reliable: {md_message(problem)}"
            if problem
            else f"✅ Done: an ESM for {md_message(dataset.summary())}."
        )
        yield outputs(
            status,
            fit=fit_markdown(result),
            check=f"**Self-check:** {result.self_check_message()}",
            card=card_for_display(card_text),
            download=gr.DownloadButton(value=str(result.zip_path), visible=True),
            folder=str(result.folder),
        )
    except CancelledError:
        yield outputs(STUDIO_CANCELLED)  # asked for: neutral, the last ESM stays
    except Exception as e:  # noqa: BLE001 - messages, never tracebacks
        msg = error_message(e)
        warn(msg)
        yield outputs(f"❌ {md_message(msg)}")


_EXTRA = [
    inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()),
    # Given by admission.admitted: true once this client pressed Cancel (keyword-only: not an API input).
    inspect.Parameter("should_stop", inspect.Parameter.KEYWORD_ONLY, default=None),
]
_DOC = fields.api_docstring(
    "Train an ESM for a dataset (the bundled-ESM format), self-check it and zip it.",
    FIELDS,
    "status, fit quality Markdown, self-check sentence, model card Markdown, the zip (download), the ESM folder.",
)

#: The ``/train_esm`` handler: one parameter per studio field (by name). Yields status updates;
#: the last one has the fit quality, self-check, card, zip and folder (kept in a State for publishing).
train_esm = on_zero_gpu(training_handler_seconds)(
    admitted("training", len(OUTPUTS))(
        fields.form_handler(FIELDS, StudioForm, _train, _EXTRA, name="train_esm", doc=_DOC)
    )
)

#: The Train button's validator.
validate_studio = fields.form_validator(FIELDS, StudioForm, "training")


def cancelled_training(request: gr.Request | None = None) -> str:
    """The studio's Cancel: the run is asked to stop (between steps); a neutral status at once."""
    cancel_waiting(request)
    return STUDIO_CANCELLED


def suggest_repo(folder: str | None, profile: gr.OAuthProfile | None = None):
    """Pre-fill the repository id with '<user>/ESM_<dataset>' when signed in."""
    try:
        username = getattr(profile, "username", None) or (profile or {}).get("preferred_username")
    except Exception:  # noqa: BLE001 - no OAuth support: nothing to suggest
        username = None
    repo = suggest_repo_id(username, folder)
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
        where = (
            " (the button at the top)."
            if AppSettings.from_env().on_spaces
            else " (available when this app runs as a Space)."
        )
        return (
            "⚠️ Sign in with Hugging Face to publish" + where + " You can also download the zip and upload it yourself."
        )
    try:
        url = studio.publish_esm(folder, repo_id, token, private=bool(private), allow_poor_fit=bool(force))
    except PoorFitError as e:
        # The core speaks of its Python argument; here the same choice is a checkbox.
        message = error_message(e).replace("pass allow_poor_fit=True", f"tick '{FORCE_LABEL}'")
        return f"❌ {md_message(message)}"
    except Exception as e:  # noqa: BLE001 - the token is never part of the message
        return f"❌ {md_message(error_message(e))}"
    return f"✅ Published: [{url}]({url}). It is tagged `embedding_space_map`, so rankings on the Hub will find it."


# --- layout ---------------------------------------------------------------------------------------------


def build(ctx, demo: gr.Blocks) -> None:
    """The tab's layout and events (call inside ``gr.Tab``)."""
    gr.Markdown(
        "Train an **ESM** (embedding space map) for your own dataset, in the same format as the ESMs on the "
        "Hub, check that it ranks its own task near the top, download it, and publish it so that everyone's "
        "rankings can suggest your dataset."
    )
    with gr.Row():
        with gr.Column(scale=3):
            picker = target_picker(ctx.examples, ctx.online, ids=PICKER_IDS, tab_prefix="s-tab-")
        with gr.Column(scale=2):
            components = {**picker.components(), **fields.build_components(FIELDS, "model", ctx)}
            with gr.Row():
                components.update(fields.build_components(FIELDS, "sample", ctx))
            with gr.Accordion("Training settings (defaults: those of the ESMs on the Hub)", open=False):
                components.update(fields.build_components(FIELDS, "training", ctx))
                gr.Markdown("Limits: " + "; ".join(f"{k}: {v}" for k, v in studio.studio_limits().describe().items()))
            with gr.Accordion("Model card: language, license, data source", open=False):
                components.update(fields.build_components(FIELDS, "card", ctx))
            estimate_md = gr.Markdown(elem_id="studio-estimate")
            with gr.Row():
                train_button = gr.Button("Train ESM", variant="primary", elem_id="train-button")
                train_cancel = gr.Button("Cancel", variant="stop", elem_id="train-cancel")
            status = gr.Markdown(elem_id="studio-status")
    gr.Markdown("## Your ESM")
    fit_md = gr.Markdown(elem_id="studio-fit-quality")
    check_md = gr.Markdown(elem_id="studio-self-check")
    download = gr.DownloadButton("Download the ESM (zip)", value=None, visible=False, elem_id="studio-download")
    with gr.Accordion("Model card", open=True):
        card = gr.Markdown(elem_id="studio-card")
    folder = gr.State(None)
    with gr.Accordion("Publish to the Hub", open=True):
        gr.Markdown(
            "Publishing creates a model repository under your account with the ESM's three files. "
            + (
                "Sign in with the button at the top first."
                if ctx.settings.on_spaces
                else "Sign-in is available when the app runs as a Space; here, download the zip instead."
            )
        )
        with gr.Row():
            repo = gr.Textbox(
                label="Repository id", placeholder="your-username/ESM_name", scale=3, elem_id="studio-repo"
            )
            private_box = gr.Checkbox(False, label="Private", scale=1)
            force = gr.Checkbox(False, label=FORCE_LABEL, scale=1)
        publish_button = gr.Button("Publish", elem_id="publish-button")
        publish_md = gr.Markdown(elem_id="studio-publish")

    # --- events ----------------------------------------------------------------------------
    picker.wire()
    private = {"api_visibility": "private"}
    studio_inputs = fields.inputs(FIELDS, components)
    gr.on(
        [demo.load]
        + [
            components[name].change
            for name in (
                "num_examples",
                "epochs",
                "batch_size",
                "base_model",
                "source",
                "example",
                "file",
                "text_columns",
            )
        ],
        studio_estimate,
        studio_inputs,
        estimate_md,
        queue=False,
        show_progress="hidden",
        **private,
    )
    named_outputs = {
        "status": status,
        "fit": fit_md,
        "check": check_md,
        "card": card,
        "download": download,
        "folder": folder,
    }
    train_event = train_button.click(
        train_esm,
        studio_inputs,
        [named_outputs[name] for name in OUTPUTS],
        api_name="train_esm",
        concurrency_limit=1,
        concurrency_id="train",
        validator=validate_studio,
    )
    train_event.then(suggest_repo, folder, repo, **private)
    # Cancel stops the training from inside (between steps), so the run ends with a neutral status
    # instead of Gradio's "Error" badges; ZeroGPU workers cannot see that flag (admission.zero_gpu).
    train_cancel.click(
        cancelled_training,
        None,
        status,
        cancels=[train_event] if zero_gpu() else None,
        queue=False,
        **private,
    )
    publish_button.click(publish, [folder, repo, private_box, force], publish_md, concurrency_limit=1, **private)
