"""Plotly figures for a ranking (built from ``TaskRanking.to_pandas()``); every figure has a set height.

A view, so it lives in the app, not in the core: the figures are laid out for the Space (fixed
heights because Gradio renders plots in hidden tabs at zero height, the Space's orange, an empty
state that says "Run a ranking"), read the ``Baseline`` column the presenters add, and escape
text for plotly's HTML labels. A notebook user plots ``TaskRanking.to_pandas()`` with any library;
the core stays free of plotly and of UI wording.

Theme: the backgrounds are transparent and the text is a grey readable on the light page; the
app's CSS (``hfselect_app.CSS``) recolours the text for the dark theme, which plotly cannot know.
Nothing is written in annotations near the plot's edges (they get clipped): the baseline and the
top-k cut are legend entries or axis titles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

BAR_COLOR = "#ff9d00"
BELOW_COLOR = "#9ca3af"
OTHER_COLOR = "#9ca3af"
TIED_COLOR = "#c2410c"
BASELINE_COLOR = "#059669"
TEXT_COLOR = "#374151"  # 10.3:1 on white; the dark theme's CSS overrides it
GRID_COLOR = "rgba(128, 128, 128, 0.25)"
ZERO_COLOR = "rgba(128, 128, 128, 0.8)"
TRANSPARENT = "rgba(0,0,0,0)"
ROW_HEIGHT = 26
BASELINE_NAME = "base model alone (no intermediate task)"
# Axis names are cut to this length (the full name is in the hover): longer ones push the bars
# off a phone's screen (390 px), and plotly cannot know the screen when the figure is built.
MAX_LABEL_CHARS = 22


def plain(text: str, max_chars: int = 120) -> str:
    """Untrusted text for a plotly label or hover: plotly renders <a>, <b>, <br>, <span> and friends
    in text, so every '<', '>' and '&' is entity-escaped (plotly shows the entities as characters)."""
    text = " ".join(str(text).split())
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _label(row: pd.Series, max_chars: int = 120) -> str:
    """The task's readable name: the presenters' disambiguated 'Task' column when present."""
    name = row.get("Task")
    if not isinstance(name, str) or not name:
        subset = row.get("Task Subset")
        name = str(row.get("Task ID") or row.get("ESM") or "")
        if isinstance(subset, str) and subset and subset != "default":
            name += f" · {subset}"
    return plain(name, max_chars)


def _interval(row: pd.Series) -> str:
    """'1–3' from the Rank Low / Rank High columns ('' when the task was not resampled)."""
    low, high = row.get("Rank Low"), row.get("Rank High")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"{int(low)}" if int(low) == int(high) else f"{int(low)}–{int(high)}"


def _is_tied(row: pd.Series) -> bool:
    value = row.get("Tied With Leader")
    return value is True or (isinstance(value, (bool, np.bool_)) and bool(value))


def _layout(fig: go.Figure, title: str, height: int, legend: bool = False) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 30, "t": 50, "b": 90 if legend else 50},
        template="plotly_white",
        paper_bgcolor=TRANSPARENT,
        plot_bgcolor=TRANSPARENT,
        font={"color": TEXT_COLOR},
        showlegend=legend,
        modebar={"bgcolor": TRANSPARENT},
        # Legends sit below the x-axis title: nothing competes with the title or the bars.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.3, "yanchor": "top"},
    )
    axis = {"gridcolor": GRID_COLOR, "zerolinecolor": ZERO_COLOR, "linecolor": GRID_COLOR}
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    return fig


def _baseline(df: pd.DataFrame) -> float | None:
    """The ranking's baseline score, carried in a 'Baseline' column when known."""
    if "Baseline" not in df.columns:
        return None
    value = pd.to_numeric(df["Baseline"], errors="coerce").dropna()
    return float(value.iloc[0]) if len(value) else None


def _baseline_trace(value: float, vertical: bool, low: float, high: float) -> go.Scatter:
    """The baseline as a dotted line that is also a legend entry (an annotation would be clipped)."""
    xs, ys = ([value, value], [low, high]) if vertical else ([low, high], [value, value])
    return go.Scatter(
        x=xs,
        y=ys,
        mode="lines",
        line={"dash": "dot", "color": BASELINE_COLOR, "width": 2},
        name=f"{BASELINE_NAME}: {value:.4f}",
        hoverinfo="skip",
    )


