"""One progress display per job: the status line names every stage and shows where the job is.

Gradio's own progress overlay is hidden on the jobs' events (``show_progress="hidden"``): it drew
over the status text. The handlers still call ``gr.Progress`` so API clients get progress
updates (``job.status().progress_data``); the page shows this staged line instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hfselect_core import events

from .text import md_text

BAR_CELLS = 12


@dataclass(frozen=True)
class Stage:
    """One step of a job as the status line names it, and the core's event stages that belong to it."""

    label: str
    core_stages: tuple[str, ...] = ()


RANK_STAGES: tuple[Stage, ...] = (
    Stage("Target data", ("Target data",)),
    Stage("ESMs", (events.LOADING_ESMS, events.FETCHING_ESMS)),
    Stage("Base model", (events.LOADING_MODEL,)),
    Stage("Embedding", (events.EMBEDDING,)),
    Stage("Scoring", (events.SCORING,)),
    Stage("Stability", (events.CHECKING_STABILITY,)),
)

STUDIO_STAGES: tuple[Stage, ...] = (
    Stage("Data", ("Data",)),
    Stage("Base model", (events.LOADING_MODEL,)),
    Stage("Fine-tuning", ("Fine-tuning",)),
    Stage("Embedding", (events.EMBEDDING,)),
    Stage("Fitting", ("Fitting the map",)),
    Stage("Saving", ("Saving",)),
    Stage("Self-check", ("Self-check",)),
)


def _bar(fraction: float) -> str:
    filled = round(max(0.0, min(1.0, fraction)) * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


class StagedStatus:
    """The status line of one running job: ``update(stage, done, total, message)`` -> Markdown.

    Stages the job has passed are ticked, the current one is bold with its count and a bar, the
    ones to come are plain. A core stage that is not listed (a new one) is shown as the current
    step without moving the others. Everything from the core (stage names, messages) is escaped.
    """

    def __init__(self, stages: Sequence[Stage] = RANK_STAGES, title: str = "Ranking"):
        self.stages = tuple(stages)
        self.title = title
        self.current = 0

    def index_of(self, core_stage: str) -> int | None:
        for i, stage in enumerate(self.stages):
            if core_stage in stage.core_stages or core_stage == stage.label:
                return i
        return None

    def update(self, core_stage: str, done: int = 0, total: int = 0, message: str = "") -> str:
        index = self.index_of(core_stage)
        if index is not None and index >= self.current:
            self.current = index
        if index is None:
            # A warning or a stage this list does not know: said beside the current step, which stays.
            message = f"{'⚠️' if core_stage == events.WARNING else core_stage}: {message}" if message else core_stage
            done = total = 0
        label = self.stages[self.current].label
        count = f" {done:,}/{total:,}" if total else ""
        bar = f" {_bar(done / total)} {done / total:.0%}" if total else ""
        head = (
            f"⏳ **{self.title}**, step {self.current + 1} of {len(self.stages)}: **{md_text(label, 100)}**{count}{bar}"
        )
        if message:
            head += f" · {md_text(message, 300)}"
        steps = []
        for i, stage in enumerate(self.stages):
            if i < self.current:
                steps.append(f"✓ {stage.label}")
            elif i == self.current:
                steps.append(f"**{stage.label}**")
            else:
                steps.append(stage.label)
        return head + "\n\n" + " → ".join(steps)


CANCELLED = "⏹️ **Cancelled.** The results below (if any) are from the previous run."
STUDIO_CANCELLED = "⏹️ **Cancelled.** The ESM below (if any) is the one trained before."
