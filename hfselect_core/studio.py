"""Back end of the "Add your dataset" tab: train an ESM on the user's data, check it, zip it, publish it.

Plain Python (no gradio): the UI handlers call these functions and show ``str(error)`` of any
:class:`~hfselect_core.errors.HFSelectError` as it is. Long work is a generator
(:func:`iter_studio_training`) so progress streams and Cancel works between steps.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from . import hub
from . import settings as settings_mod
from .card import CardFieldError, check_card
from .data import TargetDataset
from .embedding import EmbeddingModel, load_embedding_model
from .errors import (
    ESMFormatError,
    HFSelectError,
    HubUnreachableError,
    InputTooLargeError,
    PoorFitError,
    TooFewExamplesError,
)
from .esm import CARD_NAME, CONFIG_NAME, ESM, WEIGHTS_NAME
from .estimate import approx_mean_tokens, estimate_training_seconds, format_duration  # moved there
from .events import Event
from .ranking import TaskRanking, iter_rank_embeddings
from .sources import BundledESMSource
from .training import (
    DEFAULT_LM_BATCH_SIZE,
    DEFAULT_LM_EPOCHS,
    DEFAULT_LM_LEARNING_RATE,
    FitReport,
    TrainingSettings,
    iter_train_esm,
    sample_dataset,
)

logger = logging.getLogger(__name__)

MAX_EXAMPLES_CPU_ENV = settings_mod.STUDIO_MAX_EXAMPLES_CPU_ENV
MAX_EXAMPLES_GPU_ENV = settings_mod.STUDIO_MAX_EXAMPLES_GPU_ENV
MAX_EPOCHS_ENV = settings_mod.STUDIO_MAX_EPOCHS_ENV
MAX_ZIP_MB_ENV = settings_mod.STUDIO_MAX_ZIP_MB_ENV
MAX_BATCH_ENV = settings_mod.STUDIO_MAX_BATCH_ENV
MIN_TRAINING_EXAMPLES = 10
_HUB_LR = f"{DEFAULT_LM_LEARNING_RATE:g}".replace("e-0", "e-")  # 2e-5, as people write it
# The bundled ESMs' maps reach held-out R^2 0.34 to 0.99; below this the fine-tuned model has
# usually collapsed (a learning rate far too high) and the ESM would mislead every ranking.
POOR_FIT_R2 = 0.2
ZIP_MEMBERS = (CONFIG_NAME, WEIGHTS_NAME, CARD_NAME)
REPO_NAME_MAX = 96  # huggingface_hub's limit on the name part of a repo id


class RepoIdError(HFSelectError):
    """A repository id the Hub would refuse."""


class NotSignedInError(HFSelectError):
    def __init__(self) -> None:
        super().__init__(
            "Publishing needs a Hugging Face token with permission to create repositories: sign in with "
            "Hugging Face (or pass a write token), then try again. You can also upload the ESM's zip yourself."
        )


class PublishError(HFSelectError):
    """The Hub refused the upload (permissions, name taken by another repo type, quota)."""


# --- caps and estimates ------------------------------------------------------------------------


@dataclass(frozen=True)
class StudioLimits:
    """Caps on one training request; each is set by an environment variable."""

    max_examples_cpu: int
    max_examples_gpu: int
    max_epochs: int
    max_zip_bytes: int
    max_batch_size: int = 64

    def max_examples(self, device: str | torch.device | None = None) -> int:
        return self.max_examples_gpu if _device_type(device) == "cuda" else self.max_examples_cpu

    def describe(self) -> dict[str, str]:
        return {
            "training examples (CPU)": f"{self.max_examples_cpu:,} ({MAX_EXAMPLES_CPU_ENV})",
            "training examples (GPU)": f"{self.max_examples_gpu:,} ({MAX_EXAMPLES_GPU_ENV})",
            "fine-tuning epochs": f"{self.max_epochs} ({MAX_EPOCHS_ENV})",
            "ESM zip size": f"{self.max_zip_bytes // 1_000_000} MB ({MAX_ZIP_MB_ENV})",
            "batch size": f"{self.max_batch_size} ({MAX_BATCH_ENV})",
        }


def studio_limits() -> StudioLimits:
    """The caps in force (see :class:`.settings.Settings`)."""
    s = settings_mod.get_settings()
    return StudioLimits(
        max_examples_cpu=s.studio_max_examples_cpu,
        max_examples_gpu=s.studio_max_examples_gpu,
        max_epochs=s.studio_max_epochs,
        max_zip_bytes=s.studio_max_zip_mb * 1_000_000,
        max_batch_size=s.studio_max_batch,
    )


def default_device() -> str:
    """'cuda' when a GPU is visible (on ZeroGPU: inside the app's ``spaces.GPU`` handler), else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _device_type(device: str | torch.device | None) -> str:
    return torch.device(device or default_device()).type


def check_training_request(
    num_examples: int,
    epochs: float,
    device: str | torch.device | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
) -> None:
    """Raise a clear error when a request is over the caps (or too small to train on)."""
    caps = studio_limits()
    if batch_size is not None and not (1 <= batch_size <= caps.max_batch_size):
        raise InputTooLargeError(
            f"Batch size {batch_size:,} is outside the allowed range 1 to {caps.max_batch_size} ({MAX_BATCH_ENV}): "
            f"larger batches only multiply memory. The ESMs on the Hub use {DEFAULT_LM_BATCH_SIZE}."
        )
    if learning_rate is not None and not (0 < learning_rate < 1):
        raise InputTooLargeError(
            f"Learning rate {learning_rate:g} is outside the allowed range (more than 0, less than 1). "
            f"The ESMs on the Hub use {_HUB_LR}."
        )
    where = "GPU" if _device_type(device) == "cuda" else "CPU"
    cap = caps.max_examples(device)
    env = MAX_EXAMPLES_GPU_ENV if where == "GPU" else MAX_EXAMPLES_CPU_ENV
    if num_examples > cap:
        raise InputTooLargeError(
            f"Training on {num_examples:,} examples is over this deployment's limit of {cap:,} on {where} "
            f"({env}). Lower the number of examples to at most {cap:,}"
            + (", or run where a GPU is available." if where == "CPU" else ".")
        )
    if num_examples < MIN_TRAINING_EXAMPLES:
        raise TooFewExamplesError(
            num_examples,
            MIN_TRAINING_EXAMPLES,
            "Training an ESM needs more examples: add data or raise the number of examples.",
        )
    if not (epochs > 0) or epochs > caps.max_epochs:
        raise InputTooLargeError(
            f"{epochs} fine-tuning epochs is outside the allowed range (more than 0, at most {caps.max_epochs}; "
            f"{MAX_EPOCHS_ENV}). The ESMs on the Hub use {DEFAULT_LM_EPOCHS}."
        )


# --- names -------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    """Only characters the Hub allows in a repo name; no '--', '..' or '__'; no leading/trailing '-', '.', '_'."""
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip())
    text = re.sub(r"-{2,}", "-", text)
    text = re.sub(r"\.{2,}", ".", text)
    text = re.sub(r"_{2,}", "_", text)
    return text.strip("-._")


