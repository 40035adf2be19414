"""THE field table: every input of the rank form and of the studio form, in API order, in one place.

Each :class:`Field` says everything about one input: its name (the handler's parameter, the public
API's parameter that gradio_client callers pass by name, and the form's attribute), its default for
API callers, how its component is built and where it goes, its check, and its share-link key and
codecs. Everything else is derived from the tables below: the events' input lists, the handlers'
signatures and argument unpacking (:func:`form_handler`), the form classes, the validators and the
share links. To add a field, add one line to ``RANK_FIELDS`` or ``STUDIO_FIELDS`` (and teach the
core about it if it needs to).

Target fields (section ``"target"``) have no factory: the target picker builds them in its tabs.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from hfselect_core import card
from hfselect_core.embedding import BUNDLED_MODEL_ID
from hfselect_core.errors import HFSelectError
from hfselect_core.training import DEFAULT_LM_BATCH_SIZE, DEFAULT_LM_EPOCHS, DEFAULT_LM_LEARNING_RATE

from . import share
from . import validators as v
from .admission import admit

Check = Callable[[Any, Any], "str | None"]


@dataclass(frozen=True)
class Field:
    """One form input.

    Args:
        name: parameter name of the handler and of the public API, attribute of the form.
        default: the value an API caller who leaves the parameter out gets.
        doc: one line for the API documentation.
        section: where the tab puts the component ("target": the target picker builds it).
        make: builds the component (given the page context); None for target fields.
        check: the field's validator, ``check(value, form) -> message | None``.
        clean: normalises what gradio sends (None for an untouched radio, stray spaces).
        source: the target source the field belongs to ("example", "file", "hub"), if any.
        selects_source: a share link with this field picks its source.
        share_key: the key in share links (None: never shared).
        share_encode / share_parse: value -> link text, link text -> value (see :mod:`share`).
        share_omit_default: leave the field out of links while it has its default.
        api_example: the value the API page shows for the parameter (instead of gradio's
            placeholder such as "Hello!!").
        api_default: the default API callers get when the form's own default is empty (shown on
            the API page and sent by gradio_client when the parameter is left out).
    """

    name: str
    default: Any = None
    doc: str = ""
    section: str = "target"
    make: Callable[[Any], gr.components.Component] | None = None
    check: Check | None = None
    clean: Callable[[Any], Any] | None = None
    source: str | None = None
    selects_source: bool = False
    share_key: str | None = None
    share_encode: Callable[[Any], str] = share.encode_text
    share_parse: Callable[[str], Any] = share.parse_text
    share_omit_default: bool = True
    api_example: Any = None
    api_default: Any = None


def _or_auto(value: Any) -> Any:
    return value or "auto"


# Number components get no minimum/maximum: gradio would refuse an API caller's value with its own
# message before the app's check (validators.py) can say what is wrong and what to do.


def _stripped(value: Any) -> str:
    return (value or "").strip()


# --- fields of the target picker (both tabs) ---------------------------------------------------

SOURCE = Field(
    "source", "example", '"example", "file" or "hub": where the target data comes from.', check=v.check_source
)
EXAMPLE = Field(
    "example",
    doc='example name from assets/examples/examples.json (source "example"), e.g. "product_reviews".',
    check=v.check_example,
    source="example",
    selects_source=True,
    share_key="example",
    share_parse=share.parse_example,
    api_example="product_reviews",
    api_default="product_reviews",
)
FILE = Field(
    "file",
    doc='path/URL of a CSV, TSV, JSON, JSONL or Parquet file (source "file"; use gradio_client.handle_file).',
    check=v.check_file,
    source="file",
)
DATASET_ID = Field(
    "dataset_id",
    doc='Hub dataset id such as "stanfordnlp/imdb" (source "hub").',
    check=v.check_dataset_id,
    source="hub",
    selects_source=True,
    share_key="dataset",
    share_parse=share.parse_stripped,
    api_example="stanfordnlp/imdb",
)
SUBSET = Field("subset", doc="Hub dataset subset/config, or empty.", source="hub", share_key="subset")
SPLIT = Field(
    "split", "train", 'Hub dataset split, e.g. "train".', check=v.check_split, source="hub", share_key="split"
)
TEXT_COLUMNS = Field(
    "text_columns",
    doc='list of text column names (joined with " [SEP] "); optional for examples.',
    check=v.check_text_columns,
    share_key="text",
    share_parse=share.parse_columns,
)
LABEL_COLUMN = Field(
    "label_column", doc="label column name; optional for examples.", check=v.check_label_column, share_key="label"
)
TASK_TYPE = Field(
    "task_type",
    "auto",
    '"auto", "classification" or "regression".',
    check=v.check_task_type,
    clean=_or_auto,
    share_key="task_type",
    share_parse=share.parse_task_type,
)
TARGET_FIELDS = (SOURCE, EXAMPLE, FILE, DATASET_ID, SUBSET, SPLIT, TEXT_COLUMNS, LABEL_COLUMN, TASK_TYPE)

SEED = Field(
    "seed",
    v.DEFAULT_SEED,
    f"sampling seed (default {v.DEFAULT_SEED}).",
    "advanced",
    lambda ctx: gr.Number(v.DEFAULT_SEED, label="Seed", precision=0, elem_id="seed"),
    v.check_seed,
    share_key="seed",
    share_encode=share.encode_whole,
    share_parse=share.parse_seed,
)


# --- the rank form (the public /rank API, in its parameter order) -------------------------------

RANK_FIELDS: tuple[Field, ...] = (
    *TARGET_FIELDS,
    Field(
        "num_examples",
        v.DEFAULT_NUM_EXAMPLES,
        f"how many examples to sample (default {v.DEFAULT_NUM_EXAMPLES}).",
        "advanced",
        lambda ctx: gr.Number(
            v.DEFAULT_NUM_EXAMPLES,
            label="Number of examples",
            precision=0,
            elem_id="num-examples",
        ),
        v.check_num_examples,
        share_key="n",
        share_encode=share.encode_whole,
        share_parse=share.parse_num_examples,
    ),
    SEED,
    Field(
        "max_esms",
        0,
        "cap on the number of ESMs scored (0 or empty: no cap).",
        "advanced",
        lambda ctx: gr.Number(0, label="Max ESMs (0: no cap)", precision=0),
        v.check_max_esms,
    ),
    Field(
        "task_filter",
        "",
        "keep only ESMs whose task id contains this text.",
        "advanced",
        lambda ctx: gr.Textbox("", label="Task id contains", placeholder="e.g. glue"),
        api_example="",
    ),
    Field(
        "language",
        "",
        'keep only ESMs of this language code, e.g. "en".',
        "advanced",
        lambda ctx: gr.Textbox("", label="Language code", placeholder="e.g. en"),
        api_example="",
    ),
    Field(
        "base_model",
        BUNDLED_MODEL_ID,
        f'base model id, e.g. "{BUNDLED_MODEL_ID}".',
        "model",
        lambda ctx: gr.Dropdown(
            ctx.model_choices,
            value=ctx.default_model,
            label="Base model (ESM count)",
            allow_custom_value=True,
            elem_id="base-model",
        ),
        v.check_base_model,
        clean=_stripped,
        share_key="model",
        share_omit_default=False,
    ),
    Field(
        "pool",
        "auto",
        '"auto", "bundled", "hub" or "both": where ESMs come from.',
        "model",
        lambda ctx: gr.Radio(
            list(v.POOLS),
            value="auto",
            label="ESM pool",
            info="auto: the Hub when online, else the bundled pool",
            elem_id="pool",
        ),
        v.check_pool,
        clean=_or_auto,
        share_key="pool",
        share_parse=share.parse_pool,
    ),
    Field(
        "top_k",
        10,
        "how many tasks the bar chart shows.",
        "plots",
        lambda ctx: gr.Slider(3, 50, value=10, step=1, label="Top k in the plots"),
    ),
)


# --- the studio form ("Add your dataset": the train_esm API) -------------------------------------


def _card_check(checker: Callable[[Any], Any]) -> Check:
    """A field check from one of the card's checks (``hfselect_core.card``): its message, or None."""

    def check(value: Any, form: Any) -> str | None:
        try:
            checker(value if value not in ("", None) else None)
        except HFSelectError as e:
            return str(e)
        return None

    return check


