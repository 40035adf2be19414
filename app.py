"""Gradio Space: which public dataset should I fine-tune on first? (ESM-LogME)

The app lives in the ``hfselect_app`` package (one module per tab, the field table, presenters);
this file only builds it, so that ``app.demo`` exists for Spaces and tests, and launches it.
"""

from __future__ import annotations

import hfselect_app

demo = hfselect_app.build_app()

if __name__ == "__main__":
    hfselect_app.launch(demo)
