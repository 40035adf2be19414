"""ESM model cards: language, license and data source fields, Hub-valid front matter, hostile text.

The front matter is read back the way the Hub's Python client reads it (``huggingface_hub.ModelCard``);
``ModelCard.validate`` posts the card to the Hub (``/api/validate-yaml``), which no test machine
reaches, so the Hub's rules are asserted here field by field. The body is rendered with
markdown-it (CommonMark with tables, raw HTML allowed as on the Hub) to check that what users
typed shows as text and never as HTML or a link.
"""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest
from helpers import make_texts
from huggingface_hub import ModelCard, ModelCardData
from markdown_it import MarkdownIt

from hfselect_core import card, studio
from hfselect_core.card import CardFieldError, apply_card_fields, check_card, render_card
from hfselect_core.data import TargetDataset
from hfselect_core.esm import ESMConfig
from hfselect_core.training import TrainingSettings

BASE = "sentence-transformers/all-MiniLM-L6-v2"
SETTINGS = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=1e-3, max_length=32)


def _config(**kw) -> ESMConfig:
    values = dict(
        base_model_name=BASE,
        task_id="product_questions",
        text_column="text",
        label_column="label",
        num_examples=300,
        seed=42,
        esm_embedding_dim=384,
        lm_num_epochs=3,
        lm_batch_size=32,
        lm_learning_rate=2e-5,
        lm_weight_decay=0.01,
        lm_optimizer="AdamW",
        pooling="mean+normalize",
        extra={"task_type": "classification"},
    )
    values.update(kw)
    return ESMConfig(**values)


def _hub_meta(markdown: str) -> dict:
    """The metadata as the Hub's client parses it, re-serialised and parsed again (a round trip)."""
    first = ModelCard(markdown)
    again = ModelCard(str(first))
    assert again.data.to_dict() == first.data.to_dict()
    data = first.data.to_dict()
    assert ModelCardData(**data).to_dict() == data  # every key is one ModelCardData accepts as is
    return data


def _body_html(markdown: str) -> str:
    body = ModelCard(markdown).text
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(body)


# --- the issue: an uploaded file is not a Hub dataset ---------------------------------------------


@pytest.fixture(scope="module")
def uploaded_run(tiny_bert_dir, tmp_path_factory):
    """A real studio run on data from an uploaded file named product_questions.csv."""
    folder = tmp_path_factory.mktemp("upload")
    path = folder / "product_questions.csv"
    pd.DataFrame({"text": make_texts(30, seed=3), "label": ["a", "b", "c"] * 10}).to_csv(path, index=False)
    dataset = TargetDataset.from_file(str(path), text_columns="text", label_column="label")
    events = list(
        studio.iter_studio_training(
            dataset, str(tiny_bert_dir), SETTINGS, device="cpu", workdir=folder, self_check=False
        )
    )
    return events[-1].result


def test_uploaded_file_card_has_no_datasets_entry(uploaded_run):
    meta = _hub_meta(uploaded_run.card_markdown)
    assert "datasets" not in meta  # 'product_questions' is a file name, not a Hub id
    assert "product_questions" in uploaded_run.card_markdown  # still named in the body
    assert "not recorded (not a Hub dataset id)" in uploaded_run.card_markdown


def test_apply_card_fields_records_language_license_and_source(uploaded_run):
    folder = uploaded_run.folder
    new = apply_card_fields(
        folder, language="EN, de", license="CC-BY-4.0", data_source="Support e-mails, 2024", source_kind="upload"
    )
    assert (folder / "README.md").read_text(encoding="utf-8") == new
    meta = _hub_meta(new)
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en", "de"]
    assert "datasets" not in meta
    assert "| Data source | an uploaded file, not published; Support e-mails, 2024 |" in new
    assert "| Language | en, de |" in new
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["language"] == "en, de" and config["license"] == "cc-by-4.0"
    assert config["data_source"] == "Support e-mails, 2024" and config["data_source_kind"] == "upload"
    # The ESM still loads and the values survive a re-render from its config alone.
    esm = studio.load_esm_zip(studio.zip_esm_folder(folder))
    assert render_card(esm.config) == new
    # A bad value is refused before anything is written.
    with pytest.raises(CardFieldError):
        apply_card_fields(folder, license="apache")
    assert (folder / "README.md").read_text(encoding="utf-8") == new


