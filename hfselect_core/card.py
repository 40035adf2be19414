"""Model cards for ESMs, rendered from ``assets/esm_card_template.md``.

The YAML metadata is what the Hub search and existing ESM tools rely on: license, the dataset,
the base model, and the tags ``embedding_space_map`` and ``BaseLM:<base model>``. Only values
checked against the Hub's rules reach it: ``datasets`` only for a real Hub dataset id, ``language``
only ISO 639-1 codes, ``license`` only one of the Hub's license identifiers. Everything else a user
typed (file and column names, the data source description, notes) goes to the card's body,
escaped so it shows as typed and never as HTML, a link or Markdown syntax.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HFSelectError
from .esm import CARD_NAME, CONFIG_NAME, ESMConfig
from .sources import assets_dir

if TYPE_CHECKING:
    from .training import FitReport

TEMPLATE_NAME = "esm_card_template.md"
ESM_TAG = "embedding_space_map"
DEFAULT_LICENSE = "apache-2.0"

# Where the training data came from; recorded in config.json as "data_source_kind".
SOURCE_HUB = "hub"
SOURCE_UPLOAD = "upload"
SOURCE_EXAMPLE = "example"
SOURCE_KINDS = (SOURCE_HUB, SOURCE_UPLOAD, SOURCE_EXAMPLE)
MAX_DATA_SOURCE_CHARS = 500
MAX_LANGUAGES = 20

# The Hub's license identifiers, from huggingface/hub-docs docs/hub/repositories-licenses.md
# (commit 008d54d08fd9d5d05ed2840bebb0b61111326a15; huggingface_hub itself ships no list).
HUB_LICENSES = frozenset(
    """
    apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear
    c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0
    cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0
    cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl
    ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1
    lgpl-3.0 isc lppl-1.3c ms-pl mpl-2.0 odc-by odbl openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license llama2 gemma unknown
    """.split()
)
# 'other' needs license_name and license_link (and a LICENSE file), which the studio does not collect.

# ISO 639-1 two-letter language codes (the 183 current ones).
ISO_639_1 = frozenset(
    """
    aa ab ae af ak am an ar as av ay az ba be bg bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de
    dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia
    id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo
    lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl
    ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk
    tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
    """.split()
)


class CardFieldError(HFSelectError):
    """A language, license or data source the model card cannot carry; the message says what to write.

    Catch it to show the message next to the field::

        try:
            render_card(config, language=user_language)
        except CardFieldError as e:
            show(str(e))
    """


# --- checking what users give --------------------------------------------------------------------


def check_language(value: str | Iterable[str] | None) -> list[str]:
    """ISO 639-1 codes from 'en', 'en, de', 'EN de' or a list; [] for nothing; else :class:`CardFieldError`."""
    if value is None:
        return []
    items = re.split(r"[\s,;]+", value) if isinstance(value, str) else [str(v) for v in value]
    codes: list[str] = []
    for item in items:
        code = item.strip().lower()
        if not code:
            continue
        if code not in ISO_639_1:
            raise CardFieldError(
                f"Language {_quote(item)} is not an ISO 639-1 code: write two-letter codes such as 'en', 'de' "
                "or 'zh', separated by commas."
            )
        if code not in codes:
            codes.append(code)
    if len(codes) > MAX_LANGUAGES:
        raise CardFieldError(f"{len(codes)} languages is more than a card lists ({MAX_LANGUAGES} at most).")
    return codes


def check_license(value: str | None) -> str | None:
    """A license identifier the Hub knows ('apache-2.0', 'cc-by-4.0', ...), lower-cased; None for nothing."""
    if value is None or not str(value).strip():
        return None
    license_id = str(value).strip().lower()
    if license_id not in HUB_LICENSES:
        hint = (
            " 'other' needs a license name, a link and a LICENSE file: set it on the Hub after publishing."
            if license_id == "other"
            else ""
        )
        raise CardFieldError(
            f"License {_quote(value)} is not one of the Hub's license identifiers: use one such as 'apache-2.0', "
            f"'mit', 'cc-by-4.0' or 'cc-by-nc-4.0' (the list: https://huggingface.co/docs/hub/repositories-licenses)."
            + hint
        )
    return license_id


def check_data_source(value: str | None) -> str | None:
    """A short description of where the data came from (plain text, at most 500 characters)."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if len(text) > MAX_DATA_SOURCE_CHARS:
        raise CardFieldError(
            f"The data source description has {len(text):,} characters; keep it under {MAX_DATA_SOURCE_CHARS} "
            "(name the origin, its license and a link)."
        )
    return text or None