def empty_figure(message: str = "Run a ranking to see this plot.", height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", height)


def _top(df: pd.DataFrame, k: int) -> pd.DataFrame:
    order = pd.to_numeric(df["Rank"], errors="coerce")
    return df.assign(_order=order).sort_values("_order").head(k)


def top_k_bar(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """The k best tasks, best on top, as bars from the baseline (x = score − baseline score).

    The zero line is the base model with no intermediate task, so a bar's length and direction say
    how far above or below that reference a task scores, on one linear axis that always includes 0.
    Without a baseline (older stored rankings) the scores are dots: a dot plot needs no zero.
    """
    if df is None or df.empty:
        return empty_figure()
    k = max(1, min(int(k or 10), len(df)))
    top = _top(df, k)
    rows = list(top.iterrows())
    labels = [f"{int(r['Rank'])}. {_label(r, MAX_LABEL_CHARS)}" for _, r in rows]
    names = [_label(r) for _, r in rows]
    intervals = [_interval(r) for _, r in rows]
    tied = [_is_tied(r) for _, r in rows]
    if sum(tied) < 2:  # a leader alone is not "tied"
        tied = [False] * len(tied)
    scores = pd.to_numeric(top["Score"], errors="coerce").astype(float).to_numpy()
    baseline = _baseline(df)
    hover = [
        [s, ("tied with the leader; " if t else "") + (f"ranks {i} over the resamples" if i else ""), i, n]
        for s, t, i, n in zip(scores, tied, intervals, names)
    ]
    if baseline is not None:
        delta = scores - baseline
        colors = [TIED_COLOR if t else (BAR_COLOR if d >= 0 else BELOW_COLOR) for t, d in zip(tied, delta)]
        fig = go.Figure(
            go.Bar(
                x=delta,
                y=labels,
                orientation="h",
                marker_color=colors,
                # Only the gain beside a bar (the rank interval is in the hover and the leaderboard):
                # a longer label is cut at a phone's edge.
                text=[f"{d:+.3f}" for d in delta],
                textposition="outside",
                cliponaxis=False,
                customdata=[[*h, d] for h, d in zip(hover, delta)],
                hovertemplate="%{customdata[3]}<br>Score %{customdata[0]:.5f} (%{customdata[4]:+.5f} vs. base model)"
                "<br>%{customdata[1]}<extra></extra>",
                showlegend=False,
            )
        )
        low, high = float(min(0.0, delta.min())), float(max(0.0, delta.max()))
        span = (high - low) or abs(baseline) * 0.05 or 0.1
        # Room for the outside labels on both sides; the axis always holds the zero line.
        fig.update_xaxes(
            range=[low - span * (0.5 if low < 0 else 0.05), high + span * (0.4 if high > 0 else 0.05)],
            zeroline=True,
            zerolinewidth=2,
            zerolinecolor=BASELINE_COLOR,
            title=f"Score − base model's ({baseline:.4f})",
        )
    else:
        fig = go.Figure(
            go.Scatter(
                x=scores,
                y=labels,
                mode="markers+text",
                marker={"color": [TIED_COLOR if t else BAR_COLOR for t in tied], "size": 12},
                text=[f"{s:.4f}" for s in scores],
                textposition="middle right",
                cliponaxis=False,
                customdata=hover,
                hovertemplate="%{customdata[3]}<br>Score %{customdata[0]:.5f}<br>%{customdata[1]}<extra></extra>",
                showlegend=False,
            )
        )
        span = float(np.ptp(scores)) or abs(float(scores[0])) * 0.05 or 0.1
        fig.update_xaxes(range=[float(scores.min()) - span * 0.1, float(scores.max()) + span * 0.5])
        fig.update_xaxes(title="LogME score (higher is more promising)")
    fig.update_yaxes(autorange="reversed", automargin=True)
    title = f"Top {k} tasks vs. the base model alone"
    if any(tied):
        title += "<br><sup>dark: tied with the leader</sup>"
    return _layout(fig, title, max(300, 110 + ROW_HEIGHT * k))


def score_histogram(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """Distribution of all scores, the top k in colour, the baseline as a dotted line."""
    if df is None or df.empty:
        return empty_figure()
    k = max(1, min(int(k or 10), len(df)))
    scores = pd.to_numeric(df["Score"], errors="coerce").astype(float).to_numpy()
    threshold = float(np.sort(scores)[::-1][k - 1])
    bins = {"start": float(scores.min()), "end": float(scores.max()) + 1e-9, "size": (np.ptp(scores) or 1.0) / 20}
    fig = go.Figure()
    fig.add_histogram(x=scores[scores < threshold], xbins=bins, marker_color=OTHER_COLOR, name="other tasks")
    fig.add_histogram(x=scores[scores >= threshold], xbins=bins, marker_color=BAR_COLOR, name=f"the top {k}")
    fig.update_layout(barmode="stack")
    baseline = _baseline(df)
    if baseline is not None:
        counts, _ = np.histogram(scores, bins=20)
        fig.add_trace(_baseline_trace(baseline, True, 0, float(max(counts.max(), 1))))
    fig.update_xaxes(title="LogME score")
    fig.update_yaxes(title="ESMs")
    return _layout(fig, "Score distribution", 340, legend=True)


def score_vs_size(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """Score against the ESM's training-set size (Num Examples), log x when sizes vary a lot."""
    if df is None or df.empty:
        return empty_figure()
    data = df.copy()
    data["Num Examples"] = pd.to_numeric(data["Num Examples"], errors="coerce")
    data["Score"] = pd.to_numeric(data["Score"], errors="coerce")
    data = data.dropna(subset=["Num Examples"])
    if data.empty:
        return empty_figure("The ESMs do not record their training-set size.")
    top = pd.to_numeric(data["Rank"], errors="coerce") <= int(k or 10)
    fig = go.Figure()
    for mask, name, color in ((top, f"the top {int(k or 10)}", BAR_COLOR), (~top, "other tasks", OTHER_COLOR)):
        part = data[mask]
        fig.add_scatter(
            x=part["Num Examples"],
            y=part["Score"],
            mode="markers",
            name=name,
            marker={"color": color, "size": 9, "line": {"width": 0.5, "color": TEXT_COLOR}},
            text=[_label(r) for _, r in part.iterrows()],
            hovertemplate="%{text}<br>%{x:,} examples<br>Score %{y:.5f}<extra></extra>",
        )
    sizes = data["Num Examples"].to_numpy(dtype=float)
    log = sizes.min() > 0 and sizes.max() / sizes.min() > 20
    baseline = _baseline(df)
    if baseline is not None:
        fig.add_trace(_baseline_trace(baseline, False, float(sizes.min()), float(sizes.max())))
    fig.update_xaxes(title="ESM training examples", type="log" if log else "linear")
    fig.update_yaxes(title="LogME score")
    return _layout(fig, "Score vs. ESM training-set size", 340, legend=True)
