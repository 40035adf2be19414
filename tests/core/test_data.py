"""Target datasets from DataFrames and files: label rules, cleaning, sampling and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import REPO_ROOT

from hfselect_core.data import TargetDataset, read_table
from hfselect_core.errors import (
    ColumnNotFoundError,
    InvalidLabelsError,
    NotATextColumnError,
    TooFewExamplesError,
    UnsupportedFileError,
)


def _frame(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "review": [f"text number {i}" for i in range(n)],
            "title": [f"title {i}" for i in range(n)],
            "sentiment": ["pos", "neg", "neutral"] * (n // 3),
            "stars": [1, 5, 3] * (n // 3),
            "score": np.linspace(0.0, 1.0, n),
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_from_file_all_formats(tmp_path, suffix):
    df = _frame()
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".tsv":
        df.to_csv(path, sep="\t", index=False)
    elif suffix == ".json":
        df.to_json(path, orient="records")
    elif suffix == ".jsonl":
        df.to_json(path, orient="records", lines=True)
    else:
        df.to_parquet(path)
    ds = TargetDataset.from_file(path, "review", "sentiment")
    assert len(ds) == 12
    assert ds.texts == df["review"].tolist()
    assert ds.task_type == "classification"
    assert ds.label_names == ["neg", "neutral", "pos"]
    assert ds.labels.tolist() == [2, 0, 1] * 4
    assert ds.source == path.name
    assert ds.dropped == {}
    reg = TargetDataset.from_file(path, "review", "score")
    assert reg.is_regression
    np.testing.assert_allclose(reg.labels, df["score"].to_numpy())


def test_json_lines_in_a_json_file(tmp_path):
    path = tmp_path / "data.json"
    _frame().to_json(path, orient="records", lines=True)
    assert len(TargetDataset.from_file(path, "review", "sentiment")) == 12


def test_string_labels_map_to_sorted_ids():
    ds = TargetDataset.from_pandas(_frame(), "review", "sentiment")
    assert ds.label_names == ["neg", "neutral", "pos"]
    assert ds.labels.dtype == np.int64
    assert [ds.label_names[i] for i in ds.labels] == _frame()["sentiment"].tolist()
    assert ds.num_classes == 3
    assert "3-class classification" in ds.summary()


def test_int_labels_are_classification_with_contiguous_ids():
    df = pd.DataFrame({"t": [f"x{i}" for i in range(6)], "y": [3, 7, 3, 10, 7, 3]})
    ds = TargetDataset.from_pandas(df, "t", "y")
    assert ds.task_type == "classification"
    assert ds.labels.tolist() == [0, 1, 0, 2, 1, 0]
    assert ds.label_names == ["3", "7", "10"]


def test_label_names_follow_remapping():
    df = pd.DataFrame({"t": [f"x{i}" for i in range(4)], "y": [1, 3, 1, 3]})
    ds = TargetDataset.from_pandas(df, "t", "y", label_names=["a", "b", "c", "d"])
    assert ds.labels.tolist() == [0, 1, 0, 1]
    assert ds.label_names == ["b", "d"]


def test_float_labels_are_regression():
    ds = TargetDataset.from_pandas(_frame(), "review", "score")
    assert ds.task_type == "regression"
    assert ds.labels.dtype == np.float64
    assert ds.num_classes is None


def test_int_labels_forced_to_regression():
    ds = TargetDataset.from_pandas(_frame(), "review", "stars", task_type="regression")
    assert ds.is_regression
    assert ds.labels.tolist() == [1.0, 5.0, 3.0] * 4


def test_whole_floats_forced_to_classification():
    df = pd.DataFrame({"t": ["a", "b", "c", "d"], "y": [0.0, 1.0, 1.0, 0.0]})
    ds = TargetDataset.from_pandas(df, "t", "y", task_type="classification")
    assert ds.labels.tolist() == [0, 1, 1, 0]


def test_fractional_floats_forced_to_classification_fail():
    with pytest.raises(InvalidLabelsError, match="fractional"):
        TargetDataset.from_pandas(_frame(), "review", "score", task_type="classification")


def test_text_labels_forced_to_regression_fail():
    with pytest.raises(InvalidLabelsError, match="regression"):
        TargetDataset.from_pandas(_frame(), "review", "sentiment", task_type="regression")


def test_unknown_task_type():
    with pytest.raises(InvalidLabelsError, match="Unknown task type"):
        TargetDataset.from_pandas(_frame(), "review", "sentiment", task_type="ranking")


def test_unlabelled_and_missing_rows_are_dropped_and_counted():
    # -1 means "no label" only where a ClassLabel (label_names) says so.
    df = pd.DataFrame(
        {
            "t": ["a", "b", None, "  ", "e", "f", "g", "h"],
            "y": [0, 1, 0, 1, -1, -1, 1, 0],
        }
    )
    ds = TargetDataset.from_pandas(df, "t", "y", label_names=["neg", "pos"])
    assert ds.texts == ["a", "b", "g", "h"]
    assert ds.labels.tolist() == [0, 1, 1, 0]
    assert ds.dropped == {"missing or empty text": 2, "label -1 (unlabelled, per the dataset's ClassLabel)": 2}
    assert "4 rows dropped" in ds.summary()


def test_minus_one_is_a_class_without_a_class_label():
    df = pd.DataFrame({"t": list("abcdef"), "y": [-1, 0, 1, -1, 0, 1]})
    ds = TargetDataset.from_pandas(df, "t", "y")
    assert ds.label_names == ["-1", "0", "1"] and ds.labels.tolist() == [0, 1, 2, 0, 1, 2]
    assert ds.dropped == {}


def test_missing_labels_are_dropped_and_counted():
    df = pd.DataFrame({"t": ["a", "b", "c", "d", "e"], "y": ["x", None, "y", "x", np.nan]})
    ds = TargetDataset.from_pandas(df, "t", "y")
    assert ds.texts == ["a", "c", "d"]
    assert ds.dropped == {"missing label": 2}
    assert ds.label_names == ["x", "y"]


def test_several_text_columns_are_joined():
    ds = TargetDataset.from_pandas(_frame(), ["title", "review"], "sentiment")
    assert ds.texts[0] == "title 0 [SEP] text number 0"
    assert ds.text_columns == ["title", "review"]


def test_sampling_is_reproducible():
    df = pd.DataFrame({"t": [f"text {i}" for i in range(100)], "y": [i % 4 for i in range(100)]})
    a = TargetDataset.from_pandas(df, "t", "y", num_examples=20, seed=1)
    b = TargetDataset.from_pandas(df, "t", "y", num_examples=20, seed=1)
    c = TargetDataset.from_pandas(df, "t", "y", num_examples=20, seed=2)
    assert len(a) == 20
    assert a.texts == b.texts
    assert a.labels.tolist() == b.labels.tolist()
    assert a.texts != c.texts
    # Texts keep their labels through sampling.
    for text, label in zip(a.texts, a.labels):
        assert int(text.split()[1]) % 4 == int(a.label_names[label])
    full = TargetDataset.from_pandas(df, "t", "y", num_examples=1000)
    assert len(full) == 100


def test_unknown_column_lists_real_columns():
    with pytest.raises(ColumnNotFoundError) as info:
        TargetDataset.from_pandas(_frame(), "text", "sentiment")
    message = str(info.value)
    assert "'text'" in message
    for column in ("review", "title", "sentiment", "stars", "score"):
        assert column in message
    with pytest.raises(ColumnNotFoundError, match="label column"):
        TargetDataset.from_pandas(_frame(), "review", "label")


def test_numeric_text_column():
    with pytest.raises(NotATextColumnError, match="stars"):
        TargetDataset.from_pandas(_frame(), "stars", "sentiment")


def test_same_column_as_text_and_label():
    with pytest.raises(InvalidLabelsError):
        TargetDataset.from_pandas(_frame(), "review", "review")


def test_single_class():
    df = pd.DataFrame({"t": ["a", "b", "c"], "y": ["same", "same", "same"]})
    with pytest.raises(InvalidLabelsError, match="single class"):
        TargetDataset.from_pandas(df, "t", "y")


def test_constant_regression_target():
    df = pd.DataFrame({"t": ["a", "b", "c"], "y": [0.5, 0.5, 0.5]})
    with pytest.raises(InvalidLabelsError, match="constant"):
        TargetDataset.from_pandas(df, "t", "y")


def test_one_example():
    df = pd.DataFrame({"t": ["only"], "y": ["a"]})
    with pytest.raises(TooFewExamplesError):
        TargetDataset.from_pandas(df, "t", "y")


def test_no_usable_rows():
    df = pd.DataFrame({"t": [None, None], "y": ["a", "b"]})
    with pytest.raises(TooFewExamplesError):
        TargetDataset.from_pandas(df, "t", "y")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFileError, match="not a supported file type"):
        read_table(path)


def test_missing_file(tmp_path):
    with pytest.raises(UnsupportedFileError, match="does not exist"):
        read_table(tmp_path / "nope.csv")


def test_binary_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"text,label\n\x00\x01\x02\xff,1\n")
    with pytest.raises(UnsupportedFileError, match="binary"):
        read_table(path)


def test_ragged_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,label\nhello,1\nworld,2,extra\n", encoding="utf-8")
    with pytest.raises(UnsupportedFileError, match="number of fields"):
        TargetDataset.from_file(path, "text", "label")


def test_not_utf8_csv(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes("text,label\ncaf\u00e9,1\n".encode("latin-1"))
    with pytest.raises(UnsupportedFileError):
        read_table(path)


def test_broken_parquet(tmp_path):
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(UnsupportedFileError, match="PARQUET"):
        read_table(path)


def test_upload_size_cap(tmp_path, monkeypatch):
    from hfselect_core.errors import InputTooLargeError

    monkeypatch.setenv("HFSELECT_MAX_UPLOAD_MB", "1")
    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "x,1\n" * 300_000, encoding="utf-8")
    with pytest.raises(InputTooLargeError):
        read_table(path)


def test_example_files_load():

    path = REPO_ROOT / "assets" / "examples" / "product_reviews.csv"
    ds = TargetDataset.from_file(path, "review", "sentiment")
    assert len(ds) > 100
    assert ds.task_type == "classification"


def test_int_labels_with_a_missing_value_stay_classification(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("t,y\na,0\nb,1\nc,\nd,2\ne,-1\n", encoding="utf-8")
    ds = TargetDataset.from_file(path, "t", "y")
    assert ds.task_type == "classification"
    assert ds.label_names == ["-1", "0", "1", "2"]
    assert ds.labels.tolist() == [1, 2, 3, 0]
    assert ds.dropped == {"missing label": 1}
