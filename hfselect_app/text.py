"""Escaping for everything the app renders (Markdown, code spans, toasts) and the app's messages and status lines.

Every value a user typed or uploaded, and every text from a Hub card or an ESM config, goes through
one of these before it reaches a Markdown component, a table cell or a toast.
"""

from __future__ import annotations

import html
import logging
import re

import gradio as gr

from hfselect_core import limits
from hfselect_core.errors import HFSelectError

log = logging.getLogger("hfselect.app")

# Characters that are HTML, or that Markdown turns into links, images, code, emphasis, math or
# headings. Each becomes a numeric character reference: shown as the character, never parsed as
# syntax (a backslash escape would show inside autolinked URLs). Quotes, full stops, colons and
# slashes stay as they are so messages remain readable, also raw through the API; the sequences
# that start an automatic link ("https://", "www.", "a@b") are broken separately.
_MD_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "\\`*{}[]<>&#~$@|"}
_AUTOLINK = re.compile(r"(?i)(:)(//)|(www)(\.)")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def md_text(value: object, max_chars: int = 500) -> str:
    """Untrusted text (URL, upload, column name, Hub card, ESM config) made safe inside Markdown/HTML.

    Characters that could start HTML or Markdown syntax (tags, links, images, code, emphasis,
    headings, math) are written as numeric character references, and automatic links are broken,
    so the text renders as typed and never as a link, form, image or heading. Whitespace runs
    become one space (no line breaks, no code blocks); long values are cut so one field cannot
    flood the page. Underscores inside words (``HFSELECT_MAX_EXAMPLES``) are left alone: they
    never make emphasis.
    """
    text = "" if value is None else str(value)
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    text = " ".join(text.split()).translate(_MD_ENTITIES)
    text = _AUTOLINK.sub(lambda m: f"{m[1]}&#47;&#47;" if m[1] else f"{m[3]}&#46;", text)
    return _EDGE_UNDERSCORE.sub("&#95;", text)


def md_code(value: object, max_chars: int = 200) -> str:
    """Untrusted text as a Markdown code span: shown literally (renderers escape HTML inside code spans)."""
    text = " ".join(("" if value is None else str(value)).split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    return "`" + (text.replace("`", "'") or " ") + "`"


def toast_text(value: object, max_chars: int = limits.MAX_MESSAGE_CHARS) -> str:
    """A message for gr.Warning/gr.Info, which render HTML: entity-escaped and bounded."""
    return html.escape(limits.bounded(" ".join(str(value).split()), max_chars), quote=True)


def md_message(message: str) -> str:
    """A plain-text message (already bounded) for a Markdown status line."""
    return md_text(message, limits.MAX_MESSAGE_CHARS)


def error_message(error: Exception) -> str:
    """A bounded, plain-text message for an error (escape it where it is shown: md_text or toast_text).

    Named errors carry a message written for users; anything else is logged with its traceback and
    shown as a short, generic sentence (never a traceback).
    """
    if isinstance(error, HFSelectError):
        return limits.bounded(str(error))
    log.exception("unexpected error")
    return f"Something went wrong ({type(error).__name__}: {str(error)[:300]}). Please check the inputs and try again."


def progress_text(stage: str, done: int, total: int, message: str = "") -> str:
    """'⏳ Scoring 3/39: ...' for a status line (stage and message escaped)."""
    counts = f" {done}/{total}" if total else ""
    return f"⏳ {md_text(stage, 100)}{counts}{': ' + md_text(message, 300) if message else ''}"


def warn(message: str) -> None:
    """A warning toast (toasts render HTML: the message is entity-escaped)."""
    gr.Warning(toast_text(message))


def fix_form_status(messages: list[str]) -> str:
    """The status line of a form with problems: every message, escaped, one per line."""
    return "⚠️ Please fix the form:\n" + "\n".join(f"- {md_message(m)}" for m in messages)


def ordered_outputs(names: tuple[str, ...], values: dict) -> tuple:
    """A handler's outputs in ``names`` order; the ones not in ``values`` are left as they are."""
    unknown = set(values) - set(names)
    if unknown:
        raise TypeError(f"unknown outputs {sorted(unknown)}")
    return tuple(values[name] if name in values else gr.skip() for name in names)
