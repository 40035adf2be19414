"""A uniform random sample of a whole dataset split, reproducible from the seed, read cheaply.

The sample is the one the reference library takes (the whole split shuffled with the seed, then
the first n rows): row indices ``numpy.random.default_rng(seed).permutation(num_rows)[:n]``.
How the rows are read depends on how the split is stored:

1. **Parquet files** (most Hub datasets, and every dataset through the Hub's parquet conversion):
   the row count of each row group comes from the files' metadata (a few kilobytes each), and
   only the row groups that hold sampled rows are read, only the needed columns.
2. **Other files below a size cap**: the split is downloaded whole, then sampled.
3. **Otherwise**: streamed through a shuffle buffer. Many splits are sorted (by label, by length),
   so this sample is *approximate*; it is flagged and the app says so.

Everything goes through ``datasets`` (to resolve a split's files), ``huggingface_hub.HfFileSystem``
and ``pyarrow`` (to read them): no hand-written HTTP. Local dataset folders work the same way.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import ColumnNotFoundError, ConfigNotFoundError, HFSelectError, SplitNotFoundError

# A non-parquet split up to this size is downloaded whole; a larger one is streamed (approximate).
DOWNLOAD_CAP_BYTES = 1_000_000_000
STREAM_BUFFER = 10_000
PARQUET_CONVERSION_REVISION = "refs%2Fconvert%2Fparquet"

PARQUET_ROW_GROUPS = "parquet row groups"
DOWNLOADED_SPLIT = "downloaded split"
STREAMED = "streamed (approximate)"


@dataclass
class SampleInfo:
    """How a sample was drawn: what a user needs to judge it."""

    method: str
    seed: int
    num_sampled: int
    split_rows: int | None = None  # None when unknown (streamed)
    files: int = 0
    row_groups_read: int = 0
    row_groups_total: int = 0
    approximate: bool = False

    def describe(self) -> str:
        """One plain sentence (no Markdown)."""
        if self.approximate:
            return (
                f"{self.num_sampled} rows streamed through a shuffle buffer of {STREAM_BUFFER:,} (seed {self.seed}): "
                "an approximate sample, since the split is too large to read and has no parquet files; "
                "if the split is sorted (by label, by length), the sample is not representative."
            )
        whole = f"of all {self.split_rows:,} rows" if self.split_rows is not None else ""
        how = (
            f"reading {self.row_groups_read} of {self.row_groups_total} parquet row groups in {self.files} file(s)"
            if self.method == PARQUET_ROW_GROUPS
            else "from the downloaded split"
        )
        return f"{self.num_sampled} rows drawn uniformly at random {whole} (seed {self.seed}), {how}."


@dataclass
class SplitSample:
    """Rows of a sample in sample order, with ClassLabel names and how they were drawn."""

    rows: pd.DataFrame
    label_names: dict[str, list[str]] = field(default_factory=dict)
    info: SampleInfo | None = None


def sample_indices(num_rows: int, n: int | None, seed: int) -> np.ndarray:
    """Indices of a uniform sample of ``n`` of ``num_rows`` rows (all rows, shuffled, when n is None).

    Identical to ``datasets.Dataset.shuffle(seed=seed).select(range(n))``, so the sample is the
    reference library's. The prefix property holds: a larger n keeps the smaller sample's rows.
    """
    if num_rows < 0:
        raise ValueError("num_rows must be >= 0")
    perm = np.random.default_rng(seed).permutation(num_rows)
    return perm if n is None or n >= num_rows else perm[:n]


# --- parquet ---------------------------------------------------------------------------------


@dataclass
class ParquetFileInfo:
    path: str
    row_group_rows: list[int]
    columns: list[str]
    hf_metadata: dict[str, Any] | None = None

    @property
    def num_rows(self) -> int:
        return sum(self.row_group_rows)


def inspect_parquet(fs, paths: Sequence[str]) -> list[ParquetFileInfo]:
    """Row counts per row group and the columns of each file, from the footers only."""
    import pyarrow.parquet as pq

    infos = []
    for path in paths:
        with fs.open(path, "rb") as fh:
            meta = pq.ParquetFile(fh).metadata
            schema = meta.schema.to_arrow_schema()
        rows = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
        hf_meta = None
        raw = (schema.metadata or {}).get(b"huggingface")
        if raw:
            try:
                hf_meta = json.loads(raw)
            except ValueError:
                hf_meta = None
        infos.append(ParquetFileInfo(path, rows, list(schema.names), hf_meta))
    return infos


def _check_columns(columns: Sequence[str] | None, available: list[str]) -> list[str] | None:
    if columns is None:
        return None
    wanted = list(dict.fromkeys(columns))
    for col in wanted:
        if col not in available:
            raise ColumnNotFoundError(col, available)
    return wanted


def sample_parquet(
    fs,
    paths: Sequence[str],
    n: int | None,
    seed: int,
    columns: Sequence[str] | None = None,
) -> SplitSample:
    """A uniform sample of the rows of parquet files read as one split (files in the given order).

    Reads only the row groups that hold sampled rows, and only ``columns`` when given.
    """
    import pyarrow.parquet as pq

    files = inspect_parquet(fs, paths)
    available = files[0].columns if files else []
    wanted = _check_columns(columns, available)
    group_rows = [(f, g, rows) for f, info in enumerate(files) for g, rows in enumerate(info.row_group_rows)]
    starts = np.cumsum([0] + [rows for _, _, rows in group_rows])
    total = int(starts[-1])
    picked = sample_indices(total, n, seed)
    group_of = np.searchsorted(starts, picked, side="right") - 1
    needed: dict[int, list[int]] = {}
    for g in np.unique(group_of):
        needed.setdefault(group_rows[g][0], []).append(int(g))
    parts: dict[int, pd.DataFrame] = {}
    for f, groups in needed.items():
        with fs.open(files[f].path, "rb") as fh:
            handle = pq.ParquetFile(fh)
            for g in groups:
                parts[g] = handle.read_row_group(group_rows[g][1], columns=wanted).to_pandas()
    # Rows in sample order: the prefix of a larger sample is the smaller sample.
    records = [parts[g].iloc[[int(i - starts[g])]] for i, g in zip(picked, group_of)]
    rows = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=wanted or available)
    label_names = _class_label_names(files[0].hf_metadata if files else None)
    info = SampleInfo(
        PARQUET_ROW_GROUPS,
        seed,
        len(rows),
        split_rows=total,
        files=len(files),
        row_groups_read=len(parts),
        row_groups_total=len(group_rows),
    )
    return SplitSample(rows, label_names, info)


def parquet_value_counts(fs, paths: Sequence[str], column: str) -> dict[Any, int]:
    """Counts of each value of one column over whole parquet files (reads that column only)."""
    import pyarrow.parquet as pq

    counts: Counter = Counter()
    for path in paths:
        with fs.open(path, "rb") as fh:
            values = pq.ParquetFile(fh).read(columns=[column]).column(column).to_pylist()
        counts.update(values)
    return dict(counts)


def _class_label_names(hf_metadata: dict | None) -> dict[str, list[str]]:
    """ClassLabel names from the ``huggingface`` schema metadata ``datasets`` writes into parquet."""
    features = ((hf_metadata or {}).get("info") or {}).get("features") or {}
    out = {}
    for name, feature in features.items():
        if (
            isinstance(feature, dict)
            and feature.get("_type") == "ClassLabel"
            and isinstance(feature.get("names"), list)
        ):
            out[name] = [str(v) for v in feature["names"]]
    return out


# --- datasets (Hub id or local folder) -------------------------------------------------------


def _filesystem(path: str, token: str | None):
    """(filesystem, path inside it) for a resolved data file: HfFileSystem for hf:// paths."""
    if path.startswith("hf://"):
        from huggingface_hub import HfFileSystem

        return HfFileSystem(token=token), path[len("hf://") :]
    from fsspec.core import url_to_fs

    return url_to_fs(path)


