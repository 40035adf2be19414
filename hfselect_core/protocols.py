"""The two contracts the ranking relies on: what an ESM offers, and what a source of ESMs offers.

Any object with these members works; nothing has to inherit from a base class. ``ESM`` (a torch
module with its weights in memory) and ``StoredESM`` (metadata only, weights read when scored)
are ESMs; ``LocalESMSource``, ``BundledESMSource`` and ``HubESMSource`` are sources. A new kind of
source (another hub, a database) only needs a ``label`` and a ``load`` method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from .events import ProgressCallback, StopCheck

if TYPE_CHECKING:
    from .esm import ESMConfig
    from .sources import ESMFilters, LoadedESMs


@runtime_checkable
class ESMLike(Protocol):
    """An Embedding Space Map as the ranking sees it.

    Attributes:
        name: how the ranking names it (Hub repo id, folder name).
        config: its validated ``config.json``.
        embedding_dim: d of its ``d -> d`` map (must equal the base model's dimension).
        source: where it came from ("Hub", "bundled pool", "folder ...", "given", "new").
    """

    name: str
    config: ESMConfig
    source: str

    @property
    def embedding_dim(self) -> int: ...

    def weight_and_bias(self) -> tuple[np.ndarray, np.ndarray]:
        """The map as float32 arrays: weight (d, d) and bias (d,)."""
        ...


@runtime_checkable
class ESMSource(Protocol):
    """Somewhere ESMs for a base model can be loaded from.

    ``load`` reports ``progress(stage, done, total)`` per ESM, checks ``should_stop()`` between
    ESMs (raising :class:`~hfselect_core.errors.CancelledError`), skips a broken ESM with a reason
    instead of failing, and raises :class:`~hfselect_core.errors.HubUnreachableError` when the
    whole source cannot be reached (the pipeline then falls back to the bundled pool).
    """

    label: str

    def load(
        self,
        base_model: str,
        filters: ESMFilters | None = None,
        progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> LoadedESMs: ...
