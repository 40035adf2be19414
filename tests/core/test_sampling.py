"""The Hub sampler on local dataset folders: the same code path (datasets resolves the split's
files, pyarrow reads parquet footers and only the needed row groups) on a local filesystem."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import REPO_ROOT

from hfselect_core import sampling
from hfselect_core.data import TargetDataset
from hfselect_core.errors import ColumnNotFoundError, SplitNotFoundError


def write_parquet_split(folder, df: pd.DataFrame, shards: int = 1, row_group_size: int = 1000, split: str = "train"):
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(np.arange(len(df)), shards)):
        table = pa.Table.from_pandas(df.iloc[part].reset_index(drop=True), preserve_index=False)
        pq.write_table(table, data / f"{split}-{i:05d}-of-{shards:05d}.parquet", row_group_size=row_group_size)
    return folder


def label_sorted(n_rows: int = 25_000, classes: int = 2) -> pd.DataFrame:
    labels = np.repeat(np.arange(classes), n_rows // classes)
    return pd.DataFrame({"text": [f"review {i} of class {c}" for i, c in enumerate(labels)], "label": labels})


def within_sampling_error(sample_share: float, split_share: float, n: int) -> bool:
    return abs(sample_share - split_share) <= 4 * math.sqrt(split_share * (1 - split_share) / n)


def test_label_sorted_split_gives_both_classes_in_split_proportions(tmp_path):
    folder = write_parquet_split(tmp_path / "imdb_like", label_sorted())
    sample = sampling.sample_dataset(str(folder), None, "train", 1000, seed=42, columns=["text", "label"])
    share = (sample.rows["label"] == 1).mean()
    assert len(sample.rows) == 1000
    assert within_sampling_error(share, 0.5, 1000), share
    assert sample.info.split_rows == 25_000 and not sample.info.approximate
    # Only the needed columns were read.
    assert list(sample.rows.columns) == ["text", "label"]


def test_same_seed_same_rows_other_seed_other_rows(tmp_path):
    folder = write_parquet_split(tmp_path / "d", label_sorted(4000), shards=3, row_group_size=300)
    a = sampling.sample_dataset(str(folder), None, "train", 200, seed=7)
    b = sampling.sample_dataset(str(folder), None, "train", 200, seed=7)
    c = sampling.sample_dataset(str(folder), None, "train", 200, seed=8)
    assert a.rows["text"].tolist() == b.rows["text"].tolist()
    assert a.rows["text"].tolist() != c.rows["text"].tolist()
    # A larger sample with the same seed starts with the smaller one.
    d = sampling.sample_dataset(str(folder), None, "train", 300, seed=7)
    assert d.rows["text"].tolist()[:200] == a.rows["text"].tolist()


def test_sample_is_the_reference_librarys_shuffle_then_take(tmp_path):
    """The rows are those of datasets' shuffle(seed).select(range(n)) over the whole split."""
    from datasets import Dataset

    df = label_sorted(3000, classes=3)
    folder = write_parquet_split(tmp_path / "d", df, shards=2, row_group_size=250)
    sample = sampling.sample_dataset(str(folder), None, "train", 100, seed=42)
    expected = Dataset.from_pandas(df, preserve_index=False).shuffle(seed=42).select(range(100))
    assert sample.rows["text"].tolist() == expected["text"]


def test_length_sorted_split_sample_has_the_splits_length_distribution(tmp_path):
    rng = np.random.default_rng(0)
    lengths = np.sort(rng.integers(1, 200, size=12_000))
    df = pd.DataFrame({"text": ["w " * int(k) for k in lengths], "label": rng.integers(0, 3, size=len(lengths))})
    folder = write_parquet_split(tmp_path / "by_length", df, row_group_size=500)
    sample = sampling.sample_dataset(str(folder), None, "train", 600, seed=1)
    got = sample.rows["text"].str.len() / 2
    # Median and quartiles of the sample within a few standard errors of the split's.
    for q in (0.25, 0.5, 0.75):
        split_q = np.quantile(lengths, q)
        share_below = (got <= split_q).mean()
        assert within_sampling_error(share_below, (lengths <= split_q).mean(), 600), (q, share_below)


