"""Target datasets: texts and labels from the Hub, a file or a DataFrame, cleaned and sampled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import hub, limits
from .errors import (
    ColumnNotFoundError,
    ConfigNotFoundError,
    DatasetNotFoundError,
    InputTooLargeError,
    InvalidColumnsError,
    InvalidLabelsError,
    NotATextColumnError,
    SplitNotFoundError,
    TooFewExamplesError,
    TooManyClassesError,
    UnsupportedFileError,
)

TEXT_SEPARATOR = " [SEP] "
CLASSIFICATION = "classification"
REGRESSION = "regression"
MIN_EXAMPLES = 2
# float64 holds every integer exactly only up to 2 ** 53; class ids beyond it would merge.
MAX_EXACT_INT = 2**53
# LogME squares the labels: beyond this magnitude the sums overflow (and every ESM would be blamed).
MAX_REGRESSION_MAGNITUDE = 1e100
MIN_REGRESSION_SPREAD = 1e-6
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
        return {} if self.is_regression else count_classes(self.labels, self.label_names)

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
        repeated = sorted({c for c in text_columns if text_columns.count(c) > 1})
        if repeated:
            raise InvalidColumnsError(
                f"The text column '{repeated[0]}' is listed more than once. List each text column once."
            )
        if df.columns.duplicated().any():
            twice = df.columns[df.columns.duplicated()][0]
            raise InvalidColumnsError(f"The data has two columns named '{twice}'. Rename one of them.")
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
        # Blank label cells are dropped (and counted) above; what is left decides the task type:
        # read_table keeps an integer column with blanks as integers, so floats here are real floats.
        if len(labels) == 0:
            raise TooFewExamplesError(0, MIN_EXAMPLES, f"Every row lacks a text or a '{label_column}' label.")
        ids, task, names, unlabelled = prepare_labels(labels, task_type, label_names, label_column)
        if unlabelled.any():
            dropped["label -1 (unlabelled, per the dataset's ClassLabel)"] = int(unlabelled.sum())
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
            check_regression_scale(self.labels, self.label_column)
        elif len(np.unique(self.labels)) < 2:
            only = self.label_names[0] if self.label_names else self.labels[0]
            raise InvalidLabelsError(
                f"Column '{self.label_column}' has a single class ('{str(only)[:80]}') in the {len(self)} examples "
                "used; a classification task needs at least 2. Use more examples or another label column."
            )
        else:
            check_class_count(len(np.unique(self.labels)), len(self), self.label_column)


def count_classes(labels: np.ndarray, label_names: Sequence[str] | None = None) -> dict[str, int]:
    """Examples per class id, keyed by class name (the id as text when it has no name)."""
    ids, counts = np.unique(labels, return_counts=True)
    names = label_names or []
    return {(names[int(i)] if 0 <= int(i) < len(names) else str(int(i))): int(c) for i, c in zip(ids, counts)}


def check_regression_scale(values: np.ndarray, column: str) -> None:
    """Refuse regression labels whose scale LogME cannot work with (checked before any model runs)."""
    magnitude = float(np.max(np.abs(values)))
    if magnitude > MAX_REGRESSION_MAGNITUDE:
        raise InvalidLabelsError(
            f"Regression labels in '{column}' reach {magnitude:.3g}, too large to score (they would overflow). "
            f"Rescale them (e.g. divide by {10 ** np.floor(np.log10(magnitude)):.0e}) and try again."
        )
    spread = float(np.std(values / magnitude) * magnitude)
    if spread < MIN_REGRESSION_SPREAD:
        raise InvalidLabelsError(
            f"Regression labels in '{column}' vary by only {spread:.3g} (standard deviation), too little to score "
            "reliably (LogME's numerical floor). Rescale them (e.g. multiply by "
            f"{10 ** -np.floor(np.log10(max(spread, 1e-300))):.0e}) and try again."
        )


def check_class_count(num_classes: int, num_examples: int, column: str) -> None:
    """Refuse more classes than the sample can say anything about.

    LogME fits one target per class: with about as many classes as examples most classes hold a
    single example, the score is meaningless and the cost grows with every class.
    """
    # Up to 10 classes always pass: tiny samples of few classes are fine and cheap.
    cap = min(limits.max_classes(), max(10, num_examples // 2))
    if num_classes <= cap:
        return
    why = (
        f"at most {limits.max_classes():,} are supported ({limits.MAX_CLASSES_ENV})"
        if num_classes > limits.max_classes()
        else f"with {num_examples:,} examples that leaves fewer than 2 examples per class, too few for a meaningful score"
    )
    raise TooManyClassesError(
        f"Column '{column}' has {num_classes:,} classes: {why}. Use more examples, a label column with fewer "
        "classes, or task type 'regression' if the labels are numbers on a scale."
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
    caller says classification (or gives class names) and every value is a whole number.
    ``label_names`` are a ClassLabel's names: only then does ``-1`` mean "no label" (the Hub
    convention) and mark the row unlabelled; elsewhere ``-1`` is a class like any other. Ids
    must then lie in ``0 .. len(label_names) - 1``.
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
    is_int_dtype = pd.api.types.is_integer_dtype(labels)
    task = task_type or (CLASSIFICATION if is_int_dtype or label_names is not None else REGRESSION)
    if task == REGRESSION:
        floats = labels.to_numpy(dtype=np.float64)
        return floats, REGRESSION, None, np.zeros(len(floats), dtype=bool)
    ids = _exact_class_ids(labels, is_int_dtype, column)
    if label_names is None:
        return ids, CLASSIFICATION, None, np.zeros(len(ids), dtype=bool)
    names = [str(n) for n in label_names]
    unlabelled = ids == -1
    bad = np.unique(ids[~unlabelled & ((ids < 0) | (ids >= len(names)))])
    if len(bad):
        shown = ", ".join(str(int(v)) for v in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise InvalidLabelsError(
            f"Column '{column}' holds class id(s) {shown}, but the dataset names only {len(names)} classes "
            f"(ids 0 to {len(names) - 1}; -1 means no label). The data and its class names disagree: "
            "pick another label column or upload the data as a file."
        )
    return ids, CLASSIFICATION, names, unlabelled


def _exact_class_ids(labels: pd.Series, is_int_dtype: bool, column: str) -> np.ndarray:
    """Class ids as int64, refusing values that would change on the way (fractions, huge ids)."""
    if is_int_dtype:
        values = labels.to_numpy()
        if values.dtype == np.uint64 and len(values) and values.max() > np.iinfo(np.int64).max:
            # Distinct ids must stay distinct: renumber them in order.
            _, inverse = np.unique(values, return_inverse=True)
            return inverse.astype(np.int64)
        return labels.to_numpy(dtype=np.int64)
    floats = labels.to_numpy(dtype=np.float64)
    if not (np.all(np.isfinite(floats)) and np.all(floats == np.round(floats))):
        raise InvalidLabelsError(
            f"Column '{column}' holds fractional numbers, which cannot be class ids. "
            "Choose task type 'regression', or a column of class labels."
        )
    if len(floats) and np.max(np.abs(floats)) >= MAX_EXACT_INT:
        raise InvalidLabelsError(
            f"Column '{column}' holds class ids as large as {np.max(np.abs(floats)):.3g}, stored as decimals: "
            "beyond 2^53 different ids become equal. Store the ids as integers or as text."
        )
    return floats.astype(np.int64)


def _compact_classes(ids: np.ndarray, names: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """Renumber the classes present to 0..C-1 so no target is an all-zero column."""
    present, new_ids = np.unique(ids, return_inverse=True)
    if names is not None:
        # prepare_labels has checked every id against the names.
        return new_ids.astype(np.int64), [str(names[int(v)]) for v in present]
    return new_ids.astype(np.int64), [str(int(v)) for v in present]


# --- files -----------------------------------------------------------------------------------


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV/TSV/JSON/JSONL/Parquet file, with clear errors for anything else.

    Every cap is checked before the expensive step: the file size before opening it, a Parquet
    file's rows, columns and decoded size from its metadata before decoding (then again while
    decoding, batch by batch), a CSV's columns from its header before reading the rows. An
    integer column with blank cells stays integer (``Int64``), so its numbers remain class ids
    while a float column with blanks stays float (regression).
    """
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
            df = _read_parquet(path)
        elif kind in ("csv", "tsv"):
            df = _read_delimited(path, "\t" if kind == "tsv" else ",")
        elif kind == "jsonl":
            df = _keep_integer_blanks(
                pd.read_json(path, lines=True), lambda: pd.read_json(path, lines=True, **_NULLABLE)
            )
        else:
            df = _read_json(path)
    except (UnsupportedFileError, InputTooLargeError):
        raise
    except UnicodeDecodeError:
        raise UnsupportedFileError(f"'{path.name}' is not UTF-8 text. Save it as UTF-8 and upload it again.") from None
    except MemoryError:
        raise InputTooLargeError(f"'{path.name}' is too large to read here. Upload a sample of your data.") from None
    except Exception as e:
        raise UnsupportedFileError(f"'{path.name}' could not be read as {kind.upper()}: {_short(e)}") from None
    if df.empty or len(df.columns) == 0:
        raise UnsupportedFileError(f"'{path.name}' holds no rows.")
    _check_shape(path.name, len(df), len(df.columns))
    df.columns = [str(c) for c in df.columns]
    if df.columns.duplicated().any():
        twice = str(df.columns[df.columns.duplicated()][0])[:80]
        raise UnsupportedFileError(f"'{path.name}' has two columns named '{twice}'. Rename one and upload it again.")
    return df