def _studio_examples(ctx: Any) -> gr.Number:

    return gr.Number(
        ctx.studio_examples,
        label="Number of examples (sample)",
        precision=0,
        elem_id="studio-n",
    )


STUDIO_FIELDS: tuple[Field, ...] = (
    *TARGET_FIELDS,
    Field(
        "num_examples",
        None,
        "how many examples to train on (empty: the deployment's default).",
        "sample",
        _studio_examples,
        v.check_training_examples,
    ),
    dataclasses.replace(
        SEED,
        section="sample",
        make=lambda ctx: gr.Number(v.DEFAULT_SEED, label="Seed", precision=0, elem_id="studio-seed"),
    ),
    Field(
        "base_model",
        BUNDLED_MODEL_ID,
        f'base model id, e.g. "{BUNDLED_MODEL_ID}".',
        "model",
        lambda ctx: gr.Dropdown(
            ctx.model_choices,
            value=BUNDLED_MODEL_ID,
            label="Base model",
            allow_custom_value=True,
            elem_id="studio-model",
        ),
        v.check_base_model,
        clean=_stripped,
    ),
    Field(
        "epochs",
        DEFAULT_LM_EPOCHS,
        f"fine-tuning epochs (the ESMs on the Hub use {DEFAULT_LM_EPOCHS}).",
        "training",
        lambda ctx: gr.Number(DEFAULT_LM_EPOCHS, label="Fine-tuning epochs", elem_id="studio-epochs"),
        v.check_epochs,
    ),
    Field(
        "batch_size",
        DEFAULT_LM_BATCH_SIZE,
        f"fine-tuning batch size (the ESMs on the Hub use {DEFAULT_LM_BATCH_SIZE}).",
        "training",
        lambda ctx: gr.Number(DEFAULT_LM_BATCH_SIZE, label="Batch size", precision=0, elem_id="studio-batch"),
        v.check_batch_size,
    ),
    Field(
        "learning_rate",
        DEFAULT_LM_LEARNING_RATE,
        f"fine-tuning learning rate (the ESMs on the Hub use {v.LEARNING_RATE_TEXT}).",
        "training",
        lambda ctx: gr.Number(DEFAULT_LM_LEARNING_RATE, label="Learning rate", elem_id="studio-lr"),
        v.check_learning_rate,
    ),
    Field(
        "fit_method",
        "closed_form",
        '"closed_form" (exact least squares) or "sgd" (the reference library\'s recipe).',
        "training",
        lambda ctx: gr.Radio(v.FIT_METHOD_CHOICES, value="closed_form", label="Fit method", elem_id="studio-fit"),
        v.check_fit_method,
    ),
    # What the new ESM's model card says about the data (hfselect_core.card writes and checks it).
    Field(
        "language",
        "",
        'language(s) of the texts, ISO 639-1 codes such as "en" or "en, de" (empty: not recorded).',
        "card",
        lambda ctx: gr.Textbox(
            "", label="Language (ISO 639-1 codes)", placeholder="e.g. en or en, de", elem_id="studio-language"
        ),
        _card_check(card.check_language),
    ),
    Field(
        "license",
        card.DEFAULT_LICENSE,
        f'license of the ESM on the Hub, an identifier such as "{card.DEFAULT_LICENSE}", "mit" or "cc-by-4.0".',
        "card",
        lambda ctx: gr.Dropdown(
            sorted(card.HUB_LICENSES),
            value=card.DEFAULT_LICENSE,
            label="License of the ESM",
            allow_custom_value=True,
            elem_id="studio-license",
        ),
        _card_check(card.check_license),
        clean=_stripped,
    ),
    Field(
        "data_source",
        "",
        f"where the data came from: origin, its license, a link (at most {card.MAX_DATA_SOURCE_CHARS} characters).",
        "card",
        lambda ctx: gr.Textbox(
            "",
            label="Data source (origin, its license, a link)",
            lines=2,
            placeholder="e.g. support tickets of our shop, 2024; CC BY 4.0; https://example.org/data",
            elem_id="studio-data-source",
        ),
        _card_check(card.check_data_source),
    ),
)


