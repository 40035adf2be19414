"""hfselect_core: find the best intermediate dataset for your task with ESM-LogME.

Data flows one way: target data -> base-model embeddings -> ESM transforms -> LogME scores
-> ranking. Importable without gradio.
"""

from .data import TargetDataset
from .embedding import BUNDLED_MODEL_ID, EmbeddingModel, load_embedding_model
from .errors import HFSelectError
from .esm import ESM, ESMConfig
from .logme import AffineLogME, logme
from .ranking import RankingEvent, TaskRanking, compute_task_ranking, iter_task_ranking
from .sources import BundledESMSource, ESMFilters, HubESMSource, LocalESMSource, SkippedESM, esm_coverage

__all__ = [
    "AffineLogME",
    "BUNDLED_MODEL_ID",
    "BundledESMSource",
    "ESM",
    "ESMConfig",
    "ESMFilters",
    "EmbeddingModel",
    "HFSelectError",
    "HubESMSource",
    "LocalESMSource",
    "RankingEvent",
    "SkippedESM",
    "TargetDataset",
    "TaskRanking",
    "compute_task_ranking",
    "esm_coverage",
    "iter_task_ranking",
    "load_embedding_model",
    "logme",
]