_NULLABLE = {"dtype_backend": "numpy_nullable"}


def _check_shape(name: str, rows: int, columns: int) -> None:
    if columns > limits.max_columns():
        raise InputTooLargeError(
            f"'{name}' has {columns:,} columns; the limit is {limits.max_columns():,} ({limits.MAX_COLUMNS_ENV}). "
            "Keep only the text and label columns."
        )
    if rows > limits.max_rows():
        raise InputTooLargeError(
            f"'{name}' has {rows:,} rows; the limit is {limits.max_rows():,} ({limits.MAX_ROWS_ENV}). "
            "Upload a sample of your data."
        )
    if rows * columns > limits.max_cells():
        raise InputTooLargeError(
            f"'{name}' has {rows:,} rows x {columns:,} columns = {rows * columns:,} cells; the limit is "
            f"{limits.max_cells():,}. Keep only the text and label columns, or upload a sample."
        )


def _decoded_too_large(name: str, nbytes: float) -> InputTooLargeError:
    cap = limits.max_decoded_bytes()
    return InputTooLargeError(
        f"'{name}' would take {nbytes / 1e6:,.0f} MB once decoded (it is compressed); the limit is "
        f"{cap / 1e6:,.0f} MB ({limits.MAX_DECODED_MB_ENV}). Upload a sample of your data."
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file within the caps: metadata first, then decoding batch by batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        strings = [f.name for f in schema if _is_text_type(f.type)]
        file = pq.ParquetFile(path, read_dictionary=strings)
    except Exception as e:
        raise UnsupportedFileError(f"'{path.name}' could not be read as PARQUET: {_short(e)}") from None
    meta = file.metadata
    _check_shape(path.name, meta.num_rows, meta.num_columns)
    names = file.schema_arrow.names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UnsupportedFileError(
            f"'{path.name}' has two columns named '{str(twice[0])[:80]}'. Rename one and upload it again."
        )
    # The uncompressed page sizes (and, where the writer recorded them, the unencoded string
    # bytes) bound what decoding will produce, before a single row is decoded. Dictionary pages
    # hide repetition, so the running total while decoding below is the backstop.
    estimate = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = getattr(column, "size_statistics", None)
            unencoded = getattr(stats, "unencoded_byte_array_data_bytes", None) if stats is not None else None
            estimate += max(column.total_uncompressed_size, unencoded or 0)
    cap = limits.max_decoded_bytes()
    if estimate > cap:
        raise _decoded_too_large(path.name, estimate)
    # Strings stay dictionary-encoded while they are counted: a one-entry dictionary repeated a
    # million times costs 4 bytes a row here, and its decoded size is known exactly before any
    # string is materialised.
    batches, decoded, rows = [], 0, 0
    for batch in file.iter_batches(batch_size=65_536):
        decoded += sum(_decoded_nbytes(column) for column in batch.columns)
        rows += len(batch)
        if decoded > cap:
            raise _decoded_too_large(path.name, decoded * meta.num_rows / max(1, rows))
        batches.append(batch)
    batches = [
        pa.RecordBatch.from_arrays(
            [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for c in batch.columns],
            names=batch.schema.names,
        )
        for batch in batches
    ]
    table = pa.Table.from_batches(batches, schema=batches[0].schema if batches else file.schema_arrow)
    int_types = {pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()}
    df = table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if t in int_types else None)
    return _settle_integers(df)