def split_files(dataset: str, subset: str | None, split: str, token: str | None = None) -> tuple[list[str], Any]:
    """The data files of one split (resolved by ``datasets``) and the builder's features (or None)."""
    from datasets import load_dataset_builder

    try:
        builder = load_dataset_builder(dataset, subset, token=token)
    except ValueError as e:
        if "config" in str(e).lower():
            from .data import list_configs

            raise ConfigNotFoundError(dataset, subset or "(none)", list_configs(dataset, token)) from None
        raise
    data_files = builder.config.data_files or {}
    if split not in data_files:
        raise SplitNotFoundError(dataset, split, [str(s) for s in data_files])
    return [str(p) for p in data_files[split]], builder.info.features


def _converted_parquet(dataset: str, subset: str | None, split: str, token: str | None) -> list[str]:
    """Files of the Hub's full parquet conversion of a split ([] when absent or partial)."""
    from huggingface_hub import HfFileSystem

    fs = HfFileSystem(token=token)
    folder = f"datasets/{dataset}@{PARQUET_CONVERSION_REVISION}/{subset or 'default'}/{split}"
    try:
        return sorted(fs.glob(f"{folder}/*.parquet"))
    except Exception:  # noqa: BLE001 - no conversion: fall back to the next method
        return []


def sample_dataset(
    dataset: str,
    subset: str | None,
    split: str,
    n: int | None,
    seed: int,
    columns: Sequence[str] | None = None,
    token: str | None = None,
    download_cap_bytes: int = DOWNLOAD_CAP_BYTES,
    on_hub: bool = False,
) -> SplitSample:
    """A uniform sample of ``n`` rows of a split of a dataset (a Hub id or a local folder).

    Args:
        dataset: what ``datasets.load_dataset`` accepts: a Hub id, or a local folder of data files.
        subset: config name, or None for the default.
        split: split name.
        n: sample size; None for the whole split.
        seed: the sample is ``default_rng(seed).permutation(rows)[:n]`` of the whole split.
        columns: read only these columns (all when None).
        download_cap_bytes: a non-parquet split larger than this is streamed (approximate sample).
        on_hub: also look for the Hub's parquet conversion of non-parquet splits.
    """
    paths, features = split_files(dataset, subset, split, token)
    if paths and all(p.split("?")[0].endswith(".parquet") for p in paths):
        fs, _ = _filesystem(paths[0], token)
        inner = [_filesystem(p, token)[1] for p in paths]
        sample = sample_parquet(fs, inner, n, seed, columns)
        sample.label_names = {**_feature_label_names(features), **sample.label_names}
        return sample
    size = _total_size(paths, token)
    if size is not None and size <= download_cap_bytes:
        return _sample_downloaded(dataset, subset, split, n, seed, columns, token)
    if on_hub:
        converted = _converted_parquet(dataset, subset, split, token)
        if converted:
            from huggingface_hub import HfFileSystem

            sample = sample_parquet(HfFileSystem(token=token), converted, n, seed, columns)
            sample.label_names = {**_feature_label_names(features), **sample.label_names}
            return sample
    return _sample_streamed(dataset, subset, split, n, seed, columns, token)


