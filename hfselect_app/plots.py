"""Plotly figures for a ranking (built from ``TaskRanking.to_pandas()``); every figure has a set height.

A view, so it lives in the app, not in the core: the figures are laid out for the Space (fixed
heights because Gradio renders plots in hidden tabs at zero height, the Space's orange, an empty
state that says "Run a ranking"), read the ``Baseline`` column the presenters add, and escape
text for plotly's HTML labels. A notebook user plots ``TaskRanking.to_pandas()`` with any library;
the core stays free of plotly and of UI wording.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

BAR_COLOR = "#ff9d00"
OTHER_COLOR = "#9ca3af"
TIED_COLOR = "#c2410c"
ROW_HEIGHT = 26


def _label(row: pd.Series) -> str:
    subset = row.get("Task Subset")
    task = str(row.get("Task ID") or row.get("ESM") or "")
    if isinstance(subset, str) and subset and subset != "default":
        task += f" ({subset})"
    return plain(task)


def plain(text: str, max_chars: int = 120) -> str:
    """Untrusted text for a plotly label or hover: plotly renders <a>, <b>, <br>, <span> and friends
    in text, so every '<', '>' and '&' is entity-escaped (plotly shows the entities as characters)."""
    text = " ".join(str(text).split())
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "…"
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _interval(row: pd.Series) -> str:
    """'1–3' from the Rank Low / Rank High columns ('' when the task was not resampled)."""
    low, high = row.get("Rank Low"), row.get("Rank High")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    return f"{int(low)}" if int(low) == int(high) else f"{int(low)}–{int(high)}"


def _is_tied(row: pd.Series) -> bool:
    value = row.get("Tied With Leader")
    return value is True or (isinstance(value, (bool, np.bool_)) and bool(value))


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 20, "t": 50, "b": 40},
        template="plotly_white",
        showlegend=False,
    )
    return fig


def _baseline(df: pd.DataFrame) -> float | None:
    """The ranking's baseline score, carried in a 'Baseline' column when known."""
    if "Baseline" not in df.columns:
        return None
    value = pd.to_numeric(df["Baseline"], errors="coerce").dropna()
    return float(value.iloc[0]) if len(value) else None


def _mark_baseline(fig: go.Figure, value: float | None, vertical: bool = True) -> None:
    if value is None:
        return
    style = {"line_dash": "dot", "line_color": "#059669", "annotation_text": "reference: no intermediate task"}
    if vertical:
        fig.add_vline(x=value, annotation_position="bottom right", **style)
    else:
        fig.add_hline(y=value, annotation_position="bottom right", **style)


def empty_figure(message: str = "Run a ranking to see this plot.", height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", height)


def top_k_bar(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """Horizontal bars of the k best tasks, best on top."""
    if df is None or df.empty:
        return empty_figure()
    k = max(1, min(int(k or 10), len(df)))
    top = df.sort_values("Rank").head(k)
    labels = [f"{int(r['Rank'])}. {_label(r)}" for _, r in top.iterrows()]
    intervals = [_interval(r) for _, r in top.iterrows()]
    tied = [_is_tied(r) for _, r in top.iterrows()]
    if sum(tied) < 2:  # a leader alone is not "tied"
        tied = [False] * len(tied)
    baseline = _baseline(df)
    values = [*top["Score"], *([baseline] if baseline is not None else [])]
    lo, hi = float(min(values)), float(max(values))
    pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.1
    start = lo - pad
    scores = top["Score"].astype(float)
    # Bars start at the left edge of the axis, so a longer bar is a higher score even when every
    # score is negative (bars from zero would make the best task the shortest).
    fig = go.Figure(
        go.Bar(
            x=scores - start,
            base=start,
            y=labels,
            orientation="h",
            marker_color=[TIED_COLOR if t else BAR_COLOR for t in tied],
            text=[f"{s:.4f}" + (f"  (ranks {i})" if i else "") for s, i in zip(scores, intervals)],
            textposition="auto",
            customdata=[[s, "tied with the leader" if t else ""] for s, t in zip(scores, tied)],
            hovertemplate="%{y}<br>Score %{customdata[0]:.5f}<br>%{customdata[1]}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title="LogME score (higher is more promising; ranks: interval under resampling)")
    _mark_baseline(fig, baseline)
    fig.update_xaxes(range=[start, hi + pad * 0.5])
    title = f"Top {k} intermediate tasks"
    if any(tied):
        title += " (dark: indistinguishable from the leader under resampling)"
    return _layout(fig, title, max(300, 90 + ROW_HEIGHT * k))


def score_histogram(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """Distribution of all scores, with the top-k highlighted and the k-th best score marked."""
    if df is None or df.empty:
        return empty_figure()
    k = max(1, min(int(k or 10), len(df)))
    scores = df["Score"].astype(float).to_numpy()
    threshold = float(np.sort(scores)[::-1][k - 1])
    bins = {"start": float(scores.min()), "end": float(scores.max()) + 1e-9, "size": (np.ptp(scores) or 1.0) / 20}
    fig = go.Figure()
    fig.add_histogram(x=scores[scores < threshold], xbins=bins, marker_color=OTHER_COLOR, name="others")
    fig.add_histogram(x=scores[scores >= threshold], xbins=bins, marker_color=BAR_COLOR, name=f"top {k}")
    fig.update_layout(barmode="stack", showlegend=True)
    fig.add_vline(
        x=threshold, line_dash="dash", line_color="#374151", annotation_text=f"top {k}", annotation_position="top left"
    )
    _mark_baseline(fig, _baseline(df))
    fig.update_xaxes(title="LogME score")
    fig.update_yaxes(title="ESMs")
    _layout(fig, "Score distribution", 340)
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right"})
    return fig


def score_vs_size(df: pd.DataFrame, k: int = 10) -> go.Figure:
    """Score against the ESM's training-set size (Num Examples), log x when sizes vary a lot."""
    if df is None or df.empty:
        return empty_figure()
    data = df.copy()
    data["Num Examples"] = pd.to_numeric(data["Num Examples"], errors="coerce")
    data = data.dropna(subset=["Num Examples"])
    if data.empty:
        return empty_figure("The ESMs do not record their training-set size.")
    top = data["Rank"].astype(int) <= int(k or 10)
    fig = go.Figure(
        go.Scatter(
            x=data["Num Examples"],
            y=data["Score"],
            mode="markers",
            marker={"color": np.where(top, BAR_COLOR, OTHER_COLOR), "size": 9, "line": {"width": 0.5}},
            text=[_label(r) for _, r in data.iterrows()],
            hovertemplate="%{text}<br>%{x:,} examples<br>Score %{y:.5f}<extra></extra>",
        )
    )
    sizes = data["Num Examples"].to_numpy(dtype=float)
    log = sizes.min() > 0 and sizes.max() / sizes.min() > 20
    _mark_baseline(fig, _baseline(df), vertical=False)
    fig.update_xaxes(title="ESM training examples", type="log" if log else "linear")
    fig.update_yaxes(title="LogME score")
    return _layout(fig, "Score vs. ESM training-set size", 340)
