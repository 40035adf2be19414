"""The events every long job yields: ranking stages, ESM training, the studio.

A job is a generator of :class:`Event`: progress events (``result`` is None) while it runs, and one
final event that holds the job's result. A UI streams them and can close the generator between two
events (Cancel); a script can ignore them and call the plain function instead (e.g.
``compute_task_ranking``), which reports through a :data:`ProgressCallback`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# ``progress(stage, done, total)``: the callback form of an Event, for functions that are not generators.
ProgressCallback = Callable[[str, int, int], None]
StopCheck = Callable[[], bool]

# Stage names, shown to users as they are.
LOADING_ESMS = "Loading ESMs"
FETCHING_ESMS = "Fetching ESMs"
LOADING_MODEL = "Loading base model"
EMBEDDING = "Embedding"
SCORING = "Scoring"
CHECKING_STABILITY = "Checking stability"
WARNING = "Warning"
DONE = "Done"


@dataclass
class Event:
    """One step of a job.

    Args:
        stage: what runs now (one of the stage names above, or a training stage).
        done: units of the stage finished so far (ESMs, examples, batches).
        total: units in the stage (0 when unknown).
        message: a plain-text detail (never Markdown or HTML).
        fraction: the whole job's progress in [0, 1], for jobs that compute it (the studio).
        result: the job's result, on the final event only (a TaskRanking, TrainingResult or StudioResult).
    """

    stage: str
    done: int = 0
    total: int = 0
    message: str = ""
    fraction: float = 0.0
    result: Any = None

    @property
    def is_final(self) -> bool:
        return self.result is not None

    @property
    def ranking(self) -> Any:
        """The TaskRanking on a ranking's final event (the old ``RankingEvent.ranking``), else None."""
        from .ranking import TaskRanking

        return self.result if isinstance(self.result, TaskRanking) else None


def stop_requested(should_stop: StopCheck | None) -> bool:
    return bool(should_stop is not None and should_stop())


def check_stop(should_stop: StopCheck | None) -> None:
    """Raise :class:`CancelledError` when ``should_stop()`` says so (called between units of work)."""
    if stop_requested(should_stop):
        from .errors import CancelledError

        raise CancelledError()