def _is_text_type(kind) -> bool:
    import pyarrow as pa

    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_binary(kind)


def _decoded_nbytes(column) -> int:
    """Bytes ``column`` takes once decoded, computed from its dictionary without decoding it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(column.type):
        return column.nbytes
    if not _is_text_type(column.type.value_type):
        return column.dictionary_decode().nbytes
    lengths = pc.binary_length(column.dictionary).fill_null(0).to_numpy(zero_copy_only=False)
    indices = column.indices.fill_null(0).to_numpy(zero_copy_only=False)
    return int(lengths[indices].sum()) + 8 * len(column)


def _settle_integers(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns as NumPy ints, except those with blanks, which stay nullable Int64."""
    for col in df.columns:
        series = df[col]
        if not (pd.api.types.is_integer_dtype(series.dtype) and not isinstance(series.dtype, np.dtype)):
            continue
        if series.isna().any():
            df[col] = series.astype("Int64") if series.dtype != "uint64[pyarrow]" else series.astype("UInt64")
        else:
            df[col] = series.to_numpy(dtype=series.dtype.numpy_dtype)
    return df


def _keep_integer_blanks(df: pd.DataFrame, read_nullable) -> pd.DataFrame:
    """pandas reads an integer column with blank cells as floats; read such columns again, typed."""
    suspects = [c for c in df.columns if pd.api.types.is_float_dtype(df[c].dtype) and df[c].isna().any()]
    if not suspects:
        return df
    typed = read_nullable()
    for col in suspects:
        if col in typed.columns and pd.api.types.is_integer_dtype(typed[col].dtype):
            df[col] = typed[col].astype("Int64")
    return df