def _total_size(paths: Sequence[str], token: str | None) -> int | None:
    total = 0
    for path in paths:
        fs, inner = _filesystem(path, token)
        try:
            size = fs.info(inner).get("size")
        except Exception:  # noqa: BLE001 - unknown size: treat as too large to download
            return None
        if size is None:
            return None
        total += int(size)
    return total


def _sample_downloaded(dataset, subset, split, n, seed, columns, token) -> SplitSample:
    from datasets import load_dataset

    ds = load_dataset(dataset, subset, split=split, token=token)
    wanted = _check_columns(columns, list(ds.column_names))
    picked = sample_indices(len(ds), n, seed)
    part = ds.select(picked)
    if wanted is not None:
        part = part.select_columns(wanted)
    info = SampleInfo(DOWNLOADED_SPLIT, seed, len(part), split_rows=len(ds))
    return SplitSample(part.to_pandas(), _feature_label_names(ds.features), info)


def _sample_streamed(dataset, subset, split, n, seed, columns, token) -> SplitSample:
    from datasets import load_dataset

    ds = load_dataset(dataset, subset, split=split, streaming=True, token=token)
    take = n if n is not None else STREAM_BUFFER
    rows = pd.DataFrame(list(ds.shuffle(seed=seed, buffer_size=STREAM_BUFFER).take(take)))
    if columns is not None and len(rows):
        rows = rows[_check_columns(columns, [str(c) for c in rows.columns])]
    info = SampleInfo(STREAMED, seed, len(rows), approximate=True)
    return SplitSample(rows, _feature_label_names(ds.features), info)


def _feature_label_names(features) -> dict[str, list[str]]:
    return {
        col: [str(v) for v in feat.names]
        for col, feat in (features or {}).items()
        if type(feat).__name__ == "ClassLabel"
    }


def split_label_counts(
    dataset: str, subset: str | None, split: str, column: str, token: str | None = None
) -> dict[Any, int] | None:
    """Counts of each label over the whole split when it is stored as parquet (None otherwise)."""
    try:
        paths, _ = split_files(dataset, subset, split, token)
        if not paths or not all(p.split("?")[0].endswith(".parquet") for p in paths):
            return None
        fs, _ = _filesystem(paths[0], token)
        return parquet_value_counts(fs, [_filesystem(p, token)[1] for p in paths], column)
    except (HFSelectError, OSError, ValueError, KeyError):
        return None


def preview_split(dataset: str, subset: str | None, split: str, n: int = 5, token: str | None = None) -> pd.DataFrame:
    """The first n rows of a split, streamed (a preview of the columns, not a sample)."""
    from datasets import load_dataset

    ds = load_dataset(dataset, subset, split=split, streaming=True, token=token)
    return pd.DataFrame(list(ds.take(n)))
