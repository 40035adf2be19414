"""hfselect_app: the Gradio Space around ``hfselect_core`` ("which dataset should I fine-tune on first?").

``build_app()`` builds the page (both tabs); ``launch(demo)`` starts it with this app's defaults.
Importing the package first points ``HF_HOME`` at a Space's persistent storage (see
:func:`settings.use_persistent_storage`), so import it before anything that imports huggingface_hub.
"""

from __future__ import annotations

from .settings import AppSettings, use_persistent_storage

use_persistent_storage()

import gradio as gr  # noqa: E402

from hfselect_core import limits  # noqa: E402

from . import rank_tab, studio_tab  # noqa: E402
from .context import PageContext  # noqa: E402
from .presenters import status_line as status_text  # noqa: E402

TITLE = "hfselect: which dataset should I fine-tune on first?"
CSS = """
#status-line {font-size: 0.95em}
#rank-status {min-height: 1.5em}

/* The leaderboard (presenters.leaderboard_html): compact, Rank and Task stay put when it scrolls. */
#results .lb {width: 100%}
#results .lb-bar {display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; align-items: center; margin: 0.3em 0 0.5em}
#results .lb-bar select {padding: 0.2em 0.4em; border: 1px solid var(--border-color-primary); border-radius: var(--radius-sm);
  background: var(--background-fill-primary); color: var(--body-text-color)}
#results .lb-cols summary {cursor: pointer}
#results .lb-note {flex-basis: 100%; font-size: 0.9em}
#results .lb-scroll {max-height: 640px; overflow: auto; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-lg)}
#results table.lb-table {border-collapse: separate; border-spacing: 0; width: 100%; margin: 0; padding: 0; border: 0;
  font-size: 0.95em}
#results .lb-table th, #results .lb-table td {padding: 0.35em 0.6em; border: 0; text-align: left; white-space: nowrap;
  border-bottom: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color); vertical-align: middle}
#results .lb-table thead th {position: sticky; top: 0; z-index: 2; background: var(--background-fill-secondary)}
#results .lb-table .lb-rank {position: sticky; left: 0; z-index: 1; box-sizing: border-box;
  width: 5.4em; min-width: 5.4em; max-width: 5.4em; text-align: right}
#results .lb-table .lb-task {position: sticky; left: 5.4em; z-index: 1; white-space: normal; min-width: 12em;
  max-width: 30em; box-shadow: inset -1px 0 0 var(--border-color-primary)}
#results .lb-table thead .lb-rank, #results .lb-table thead .lb-task {z-index: 3}
#results .lb-score, #results .lb-delta, #results .lb-n {text-align: right !important; font-variant-numeric: tabular-nums}
#results .lb-extra {display: none}
#results .lb:has(details.lb-cols[open]) .lb-extra {display: table-cell}
#results button.lb-sort {all: unset; cursor: pointer; font-weight: 600; color: var(--body-text-color)}
/* The whole header cell sorts: the button fills its th (the cell's padding moves into the button). */
#results .lb-table thead th:has(> button.lb-sort) {padding: 0 !important}
#results .lb-table thead th > button.lb-sort {display: block; box-sizing: border-box; width: 100%;
  padding: 0.35em 0.6em; text-align: inherit}
#results button.lb-sort:hover {text-decoration: underline}
#results button.lb-sort:focus-visible {outline: 2px solid var(--color-accent); outline-offset: 2px}
#results th[aria-sort="ascending"] button.lb-sort::after {content: " ▲"; font-size: 0.75em}
#results th[aria-sort="descending"] button.lb-sort::after {content: " ▼"; font-size: 0.75em}
#results .lb-table a {color: var(--link-text-color); text-decoration: underline; text-underline-offset: 2px;
  padding: 0; margin: 0}
#results .lb-muted {color: var(--body-text-color-subdued)}
#results .lb-badge {border: 1px solid currentColor; border-radius: 0.6em; padding: 0 0.4em; font-size: 0.8em}
#results .lb-live {position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0)}
/* Phones: Rank, Task and Score. */
@media (max-width: 640px) {
  #results .lb-type, #results .lb-delta, #results .lb-stab, #results .lb-n, #results .lb-extra {display: none !important}
  #results table.lb-table {font-size: 0.9em}
  #results .lb-table .lb-task {min-width: 0; max-width: 55vw; position: static; box-shadow: none;
    overflow-wrap: anywhere}
  #results .lb-table .lb-rank {width: 4em; min-width: 4em; max-width: 4em; position: static; padding-left: 0.2em}
  #results .lb-table th, #results .lb-table td {padding: 0.35em 0.4em}
}

/* Plots: transparent figures (plots.py); in the dark theme their text and grid follow the page. */
.dark .js-plotly-plot .main-svg .cartesianlayer text, .dark .js-plotly-plot .main-svg .infolayer text,
.dark .js-plotly-plot .main-svg .annotation text {fill: #e5e7eb !important}
.dark .js-plotly-plot .modebar-btn path {fill: #d1d5db !important}

/* A dropdown's text stops before its arrow. */
#base-model input, #example-dropdown input {padding-right: 2.2em !important; text-overflow: ellipsis}
/* Validation messages sit under their field (Gradio lays them over the field's label), in the page's
   flow: a message of several lines (the studio's license) pushes the next field down, never covers it. */
.block:has(> .wrap > .validation-error) {overflow: visible !important; display: flex !important;
  flex-direction: column}
.form:has(.validation-error), .row:has(.validation-error) {overflow: visible !important}
.wrap:has(> .validation-error) {position: relative !important; inset: auto !important; height: auto !important;
  order: 99; width: 100% !important; box-sizing: border-box;
  background: transparent !important; z-index: 5; padding-top: 0.25em !important}
.wrap > .validation-error {position: static !important; width: 100%; box-sizing: border-box;
  overflow-wrap: anywhere}
"""

