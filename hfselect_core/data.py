"""Target datasets: texts and labels from the Hub, a file or a DataFrame, cleaned and sampled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import limits
from .errors import (
    ColumnNotFoundError,
    ConfigNotFoundError,
    DatasetAccessError,
    DatasetNotFoundError,
    HubUnreachableError,
    InputTooLargeError,
    InvalidLabelsError,
    NotATextColumnError,
    SplitNotFoundError,
    TooFewExamplesError,
    UnsupportedFileError,
)
from .hub import hub_reachable

TEXT_SEPARATOR = " [SEP] "
CLASSIFICATION = "classification"
REGRESSION = "regression"
MIN_EXAMPLES = 2
FILE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass
class TargetDataset:
    """The user's task: N texts (already joined) and their labels."""

    texts: list[str]
    labels: np.ndarray  # int64 class ids, or float64 regression values
    task_type: str
    text_columns: list[str]
    label_column: str
    label_names: list[str] | None = None
    source: str = "dataframe"
    subset: str | None = None
    split: str | None = None
    seed: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)
    # How a Hub sample was drawn (sampling.SampleInfo); None for files and DataFrames.
    sample_info: Any = None

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def is_regression(self) -> bool:
        return self.task_type == REGRESSION

    @property
    def num_classes(self) -> int | None:
        return None if self.is_regression else len(self.label_names or np.unique(self.labels))

    def class_counts(self) -> dict[str, int]:
        """Examples per class in this sample, by class name ({} for regression)."""
        if self.is_regression:
            return {}
        ids, counts = np.unique(self.labels, return_counts=True)
        names = self.label_names or []
        return {(names[int(i)] if 0 <= int(i) < len(names) else str(int(i))): int(c) for i, c in zip(ids, counts)}

    def summary(self) -> str:
        kind = "regression" if self.is_regression else f"{self.num_classes}-class classification"
        dropped = sum(self.dropped.values())
        note = f", {dropped} rows dropped ({', '.join(f'{k}: {v}' for k, v in self.dropped.items() if v)})"
        return f"{len(self)} examples, {kind}{note if dropped else ''}"

    # --- constructors ----------------------------------------------------------------------

    @classmethod
    def from_pandas(
        cls,
        df: pd.DataFrame,
        text_columns: str | Sequence[str],
        label_column: str,
        task_type: str | None = None,
        num_examples: int | None = None,
        seed: int = 42,
        source: str = "dataframe",
        label_names: Sequence[str] | None = None,
        subset: str | None = None,
        split: str | None = None,
    ) -> TargetDataset:
        """Select, clean and sample a DataFrame; see :func:`prepare_labels` for label rules."""
        text_columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
        if not text_columns:
            raise ColumnNotFoundError("(none)", df.columns, role="text column")
        for col in [*text_columns, label_column]:
            if col not in df.columns:
                role = "label column" if col == label_column else "text column"
                raise ColumnNotFoundError(col, [str(c) for c in df.columns], role=role)
        if label_column in text_columns:
            raise InvalidLabelsError(f"'{label_column}' is chosen as both a text and the label column.")
        if num_examples is not None and num_examples < 1:
            raise TooFewExamplesError(0, MIN_EXAMPLES, "Ask for at least 2 examples.")
        for col in text_columns:
            _check_text_column(df[col], col)
        dropped: dict[str, int] = {}
        texts = _join_texts(df, text_columns)
        keep = texts.notna() & (texts.str.strip().str.len() > 0)
        dropped["missing or empty text"] = int((~keep).sum())
        labels = df[label_column]
        missing_label = labels.isna() & keep
        dropped["missing label"] = int(missing_label.sum())
        keep &= ~labels.isna()
        texts, labels = texts[keep], labels[keep]
        if task_type is None and dropped["missing label"] and pd.api.types.is_float_dtype(labels):
            # pandas reads an integer column with blank cells as floats: whole numbers are class ids.
            values = labels.to_numpy(dtype=np.float64)
            if len(values) and np.all(values == np.round(values)):
                labels = labels.astype(np.int64)
        if len(labels) == 0:
            raise TooFewExamplesError(0, MIN_EXAMPLES, f"Every row lacks a text or a '{label_column}' label.")
        ids, task, names, unlabelled = prepare_labels(labels, task_type, label_names, label_column)
        if unlabelled.any():
            dropped["label -1 (unlabelled)"] = int(unlabelled.sum())
            texts, ids = texts[~unlabelled], ids[~unlabelled]
        texts_list = texts.astype(str).str.slice(0, limits.max_text_chars()).tolist()
        if num_examples is not None and num_examples < len(texts_list):
            rng = np.random.default_rng(seed)
            pick = np.sort(rng.choice(len(texts_list), size=num_examples, replace=False))
            texts_list = [texts_list[i] for i in pick]
            ids = ids[pick]
        if task == CLASSIFICATION:
            ids, names = _compact_classes(ids, names)
        dataset = cls(
            texts=texts_list,
            labels=ids,
            task_type=task,
            text_columns=text_columns,
            label_column=label_column,
            label_names=names,
            source=source,
            subset=subset,
            split=split,
            seed=seed,
            dropped={k: v for k, v in dropped.items() if v},
        )
        dataset.validate()
        return dataset

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        text_columns: str | Sequence[str],
        label_column: str,
        task_type: str | None = None,
        num_examples: int | None = None,
        seed: int = 42,
    ) -> TargetDataset:
        """Read CSV/TSV/JSON/JSONL/Parquet and build the dataset as :meth:`from_pandas` does."""
        df = read_table(path)
        return cls.from_pandas(df, text_columns, label_column, task_type, num_examples, seed, source=Path(path).name)

    @classmethod
    def from_hub(
        cls,
        dataset_id: str,
        split: str = "train",
        text_columns: str | Sequence[str] = "text",
        label_column: str = "label",
        subset: str | None = None,
        task_type: str | None = None,
        num_examples: int | None = 1000,
        seed: int = 42,
        streaming: bool | None = None,
        token: str | None = None,
    ) -> TargetDataset:
        """A uniform random sample of a Hub split, reproducible from the seed (see :mod:`.sampling`).

        ``streaming=True`` forces the approximate streamed sample; by default only the parquet row
        groups holding sampled rows are read (or a small split is downloaded whole).
        """
        columns = [text_columns] if isinstance(text_columns, str) else list(text_columns)
        sample = load_hub_sample(
            dataset_id, subset, split, num_examples, seed, [*columns, label_column], token, streaming=bool(streaming)
        )
        try:
            dataset = cls.from_pandas(
                sample.rows,
                columns,
                label_column,
                task_type,
                num_examples,
                seed,
                source=dataset_id,
                label_names=sample.label_names.get(label_column),
                subset=subset,
                split=split,
            )
        except InvalidLabelsError as e:
            if "single class" not in str(e):
                raise
            raise _single_class_error(e, dataset_id, subset, split, label_column, sample, token) from None
        dataset.sample_info = sample.info
        return dataset

    def validate(self) -> None:
        if len(self) < MIN_EXAMPLES:
            raise TooFewExamplesError(len(self), MIN_EXAMPLES, "Add rows that have both a text and a label.")
        if self.is_regression:
            if not np.isfinite(self.labels).all():
                raise InvalidLabelsError("Regression labels must be finite numbers (no NaN or Inf).")
            if np.ptp(self.labels) == 0:
                raise InvalidLabelsError(
                    f"Every '{self.label_column}' value is {self.labels[0]}: a constant cannot be predicted."
                )
        elif len(np.unique(self.labels)) < 2:
            only = self.label_names[0] if self.label_names else self.labels[0]
            raise InvalidLabelsError(
                f"Column '{self.label_column}' has a single class ('{only}') in the {len(self)} examples used; "
                "a classification task needs at least 2. Use more examples or another label column."
            )


