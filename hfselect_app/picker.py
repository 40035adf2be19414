"""The target picker: examples / upload / Hub dataset, subset, split, columns, task type and previews.

Built by one function, :func:`target_picker`, and used by both tabs; its events are wired by
:meth:`TargetPicker.wire`. It holds the components of the target fields of the field table
(``fields.TARGET_FIELDS``); :meth:`TargetPicker.components` gives them by field name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr
import pandas as pd

from hfselect_core import limits
from hfselect_core.data import list_columns, list_configs, list_splits, preview_rows
from hfselect_core.hub import hub_reachable

from . import targets
from .fields import TARGET_FIELDS
from .text import error_message, md_code, md_message, md_text, warn
from .validators import SOURCES, TASK_TYPES

TAB_NAMES = {"example": "Examples", "file": "Upload a file", "hub": "Hub dataset"}
FILE_TYPES = [".csv", ".tsv", ".json", ".jsonl", ".parquet"]
OFFLINE_HUB = "⚠️ Offline: Hub datasets are not available. Use an example or upload a file."


# --- handlers (plain functions: tested without a page) --------------------------------------------


def fill_example(name: str) -> tuple:
    """Select an example: source, example, text, label, task type, info, preview (nothing is precomputed)."""
    try:
        ex = targets.get_example(name)
        df, types = targets.read_upload(targets.example_file(name))
    except Exception as e:  # noqa: BLE001
        warn(error_message(e))
        return (gr.skip(),) * 7
    choices = targets.column_choices(types)
    info = f"**{ex['title']}** ({len(df)} rows): {ex.get('description', '')}"
    return (
        "example",
        gr.Dropdown(value=name, allow_custom_value=True),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=list(ex["text_columns"])),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=ex["label_column"]),
        ex.get("task_type") or "auto",
        info,
        targets.preview_frame(df),
    )


def fill_file(path: str | None) -> tuple:
    """Read an uploaded file: source, text, label (with dtypes, guessed), preview, info."""
    if not path:
        return (gr.skip(),) * 4 + ("",)
    try:
        df, types = targets.read_upload(path, check=True)
    except Exception as e:  # noqa: BLE001
        msg = error_message(e)
        warn(msg)
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), f"⚠️ {md_message(msg)}"
    text, label = targets.guess_columns(types)
    choices = targets.column_choices(types)
    return (
        "file",
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        targets.preview_frame(df),
        f"{len(df):,} rows, {len(types)} columns.",
    )


def _token(oauth_token: gr.OAuthToken | None) -> str | None:
    # A signed-in user's token opens their gated and private datasets; it is never logged or shown.
    return oauth_token.token if oauth_token is not None else None


def hub_lookup(dataset_id: str, subset: str | None = None, oauth_token: gr.OAuthToken | None = None) -> tuple:
    """Hub dataset id -> subset, split, text, label, preview, info (or a clear message offline)."""
    token = _token(oauth_token)
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
        text, label = targets.guess_columns(types)
        choices = targets.column_choices(types)
        rows = preview_rows(dataset_id, subset, split, token=token) if split else None
        preview = targets.preview_frame(rows) if rows is not None else pd.DataFrame()
    except Exception as e:  # noqa: BLE001
        return (*skip5, f"⚠️ {md_message(error_message(e))}")
    return (
        gr.Dropdown(allow_custom_value=True, choices=configs, value=subset),
        gr.Dropdown(allow_custom_value=True, choices=splits, value=split),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=text),
        gr.Dropdown(allow_custom_value=True, choices=choices, value=label),
        preview,
        f"{md_code(dataset_id)}: {len(configs)} subset(s), splits {md_text(', '.join(splits))}.",
    )


def hub_lookup_tab(dataset_id: str, oauth_token: gr.OAuthToken | None = None) -> tuple:
    """The Hub tab's Look up: selects the Hub source, then :func:`hub_lookup`."""
    return ("hub", *hub_lookup(dataset_id, None, oauth_token))


def hub_split_preview(dataset_id: str, subset: str | None, split: str | None, oauth_token: gr.OAuthToken | None = None):
    """The preview of another split of the Hub dataset."""
    if not (dataset_id and split) or not hub_reachable():
        return gr.skip()
    try:
        return targets.preview_frame(preview_rows(dataset_id.strip(), subset or None, split, token=_token(oauth_token)))
    except Exception as e:  # noqa: BLE001
        warn(error_message(e))
        return gr.skip()


# --- the component ----------------------------------------------------------------------------------