def _read_delimited(path: Path, sep: str) -> pd.DataFrame:
    with open(path, "rb") as fh:
        head = fh.read(8192)
    if b"\x00" in head:
        raise UnsupportedFileError(f"'{path.name}' is a binary file, not {'TSV' if sep == chr(9) else 'CSV'} text.")
    _check_shape(path.name, 0, _header_fields(path, sep))
    try:
        df = pd.read_csv(path, sep=sep, encoding="utf-8", on_bad_lines="error", nrows=limits.max_rows() + 1)
        suspects = [c for c in df.columns if pd.api.types.is_float_dtype(df[c].dtype) and df[c].isna().any()]
        return _keep_integer_blanks(
            df, lambda: pd.read_csv(path, sep=sep, encoding="utf-8", usecols=suspects, **_NULLABLE)
        )
    except pd.errors.ParserError as e:
        raise UnsupportedFileError(
            f"'{path.name}' has rows with a different number of fields than the header ({_short(e)}). "
            "Fix the quoting or the separators and upload it again."
        ) from None


_MAX_HEADER_BYTES = 4_000_000


def _header_fields(path: Path, sep: str) -> int:
    """Number of fields in the header line, read with a bound (pandas takes minutes on 300,000 columns)."""
    import csv

    with open(path, "rb") as fh:
        head = fh.read(_MAX_HEADER_BYTES)
    line, newline, _ = head.partition(b"\n")
    if not newline and len(head) == _MAX_HEADER_BYTES:
        raise InputTooLargeError(
            f"'{path.name}' has a header line longer than {_MAX_HEADER_BYTES // 1_000_000} MB. "
            "Keep only the text and label columns."
        )
    text = line.decode("utf-8", errors="replace").lstrip("\ufeff")
    return len(next(csv.reader([text], delimiter=sep), []))


def _read_json(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_json(path)
        lines = False
    except ValueError:
        # A JSON file holding one record per line is common enough to accept.
        df = pd.read_json(path, lines=True)
        lines = True
    return _keep_integer_blanks(df, lambda: pd.read_json(path, lines=lines, **_NULLABLE))


def _short(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


# --- Hub ------------------------------------------------------------------------------------


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
    return hub.dataset_config_names(check_dataset_id(dataset_id), token)


def list_splits(dataset_id: str, subset: str | None = None, token: str | None = None) -> list[str]:
    """The splits of one subset of a Hub dataset."""
    dataset_id = check_dataset_id(dataset_id)
    try:
        return hub.dataset_split_names(dataset_id, subset, token)
    except ValueError as e:
        if subset and "config" in str(e).lower():
            raise ConfigNotFoundError(dataset_id, subset, list_configs(dataset_id, token)) from None
        raise


def list_columns(dataset_id: str, subset: str | None = None, token: str | None = None) -> dict[str, str]:
    """Column name -> type description (e.g. 'string', 'ClassLabel(neg, pos)') without downloading data."""
    features = hub.dataset_features(check_dataset_id(dataset_id), subset, token)
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
            return hub.dataset_call(
                dataset_id, sampling._sample_streamed, dataset_id, subset, split, num_examples, seed, columns, token
            )
        return hub.dataset_call(
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

    counts = hub.dataset_call(dataset_id, sampling.split_label_counts, dataset_id, subset, split, column, token)
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
    return hub.dataset_call(dataset_id, sampling.preview_split, dataset_id, subset, split, n, token)
