"""hfselect_core: find the best intermediate dataset for your task with ESM-LogME.

Data flows one way, in stages (:mod:`.pipeline`): target data -> base-model embeddings -> ESM
transforms -> LogME scores -> ranking. Importable without gradio.
"""

from .data import TargetDataset
from .embedding import BUNDLED_MODEL_ID, EmbeddingModel, load_embedding_model
from .errors import HFSelectError
from .esm import ESM, ESMConfig
from .events import Event
from .logme import AffineLogME, logme
from .pipeline import compute_task_ranking, iter_embed, iter_load_esms, iter_task_ranking
from .protocols import ESMLike, ESMSource
from .ranking import RankingEvent, TaskRanking, iter_rank_embeddings, rank_embeddings
from .settings import Settings, get_settings
from .sources import BundledESMSource, ESMFilters, HubESMSource, LocalESMSource, SkippedESM, esm_coverage

__all__ = [
    "AffineLogME",
    "BUNDLED_MODEL_ID",
    "BundledESMSource",
    "ESM",
    "ESMConfig",
    "ESMFilters",
    "ESMLike",
    "ESMSource",
    "EmbeddingModel",
    "Event",
    "HFSelectError",
    "HubESMSource",
    "LocalESMSource",
    "RankingEvent",
    "Settings",
    "SkippedESM",
    "TargetDataset",
    "TaskRanking",
    "compute_task_ranking",
    "esm_coverage",
    "get_settings",
    "iter_embed",
    "iter_load_esms",
    "iter_rank_embeddings",
    "iter_task_ranking",
    "load_embedding_model",
    "logme",
    "rank_embeddings",
]