def test_multi_shard_split_reads_only_needed_row_groups(tmp_path):
    df = label_sorted(20_000, classes=4)
    folder = write_parquet_split(tmp_path / "sharded", df, shards=4, row_group_size=250)
    sample = sampling.sample_dataset(str(folder), None, "train", 20, seed=3)
    info = sample.info
    assert info.files == 4 and info.row_groups_total == 80
    assert info.row_groups_read <= 20 < info.row_groups_total
    shards_seen = {int(t.split()[1]) // 5000 for t in sample.rows["text"]}
    assert len(shards_seen) >= 3  # rows come from across the shards, not the first one
    big = sampling.sample_dataset(str(folder), None, "train", 2000, seed=3)
    for c in range(4):
        assert within_sampling_error((big.rows["label"] == c).mean(), 0.25, 2000)


def test_sample_larger_than_split_is_the_whole_split_shuffled(tmp_path):
    folder = write_parquet_split(tmp_path / "d", label_sorted(50))
    sample = sampling.sample_dataset(str(folder), None, "train", 1000, seed=0)
    assert sorted(sample.rows["text"]) == sorted(label_sorted(50)["text"])
    assert sample.rows["label"].head(10).nunique() == 2


def test_csv_split_is_downloaded_and_sampled_uniformly(tmp_path):
    folder = tmp_path / "csv_ds"
    folder.mkdir()
    label_sorted(6000).to_csv(folder / "train.csv", index=False)
    sample = sampling.sample_dataset(str(folder), None, "train", 500, seed=5)
    assert sample.info.method == sampling.DOWNLOADED_SPLIT and not sample.info.approximate
    assert within_sampling_error((sample.rows["label"] == 1).mean(), 0.5, 500)


def test_large_non_parquet_split_is_streamed_and_flagged_approximate(tmp_path):
    folder = tmp_path / "csv_ds"
    folder.mkdir()
    label_sorted(2000).to_csv(folder / "train.csv", index=False)
    sample = sampling.sample_dataset(str(folder), None, "train", 100, seed=5, download_cap_bytes=0)
    assert sample.info.approximate and sample.info.method == sampling.STREAMED
    assert "approximate" in sample.info.describe()
    assert len(sample.rows) == 100


def test_unknown_split_and_column_are_named(tmp_path):
    folder = write_parquet_split(tmp_path / "d", label_sorted(100))
    with pytest.raises(SplitNotFoundError, match="validation"):
        sampling.sample_dataset(str(folder), None, "validation", 10, seed=0)
    with pytest.raises(ColumnNotFoundError, match="sentence"):
        sampling.sample_dataset(str(folder), None, "train", 10, seed=0, columns=["sentence", "label"])


def test_class_label_names_come_from_the_parquet_metadata(tmp_path):
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    ds = Dataset.from_pandas(label_sorted(400), features=features, preserve_index=False)
    (tmp_path / "d" / "data").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "d" / "data" / "train-00000-of-00001.parquet"))
    sample = sampling.sample_dataset(str(tmp_path / "d"), None, "train", 50, seed=0)
    assert sample.label_names["label"] == ["neg", "pos"]
    counts = sampling.split_label_counts(str(tmp_path / "d"), None, "train", "label")
    assert counts == {0: 200, 1: 200}
    target = TargetDataset.from_pandas(sample.rows, "text", "label", label_names=sample.label_names["label"])
    assert set(target.class_counts()) == {"neg", "pos"} and sum(target.class_counts().values()) == 50


def test_hub_split_sorted_by_label_is_sampled_uniformly_over_http(tmp_path):
    """The real Hub path (datasets resolves the files, HfFileSystem + pyarrow read them) against the
    local Hub emulator, in a subprocess pointed at it with HF_ENDPOINT."""
    import json
    import os
    import subprocess
    import sys

    from hub_emulator import HubEmulator, add_parquet_dataset

    root = REPO_ROOT
    n_rows = 3000
    labels = [0] * (n_rows // 2) + [1] * (n_rows // 2)
    texts = [f"review number {i}" for i in range(n_rows)]
    hub = HubEmulator()
    add_parquet_dataset(hub, "emu/sorted", {"train": {"text": texts, "label": labels}}, {"label": ["neg", "pos"]})
    add_parquet_dataset(
        hub, "emu/one-class", {"train": {"text": texts[:50], "label": [0] * 50}}, {"label": ["neg", "pos"]}
    )
    hub.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        env.update(
            HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf"), HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(root)
        )
        script = """
import json
from hfselect_core.data import TargetDataset
from hfselect_core.errors import InvalidLabelsError
a = TargetDataset.from_hub("emu/sorted", num_examples=400, seed=1)
b = TargetDataset.from_hub("emu/sorted", num_examples=400, seed=1)
try:
    TargetDataset.from_hub("emu/one-class", num_examples=20, seed=1)
    error = ""
except InvalidLabelsError as e:
    error = str(e)
print(json.dumps({"counts": a.class_counts(), "same": a.texts == b.texts, "method": a.sample_info.method,
                  "split_rows": a.sample_info.split_rows, "error": error}))
"""
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        hub.stop()
    assert result["same"] and result["method"] == sampling.PARQUET_ROW_GROUPS and result["split_rows"] == n_rows
    assert set(result["counts"]) == {"neg", "pos"}
    assert within_sampling_error(result["counts"]["pos"] / 400, 0.5, 400), result["counts"]
    assert "single class" in result["error"] and "neg: 50" in result["error"]
