"""The rank tab's results through its real handler (issue 13 items 1, 4 and 7, without a browser).

One ranking of a bundled example for the module (``rank_tab.rank``, as the page calls it; the
browser tests rank the same form, so one of the two modules reads it from the result cache); then
the leaderboard HTML, the machine-readable table, the plots and the top-k redraw are read from
what the handler returned. Browser-side behaviour (sorting, widths, theme) is in
test_browser_leaderboard.py.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
from helpers import REPO_ROOT

os.environ.setdefault("HF_HUB_OFFLINE", "1")

POOL = REPO_ROOT / "assets" / "esms" / "sentence-transformers__all-MiniLM-L6-v2"
# The browser tests rank the same form: whichever module runs second gets the stored result.
SAMPLE = {"n": 120, "seed": 4242}


@pytest.fixture(scope="module")
def ranked():
    from hfselect_app import rank_tab

    outputs = None
    for outputs in rank_tab.rank(
        source="example",
        example="support_messages",
        text_columns=["message"],
        label_column="intent",
        num_examples=SAMPLE["n"],
        seed=SAMPLE["seed"],
        pool="bundled",
    ):
        pass
    result = dict(zip(rank_tab.OUTPUTS, outputs))
    assert result["status"].startswith("✅"), result["status"]
    return result


def _configs() -> dict[str, dict]:
    return {f.name: json.loads((f / "config.json").read_text()) for f in POOL.iterdir()}


def test_leaderboard_rows_names_links_and_numbers(ranked):
    from hfselect_app import presenters
    from hfselect_core.card import hub_dataset_id

    raw = pd.DataFrame(ranked["raw"])
    html = presenters.leaderboard_html(raw)
    rows = re.findall(r"<tr data-kind=.*?</tr>", html)
    assert len(rows) == len(raw) == len(_configs())
    # One readable name per row: no two alike (CogComp/trec's two ESMs are told apart).
    names = raw["Task"].tolist()
    assert len(set(names)) == len(names)
    assert sorted(n for n in names if n.startswith("CogComp/trec")) == [
        "CogComp/trec · trec_coarse",
        "CogComp/trec · trec_fine",
    ]
    # Links exactly where the ESM's config names a Hub dataset, to that dataset's page.
    configs = _configs()
    for row, (_, r) in zip(rows, raw.iterrows()):
        config = configs[r["ESM"]]
        hub = hub_dataset_id(config["task_id"], config.get("data_source_kind"))
        hrefs = re.findall(r'href="([^"]*)"', row)
        assert hrefs == ([f"https://huggingface.co/datasets/{hub}"] if hub else []), (r["ESM"], hrefs)
    assert "datasets/crowdflower_tweet_sentiment" not in html and "crowdflower_tweet_sentiment" in html
    # Δ vs base is the score minus the baseline, shown signed; Score is printed to 4 places.
    baseline = float(raw["Baseline"].iloc[0])
    first = rows[0]
    score = float(raw["Score"].iloc[0])
    assert f">{score:.4f}<" in first
    assert f"{score - baseline:+.4f}".replace("-", "−") in first
    # Every header is a sort button; the type filter lists the types present.
    assert html.count('<button type="button" class="lb-sort"') == len(presenters.LEADERBOARD_COLUMNS)
    kinds = sorted(set(raw["Task Type"]) - {""})
    assert re.findall(r'<option value="([^"]+)">', html) == kinds
    assert {"classification", "pair classification", "regression"} <= set(kinds)


def test_machine_readable_table_keeps_numbers(ranked):
    table = ranked["table"]
    for column in ("Rank", "Score", "Δ vs Baseline", "Top-3 Share", "Num Examples"):
        assert pd.api.types.is_numeric_dtype(table[column]), column
    raw = pd.DataFrame(ranked["raw"])
    delta = table["Score"] - pd.to_numeric(raw["Baseline"]).iloc[0]
    assert (table["Δ vs Baseline"] - delta).abs().max() < 1e-5


def test_hostile_task_names_are_escaped():
    from hfselect_app import presenters

    evil = "<img src=x onerror=alert(1)>${alert(2)}{{x}}`"
    raw = pd.DataFrame(
        {
            "Rank": [1],
            "Task": [evil],
            "Task ID": [evil],
            "Task Type": ['x" onmouseover="alert(3)'],
            "Hub Dataset": [None],
            "Score": [0.5],
            "Baseline": [0.4],
            "ESM": [evil],
            "Num Examples": [10],
        }
    )
    html = presenters.leaderboard_html(raw)
    # gr.HTML fills a JS template: no template syntax may reach it either.
    assert "${" not in html and "{{" not in html and "`" not in html

    class Elements(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.attributes, self.text = set(), set(), []

        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            self.attributes.update(name for name, _ in attrs)

        def handle_data(self, data):
            self.text.append(data)

    parsed = Elements()
    parsed.feed(html)
    assert "img" not in parsed.tags and not {a for a in parsed.attributes if a.startswith("on")}
    assert evil in "".join(parsed.text)  # shown as typed


def test_tied_badge_needs_two_tasks():
    """A leader nobody overlaps is not "tied" (the badge and the row highlight agree)."""
    from hfselect_app import presenters

    def frame(tied):
        return pd.DataFrame(
            {
                "Rank": [1, 2, 3],
                "Task": ["a", "b", "c"],
                "Score": [0.9, 0.5, 0.4],
                "Baseline": [0.3] * 3,
                "Rank Low": [1, 2, 2],
                "Rank High": [1, 3, 3],
                "Top-k Share": [1.0, 0.9, 0.8],
                "Tied With Leader": tied,
            }
        )

    # A stored result may still flag the leader alone (results before the core stopped doing so).
    alone = presenters.leaderboard_html(frame([True, False, False]))
    assert "lb-badge" not in alone and "lb-tied" not in alone
    pair = presenters.leaderboard_html(frame([True, True, False]))
    assert pair.count('<span class="lb-badge">tied</span>') == 2 and pair.count('class="lb-tied"') == 2


def test_bar_plot_is_relative_to_the_baseline_and_redraws_for_any_k(ranked):
    from hfselect_app import plots, rank_tab

    raw = pd.DataFrame(ranked["raw"])
    baseline = float(raw["Baseline"].iloc[0])
    bar, hist, size = ranked["bar"], ranked["hist"], ranked["size"]
    top = raw.sort_values("Rank").head(10)
    assert list(bar.data[0].x) == pytest.approx(list(top["Score"].astype(float) - baseline))
    low, high = bar.layout.xaxis.range
    assert low <= min(0, *bar.data[0].x) and high >= max(0, *bar.data[0].x)  # the zero line is on the axis
    assert "base model" in bar.layout.xaxis.title.text
    for fig in (bar, hist, size):
        assert fig.layout.paper_bgcolor == plots.TRANSPARENT and fig.layout.plot_bgcolor == plots.TRANSPARENT
        assert not [a for a in fig.layout.annotations if a.text]  # nothing to clip at the edges
    # Phone-sized (390 px): short axis names (the full name in the hover), only the gain beside a bar.
    full = [str(n) for n in top["Task"]]
    assert [c[3] for c in bar.data[0].customdata] == full
    assert all(len(label.split(". ", 1)[1]) <= plots.MAX_LABEL_CHARS <= 22 for label in bar.data[0].y)
    assert all(re.fullmatch(r"[+-]\d\.\d{3}", t) for t in bar.data[0].text)
    assert len(bar.layout.xaxis.title.text) <= 40 and "<br>" not in bar.layout.xaxis.title.text
    names = [t.name for t in hist.data]
    assert len(names) == len(set(names)) and sum("top 10" in n for n in names) == 1
    assert any("base model" in n for n in names)
    # The redraw the top-k control triggers (any change, not only a mouse release).
    redrawn = rank_tab.replot(ranked["raw"], 4)
    assert len(redrawn[0].data[0].y) == 4
    assert "top 4" in " ".join(t.name for t in redrawn[1].data)


def test_top_k_out_of_range_is_clamped_not_an_error(ranked):
    """A typed 999 or -3 is clamped by the redraw (no Gradio 500) and the box is set to the k drawn
    (the browser test types them into the page)."""
    import gradio as gr

    from hfselect_app import rank_tab

    for typed, drawn in ((999, 50), (-3, 3), (2.6, 3), ("x", 10), (None, 10), (7, 7)):
        *figs, k = rank_tab.replot(ranked["raw"], typed)
        # The box is set back to the k drawn, and left alone when it already holds it.
        assert k == drawn if typed != drawn else isinstance(k, type(gr.skip()))
        assert len(figs[0].data[0].y) == min(drawn, len(ranked["raw"]))
    assert rank_tab.replot(None, 999)[-1] == 50


def test_advanced_panel_names_no_environment_variables():
    from hfselect_app import presenters
    from hfselect_core import limits

    text = presenters.limits_markdown()
    env_names = [v for k, v in vars(limits).items() if k.endswith("_ENV") and isinstance(v, str)]
    assert env_names and not [name for name in env_names if name in text]
    assert "examples per ranking" in text


def test_offline_hub_dataset_error_promises_nothing():
    from hfselect_app import rank_tab

    *_, last = rank_tab.rank(
        source="hub", dataset_id="stanfordnlp/imdb", text_columns=["text"], label_column="label", pool="bundled"
    )
    status = last[0]
    assert "cannot be reached" in status and "Nothing was read or ranked" in status
    assert "Working with what is available locally" not in status