# Gradio's "Use via API" page asks /gradio_api/mcp/schema whether an MCP server runs; this Space runs
# none, so the answer is a 404 in every visitor's console. The page treats a failed request as "no
# MCP server" (what is true), so that one request fails in the browser instead of on the server.
HEAD = """<script>
(() => {
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const url = input instanceof Request ? input.url : String(input);
    if (/\\/gradio_api\\/mcp\\/schema(\\?|$)/.test(url)) {
      return Promise.reject(new TypeError("This Space runs no MCP server."));
    }
    return fetch0.apply(this, arguments);
  };
})();
</script>"""


def theme() -> gr.themes.Base:
    """The Space's theme: Soft in orange, with link and secondary-text colours that reach WCAG AA
    (4.5:1) in both modes (Soft's defaults give about 4:1 for links in dark mode and 2.4:1 for
    secondary text)."""
    return gr.themes.Soft(primary_hue="orange").set(
        link_text_color="#c2410c",
        link_text_color_hover="#9a3412",
        link_text_color_visited="#c2410c",
        link_text_color_active="#9a3412",
        link_text_color_dark="#fdba74",
        link_text_color_hover_dark="#fed7aa",
        link_text_color_visited_dark="#fdba74",
        link_text_color_active_dark="#fed7aa",
        body_text_color_subdued="#4b5563",
        body_text_color_subdued_dark="#9ca3af",
    )


__all__ = ["AppSettings", "build_app", "launch"]


def build_app(ctx: PageContext | None = None) -> gr.Blocks:
    """The whole page: header, status line, sign-in on Spaces, the rank tab and the studio tab.

    ``ctx`` (default: detected now) says whether the Hub is reachable, which examples and base
    models there are. ``demo.launch`` is given this app's defaults (upload cap, theme, CSS), however
    the app is launched (``python app.py``, Spaces, tests).
    """
    ctx = ctx or PageContext.detect()
    # Uploaded files and served downloads older than two hours are deleted from Gradio's cache every hour.
    with gr.Blocks(title=TITLE, delete_cache=(3600, 7200)) as demo:
        gr.Markdown(
            "# Which public dataset should I fine-tune on first?\n"
            "Give a small labelled sample of **your** task. hfselect ranks public intermediate tasks with "
            "**ESM-LogME** (embedding space maps + LogME): fine-tune on the top task first, then on your own data."
        )
        status_line = gr.Markdown(status_text(ctx.online), elem_id="status-line")
        if ctx.settings.on_spaces:
            try:
                gr.LoginButton()
            except Exception:  # noqa: BLE001 - gradio[oauth] missing: no sign-in
                pass
        with gr.Tabs(selected="tab-rank", elem_id="main-tabs"):
            with gr.Tab("Rank datasets", id="tab-rank", elem_id="tab-rank"):
                rank_tab.build(ctx, status_line, demo)
            with gr.Tab("Add your dataset", id="tab-studio", elem_id="tab-studio"):
                studio_tab.build(ctx, demo)
    # Gradio's max_size is a second line only: it is overshot when requests arrive together (see admission).
    demo.queue(max_size=limits.max_queued_jobs(), default_concurrency_limit=2)

    blocks_launch = demo.launch

    def launch_with_defaults(*args, **kwargs):
        kwargs.setdefault("max_file_size", limits.max_upload_bytes())
        kwargs.setdefault("theme", theme())
        kwargs.setdefault("css", CSS)
        kwargs.setdefault("head", HEAD)
        return blocks_launch(*args, **kwargs)

    demo.launch = launch_with_defaults
    return demo


def launch(demo: gr.Blocks, settings: AppSettings | None = None):
    """Start the app where the settings say (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``)."""
    settings = settings or AppSettings.from_env()
    return demo.launch(server_name=settings.server_name, server_port=settings.server_port)