def default_task_id(dataset_source: str) -> str:
    """The task id recorded in the card: a Hub dataset id as it is; an uploaded file's name without
    its folder or suffix ('/tmp/gradio/x/reviews.csv' -> 'reviews'), so no local path is published."""
    source = (dataset_source or "").strip()
    path = PurePosixPath(source.replace("\\", "/"))
    if source.startswith(("/", ".")) or path.suffix.lower() in {".csv", ".tsv", ".json", ".jsonl", ".parquet"}:
        return path.stem or "dataset"
    return source or "dataset"


def _dataset_name(dataset_source: str) -> str:
    """'org/name' -> 'org_name'; an uploaded file 'reviews.csv' or '/tmp/x/reviews.csv' -> 'reviews'."""
    return default_task_id(dataset_source).replace("/", "_")


def default_repo_name(dataset_source: str, subset: str | None = None) -> str:
    """'ESM_<dataset>_<subset>', made a valid Hub repo name of at most 96 characters."""
    name = f"ESM_{_dataset_name(dataset_source)}" + (f"_{subset}" if subset else "")
    return _slug(_slug(name)[:REPO_NAME_MAX]) or "ESM"


def default_repo_id(username: str, dataset_source: str, subset: str | None = None) -> str:
    """'<user>/ESM_<dataset>_<subset>', sanitised to a valid Hub repo id."""
    owner = _slug(username or "")[:REPO_NAME_MAX].strip("-.")
    if not owner:
        raise RepoIdError("A Hub username is needed to name the repository: sign in with Hugging Face first.")
    return f"{owner}/{default_repo_name(dataset_source, subset)}"


