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
"""

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
        kwargs.setdefault("theme", gr.themes.Soft(primary_hue="orange"))
        kwargs.setdefault("css", CSS)
        return blocks_launch(*args, **kwargs)

    demo.launch = launch_with_defaults
    return demo


def launch(demo: gr.Blocks, settings: AppSettings | None = None):
    """Start the app where the settings say (``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT``)."""
    settings = settings or AppSettings.from_env()
    return demo.launch(server_name=settings.server_name, server_port=settings.server_port)