def _check_text_column(series: pd.Series, name: str) -> None:
    sample = series.dropna().head(200)
    if sample.empty:
        return
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise NotATextColumnError(name, f"numbers ({series.dtype})")
    kinds = {type(v).__name__ for v in sample}
    if not kinds <= {"str"}:
        found = ", ".join(sorted(k for k in kinds if k != "str"))
        if kinds & {"dict"} or any(isinstance(v, dict) and ("bytes" in v or "path" in v) for v in sample):
            found = "images, audio or other structured values"
        elif kinds & {"list", "ndarray", "tuple"}:
            found = "lists"
        raise NotATextColumnError(name, found)


def _join_texts(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    if len(columns) == 1:
        return df[columns[0]].astype("string")
    parts = [df[c].astype("string") for c in columns]
    joined = parts[0]
    for part in parts[1:]:
        joined = joined + TEXT_SEPARATOR + part
    return joined


def prepare_labels(
    labels: pd.Series,
    task_type: str | None,
    label_names: Sequence[str] | None,
    column: str,
) -> tuple[np.ndarray, str, list[str] | None, np.ndarray]:
    """Turn a label column into (ids or values, task type, class names, unlabelled mask).

    Strings and booleans are classes; integers are classes; floats are regression unless the
    caller says classification and every value is a whole number. ``-1`` marks an unlabelled
    classification row (the Hub convention) and is dropped.
    """
    if task_type not in (None, CLASSIFICATION, REGRESSION):
        raise InvalidLabelsError(f"Unknown task type '{task_type}': use 'classification' or 'regression'.")
    values = labels.to_numpy()
    kinds = {type(v).__name__ for v in values[:1000]}
    numeric = pd.api.types.is_numeric_dtype(labels) and not pd.api.types.is_bool_dtype(labels)
    if not numeric and len(kinds) > 1 and not kinds <= {"str", "bool", "bool_"}:
        numbers = pd.to_numeric(labels, errors="coerce")
        if numbers.notna().all():
            labels, numeric = numbers, True
        else:
            raise InvalidLabelsError(
                f"Column '{column}' mixes types ({', '.join(sorted(kinds))}). Labels must be all numbers or all strings."
            )
    if kinds & {"list", "dict", "ndarray"}:
        raise InvalidLabelsError(f"Column '{column}' holds lists or records, not one label per row.")
    if not numeric:
        if task_type == REGRESSION:
            raise InvalidLabelsError(f"Column '{column}' holds text; regression needs numeric labels.")
        as_text = labels.astype(str)
        names = sorted(as_text.unique().tolist())
        index = {n: i for i, n in enumerate(names)}
        ids = as_text.map(index).to_numpy(dtype=np.int64)
        return ids, CLASSIFICATION, names, np.zeros(len(ids), dtype=bool)
    floats = labels.to_numpy(dtype=np.float64)
    whole = np.all(np.isfinite(floats)) and np.all(floats == np.round(floats))
    is_int_dtype = pd.api.types.is_integer_dtype(labels)
    task = task_type or (CLASSIFICATION if is_int_dtype else REGRESSION)
    if task == REGRESSION:
        return floats, REGRESSION, None, np.zeros(len(floats), dtype=bool)
    if not whole:
        raise InvalidLabelsError(
            f"Column '{column}' holds fractional numbers, which cannot be class ids. "
            "Choose task type 'regression', or a column of class labels."
        )
    unlabelled = floats == -1
    ids = floats.astype(np.int64)
    if label_names is None:
        return ids, CLASSIFICATION, None, unlabelled
    return ids, CLASSIFICATION, list(label_names), unlabelled


def _compact_classes(ids: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Renumber the classes present to 0..C-1 so no target is an all-zero column."""
    present = np.unique(ids)
    remap = {int(v): i for i, v in enumerate(present)}
    new_ids = np.array([remap[int(v)] for v in ids], dtype=np.int64)
    if names is not None and all(0 <= v < len(names) for v in present):
        new_names = [str(names[int(v)]) for v in present]
    else:
        new_names = [str(int(v)) if names is None else str(names[int(v)]) for v in present]
    return new_ids, new_names


# --- files -----------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV/JSON/JSONL/Parquet file, with clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise UnsupportedFileError(f"File '{path.name}' does not exist.")
    size = path.stat().st_size
    if size > limits.max_upload_bytes():
        raise InputTooLargeError(
            f"'{path.name}' is {size / 1e6:.1f} MB; the limit is {limits.max_upload_bytes() / 1e6:.0f} MB "
            f"(set {limits.MAX_UPLOAD_MB_ENV} to change it). Upload a sample of your data."
        )
    if size == 0:
        raise UnsupportedFileError(f"'{path.name}' is empty (0 bytes). Upload a file with a header row and data rows.")
    kind = FILE_SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFileError(
            f"'{path.name}' is not a supported file type. Use one of: {', '.join(FILE_SUFFIXES)}."
        )
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        elif kind in ("csv", "tsv"):
            df = _read_delimited(path, "\t" if kind == "tsv" else ",")
        elif kind == "jsonl":
            df = pd.read_json(path, lines=True)
        else:
            df = _read_json(path)
    except (UnsupportedFileError, InputTooLargeError):
        raise
    except UnicodeDecodeError:
        raise UnsupportedFileError(f"'{path.name}' is not UTF-8 text. Save it as UTF-8 and upload it again.") from None
    except Exception as e:
        raise UnsupportedFileError(f"'{path.name}' could not be read as {kind.upper()}: {_short(e)}") from None
    if df.empty or len(df.columns) == 0:
        raise UnsupportedFileError(f"'{path.name}' holds no rows.")
    df.columns = [str(c) for c in df.columns]
    return df


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        raise UnsupportedFileError(f"'{path.name}' is a binary file, not {'TSV' if sep == chr(9) else 'CSV'} text.")
    try:
        return pd.read_csv(path, sep=sep, encoding="utf-8", on_bad_lines="error")
    except pd.errors.ParserError as e:
        raise UnsupportedFileError(
            f"'{path.name}' has rows with a different number of fields than the header ({_short(e)}). "
            "Fix the quoting or the separators and upload it again."
        ) from None


def _read_json(path: Path) -> pd.DataFrame:
    try:
        return pd.read_json(path)
    except ValueError:
        # A JSON file holding one record per line is common enough to accept.
        return pd.read_json(path, lines=True)


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__


# --- Hub ------------------------------------------------------------------------------------


def _hub_call(dataset_id: str, fn, *args, **kwargs):
    """Run a ``datasets`` metadata call, turning its errors into ours."""
    if not hub_reachable():
        raise HubUnreachableError(f"The Hub (needed for dataset '{dataset_id}')")
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return fn(*args, **kwargs)
    except GatedRepoError:
        raise DatasetAccessError(dataset_id) from None
    except RepositoryNotFoundError:
        raise DatasetNotFoundError(dataset_id) from None
    except FileNotFoundError as e:
        raise DatasetNotFoundError(dataset_id, _short(e)) from None
    except Exception as e:
        text = str(e)
        if "gated" in text.lower():
            raise DatasetAccessError(dataset_id) from None
        if "doesn't exist" in text or "not found" in text.lower():
            raise DatasetNotFoundError(dataset_id) from None
        raise


def check_dataset_id(dataset_id: str) -> str:
    dataset_id = (dataset_id or "").strip()
    parts = dataset_id.split("/")
    if not dataset_id or len(parts) > 2 or any(not p or p.startswith(".") or p != p.strip() for p in parts):
        raise DatasetNotFoundError(dataset_id or "(empty)", "A Hub dataset id looks like 'owner/name'.")
    if any(not all(c.isalnum() or c in "-_." for c in p) for p in parts):
        raise DatasetNotFoundError(dataset_id, "Ids hold only letters, digits, '-', '_' and '.'.")
    return dataset_id


def list_configs(dataset_id: str, token: str | None = None) -> list[str]:
    """The subsets (configs) of a Hub dataset."""
    from datasets import get_dataset_config_names

    dataset_id = check_dataset_id(dataset_id)
    return list(_hub_call(dataset_id, get_dataset_config_names, dataset_id, token=token))


def list_splits(dataset_id: str, subset: str | None = None, token: str | None = None) -> list[str]:
    """The splits of one subset of a Hub dataset."""
    from datasets import get_dataset_split_names

    dataset_id = check_dataset_id(dataset_id)
    try:
        return list(_hub_call(dataset_id, get_dataset_split_names, dataset_id, subset, token=token))
    except ValueError as e:
        if subset and "config" in str(e).lower():
            raise ConfigNotFoundError(dataset_id, subset, list_configs(dataset_id, token)) from None
        raise


def list_columns(dataset_id: str, subset: str | None = None, token: str | None = None) -> dict[str, str]:
    """Column name -> type description (e.g. 'string', 'ClassLabel(neg, pos)') without downloading data."""
    from datasets import load_dataset_builder

    dataset_id = check_dataset_id(dataset_id)
    builder = _hub_call(dataset_id, load_dataset_builder, dataset_id, subset, token=token)
    features = builder.info.features or {}
    return {name: describe_feature(feature) for name, feature in features.items()}


def describe_feature(feature: Any) -> str:
    kind = type(feature).__name__
    if kind == "ClassLabel":
        names = list(feature.names)
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        return f"ClassLabel({shown})"
    if kind == "Value":
        return str(feature.dtype)
    return kind


def load_hub_sample(
    dataset_id: str,
    subset: str | None,
    split: str,
    num_examples: int | None,
    seed: int,
    columns: Sequence[str] | None = None,
    token: str | None = None,
    streaming: bool = False,
):
    """A uniform sample of a Hub split (:class:`sampling.SplitSample`), with our errors."""
    from . import sampling

    dataset_id = check_dataset_id(dataset_id)
    try:
        if streaming:
            return _hub_call(
                dataset_id, sampling._sample_streamed, dataset_id, subset, split, num_examples, seed, columns, token
            )
        return _hub_call(
            dataset_id,
            sampling.sample_dataset,
            dataset_id,
            subset,
            split,
            num_examples,
            seed,
            columns,
            token,
            on_hub=True,
        )
    except ValueError as e:
        text = str(e)
        if "split" in text.lower() and "unknown" in text.lower() or "Bad split" in text:
            raise SplitNotFoundError(dataset_id, split, list_splits(dataset_id, subset, token)) from None
        if "config" in text.lower():
            raise ConfigNotFoundError(dataset_id, subset or "(none)", list_configs(dataset_id, token)) from None
        raise


def load_hub_rows(
    dataset_id: str,
    subset: str | None,
    split: str,
    num_examples: int | None,
    seed: int,
    streaming: bool | None = None,
    token: str | None = None,
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Rows of a uniform sample of a Hub split, plus class names of ClassLabel columns."""
    sample = load_hub_sample(dataset_id, subset, split, num_examples, seed, None, token, streaming=bool(streaming))
    return sample.rows, sample.label_names


def _single_class_error(
    error: Exception, dataset_id: str, subset, split: str, column: str, sample, token
) -> InvalidLabelsError:
    """The one-class error, naming the class counts of the whole split when they can be read."""
    from . import sampling

    counts = _hub_call(dataset_id, sampling.split_label_counts, dataset_id, subset, split, column, token)
    if not counts:
        return InvalidLabelsError(str(error))
    names = sample.label_names.get(column) or []

    def name(value) -> str:
        if isinstance(value, (int, np.integer)) and 0 <= int(value) < len(names):
            return str(names[int(value)])
        return str(value)[:80]

    shown = ", ".join(f"{name(k)}: {v:,}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:20])
    return InvalidLabelsError(
        f"The sample of {len(sample.rows):,} rows from split '{split}' holds a single class in '{column}', "
        f"but the whole split has {len(counts)} class(es) ({shown}). "
        + (
            "Use more examples, or another seed."
            if len(counts) > 1
            else "A classification task needs at least 2 classes: pick another split or label column."
        )
    )


def preview_rows(dataset_id: str, subset: str | None, split: str, n: int = 5, token: str | None = None) -> pd.DataFrame:
    """The first rows of a Hub split (streamed, nothing else downloaded): a look at the columns."""
    from . import sampling

    dataset_id = check_dataset_id(dataset_id)
    return _hub_call(dataset_id, sampling.preview_split, dataset_id, subset, split, n, token)