@dataclass
class TargetPicker:
    """The picker's components (attribute names of the target fields are the field names)."""

    source: gr.Radio
    tabs: gr.Tabs
    tab_ids: dict[str, str]
    source_tabs: dict[str, gr.Tab]
    example: gr.Dropdown
    example_info: gr.Markdown
    example_preview: gr.Dataframe
    file: gr.File
    file_info: gr.Markdown
    file_preview: gr.Dataframe
    dataset_id: gr.Textbox
    hub_button: gr.Button
    subset: gr.Dropdown
    split: gr.Dropdown
    hub_info: gr.Markdown
    hub_preview: gr.Dataframe
    text_columns: gr.Dropdown
    label_column: gr.Dropdown
    task_type: gr.Radio
    example_buttons: list[tuple[gr.Button, str]] = field(default_factory=list)

    def components(self) -> dict[str, gr.components.Component]:
        """The target fields' components by field name."""
        return {f.name: getattr(self, f.name) for f in TARGET_FIELDS}

    @property
    def example_outputs(self) -> list:
        """What :func:`fill_example` fills, in its order."""
        return [
            self.source,
            self.example,
            self.text_columns,
            self.label_column,
            self.task_type,
            self.example_info,
            self.example_preview,
        ]

    def wire(self) -> None:
        """The picker's events (call inside the Blocks, after building)."""
        private = {"api_visibility": "private"}
        for button, name in self.example_buttons:
            button.click(lambda name=name: fill_example(name), None, self.example_outputs, **private)
        self.example.input(fill_example, self.example, self.example_outputs, **private)
        for source, tab in self.source_tabs.items():
            tab.select(lambda source=source: source, None, self.source, **private)
        file_outputs = [self.source, self.text_columns, self.label_column, self.file_preview, self.file_info]
        self.file.upload(fill_file, self.file, file_outputs, **private)
        hub_outputs = [self.subset, self.split, self.text_columns, self.label_column, self.hub_preview, self.hub_info]
        gr.on(
            [self.dataset_id.submit, self.hub_button.click],
            hub_lookup_tab,
            self.dataset_id,
            [self.source, *hub_outputs],
            **private,
        )
        self.subset.input(hub_lookup, [self.dataset_id, self.subset], hub_outputs, **private)
        self.split.input(hub_split_preview, [self.dataset_id, self.subset, self.split], self.hub_preview, **private)
        for preview in (self.example_preview, self.file_preview, self.hub_preview):
            preview.change(_show_preview, preview, preview, queue=False, show_progress="hidden", **private)


def _preview() -> gr.Dataframe:
    # Hidden (but mounted, so its change event fires) until it holds rows: an empty Dataframe shows
    # Gradio's placeholder headers 1, 2, 3.
    return gr.Dataframe(label="First rows", interactive=False, max_height=260, wrap=True, visible="hidden")


def _show_preview(rows: pd.DataFrame | None) -> gr.Dataframe:
    return gr.Dataframe(visible=True if rows is not None and len(rows) else "hidden")


def target_picker(
    examples: tuple[dict, ...],
    online: bool,
    *,
    ids: dict[str, str],
    tab_prefix: str = "tab-",
    example_buttons: bool = False,
) -> TargetPicker:
    """Build the picker inside the current layout block.

    Args:
        examples: the bundled examples (``targets.load_examples()``).
        online: whether the Hub is reachable (the Hub tab says so when not).
        ids: elem_id per field name, for the browser tests and the page's CSS.
        tab_prefix: prefix of the source tabs' ids ("tab-example", ...).
        example_buttons: a row of one-click buttons above the example dropdown.
    """
    tab_ids = {source: f"{tab_prefix}{source}" for source in SOURCES}
    source = gr.Radio(list(SOURCES), value="example", label="Target source", visible=False)
    tabs_of: dict[str, gr.Tab] = {}
    buttons: list[tuple[gr.Button, str]] = []
    with gr.Tabs(selected=tab_ids["example"]) as tabs:
        with gr.Tab(TAB_NAMES["example"], id=tab_ids["example"]) as tabs_of["example"]:
            if example_buttons:
                gr.Markdown("One click fills the whole form. Nothing is precomputed: Rank runs live.")
                with gr.Row():
                    for ex in examples:
                        button = gr.Button(ex["title"], size="sm", elem_id=f"example-{ex['name']}")
                        buttons.append((button, ex["name"]))
            example = gr.Dropdown(
                [(ex["title"], ex["name"]) for ex in examples],
                value=None,
                label="Example dataset",
                allow_custom_value=True,
                elem_id=ids.get("example"),
            )
            example_info = gr.Markdown()
            example_preview = _preview()
        with gr.Tab(TAB_NAMES["file"], id=tab_ids["file"]) as tabs_of["file"]:
            file = gr.File(
                label=f"CSV, TSV, JSON, JSONL or Parquet (up to {limits.max_upload_bytes() // 1_000_000} MB)",
                file_types=FILE_TYPES,
                type="filepath",
                elem_id=ids.get("file"),
            )
            file_info = gr.Markdown()
            file_preview = _preview()
        with gr.Tab(TAB_NAMES["hub"], id=tab_ids["hub"]) as tabs_of["hub"]:
            with gr.Row():
                dataset_id = gr.Textbox(
                    label="Dataset id",
                    placeholder="owner/name, e.g. stanfordnlp/imdb",
                    scale=3,
                    elem_id=ids.get("dataset_id"),
                )
                hub_button = gr.Button("Look up", scale=1)
            with gr.Row():
                subset = gr.Dropdown([], label="Subset", allow_custom_value=True)
                split = gr.Dropdown(["train"], value="train", label="Split", allow_custom_value=True)
            hub_info = gr.Markdown("" if online else OFFLINE_HUB)
            hub_preview = _preview()
    with gr.Row():
        text_columns = gr.Dropdown(
            [],
            multiselect=True,
            label="Text column(s)",
            allow_custom_value=True,
            elem_id=ids.get("text_columns"),
            scale=2,
        )
        label_column = gr.Dropdown([], label="Label column", allow_custom_value=True, elem_id=ids.get("label_column"))
        task_type = gr.Radio(list(TASK_TYPES), value="auto", label="Task type", elem_id=ids.get("task_type"))
    return TargetPicker(
        source=source,
        tabs=tabs,
        tab_ids=tab_ids,
        source_tabs=tabs_of,
        example=example,
        example_info=example_info,
        example_preview=example_preview,
        file=file,
        file_info=file_info,
        file_preview=file_preview,
        dataset_id=dataset_id,
        hub_button=hub_button,
        subset=subset,
        split=split,
        hub_info=hub_info,
        hub_preview=hub_preview,
        text_columns=text_columns,
        label_column=label_column,
        task_type=task_type,
        example_buttons=buttons,
    )