# --- metadata fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "kind", "expected"),
    [
        ("stanfordnlp/imdb", None, ["stanfordnlp/imdb"]),  # an owner/name id: a Hub dataset
        ("stanfordnlp/imdb", "hub", ["stanfordnlp/imdb"]),
        ("imdb", "hub", ["imdb"]),  # a canonical id, known to come from the Hub
        ("imdb", None, None),  # a bare name without a kind: could be any file's name
        ("product_questions", None, None),
        ("org/data", "upload", None),
        ("product_reviews", "example", None),
        ("org/bad--name", "hub", None),  # the Hub would refuse this id
        ("../../etc/passwd", "hub", None),
    ],
)
def test_datasets_only_for_hub_ids(task_id, kind, expected):
    meta = _hub_meta(render_card(_config(task_id=task_id), source_kind=kind))
    assert meta.get("datasets") == expected
    body = ModelCard(render_card(_config(task_id=task_id), source_kind=kind)).text
    if expected:
        assert f"[{task_id}](https://huggingface.co/datasets/{task_id})" in body
    elif kind == "upload":
        assert "an uploaded file, not published" in body
    elif kind == "example":
        assert "an example dataset bundled with hfselect, not published on the Hub" in body


def test_defaults_and_front_matter_keys():
    markdown = render_card(_config(language=None))
    meta = _hub_meta(markdown)
    assert meta == {
        "license": "apache-2.0",
        "base_model": BASE,
        "tags": ["embedding_space_map", f"BaseLM:{BASE}"],
        "library_name": "hfselect",
    }
    assert "| Language | not recorded |" in markdown and "| License of this ESM | apache-2.0 |" in markdown
    assert check_card(markdown) == meta


@pytest.mark.parametrize(
    ("given", "codes"),
    [("en", ["en"]), ("EN, de", ["en", "de"]), ("fr;fr  es", ["fr", "es"]), (["zh", "JA"], ["zh", "ja"]), ("", None)],
)
def test_language_codes(given, codes):
    meta = _hub_meta(render_card(_config(), language=given))
    assert meta.get("language") == codes


@pytest.mark.parametrize("bad", ["english", "eng", "e", "en-US", "xx", "en, klingon", "<b>en</b>"])
def test_language_refused_with_a_clear_message(bad):
    with pytest.raises(CardFieldError, match="ISO 639-1"):
        render_card(_config(), language=bad)


def test_legacy_free_text_language_stays_out_of_the_metadata():
    markdown = render_card(_config(language="English"))
    assert "language" not in _hub_meta(markdown)
    assert "| Language | English (not an ISO 639-1 code) |" in markdown


@pytest.mark.parametrize("lic", ["mit", "Apache-2.0", "cc-by-nc-sa-4.0", "openrail++", "llama2", "unknown"])
def test_hub_licenses_accepted(lic):
    meta = _hub_meta(render_card(_config(), license=lic))
    assert meta["license"] == lic.lower()


@pytest.mark.parametrize("bad", ["apache", "MIT License", "gpl-4.0", "other", "mit\nfoo: bar", "cc-by-4.0 OR mit"])
def test_unknown_licenses_refused(bad):
    with pytest.raises(CardFieldError, match="license identifiers"):
        render_card(_config(), license=bad)


def test_data_source_is_bounded():
    with pytest.raises(CardFieldError, match="500"):
        render_card(_config(), data_source="x" * 501)
    with pytest.raises(CardFieldError, match="kind"):
        render_card(_config(), source_kind="ftp")


# --- hostile text ----------------------------------------------------------------------------------

HOSTILE = [
    '"\n---\nfoo: bar',
    "x\n---\nlicense: mit\ntags: [evil]\n---\n# Title",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    "[click](javascript:alert(1)) ![img](https://evil.example/x.png)",
    "https://evil.example/phish www.evil.example user@evil.example",
    "| a | b |\n|---|---|",
    "`code` **bold** _em_ ~~del~~ $x^2$ # heading",
    "- item\n> quote\n1. one",
    "\u2028---\u2029foo: bar\x85\x00\x1b[31m",
    "emoji 😀 and \U0001f4a9 and \ufeff bom",
    "{{ 7 * 7 }} {% raw %}",
]


