"""Share links: the form as URL query parameters and back, links to stored results, the app's public URL.

Which fields a link carries, under which key, and how each value is read back are columns of the
field table (``Field.share_key``, ``share_encode``, ``share_parse``); this module only applies them.
A parser returns the value, raises :class:`Ignored` for a value this app does not know (an
unknown example or pool: left out, and named in the link's banner), or raises :class:`Unusable`
with its own sentence (an ``n`` that is not a number): a link with either is filled in but does
not autorun.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from hfselect_core import limits
from hfselect_core.settings import env_flag

from .text import md_text
from .validators import POOLS, TASK_TYPES, as_list, source_of

RESULT_ID = re.compile(r"[0-9a-f]{16}")


class Ignored(Exception):
    """A query value this app does not know: left out (the form keeps its default) and named to the user."""


class Unusable(ValueError):
    """A query value that is given but cannot be used; the message (already escaped) tells the user."""


# --- encoders and parsers used by the field table ------------------------------------------------


def encode_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(as_list(value))
    return str(value).strip()


def encode_whole(value: Any) -> str:
    """A whole number as text (raises on garbage: no link is better than a wrong one)."""
    return "" if value in (None, "") else str(int(value))


def parse_text(text: str) -> str:
    return text


def parse_stripped(text: str) -> str:
    return text.strip()


def parse_columns(text: str) -> list[str]:
    return as_list(text)


def parse_example(text: str) -> str:
    from .targets import load_examples

    if text not in {ex["name"] for ex in load_examples()}:
        raise Ignored(text)
    return text


def parse_task_type(text: str) -> str:
    if text not in TASK_TYPES:
        raise Ignored(text)
    return text


def parse_pool(text: str) -> str:
    if text not in POOLS:
        raise Ignored(text)
    return text


def _whole(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_num_examples(text: str) -> int:
    n, top = _whole(text), limits.max_examples()
    if n is None or not 2 <= n <= top:
        raise Unusable(
            f"the number of examples in the link ({md_text(text, 40)}) is not a whole number from 2 to "
            f"{top:,}, so the default is used"
        )
    return n


def parse_seed(text: str) -> int:
    seed = _whole(text)
    if seed is None or seed < 0:
        raise Unusable(
            f"the seed in the link ({md_text(text, 40)}) is not a whole number of 0 or more, so the default is used"
        )
    return seed


# --- the form <-> a query string ----------------------------------------------------------------


def share_query(fields: Sequence, form: Any, autorun: bool = False) -> str:
    """Query string encoding the form (uploaded files cannot be shared and are left out).

    A field is left out when it is empty, when it belongs to another target source than the form's,
    or when it has its default value (unless the field keeps it: the base model, whose default
    depends on whether the app is online).
    """
    params: dict[str, str] = {}
    source = source_of(form)
    for field in fields:
        if not field.share_key or (field.source and field.source != source):
            continue
        if source == "file" and field.section == "target":
            continue  # columns of a file the link cannot carry would only fail on the Examples tab
        text = field.share_encode(getattr(form, field.name))
        if not text or (field.share_omit_default and text == field.share_encode(field.default)):
            continue
        params[field.share_key] = text
    if autorun:
        params["autorun"] = "1"
    return urlencode(params)


def parse_query(fields: Sequence, params: Mapping) -> dict:
    """Form values (by field name) from URL query parameters, plus ``autorun``, ``result_id``, ``problems``.

    Unknown keys are ignored. The target source is the one whose picking field is in the link (a
    Hub dataset over an example); fields of other sources are dropped. A value that is given but
    unusable is left out and described under ``"problems"`` (already escaped), and then the link
    does not autorun.
    """
    p = {k: (v[0] if isinstance(v, list) else v) for k, v in dict(params or {}).items()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    unknown: list[str] = []
    for field in fields:
        text = p.get(field.share_key) if field.share_key else None
        if text in (None, ""):
            continue
        try:
            values[field.name] = field.share_parse(str(text))
        except Ignored:
            unknown.append(f"{md_text(field.share_key, 40)}={md_text(text, 60)}")
            continue
        except Unusable as e:
            problems.append(str(e))
    chosen = [f.source for f in fields if f.selects_source and f.name in values]
    out: dict[str, Any] = {}
    if chosen:
        out["source"] = chosen[-1]
    for field in fields:
        if field.name in values and (not field.source or field.source == out.get("source")):
            out[field.name] = values[field.name]
    if out.get("source") == "hub":
        out.setdefault("subset", None)
        out.setdefault("split", "train")
    out["autorun"] = env_flag(str(p.get("autorun", "")))  # the core's one reading of "true"
    if RESULT_ID.fullmatch(str(p.get("result") or "")):
        out["result_id"] = p["result"]
    elif p.get("result"):
        problems.append("the result id in the link is not one this app gives out (16 letters 0-9 and a-f)")
        out["result_id"] = str(p["result"])  # opened like an unknown id: "this stored result is not available"
    if unknown:
        problems.append("these values are not ones this app knows, so they were left out: " + ", ".join(unknown))
    if problems:
        out["problems"] = problems
        # A link with a wrong value is shown, not run: the user sees what was dropped first.
        out["autorun"] = False
    return out


def share_url(fields: Sequence, base_url: str, form: Any, autorun: bool = False) -> str:
    query = share_query(fields, form, autorun)
    base = (base_url or "").split("?")[0]
    return f"{base}?{query}" if query else base


UPLOAD_NOT_IN_LINK = (
    "An uploaded file cannot travel in a link (links carry no data). Rank it, then share the "
    "**link to this result** below: it opens the stored ranking without the file."
)


def form_link(fields: Sequence, base_url: str, form: Any) -> tuple[str, str]:
    """(link, note) for the form as it is now: no link for an uploaded file, and the note says why."""
    if source_of(form) == "file":
        return "", UPLOAD_NOT_IN_LINK
    return share_url(fields, base_url, form), ""


STORED_UPLOAD_NOTE = (
    "This ranking was of an uploaded file, which is not stored: upload it again (the columns and "
    "settings are filled in) to rank it with other settings."
)


def stored_query(key: Mapping, target_label: str) -> tuple[dict[str, str], dict[str, Any], str]:
    """What refills the form of a stored ranking (``?result=<id>``), from its stored inputs
    (``RankingKey.to_dict``) and target label: (link parameters for :func:`parse_query`, values of
    the fields that links do not carry, by field name, and a note for the user, or "")."""
    target, label = str(key.get("target") or ""), str(target_label or "")
    params: dict[str, str] = {}
    extra: dict[str, Any] = {}
    note = ""
    if label.startswith("example "):
        params["example"] = label.removeprefix("example ")
    elif target.startswith("hub:"):
        params["dataset"] = label or target.removeprefix("hub:").rsplit("@", 1)[0]
        params.update({k: str(key[k]) for k in ("subset", "split") if key.get(k)})
    else:
        extra["source"] = "file"
        note = STORED_UPLOAD_NOTE
    if key.get("text_columns"):
        params["text"] = ",".join(as_list(key["text_columns"]))
    simple = {"label": "label_column", "task_type": "task_type", "n": "num_examples", "seed": "seed"}
    params.update({k: str(key[name]) for k, name in simple.items() if key.get(name) not in (None, "")})
    params.update({k: str(key[name]) for k, name in {"model": "base_model", "pool": "pool"}.items() if key.get(name)})
    if key.get("max_count"):
        extra["max_esms"] = int(key["max_count"])
    extra.update(
        {name: key[k] for k, name in {"task_contains": "task_filter", "language": "language"}.items() if key.get(k)}
    )
    return params, extra, note


def result_url(base_url: str, result_id: str) -> str:
    """A link that opens a stored ranking by its short id (no data, no form values in it)."""
    return f"{(base_url or '').split('?')[0]}?{urlencode({'result': result_id})}"


def base_url_from_headers(headers: Mapping | None, path: str = "/", space_host: str | None = None) -> str:
    """The public URL of the app: the Space's host on Spaces, else the request's host headers."""
    if space_host:
        return f"https://{space_host}/"
    lower = {str(k).lower(): v for k, v in (headers or {}).items()}
    host = lower.get("x-forwarded-host") or lower.get("host") or "127.0.0.1:7860"
    scheme = lower.get("x-forwarded-proto") or "http"
    return f"{scheme}://{host}{path or '/'}"


GRADIO_JS = "https://gradio.s3-us-west-2.amazonaws.com/{version}/gradio.js"


def space_url(space_id: str | None, space_host: str | None = None) -> str | None:
    """The public URL of a Space: ``https://<SPACE_HOST>`` when Spaces set it, else derived from the
    id the way Spaces names hosts (``owner/my_space`` -> ``https://owner-my-space.hf.space``)."""
    if space_host:
        return f"https://{space_host.strip('/')}"
    if not space_id or "/" not in space_id:
        return None
    return "https://" + re.sub(r"[^a-z0-9]+", "-", space_id.lower()).strip("-") + ".hf.space"


def embed_snippet(app_url: str, gradio_version: str) -> str:
    """HTML that embeds this app in another page: Gradio's web component, or an iframe.

    ``app_url`` is the Space's public URL (see :func:`space_url`) or the local app's; the web
    component's script is Gradio's published one of the same version as the app.
    """
    url = (app_url or "").split("?")[0].rstrip("/")
    return (
        f'<script type="module" src="{GRADIO_JS.format(version=gradio_version)}"></script>\n'
        f'<gradio-app src="{url}"></gradio-app>\n\n'
        "<!-- or, without a script: -->\n"
        f'<iframe src="{url}/" width="100%" height="1400" style="border: 0" allow="clipboard-write"></iframe>'
    )