def validate_repo_id(repo_id: str) -> str:
    """Return the stripped id if it is a valid 'owner/name' model repo id, else raise :class:`RepoIdError`."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    repo_id = (repo_id or "").strip()
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise RepoIdError(f"'{repo_id}' is not a repository id: write it as 'your-username/ESM_name'.")
    try:
        hf_validate(repo_id)
    except HFValidationError:
        raise RepoIdError(
            f"'{repo_id}' is not a valid repository id: use letters, digits, '-', '_' and '.', at most "
            f"{REPO_NAME_MAX} characters after the '/', no '--' or '..', not starting or ending with '-' or '.'. "
            f"For example '{default_repo_id(repo_id.split('/')[0] or 'user', repo_id.split('/')[-1])}'."
        ) from None
    return repo_id


# --- training ----------------------------------------------------------------------------------


@dataclass
class StudioResult:
    """What one training run produced: the ESM folder and zip, its card, and the self-check."""

    folder: Path
    zip_path: Path
    card_markdown: str
    fit: FitReport  # held-out mse and r2 of the linear map
    self_rank: int | None  # where the new ESM ranks its own task (1 = best); None if it could not be scored
    self_rank_total: int
    ranking: TaskRanking | None
    seconds: dict[str, float] = field(default_factory=dict)
    esm: ESM | None = None
    device: str = "cpu"
    num_examples: int = 0
    notes: list[str] = field(default_factory=list)

    def fit_problem(self) -> str | None:
        """Why this ESM should not be trusted (a map that fits poorly), or None when it fits."""
        return fit_problem(self.fit.r2)

    def self_check_message(self) -> str:
        """One sentence on the self-check, for the UI."""
        if self.ranking is None:
            return "The self-check was skipped."
        if self.fit_problem() is not None:
            where = f"ranks its own task {self.self_rank} of {self.self_rank_total}, but " if self.self_rank else ""
            return (
                f"The new ESM {where}its map fits poorly, so the self-check says little: "
                "train again before using or publishing it."
            )
        if self.self_rank is None:
            return "The new ESM could not be scored on its own task (degenerate map); treat it with caution."
        if self.self_rank_total <= 1:
            return "The new ESM scored its own task (there is no bundled pool for this base model to compare with)."
        verdict = (
            "as expected, an ESM should rank its own task near the top"
            if self.self_rank <= max(3, math.ceil(0.1 * self.self_rank_total))
            else "lower than expected: an ESM should rank its own task near the top; more examples or epochs may help"
        )
        return f"The new ESM ranks its own task {self.self_rank} of {self.self_rank_total} ({verdict})."


def fit_problem(r2: float | None) -> str | None:
    """A sentence on why a map with held-out R^2 ``r2`` is not trustworthy, or None when it is fine."""
    if isinstance(r2, bool) or not isinstance(r2, (int, float)) or not math.isfinite(r2):
        return "Its fit could not be checked on held-out pairs (too few examples); use more examples."
    if r2 < POOR_FIT_R2:
        return (
            f"Its map fits poorly: held-out R² {r2:.2f}, below {POOR_FIT_R2} (the bundled ESMs reach 0.34 to 0.99). "
            f"The fine-tuned model has probably collapsed: use a smaller learning rate (the Hub's ESMs use "
            f"{_HUB_LR}), "
            "fewer epochs or more examples, and train again."
        )
    return None


StudioEvent = Event  # the old name of a studio run's event (``fraction``: the whole run's progress)


# Overall progress span of each stage, for one progress bar.
_SPANS = {
    "Loading base model": (0.0, 0.05),
    "Fine-tuning": (0.05, 0.75),
    "Embedding": (0.75, 0.85),
    "Fitting the map": (0.85, 0.88),
    "Saving": (0.88, 0.9),
    "Self-check": (0.9, 1.0),
}


def _fraction(stage: str, done: int, total: int) -> float:
    lo, hi = _SPANS.get(stage, (0.0, 0.0))
    return lo + (hi - lo) * (min(done, total) / total if total else 0.0)


def iter_studio_training(
    dataset: TargetDataset,
    base_model: str | EmbeddingModel,
    settings: TrainingSettings | None = None,
    device: str | None = None,
    should_stop: Callable[[], bool] | None = None,
    workdir: str | Path | None = None,
    task_id: str | None = None,
    task_subset: str | None = None,
    task_split: str | None = None,
    language: str | None = None,
    developers: str | None = None,
    card_notes: str = "",
    sample_to_cap: bool = False,
    self_check: bool = True,
) -> Iterator[Event]:
    """Train an ESM within the caps, write its folder and zip, then rank its own task with it.

    The folder (config.json, model.safetensors, README.md) and the zip go into a fresh temporary
    directory under ``workdir`` (the system temp dir by default), removed again if the run fails
    or is cancelled. ``sample_to_cap`` samples a too-large dataset down to the cap instead of
    refusing it. The last event holds the :class:`StudioResult`.
    """
    started = time.perf_counter()
    settings = copy.copy(settings) if settings is not None else TrainingSettings()
    device = device or default_device()
    caps = studio_limits()
    n = min(len(dataset), settings.max_examples)
    if sample_to_cap:
        n = min(n, caps.max_examples(device))
    check_training_request(n, settings.lm_num_epochs, device, settings.lm_batch_size, settings.lm_learning_rate)
    if n < len(dataset):
        dataset = sample_dataset(dataset, n, settings.seed)
    task_id = task_id or default_task_id(dataset.source)
    model_name = base_model.model_id if isinstance(base_model, EmbeddingModel) else base_model

    workdir = Path(workdir or tempfile.gettempdir())
    workdir.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="hfselect_esm_", dir=workdir))
    finished = False
    name = default_repo_name(task_id, task_subset if task_subset is not None else dataset.subset)
    folder = run_dir / name
    try:
        training = None
        for event in iter_train_esm(
            dataset,
            base_model,
            settings,
            device=device,
            output_dir=folder,
            task_id=task_id,
            task_subset=task_subset,
            task_split=task_split,
            language=language,
            developers=developers,
            card_notes=card_notes,
            should_stop=should_stop,
        ):
            if event.result is not None:
                training = event.result
                continue
            yield Event(
                event.stage, event.done, event.total, event.message, _fraction(event.stage, event.done, event.total)
            )
        assert training is not None and training.folder is not None
        seconds = dict(training.seconds)

        yield Event("Saving", 0, 1, "Writing the ESM folder and zip", _fraction("Saving", 0, 1))
        card = (folder / CARD_NAME).read_text(encoding="utf-8")
        zip_path = zip_esm_folder(folder, run_dir / f"{name}.zip")

        ranking, rank, total, notes = None, None, 0, []
        if self_check:
            t0 = time.perf_counter()
            new_name = f"{name} (new)"
            new_esm = ESM.from_folder(folder, name=new_name)
            new_esm.source = "new"
            pool = BundledESMSource(model_name).load(model_name, should_stop=should_stop).esms
            if not pool:
                notes.append(f"No bundled ESM pool for '{model_name}': the self-check ranks the new ESM alone.")
            # The base model's embeddings of these texts were computed for training: the embedding
            # cache returns them, so the self-check only scores.
            base = (
                base_model
                if isinstance(base_model, EmbeddingModel)
                else load_embedding_model(model_name, device=device, max_length=settings.max_length)
            )
            yield Event("Self-check", 0, 0, "Embedding", _fraction("Self-check", 0, 0))
            embeddings = base.embed(dataset.texts, settings.embed_batch_size, should_stop=should_stop)
            for event in iter_rank_embeddings(
                embeddings,
                dataset,
                [new_esm, *pool],
                base_model=model_name,
                device=device,
                esm_batch_size=1,  # an event per ESM: the self-check of a 40-ESM pool takes seconds
                should_stop=should_stop,
            ):
                if event.is_final:
                    ranking = event.result
                    continue
                done = event.done if event.stage == "Scoring" else 0
                yield Event("Self-check", done, event.total, event.stage, _fraction("Self-check", done, event.total))
            assert ranking is not None
            total = len(ranking) + sum(1 for s in ranking.skipped if s.name == new_name)
            rank = next((r.rank for r in ranking.rows if r.name == new_name), None)
            seconds["self_check"] = time.perf_counter() - t0
        seconds["total"] = time.perf_counter() - started
        result = StudioResult(
            folder=folder,
            zip_path=zip_path,
            card_markdown=card,
            fit=training.fit,
            self_rank=rank,
            self_rank_total=total,
            ranking=ranking,
            seconds=seconds,
            esm=training.esm,
            device=str(device),
            num_examples=len(dataset),
            notes=notes,
        )
        finished = True
        yield Event("Done", 1, 1, result.self_check_message(), 1.0, result)
    except BaseException:
        # A failed or cancelled run leaves nothing behind; once the result is handed out, a caller
        # that stops iterating (GeneratorExit) must keep its files.
        if not finished:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise


# --- zip ---------------------------------------------------------------------------------------


def zip_esm_folder(folder: str | Path, zip_path: str | Path | None = None) -> Path:
    """Zip config.json, model.safetensors and README.md (at the zip's root, nothing else)."""
    folder = Path(folder)
    missing = [m for m in ZIP_MEMBERS if not (folder / m).is_file()]
    if missing:
        raise ESMFormatError(
            f"{folder.name}: missing {', '.join(missing)}; an ESM folder holds {', '.join(ZIP_MEMBERS)}."
        )
    zip_path = Path(zip_path) if zip_path is not None else folder.parent / f"{folder.name}.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in ZIP_MEMBERS:
            zf.write(folder / member, arcname=member)
    return zip_path


def _bad_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member is refused, or None if it is one of the three ESM files at the root."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\\" in name:
        return "an absolute or Windows path"
    if ".." in PurePosixPath(name).parts:
        return "a path that climbs out of the folder ('..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if name not in ZIP_MEMBERS:
        return "not one of the ESM files"
    return None


def extract_esm_zip(zip_path: str | Path, dest: str | Path, max_bytes: int | None = None) -> Path:
    """Check an ESM zip and write its files into ``dest``; raise :class:`ESMFormatError` if unsafe or invalid."""
    zip_path = Path(zip_path)
    cap = max_bytes or studio_limits().max_zip_bytes
    label = zip_path.name
    if not zip_path.is_file():
        raise ESMFormatError(f"{label}: no such file")
    if zip_path.stat().st_size > cap:
        raise ESMFormatError(f"{label} is larger than the limit of {cap // 1_000_000} MB ({MAX_ZIP_MB_ENV}).")
    if not zipfile.is_zipfile(zip_path):
        raise ESMFormatError(f"{label} is not a zip file. Use the zip hfselect made (or zip the ESM's files).")
    expected = f"an ESM zip holds only {', '.join(ZIP_MEMBERS)}, at its root (no folder)"
    with zipfile.ZipFile(zip_path) as zf:
        infos = zf.infolist()
        names = [i.filename for i in infos]
        for info in infos:
            reason = _bad_member(info)
            if reason:
                raise ESMFormatError(f"{label} holds '{info.filename}' ({reason}), so it was not opened: {expected}.")
        if len(set(names)) != len(names):
            raise ESMFormatError(f"{label} holds the same file twice: {expected}.")
        for needed in (CONFIG_NAME, WEIGHTS_NAME):
            if needed not in names:
                raise ESMFormatError(f"{label} has no {needed}: {expected}.")
        if sum(i.file_size for i in infos) > cap:
            raise ESMFormatError(f"{label} unpacks to more than {cap // 1_000_000} MB ({MAX_ZIP_MB_ENV}).")
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        written = 0
        for info in infos:
            # Write to our own fixed file name, never to a path taken from the archive.
            target = dest / ZIP_MEMBERS[ZIP_MEMBERS.index(info.filename)]
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > cap:  # the sizes in the header can lie
                        raise ESMFormatError(f"{label} unpacks to more than {cap // 1_000_000} MB ({MAX_ZIP_MB_ENV}).")
                    out.write(chunk)
    return dest


def load_esm_zip(zip_path: str | Path, max_bytes: int | None = None) -> ESM:
    """Safely extract an ESM zip to a temporary folder and load it (:meth:`ESM.from_folder`)."""
    zip_path = Path(zip_path)
    with tempfile.TemporaryDirectory(prefix="hfselect_zip_") as tmp:
        folder = extract_esm_zip(zip_path, Path(tmp) / "esm", max_bytes)
        return ESM.from_folder(folder, name=zip_path.stem)


# --- publishing --------------------------------------------------------------------------------


def _token_string(token: object) -> str | None:
    # Accepts a plain string or an object with a ``.token`` attribute (gradio's OAuthToken).
    value = getattr(token, "token", token)
    return value.strip() if isinstance(value, str) and value.strip() else None


def publish_esm(
    folder: str | Path,
    repo_id: str,
    token: object,
    private: bool = False,
    commit_message: str = "Upload ESM trained with hfselect",
    allow_poor_fit: bool = False,
) -> str:
    """Create the model repo (if needed) and upload the ESM folder; return the repo URL.

    ``token`` is a write token string or gradio's ``OAuthToken``; it is passed to
    ``huggingface_hub`` only, never logged or stored. An ESM whose map fits poorly (its config's
    ``esm_r2``, see :func:`fit_problem`) is refused with :class:`PoorFitError` unless
    ``allow_poor_fit``: it would mislead the rankings of everyone who finds it.
    """
    folder = Path(folder)
    repo_id = validate_repo_id(repo_id)
    secret = _token_string(token)
    if secret is None:
        raise NotSignedInError()
    missing = [m for m in ZIP_MEMBERS if not (folder / m).is_file()]
    if missing:
        raise ESMFormatError(f"{folder.name}: missing {', '.join(missing)}; train the ESM again before publishing.")
    esm = ESM.from_folder(folder)  # refuse to publish something that would not load
    problem = fit_problem(esm.config.extra.get("esm_r2")) if "esm_r2" in esm.config.extra else None
    if problem and not allow_poor_fit:
        raise PoorFitError(f"Not published: {problem} To publish it anyway, pass allow_poor_fit=True.")
    card = (folder / CARD_NAME).read_text(encoding="utf-8")
    if not card.startswith("---") or hub.ESM_TAG not in card.split("---", 2)[1]:
        raise ESMFormatError(
            f"{folder.name}: README.md has no '{hub.ESM_TAG}' tag in its metadata, so nobody could find the ESM. "
            "Train it again here, which writes the card."
        )
    try:
        check_card(card)  # what the Hub's metadata validation would refuse, found before uploading
    except CardFieldError as e:
        raise ESMFormatError(f"{folder.name}: README.md would be refused by the Hub: {e}") from None
    if not hub.hub_reachable():
        raise HubUnreachableError("The Hugging Face Hub (needed to publish)")
    from huggingface_hub.errors import HfHubHTTPError

    logger.info("Publishing an ESM to %s (private=%s)", repo_id, private)
    try:
        return hub.publish_folder(folder, repo_id, secret, private=private, commit_message=commit_message)
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise PublishError(
                f"The Hub refused to create or write '{repo_id}' (HTTP {status}). Sign in with Hugging Face again "
                f"and allow writing repositories, and publish under your own username "
                f"(or an organisation you can write to)."
            ) from None
        raise PublishError(f"Publishing to '{repo_id}' failed (HTTP {status}). Try again later.") from None
    except OSError as e:
        raise PublishError(f"Publishing to '{repo_id}' failed: {type(e).__name__}. Check the connection.") from None


__all__ = [
    "MAX_EPOCHS_ENV",
    "MAX_EXAMPLES_CPU_ENV",
    "MAX_EXAMPLES_GPU_ENV",
    "MAX_ZIP_MB_ENV",
    "POOR_FIT_R2",
    "NotSignedInError",
    "PublishError",
    "RepoIdError",
    "StudioEvent",
    "StudioLimits",
    "StudioResult",
    "approx_mean_tokens",
    "check_training_request",
    "default_device",
    "default_repo_id",
    "default_repo_name",
    "default_task_id",
    "estimate_training_seconds",
    "fit_problem",
    "extract_esm_zip",
    "format_duration",
    "iter_studio_training",
    "load_esm_zip",
    "publish_esm",
    "studio_limits",
    "validate_repo_id",
]