def _plain_config() -> ESMConfig:
    return _config(
        task_id="plain",
        task_subset="plain",
        task_split="plain",
        text_column="plain",
        label_column="plain",
        base_model_name="org/modelplain",
        pooling="plain",
        extra={"task_type": "plain"},
    )


def _tags(rendered: str) -> list[str]:
    """Every HTML tag of a rendered card, with its attributes, in order."""
    return re.findall(r"</?[a-zA-Z][^>]*>", rendered)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_cannot_break_the_card(text):
    config = _config(
        task_id=text,
        task_subset=text,
        task_split=text,
        text_column=text,
        label_column=text,
        base_model_name=f"org/model{text}",
        pooling=text,
        extra={"task_type": text},
    )
    markdown = render_card(config, notes=text, data_source=text, source_kind="upload")
    meta = _hub_meta(markdown)
    # Nothing injected into the metadata: the same keys, and user text only where it belongs, verbatim.
    assert set(meta) == {"license", "base_model", "tags", "library_name"}
    assert meta["license"] == "apache-2.0"
    assert meta["base_model"] == f"org/model{text}"
    assert meta["tags"] == ["embedding_space_map", f"BaseLM:org/model{text}"]
    rendered = _body_html(markdown)
    # The same HTML elements as the card of a harmless name: no tag, link, emphasis, list, quote,
    # heading or table cell came from the text.
    plain = _body_html(render_card(_plain_config(), notes="plain", data_source="plain", source_kind="upload"))
    assert _tags(rendered) == _tags(plain)
    # GitHub-flavoured renderers (the Hub's) link bare URLs outside code spans: none may remain.
    outside_code = re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", ModelCard(markdown).text, flags=re.S))
    assert "https://evil" not in outside_code and "www.evil" not in outside_code and "@evil" not in outside_code
    assert "49" not in rendered.split("Notes")[-1]  # the template engine did not evaluate the text
    # What the user typed is shown as typed (modulo whitespace), e.g. in the Notes.
    shown = html.unescape(rendered.split("<h2>Notes</h2>")[1].split("<h2>")[0])
    visible = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    assert visible.replace("\ufeff", "") in " ".join(shown.split()).replace("\ufeff", "") or len(visible) > 2000


def test_check_card_reports_broken_metadata():
    good = render_card(_config())
    assert check_card(good)["license"] == "apache-2.0"
    for broken, problem in [
        (good.replace('license: "apache-2.0"', 'license: "apache"'), "license"),
        (good.replace('- "embedding_space_map"\n', ""), "tags"),
        (good.replace('license: "apache-2.0"', 'license: "mit"\nlanguage: "english"'), "ISO 639-1"),
        (good.replace('license: "apache-2.0"', 'license: "mit"\ndatasets:\n- "a b c"'), "dataset"),
        (good.split("---\n", 2)[2], "metadata"),
        ("---\n- a list\n---\nbody", "metadata"),
    ]:
        with pytest.raises(CardFieldError, match=problem):
            check_card(broken)


def test_every_bundled_style_value_round_trips_through_the_hub_client():
    """Unicode beyond the BMP, separators and quotes survive the front matter exactly."""
    for name in ["org/modèle", "org/😀", "org/a\u2028b", 'org/"q"', "org/back\\slash", "org/tab\there"]:
        meta = _hub_meta(render_card(_config(base_model_name=name)))
        assert meta["base_model"] == name


def test_md_escape_is_inert_and_bounded():
    assert card.md_escape("a" * 400, 300).endswith("…") and len(card.md_escape("a" * 400, 300)) == 301
    assert card.md_escape("snake_case_name") == "snake_case_name"  # inside words: plain, readable
    assert card.md_escape("_edge_") == "&#95;edge&#95;"
    assert card.md_code("a`b\nc") == "`a'b c`"
