"""The field table drives the forms: adding a field is one line, and every use of the form follows it."""

from __future__ import annotations

import inspect
from urllib.parse import parse_qs, urlparse

import gradio as gr

from hfselect_app import fields, rank_tab, share, studio_tab
from hfselect_app.validators import field_errors


def _with_min_score() -> tuple[fields.Field, ...]:
    """RANK_FIELDS plus one new field, added the way ARCHITECTURE.md says: one line in the table."""
    return (
        *rank_tab.FIELDS,
        fields.Field(
            "min_score",
            0.0,
            "hide tasks scoring below this.",
            "advanced",
            lambda ctx: gr.Number(0.0, label="Min score"),
            lambda value, form: None if float(value) >= 0 else "Min score must be 0 or more.",
            share_key="min",
            share_parse=float,
        ),
    )


def test_a_new_field_reaches_the_handler_the_validator_and_the_share_link():
    table = _with_min_score()
    form_cls = fields.form_class("Form", table)
    seen = []

    def impl(form, progress=None):
        seen.append(form)
        yield ("done",)

    extra = [inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    handler = fields.form_handler(table, form_cls, impl, extra, name="rank", doc="")
    params = list(inspect.signature(handler).parameters)
    assert params == [*fields.names(rank_tab.FIELDS), "min_score", "progress"]
    # By name (gradio_client) and by position (the event's inputs list) alike.
    list(handler(example="product_reviews", min_score=0.5))
    positional = [f.default for f in rank_tab.FIELDS] + [0.25]
    list(handler(*positional))
    assert [f.min_score for f in seen] == [0.5, 0.25]
    assert seen[0].example == "product_reviews" and seen[0].top_k == 10  # the others: the table's defaults

    errors = field_errors(table, form_cls(example="product_reviews", min_score=-1, num_examples=1))
    assert [e.field for e in errors] == ["num_examples", "min_score"]  # all at once, in table order

    url = share.share_url(table, "http://x/", form_cls(example="product_reviews", min_score=0.5))
    assert "min=0.5" in url
    assert share.parse_query(table, parse_qs(urlparse(url).query))["min_score"] == 0.5


def test_every_shared_rank_field_round_trips_through_a_link():
    values = {
        "source": "hub",
        "dataset_id": "org/data",
        "subset": "en",
        "split": "test",
        "text_columns": ["title", "body"],
        "label_column": "stars",
        "task_type": "regression",
        "num_examples": 300,
        "seed": 7,
        "base_model": "bert-base-uncased",
        "pool": "hub",
    }
    shared = {f.name for f in rank_tab.FIELDS if f.share_key}
    assert shared == set(values) - {"source"} | {"example"}, "a new shared field needs a value in this test"
    url = share.share_url(rank_tab.FIELDS, "http://x/", rank_tab.RankForm(**values))
    parsed = share.parse_query(rank_tab.FIELDS, parse_qs(urlparse(url).query))
    assert {k: parsed[k] for k in values} == values
    # An example link keeps no Hub field, and defaults stay out of the link.
    url = share.share_url(rank_tab.FIELDS, "http://x/", rank_tab.RankForm(example="product_reviews", subset="x"))
    assert parse_qs(urlparse(url).query) == {
        "example": ["product_reviews"],
        "model": ["sentence-transformers/all-MiniLM-L6-v2"],
    }


def test_both_forms_share_the_target_fields_and_differ_after_them():
    target = fields.names(fields.TARGET_FIELDS)
    assert fields.names(rank_tab.FIELDS)[: len(target)] == target
    assert fields.names(studio_tab.FIELDS)[: len(target)] == target
    assert fields.names(studio_tab.FIELDS)[len(target) :] == [
        "num_examples",
        "seed",
        "base_model",
        "epochs",
        "batch_size",
        "learning_rate",
        "fit_method",
        "language",
        "license",
        "data_source",
    ]
    # Every non-target field has a component factory and a place in its tab.
    for table in (rank_tab.FIELDS, studio_tab.FIELDS):
        for field in table:
            assert (field.section == "target") == (field.make is None), field.name