# --- what the tables derive -------------------------------------------------------------------------


def names(fields: Sequence[Field]) -> list[str]:
    return [f.name for f in fields]


def in_section(fields: Sequence[Field], section: str) -> list[Field]:
    return [f for f in fields if f.section == section]


def build_components(fields: Sequence[Field], section: str, ctx: Any) -> dict[str, gr.components.Component]:
    """Build the components of one section, in table order (call inside the layout)."""
    return {f.name: f.make(ctx) for f in in_section(fields, section)}


def inputs(fields: Sequence[Field], components: dict[str, gr.components.Component]) -> list:
    """The event inputs, in API order."""
    return [components[f.name] for f in fields]


def form_class(name: str, fields: Sequence[Field]) -> type:
    """A dataclass with one attribute per field (defaults from the table; ``clean`` applied)."""

    def __post_init__(self) -> None:
        for field in fields:
            if field.clean is not None:
                setattr(self, field.name, field.clean(getattr(self, field.name)))

    spec = [(f.name, Any, dataclasses.field(default=f.default)) for f in fields]
    cls = dataclasses.make_dataclass(name, spec, namespace={"__post_init__": __post_init__})
    cls.__doc__ = f"The values of the form, by field name ({', '.join(names(fields))})."
    return cls


def bind(fields: Sequence[Field], args: Sequence, kwargs: dict) -> dict[str, Any]:
    """Field values from a call laid out as the handler's signature says (positional or named)."""
    values = {f.name: f.default for f in fields}
    values.update(zip(names(fields), args))
    values.update({k: kwargs[k] for k in names(fields) if k in kwargs})
    return values