def check_source_kind(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if value not in SOURCE_KINDS:
        raise CardFieldError(f"Unknown data source kind {_quote(value)}: use one of {', '.join(SOURCE_KINDS)}.")
    return value


def hub_dataset_id(task_id: str | None, source_kind: str | None = None) -> str | None:
    """``task_id`` if it names a Hub dataset, else None.

    With ``source_kind='hub'`` any valid repo id counts ('imdb', 'stanfordnlp/imdb'); uploaded and
    example data never do. Without a kind only 'owner/name' ids count: a bare name such as
    'product_questions' is what an uploaded file's name looks like.
    """
    if source_kind in (SOURCE_UPLOAD, SOURCE_EXAMPLE) or not isinstance(task_id, str):
        return None
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(task_id)
    except HFValidationError:
        return None
    if source_kind != SOURCE_HUB and task_id.count("/") != 1:
        return None
    return task_id


def card_config_fields(
    *,
    language: str | Iterable[str] | None = None,
    license: str | None = None,  # noqa: A002 - the Hub's metadata key
    data_source: str | None = None,
    source_kind: str | None = None,
) -> dict[str, Any]:
    """Checked values for an ESM's config.json (``language`` and the extra keys ``license``,
    ``data_source``, ``data_source_kind``); keys the caller left out are not in the dict."""
    fields: dict[str, Any] = {}
    if language is not None:
        fields["language"] = ", ".join(check_language(language)) or None
    if license is not None:
        fields["license"] = check_license(license)
    if data_source is not None:
        fields["data_source"] = check_data_source(data_source)
    if source_kind is not None:
        fields["data_source_kind"] = check_source_kind(source_kind)
    return fields


def _resolved(config: ESMConfig, overrides: dict[str, Any]) -> dict[str, Any]:
    """Language codes, license, data source and its kind: the overrides, else what the config records."""
    extra = config.extra
    kind = overrides["data_source_kind"] if "data_source_kind" in overrides else extra.get("data_source_kind")
    if "language" in overrides:
        codes, recorded = check_language(overrides["language"]), None
    else:
        try:
            codes, recorded = check_language(config.language), None
        except CardFieldError:  # an older config's free text ('English'): shown, not in the metadata
            codes, recorded = [], config.language
    lic = overrides["license"] if "license" in overrides else extra.get("license")
    try:
        lic = check_license(lic) if isinstance(lic, str) else None
    except CardFieldError:
        if "license" in overrides:
            raise
        lic = None
    source = overrides["data_source"] if "data_source" in overrides else extra.get("data_source")
    return {
        "languages": codes,
        "language_text": recorded if isinstance(recorded, str) else None,
        "license": lic or DEFAULT_LICENSE,
        "data_source": check_data_source(source) if isinstance(source, str) else None,
        "kind": check_source_kind(kind) if kind in SOURCE_KINDS else None,
    }


def card_metadata(
    config: ESMConfig,
    *,
    language: str | Iterable[str] | None = None,
    license: str | None = None,  # noqa: A002
    source_kind: str | None = None,
) -> dict[str, Any]:
    """The card's YAML metadata (a dict), with only values the Hub accepts."""
    overrides = card_config_fields(language=language, license=license, source_kind=source_kind)
    fields = _resolved(config, overrides)
    meta: dict[str, Any] = {"license": fields["license"]}
    if fields["languages"]:
        meta["language"] = fields["languages"]
    dataset = hub_dataset_id(config.task_id, fields["kind"])
    if dataset:
        meta["datasets"] = [dataset]
    meta.update(
        base_model=config.base_model_name,
        tags=[ESM_TAG, f"BaseLM:{config.base_model_name}"],
        library_name="hfselect",
    )
    return meta


# --- YAML and Markdown output --------------------------------------------------------------------


def _yaml_scalar(value: Any) -> str:
    """A YAML double-quoted scalar on one line: JSON's escapes, plus \\U for characters beyond the BMP
    (YAML parsers do not join JSON's surrogate pairs) and \\u for every line or paragraph separator,
    format or private character, so no value can start a new line or close the front matter."""
    if not isinstance(value, str):
        return json.dumps(value)
    out = []
    for ch in json.dumps(value, ensure_ascii=False):
        code = ord(ch)
        if code > 0xFFFF:
            out.append(f"\\U{code:08x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _yaml(metadata: dict) -> str:
    lines = []
    for key, value in metadata.items():
        if isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"- {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{key}: {_yaml_scalar(value)}")
    return "\n".join(lines)


# Characters that are HTML or start Markdown syntax (links, images, code, emphasis, tables, math,
# headings): written as numeric character references, which show the character and parse as nothing.
_MD_ENTITIES = {ord(c): f"&#{ord(c)};" for c in "\\`*{}[]<>&#~$@|"}
# Automatic links ('https://', 'www.'), underscores at a word's edge (emphasis; inside a word they
# are plain), and a first character that would start a list, quote or rule.
_AUTOLINK = re.compile(r"(?i)(:)(//)|\b(www)(\.)")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
_LINE_START = re.compile(r"^([-+=>0-9])")


def md_escape(value: object, max_chars: int = 300) -> str:
    """Untrusted text for the card's body: one line, bounded, shown as typed (no HTML, Markdown or autolinks)."""
    text = "" if value is None else str(value)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    text = text.translate(_MD_ENTITIES)
    text = _AUTOLINK.sub(lambda m: f"{m[1]}&#47;&#47;" if m[1] else f"{m[3]}&#46;", text)
    return _EDGE_UNDERSCORE.sub("&#95;", text)


def _md_paragraph(value: object, max_chars: int) -> str:
    """:func:`md_escape` for text on a line of its own, where a first '-', '>' or '1.' would start a block."""
    return _LINE_START.sub(lambda m: f"&#{ord(m[1])};", md_escape(value, max_chars))


def md_code(value: object, max_chars: int = 200) -> str:
    """Untrusted text as an inline code span (no backticks or line breaks can escape it)."""
    text = " ".join(("" if value is None else str(value)).split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    return "`" + (text.replace("`", "'") or " ") + "`"


def _quote(value: object) -> str:
    text = " ".join(str(value).split())
    return repr(text[:60] + ("…" if len(text) > 60 else ""))


def _number(value, digits: int = 6) -> str:
    if value is None:
        return "not measured"
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return md_escape(value, 40)


def _source_sentence(task_id: str | None, kind: str | None, description: str | None, dataset: str | None) -> str:
    if dataset:
        where = f"the Hugging Face Hub dataset [{dataset}](https://huggingface.co/datasets/{dataset})"
    elif kind == SOURCE_UPLOAD:
        where = "an uploaded file, not published"
    elif kind == SOURCE_EXAMPLE:
        where = "an example dataset bundled with hfselect, not published on the Hub"
    else:
        where = "not recorded (not a Hub dataset id)" if task_id else "not recorded"
    return where + (f"; {md_escape(description, MAX_DATA_SOURCE_CHARS)}" if description else "")


def _fit_description(config: ESMConfig, report: FitReport | None) -> str:
    method = (report.method if report else None) or config.extra.get("esm_fit_method")
    if method == "sgd":
        return (
            f"AdamW on mean squared error, {_number(config.esm_num_epochs)} epochs, batch size "
            f"{_number(config.esm_batch_size)}, learning rate {_number(config.esm_learning_rate)}, "
            f"weight decay {_number(config.esm_weight_decay)}"
        )
    fit = "closed-form least squares in float64 (a tiny ridge on the weights, none on the bias)"
    ridge = config.extra.get("esm_ridge")
    if isinstance(ridge, (int, float)) and ridge > 1e-4:
        fit = (
            f"closed-form least squares in float64 (a ridge of {_number(ridge, 3)} times the mean eigenvalue "
            "of the embeddings' second-moment matrix on the weights, none on the bias)"
        )
    outside = config.extra.get("esm_num_fit_texts_outside_task")
    if isinstance(outside, int) and outside > 0:
        fit += (
            f", on the task's texts plus {outside} texts from other tasks (embedded by both models), so the "
            "map also holds for texts unlike the task's own"
        )
    return fit


def render_card(
    config: ESMConfig,
    report: FitReport | None = None,
    notes: str = "",
    *,
    language: str | Iterable[str] | None = None,
    license: str | None = None,  # noqa: A002 - the Hub's metadata key
    data_source: str | None = None,
    source_kind: str | None = None,
) -> str:
    """The README.md of an ESM folder.

    Args:
        config: the ESM's config; its ``language`` and the extra keys ``license``, ``data_source``
            and ``data_source_kind`` are used when the arguments below are None.
        report: the fit's held-out quality (else the config's ``esm_mse`` / ``esm_r2``).
        notes: free text shown under "Notes" (escaped).
        language: ISO 639-1 codes ('en', 'en, de' or a list).
        license: one of :data:`HUB_LICENSES` (default 'apache-2.0').
        data_source: where the data came from, in the user's words (escaped, at most 500 characters).
        source_kind: 'hub', 'upload' or 'example'; only 'hub' (or an 'owner/name' task id when no
            kind is known) writes the ``datasets`` metadata.

    Raises:
        CardFieldError: a language, license, data source or kind that is not valid.
    """
    from jinja2 import Environment, StrictUndefined

    overrides = card_config_fields(language=language, license=license, data_source=data_source, source_kind=source_kind)
    fields = _resolved(config, overrides)
    metadata = card_metadata(
        config, language=fields["languages"], license=fields["license"], source_kind=fields["kind"]
    )
    template = (assets_dir() / TEMPLATE_NAME).read_text(encoding="utf-8")
    raw = {"pooling": "not recorded", "lm_head_learning_rate": None, **config.to_dict()}
    # Every config value shown in the body is escaped; code spans get their own quoting.
    values = {k: (md_escape(v) if v is not None else None) for k, v in raw.items() if not isinstance(v, (dict, list))}
    values.update(
        card_data=_yaml(metadata),
        base_model_code=md_code(config.base_model_name),
        base_model_python=json.dumps(str(config.base_model_name or "")).replace("`", "'"),
        pooling_code=md_code(raw["pooling"]),
        pooling_normalised=str(raw["pooling"]).endswith("+normalize"),
        task_subset_code=md_code(config.task_subset) if config.task_subset else None,
        task_type=md_escape(config.extra.get("task_type")) if config.extra.get("task_type") else None,
        languages=", ".join(fields["languages"])
        or (f"{md_escape(fields['language_text'], 60)} (not an ISO 639-1 code)" if fields["language_text"] else None),
        license=fields["license"],
        data_source=_source_sentence(
            config.task_id, fields["kind"], fields["data_source"], metadata.get("datasets", [None])[0]
        ),
        fit_description=_fit_description(config, report),
        mse=_number(report.mse if report else config.extra.get("esm_mse")),
        r2=_number(report.r2 if report else config.extra.get("esm_r2"), 4),
        notes=_md_paragraph(notes.strip(), 2000) if notes and notes.strip() else "",
    )
    # A value the config does not record shows as such, never as "None".
    env = Environment(
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=lambda v: "not recorded" if v is None else v,
    )
    return env.from_string(template).render(**values)


def apply_card_fields(
    folder: str | Path,
    *,
    language: str | Iterable[str] | None = None,
    license: str | None = None,  # noqa: A002
    data_source: str | None = None,
    source_kind: str | None = None,
    notes: str = "",
) -> str:
    """Record language, license and data source in an ESM folder's config.json and rewrite its README.md.

    For a folder the studio has just trained (before zipping or publishing it). Arguments left at
    None keep what the config records. Returns the new card. Checks everything before writing anything.
    """
    folder = Path(folder)
    config = ESMConfig.from_json_file(folder / CONFIG_NAME)
    fields = card_config_fields(language=language, license=license, data_source=data_source, source_kind=source_kind)
    if "language" in fields:
        config.language = fields.pop("language")
    config.extra.update(fields)
    card = render_card(config, notes=notes)
    check_card(card)
    config.save(folder / CONFIG_NAME)
    (folder / CARD_NAME).write_text(card, encoding="utf-8")
    return card


# --- checking a card against the Hub's metadata rules (offline) ----------------------------------


def check_card(markdown: str) -> dict[str, Any]:
    """Parse a card as the Hub does (``huggingface_hub.ModelCard``) and check the metadata rules the
    Hub enforces on ESM cards; return the metadata, or raise :class:`CardFieldError` naming every problem.

    ``ModelCard.validate`` needs the Hub (it posts the card to ``/api/validate-yaml``), so the rules
    are checked here: a metadata block that is a mapping, a known license, ISO 639-1 languages,
    dataset and base model ids the Hub would accept, string tags including the ESM tag.
    """
    from huggingface_hub import ModelCard
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        card = ModelCard(markdown)
    except Exception as e:  # noqa: BLE001 - yaml errors and the card's own ValueError
        raise CardFieldError(f"The card's metadata block cannot be read: {type(e).__name__}.") from None
    meta = card.data.to_dict()
    problems = []
    if not markdown.startswith("---\n") or not meta:
        problems.append("no metadata block at the top")
    lic = meta.get("license")
    if lic not in HUB_LICENSES:
        problems.append(f"license {_quote(lic)} is not a Hub license identifier")
    langs = meta.get("language", [])
    langs = [langs] if isinstance(langs, str) else langs
    if not isinstance(langs, list) or any(not isinstance(c, str) or c not in ISO_639_1 for c in langs):
        problems.append("language must be ISO 639-1 codes")
    datasets = meta.get("datasets", [])
    for item in datasets if isinstance(datasets, list) else [datasets]:
        try:
            validate_repo_id(item)
        except (HFValidationError, TypeError):
            problems.append(f"datasets entry {_quote(item)} is not a Hub dataset id")
    tags = meta.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags) or ESM_TAG not in tags:
        problems.append(f"tags must be a list of strings including '{ESM_TAG}'")
    if not isinstance(meta.get("base_model"), str):
        problems.append("base_model must be a model id")
    if problems:
        raise CardFieldError("The model card's metadata breaks the Hub's rules: " + "; ".join(problems) + ".")
    return meta


__all__ = [
    "DEFAULT_LICENSE",
    "HUB_LICENSES",
    "ISO_639_1",
    "SOURCE_EXAMPLE",
    "SOURCE_HUB",
    "SOURCE_UPLOAD",
    "CardFieldError",
    "apply_card_fields",
    "card_config_fields",
    "card_metadata",
    "check_card",
    "check_data_source",
    "check_language",
    "check_license",
    "hub_dataset_id",
    "md_code",
    "md_escape",
    "render_card",
]