def api_docstring(summary: str, fields: Sequence[Field], returns: str) -> str:
    """A Google-style docstring (gradio shows its Args on the API page)."""
    args = "\n".join(f"    {f.name}: {f.doc}" for f in fields)
    return f"{summary}\n\nArgs:\n{args}\n\nReturns:\n    {returns}\n"


def form_handler(
    fields: Sequence[Field],
    form_cls: type,
    impl: Callable[..., Iterator],
    extra: Sequence[inspect.Parameter],
    *,
    name: str,
    doc: str,
) -> Callable[..., Iterator]:
    """A generator handler whose parameters are the fields (then ``extra``), calling ``impl(form, **extra)``.

    Gradio names the API parameters after the signature, so gradio_client callers pass every field
    by name; positional calls in API order work too.
    """
    params = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default) for f in fields]
    signature = inspect.Signature([*params, *extra])

    def handler(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        extras = {p.name: values.pop(p.name) for p in extra}
        yield from impl(form_cls(**values), **extras)

    handler.__signature__ = signature
    handler.__annotations__ = {p.name: p.annotation for p in extra if p.annotation is not inspect.Parameter.empty}
    handler.__name__ = handler.__qualname__ = name
    handler.__doc__ = doc
    return handler


def document_api(demo: gr.Blocks, endpoint: str, fields: Sequence[Field], note: str = "") -> None:
    """Show the fields' ``api_example`` / ``api_default`` on the API page of ``endpoint``, honest types
    for dropdowns that take any value, and ``note`` after the endpoint's description.

    Gradio fills the page and the client's defaults from the components (a textbox's example is
    "Hello!!", an empty dropdown's default None), and types a dropdown as a ``Literal`` of its
    current choices (none for the column pickers) even when it takes custom values, which the app
    then checks itself; the table knows better. This wraps ``demo.get_api_info`` (what /info, the
    API page and gradio_client read) once per endpoint.
    """
    by_name = {f.name: f for f in fields}
    original = demo.get_api_info

    def free_dropdowns() -> set[str]:
        fn = next((f for f in demo.fns.values() if f"/{f.api_name}" == endpoint), None)
        inputs = list(getattr(fn, "inputs", []) or [])
        return {
            f.name
            for f, c in zip(fields, inputs, strict=False)
            if isinstance(c, gr.Dropdown) and getattr(c, "allow_custom_value", False)
        }

    def get_api_info(*args, **kwargs):
        info = original(*args, **kwargs)
        endpoint_info = (info or {}).get("named_endpoints", {}).get(endpoint) or {}
        if note and endpoint_info:
            endpoint_info["description"] = f"{endpoint_info.get('description') or ''} {note}".strip()
        free = free_dropdowns()
        for param in endpoint_info.get("parameters", []):
            field = by_name.get(param.get("parameter_name"))
            if field is None:
                continue
            if field.name in free:  # any string: the handler validates it and says what is wrong
                many = (param.get("type") or {}).get("type") == "array"
                param["type"] = {"type": "array", "items": {"type": "string"}} if many else {"type": "string"}
                param["python_type"] = {"type": "list[str]" if many else "str", "description": ""}
            if field.api_example is not None:
                param["example_input"] = field.api_example
            if field.api_default is not None and param.get("parameter_default") is None:
                param["parameter_has_default"] = True
                param["parameter_default"] = field.api_default
        return info

    demo.get_api_info = get_api_info


def admission_validator(fields: Sequence[Field], what: str, *, refusal_field: str = "base_model"):
    """The ``validator=`` of an API event: only the JobAdmission ticket, taken before Gradio queues it.

    The fields are not checked here: the handler answers a bad input with the app's own message
    in its status output (a validator's refusal reaches gradio_client callers as a ValidationError).
    Over a bound (the app or this client has too much waiting), the refusal shows at ``refusal_field``.
    """
    signature = validator_signature(fields)

    def validate(*args, **kwargs) -> list:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        refused = admit(bound.arguments.get("request"), what)
        return validations(fields, [v.FieldError(refusal_field, refused)] if refused else [])

    validate.__signature__ = signature
    validate.__annotations__ = {"request": gr.Request}
    return validate


def validator_signature(fields: Sequence[Field]) -> inspect.Signature:
    """The validator's parameters: the fields, then ``request`` (gradio fills it in by its type)."""
    params = [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=f.default) for f in fields]
    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)
    return inspect.Signature([*params, request])


def validations(fields: Sequence[Field], errors: Sequence) -> list:
    """One ``gr.validate`` per input, in input order; all messages about a field shown at its input."""
    messages: dict[str, str] = {}
    for error in errors:
        messages[error.field] = f"{messages[error.field]} {error.message}" if error.field in messages else error.message
    return [gr.validate(f.name not in messages, messages.get(f.name, "")) for f in fields]


def form_validator(fields: Sequence[Field], form_cls: type, what: str, *, refusal_field: str = "base_model"):
    """The ``validator=`` of a form's event: every field checked before the event is queued.

    A valid form also takes a JobAdmission ticket here, before Gradio queues the event: refused
    (the app or this client has too much waiting), the message shows at ``refusal_field``.
    """
    signature = validator_signature(fields)

    def validate(*args, **kwargs) -> list:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        request = values.pop("request")
        errors = v.field_errors(fields, form_cls(**values))
        if not errors:
            refused = admit(request, what)
            if refused:
                errors = [v.FieldError(refusal_field, refused)]
        return validations(fields, errors)

    validate.__signature__ = signature
    validate.__annotations__ = {"request": gr.Request}
    return validate
