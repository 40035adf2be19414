"""Hostile inputs, table-driven: each must raise a named hfselect error whose message says what to do.

Every case builds its input in tmp (tiny data, tiny random models) and runs offline. Cases that are
accepted on purpose (too many examples asked for, a 1 MB text, broken ESMs in a pool) have their own
tests below the table.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from helpers import HIDDEN, REPO_ROOT, esm_config_dict, make_texts, random_map, save_tiny_bert, write_esm_folder
from safetensors.numpy import save_file

from hfselect_app.admission import JobAdmission
from hfselect_app.validators import check_base_model_allowed
from hfselect_core import arguments, limits, studio
from hfselect_core import errors as E
from hfselect_core.data import TargetDataset, check_dataset_id, list_columns, list_configs, read_table
from hfselect_core.embedding import load_embedding_model
from hfselect_core.ranking import compute_task_ranking
from hfselect_core.safety import check_upload, gradio_upload_dirs, resolve_inside


def frame(text, label, **kwargs) -> TargetDataset:
    return TargetDataset.from_pandas(pd.DataFrame({"text": text, "label": label}), "text", "label", **kwargs)


def write(ctx, name: str, content: bytes | str) -> Path:
    path = ctx.tmp / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def sparse_file(ctx, name: str, size: int) -> Path:
    path = ctx.tmp / name
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def tiny_model_with(ctx, name: str, edit: Callable[[Path], None]) -> str:
    folder = save_tiny_bert(ctx.tmp / name)
    edit(folder)
    return str(folder)


def vit_folder(ctx) -> str:
    from transformers import ViTConfig, ViTModel

    folder = ctx.tmp / "vit"
    config = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=8, patch_size=4
    )
    ViTModel(config).save_pretrained(folder)
    return str(folder)


def add_auto_map(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}
    (folder / "config.json").write_text(json.dumps(config))


def escaping_symlink(ctx) -> Path:
    root = ctx.tmp / "root"
    root.mkdir()
    outside = write(ctx, "secret.csv", "text,label\na,0\n")
    (root / "link.csv").symlink_to(outside)
    return resolve_inside("link.csv", root)


def oversized_in_allowed_root(ctx) -> Path:
    ctx.mp.setenv(limits.MAX_UPLOAD_MB_ENV, "1")
    return check_upload(sparse_file(ctx, "big.csv", 3_000_000), [ctx.tmp])


def oversized_read(ctx, size: int, cap_mb: str | None = None) -> pd.DataFrame:
    """The size check must come before any parsing: parsing would fail loudly here."""
    if cap_mb:
        ctx.mp.setenv(limits.MAX_UPLOAD_MB_ENV, cap_mb)

    def no_parse(*args, **kwargs):
        raise AssertionError("the file was parsed before its size was checked")

    ctx.mp.setattr(pd, "read_csv", no_parse)
    return read_table(sparse_file(ctx, "huge.csv", size))


@dataclass(frozen=True)
class Case:
    id: str
    run: Callable[[SimpleNamespace], object]
    error: type[E.HFSelectError]
    fragment: str


TEXTS3 = ["good movie", "bad film", "fine phone"]

CASES = [
    # --- Hub dataset ids ------------------------------------------------------------------------
    Case("id-traversal", lambda c: check_dataset_id("../etc/passwd"), E.DatasetNotFoundError, "owner/name"),
    Case("id-three-parts", lambda c: check_dataset_id("a/b/c"), E.DatasetNotFoundError, "owner/name"),
    Case("id-space", lambda c: check_dataset_id("owner/na me"), E.DatasetNotFoundError, "letters, digits"),
    Case("id-empty", lambda c: check_dataset_id("   "), E.DatasetNotFoundError, "upload the data as a file"),
    Case("id-url", lambda c: check_dataset_id("https://evil.example/x"), E.DatasetNotFoundError, "owner/name"),
    Case(
        "hub-dataset-offline",
        lambda c: TargetDataset.from_hub("nobody-xyz/does-not-exist-123"),
        E.HubUnreachableError,
        "uploaded files",
    ),
    Case("hub-configs-offline", lambda c: list_configs("stanfordnlp/imdb"), E.HubUnreachableError, "cannot be reached"),
    Case("hub-columns-offline", lambda c: list_columns("stanfordnlp/imdb"), E.HubUnreachableError, "examples"),
    # --- text column --------------------------------------------------------------------------------
    Case("text-numeric", lambda c: frame([1, 2, 3], [0, 1, 0]), E.NotATextColumnError, "Pick a column of strings"),
    Case("text-lists", lambda c: frame([["a"], ["b"], ["c"]], [0, 1, 0]), E.NotATextColumnError, "lists"),
    Case(
        "text-image-dicts",
        lambda c: frame([{"bytes": b"\x89PNG", "path": "a.png"}] * 3, [0, 1, 0]),
        E.NotATextColumnError,
        "images",
    ),
    Case("text-bool", lambda c: frame([True, False, True], [0, 1, 0]), E.NotATextColumnError, "Pick a column"),
    Case("text-empty-strings", lambda c: frame(["", "  ", ""], [0, 1, 0]), E.TooFewExamplesError, "lacks a text"),
    Case(
        "text-missing-column",
        lambda c: TargetDataset.from_pandas(pd.DataFrame({"body": TEXTS3, "label": [0, 1, 0]}), "text", "label"),
        E.ColumnNotFoundError,
        "Columns in this data: 'body', 'label'",
    ),
    Case(
        "text-equals-label",
        lambda c: TargetDataset.from_pandas(pd.DataFrame({"text": TEXTS3}), "text", "text"),
        E.InvalidLabelsError,
        "both a text and the label",
    ),
    # --- labels ---------------------------------------------------------------------------------
    Case("label-one-class", lambda c: frame(TEXTS3, ["x", "x", "x"]), E.InvalidLabelsError, "at least 2"),
    Case("label-all-missing", lambda c: frame(TEXTS3, [None, None, None]), E.TooFewExamplesError, "lacks a text or"),
    Case("label-all-nan", lambda c: frame(TEXTS3, [np.nan] * 3), E.TooFewExamplesError, "'label' label"),
    Case("label-mixed-types", lambda c: frame(TEXTS3, ["x", 1, 2.5]), E.InvalidLabelsError, "all numbers or all"),
    Case("label-lists", lambda c: frame(TEXTS3, [[1], [2], [1]]), E.InvalidLabelsError, "one label per row"),
    Case(
        "label-floats-as-classes",
        lambda c: frame(TEXTS3, [0.5, 1.5, 2.5], task_type="classification"),
        E.InvalidLabelsError,
        "Choose task type 'regression'",
    ),
    Case("label-constant-regression", lambda c: frame(TEXTS3, [1.0, 1.0, 1.0]), E.InvalidLabelsError, "constant"),
    Case("label-inf-regression", lambda c: frame(TEXTS3, [1.0, np.inf, 2.0]), E.InvalidLabelsError, "finite"),
    Case(
        "label-text-as-regression",
        lambda c: frame(TEXTS3, ["a", "b", "c"], task_type="regression"),
        E.InvalidLabelsError,
        "regression needs numeric labels",
    ),
    Case(
        "label-unknown-task-type",
        lambda c: frame(TEXTS3, [0, 1, 0], task_type="ranking"),
        E.InvalidLabelsError,
        "use 'classification' or 'regression'",
    ),
    Case(
        "label-all-unlabelled",
        lambda c: frame(TEXTS3, [-1, -1, -1], label_names=["neg", "pos"]),
        E.TooFewExamplesError,
        "Add rows",
    ),
    Case("label-minus-one-one-class", lambda c: frame(TEXTS3, [-1, -1, -1]), E.InvalidLabelsError, "('-1')"),
    # --- sizes --------------------------------------------------------------------------------
    Case("zero-examples", lambda c: frame([], []), E.TooFewExamplesError, "at least 2"),
    Case("one-example", lambda c: frame(["good"], [1]), E.TooFewExamplesError, "Add rows"),
    Case("num-examples-zero", lambda c: frame(TEXTS3, [0, 1, 0], num_examples=0), E.TooFewExamplesError, "Ask for at"),
    Case("num-examples-one", lambda c: frame(TEXTS3, [0, 1, 0], num_examples=1), E.TooFewExamplesError, "at least 2"),
    # --- files ----------------------------------------------------------------------------------
    Case(
        "csv-not-utf8",
        lambda c: read_table(write(c, "latin1.csv", "text,label\ncafé crème,0\nnaïve,1\n".encode("latin-1"))),
        E.UnsupportedFileError,
        "Save it as UTF-8",
    ),
    Case(
        "csv-utf16",
        lambda c: read_table(write(c, "utf16.csv", "text,label\nhello,0\nworld,1\n".encode("utf-16"))),
        E.UnsupportedFileError,
        "binary file",
    ),
    Case(
        "csv-binary",
        lambda c: read_table(write(c, "blob.csv", bytes(range(256)) * 8)),
        E.UnsupportedFileError,
        "binary file",
    ),
    Case(
        "csv-ragged-rows",
        lambda c: read_table(write(c, "ragged.csv", "text,label\na,0\nb,1,extra,more\nc\n")),
        E.UnsupportedFileError,
        "Fix the quoting or the separators",
    ),
    Case("csv-empty", lambda c: read_table(write(c, "empty.csv", b"")), E.UnsupportedFileError, "is empty"),
    Case(
        "csv-header-only",
        lambda c: read_table(write(c, "header.csv", "text,label\n")),
        E.UnsupportedFileError,
        "holds no rows",
    ),
    Case(
        "parquet-is-zip",
        lambda c: read_table(_zip_named(c, "data.parquet")),
        E.UnsupportedFileError,
        "could not be read as PARQUET",
    ),
    Case(
        "json-broken",
        lambda c: read_table(write(c, "broken.json", "{not json")),
        E.UnsupportedFileError,
        "could not be read as JSON",
    ),
    Case(
        "file-unsupported-suffix",
        lambda c: read_table(write(c, "run.exe", b"MZ\x90\x00")),
        E.UnsupportedFileError,
        "Use one of: .csv",
    ),
    Case("file-missing", lambda c: read_table(c.tmp / "nope.csv"), E.UnsupportedFileError, "does not exist"),
    Case(
        "upload-over-env-cap",
        lambda c: oversized_read(c, 2_000_000, cap_mb="1"),
        E.InputTooLargeError,
        "set HFSELECT_MAX_UPLOAD_MB",
    ),
    Case("upload-sparse-2gb", lambda c: oversized_read(c, 2 * 1024**3), E.InputTooLargeError, "Upload a sample"),
    # --- base models --------------------------------------------------------------------------------
    Case(
        "model-unknown-offline",
        lambda c: load_embedding_model("nobody-xyz/no-such-model-123", device="cpu"),
        E.ModelNotAvailableError,
        "use 'sentence-transformers/all-MiniLM-L6-v2' (bundled)",
    ),
    Case(
        "model-image-encoder",
        lambda c: load_embedding_model(vit_folder(c), device="cpu"),
        E.ModelNotAvailableError,
        "Pick a text model",
    ),
    Case(
        "model-remote-code",
        lambda c: load_embedding_model(tiny_model_with(c, "remote", add_auto_map), device="cpu"),
        E.RemoteCodeRefusedError,
        "HFSELECT_TRUST_REMOTE_CODE=1",
    ),
    Case(
        "model-broken-config",
        lambda c: load_embedding_model(
            tiny_model_with(c, "broken_cfg", lambda f: (f / "config.json").write_text("{oops")), device="cpu"
        ),
        E.ModelNotAvailableError,
        "fix the folder or pick another base model",
    ),
    Case(
        "model-no-weights",
        lambda c: load_embedding_model(
            tiny_model_with(c, "no_weights", lambda f: (f / "model.safetensors").unlink()), device="cpu"
        ),
        E.ModelNotAvailableError,
        "model.safetensors",
    ),
    Case(
        "model-empty-folder",
        lambda c: load_embedding_model(str(_mkdir(c, "empty_model")), device="cpu"),
        E.ModelNotAvailableError,
        "not a model transformers can load",
    ),
    # --- paths and uploads ------------------------------------------------------------------------
    Case("path-dotdot", lambda c: resolve_inside("../../etc/passwd", c.tmp), E.UnsafePathError, "Use a path inside"),
    Case("path-absolute-outside", lambda c: resolve_inside("/etc/passwd", c.tmp), E.UnsafePathError, "outside"),
    Case("path-nul-byte", lambda c: resolve_inside("data\x00.csv", c.tmp), E.UnsafePathError, "Use a path inside"),
    Case("path-symlink-escape", escaping_symlink, E.UnsafePathError, "outside the allowed folder"),
    Case(
        "path-prefix-sibling",
        lambda c: resolve_inside(str(c.tmp) + "-evil/x.csv", c.tmp),
        E.UnsafePathError,
        "Use a path inside",
    ),
    Case(
        "upload-outside-roots",
        lambda c: check_upload(write(c, "u.csv", "text,label\na,0\n"), [c.tmp / "allowed"]),
        E.UnsafePathError,
        "outside the allowed folder",
    ),
    Case("upload-too-big", oversized_in_allowed_root, E.InputTooLargeError, "HFSELECT_MAX_UPLOAD_MB"),
    Case("upload-directory", lambda c: check_upload(_mkdir(c, "d"), [c.tmp]), E.UnsupportedFileError, "regular file"),
    Case("upload-none", lambda c: check_upload(None, [c.tmp]), E.UnsupportedFileError, "Upload a CSV"),
    Case("upload-vanished", lambda c: check_upload(c.tmp / "gone.csv", [c.tmp]), E.UnsupportedFileError, "Upload it"),
]


def _zip_named(ctx, name: str) -> Path:
    path = ctx.tmp / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data.csv", "text,label\na,0\n")
    return path


def _mkdir(ctx, name: str) -> Path:
    path = ctx.tmp / name
    path.mkdir()
    return path


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> SimpleNamespace:
    return SimpleNamespace(tmp=tmp_path, mp=monkeypatch)


# --- issue 10: silent wrong answers, resource bombs, arguments, policies ------------------------


def parquet_dictionary_bomb(ctx, rows: int = 1_000_000, width: int = 3_000) -> Path:
    """A ~300 KB file whose one dictionary entry of 3 KB is repeated a million times (3 GB decoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["x" * width]))
    path = ctx.tmp / "bomb.parquet"
    pq.write_table(pa.table({"text": text, "label": pa.array(np.arange(rows) % 2)}), path)
    assert path.stat().st_size < 1_000_000
    return path


def parquet_plain_bomb(ctx) -> Path:
    """Plain-encoded, zstd-compressed repetition: small on disk, large in the metadata's page sizes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ctx.mp.setenv(limits.MAX_DECODED_MB_ENV, "5")
    path = ctx.tmp / "plain.parquet"
    table = pa.table({"text": ["y" * 1_000] * 20_000, "label": [0, 1] * 10_000})
    pq.write_table(table, path, use_dictionary=False, compression="zstd")
    return path


def parquet_shape(ctx, rows: int, columns: int, env: str, cap: str) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ctx.mp.setenv(env, cap)
    path = ctx.tmp / "shape.parquet"
    zeros = pa.array(np.zeros(rows, dtype=np.int8))  # run-length encoded: tiny on disk
    pq.write_table(pa.table({f"c{i}": zeros for i in range(columns)}), path)
    return path


def parquet_duplicate_names(ctx) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ctx.tmp / "dup.parquet"
    table = pa.Table.from_arrays([pa.array(["a", "b"]), pa.array(["c", "d"]), pa.array([0, 1])], ["text", "text", "y"])
    pq.write_table(table, path)
    return path


def wide_csv(ctx, columns: int) -> Path:
    header = ",".join(f"c{i}" for i in range(columns))
    return write(ctx, "wide.csv", header + "\n" + ",".join("1" for _ in range(columns)) + "\n")


def many_labels(n: int, classes: int) -> TargetDataset:
    texts = [f"text number {i}" for i in range(n)]
    return frame(texts, [f"class {i % classes}" for i in range(n)])


def admission_full(what: str) -> None:
    gate = JobAdmission(max_total=lambda: 3, max_per_client=lambda: 2)
    if what == "total":
        for i in range(3):
            gate.admit(f"s{i}", f"10.0.0.{i}")
        gate.admit("s9", "10.0.0.9")
    elif what == "client":
        gate.admit("s1", "10.0.0.1")
        gate.admit("s1", "10.0.0.1")
        gate.admit("s1", "10.0.0.1")
    else:  # many sessions from one address
        gate.max_total = lambda: 100
        for i in range(8):
            gate.admit(f"s{i}", "10.0.0.1")
        gate.admit("s99", "10.0.0.1")


def poor_esm_folder(ctx, r2: float) -> Path:
    folder = write_esm_folder(ctx.tmp / "poor", "org/poor", config=esm_config_dict("org/poor", "m", HIDDEN, esm_r2=r2))
    (folder / "README.md").write_text("---\ntags: [embedding_space_map]\n---\n# x\n")
    return folder


NO_GPU = pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")

ISSUE10_CASES = [
    # --- labels: a clear error instead of a wrong answer -------------------------------------
    Case(
        "classlabel-id-beyond-names",
        lambda c: frame(TEXTS3, [0, 1, 2], label_names=["neg", "pos"]),
        E.InvalidLabelsError,
        "holds class id(s) 2, but the dataset names only 2 classes",
    ),
    Case(
        "classlabel-id-minus-two",
        lambda c: frame(TEXTS3, [-2, 0, 1], label_names=["neg", "pos"]),
        E.InvalidLabelsError,
        "holds class id(s) -2",
    ),
    Case(
        "classlabel-names-much-shorter",
        lambda c: frame(make_texts(8), [0, 5, 7, 9, 11, 13, 15, 1], label_names=["a", "b"]),
        E.InvalidLabelsError,
        "class id(s) 5, 7, 9, 11, 13, ...",
    ),
    Case(
        "float-ids-beyond-2-53",
        lambda c: frame(["a", "b", "c", "d"], [2.0**60, 2.0**60 + 256, 1.0, 2.0], task_type="classification"),
        E.InvalidLabelsError,
        "beyond 2^53 different ids become equal",
    ),
    Case(
        "regression-times-1e300",
        lambda c: frame(TEXTS3, [1e300, 2e300, 3.5e300]),
        E.InvalidLabelsError,
        "reach 3.5e+300, too large to score",
    ),
    Case(
        "regression-minus-1e200",
        lambda c: frame(TEXTS3, [-1e200, 0.0, 1e200]),
        E.InvalidLabelsError,
        "Rescale them (e.g. divide by 1e+200)",
    ),
    Case(
        "regression-times-1e-300",
        lambda c: frame(TEXTS3, [1e-300, 2e-300, 3e-300]),
        E.InvalidLabelsError,
        "vary by only",
    ),
    Case(
        "classes-10000-of-10000",
        lambda c: many_labels(10_000, 10_000),
        E.TooManyClassesError,
        "has 10,000 classes: at most 1,000 are supported (HFSELECT_MAX_CLASSES)",
    ),
    Case(
        "classes-one-per-example",
        lambda c: many_labels(40, 40),
        E.TooManyClassesError,
        "with 40 examples that leaves fewer than 2 examples per class",
    ),
    Case(
        "classes-over-env-cap",
        lambda c: (c.mp.setenv(limits.MAX_CLASSES_ENV, "5"), many_labels(60, 8))[1],
        E.TooManyClassesError,
        "at most 5 are supported",
    ),
    Case(
        "classes-after-sampling",
        lambda c: frame([f"t{i}" for i in range(400)], [i % 30 for i in range(400)], num_examples=40),
        E.TooManyClassesError,
        "classes: with 40 examples that leaves fewer than 2",
    ),
    # --- columns -------------------------------------------------------------------------------
    Case(
        "text-column-twice",
        lambda c: (
            frame(TEXTS3, [0, 1, 0])
            if False
            else TargetDataset.from_pandas(
                pd.DataFrame({"text": TEXTS3, "label": [0, 1, 0]}), ["text", "text"], "label"
            )
        ),
        E.InvalidColumnsError,
        "The text column 'text' is listed more than once",
    ),
    Case(
        "text-column-twice-of-three",
        lambda c: TargetDataset.from_pandas(
            pd.DataFrame({"a": TEXTS3, "b": TEXTS3, "label": [0, 1, 0]}), ["a", "b", "a"], "label"
        ),
        E.InvalidColumnsError,
        "'a' is listed more than once",
    ),
    Case(
        "dataframe-duplicate-names",
        lambda c: TargetDataset.from_pandas(
            pd.DataFrame([["x", "y", 0], ["z", "w", 1]], columns=["text", "text", "label"]), "label", "label"
        ),
        E.InvalidLabelsError,
        "both a text and the label",
    ),
    Case(
        "parquet-duplicate-names",
        lambda c: read_table(parquet_duplicate_names(c)),
        E.UnsupportedFileError,
        "has two columns named 'text'",
    ),
    # --- resource bombs: caps from metadata / headers before decoding -------------------------------
    Case(
        "parquet-dictionary-bomb-3gb",
        lambda c: read_table(parquet_dictionary_bomb(c)),
        E.InputTooLargeError,
        "once decoded (it is compressed); the limit is 300 MB (HFSELECT_MAX_DECODED_MB)",
    ),
    Case(
        "parquet-dictionary-bomb-as-target",
        lambda c: TargetDataset.from_file(parquet_dictionary_bomb(c, 400_000), "text", "label"),
        E.InputTooLargeError,
        "MB once decoded (it is compressed)",
    ),
    Case(
        "parquet-plain-zstd-bomb",
        lambda c: read_table(parquet_plain_bomb(c)),
        E.InputTooLargeError,
        "the limit is 5 MB",
    ),
    Case(
        "parquet-rows-over-cap",
        lambda c: read_table(parquet_shape(c, 1_000, 2, limits.MAX_ROWS_ENV, "100")),
        E.InputTooLargeError,
        "has 1,000 rows; the limit is 100 (HFSELECT_MAX_ROWS)",
    ),
    Case(
        "parquet-columns-over-cap",
        lambda c: read_table(parquet_shape(c, 10, 30, limits.MAX_COLUMNS_ENV, "20")),
        E.InputTooLargeError,
        "has 30 columns; the limit is 20",
    ),
    Case(
        "parquet-cells-over-cap",
        lambda c: read_table(parquet_shape(c, 10_500_000, 2, limits.MAX_ROWS_ENV, "100000000")),
        E.InputTooLargeError,
        "= 21,000,000 cells; the limit is 20,000,000",
    ),
    Case("csv-300k-columns", lambda c: read_table(wide_csv(c, 300_000)), E.InputTooLargeError, "300,000 columns"),
    Case(
        "csv-rows-over-cap",
        lambda c: (c.mp.setenv(limits.MAX_ROWS_ENV, "50"), read_table(write(c, "r.csv", "t,y\n" + "a,1\n" * 80)))[1],
        E.InputTooLargeError,
        "the limit is 50",
    ),
    Case(
        "json-columns-over-cap",
        lambda c: (
            c.mp.setenv(limits.MAX_COLUMNS_ENV, "10"),
            read_table(write(c, "w.json", json.dumps([{f"k{i}": i for i in range(40)}]))),
        )[1],
        E.InputTooLargeError,
        "has 40 columns",
    ),
    Case(
        "missing-column-among-30k",
        lambda c: TargetDataset.from_pandas(pd.DataFrame(columns=[f"c{i}" for i in range(30_000)]), "text", "c1"),
        E.ColumnNotFoundError,
        "... (30,000 in all)",
    ),
    Case(
        "missing-column-named-1mb",
        lambda c: TargetDataset.from_pandas(pd.DataFrame({"text": TEXTS3, "label": [0, 1, 0]}), "x" * 10**6, "label"),
        E.ColumnNotFoundError,
        "xxx...' does not exist",
    ),
    Case(
        "studio-batch-1e9",
        lambda c: studio.check_training_request(300, 1, "cpu", batch_size=10**9),
        E.InputTooLargeError,
        "Batch size 1,000,000,000 is outside the allowed range 1 to 64 (HFSELECT_STUDIO_MAX_BATCH)",
    ),
    Case(
        "studio-batch-0",
        lambda c: studio.check_training_request(300, 1, "cpu", batch_size=0),
        E.InputTooLargeError,
        "outside the allowed range 1 to 64",
    ),
    Case(
        "studio-learning-rate-5",
        lambda c: studio.check_training_request(300, 1, "cpu", batch_size=8, learning_rate=5.0),
        E.InputTooLargeError,
        "Learning rate 5 is outside the allowed range",
    ),
    # --- arguments ----------------------------------------------------------------------------
    Case("seed-minus-one", lambda c: arguments.check_seed(-1), E.InvalidArgumentError, "not -1"),
    Case("seed-2-32", lambda c: arguments.check_seed(2**32), E.InvalidArgumentError, "between 0 and 4,294,967,295"),
    Case("seed-text", lambda c: arguments.check_seed("abc"), E.InvalidArgumentError, "whole number, not 'abc'"),
    Case("seed-fraction", lambda c: arguments.check_seed(2.5), E.InvalidArgumentError, "whole number, not '2.5'"),
    Case("seed-inf", lambda c: arguments.check_seed(float("inf")), E.InvalidArgumentError, "whole number"),
    Case("batch-zero", lambda c: arguments.check_batch_size(0), E.InvalidArgumentError, "between 1 and 1,024"),
    Case("batch-minus-4", lambda c: arguments.check_batch_size(-4), E.InvalidArgumentError, "not -4"),
    Case("batch-1e9", lambda c: arguments.check_batch_size(10**9), E.InvalidArgumentError, "only use more memory"),
    Case("device-evil", lambda c: arguments.check_device("evil"), E.InvalidArgumentError, "not one of cpu, cuda"),
    Case("device-injection", lambda c: arguments.check_device("cpu; rm -rf /"), E.InvalidArgumentError, "not one"),
    Case(
        "top-minus-one",
        lambda c: arguments.check_positive(-1, "--top"),
        E.InvalidArgumentError,
        "--top must be between 1",
    ),
    Case(
        "output-missing-folder",
        lambda c: arguments.check_output_path("/nonexistent/x.csv"),
        E.InvalidArgumentError,
        "Output folder '/nonexistent' does not exist",
    ),
    Case("output-bad-suffix", lambda c: arguments.check_output_path(c.tmp / "x.txt"), E.InvalidArgumentError, ".csv"),
    Case(
        "output-is-folder", lambda c: arguments.check_output_path(_mkdir(c, "o.csv")), E.InvalidArgumentError, "folder"
    ),
    # --- base models the app may load ----------------------------------------------------------
    Case("model-abs-path", lambda c: check_base_model_allowed("/etc"), E.BaseModelNotAllowedError, "not a Hugging"),
    Case("model-dotdot", lambda c: check_base_model_allowed("../models/x"), E.BaseModelNotAllowedError, "folders"),
    Case("model-home", lambda c: check_base_model_allowed("~/.cache/hf"), E.BaseModelNotAllowedError, "Hub model id"),
    Case(
        "model-existing-relative-folder",
        lambda c: (c.mp.chdir(REPO_ROOT), check_base_model_allowed("assets/esms"))[1],
        E.BaseModelNotAllowedError,
        "local folders are not allowed",
    ),
    Case("model-windows", lambda c: check_base_model_allowed("C:\\models"), E.BaseModelNotAllowedError, "list"),
    Case(
        "model-outside-allowed-dir",
        lambda c: (c.mp.setenv("HFSELECT_ALLOWED_MODEL_DIRS", str(c.tmp)), check_base_model_allowed("/usr/lib"))[1],
        E.BaseModelNotAllowedError,
        "Pick a model from the list",
    ),
    # --- queue admission and publishing ----------------------------------------------------------
    Case("admission-total", lambda c: admission_full("total"), E.BusyError, "The app is busy: 3 jobs"),
    Case("admission-per-client", lambda c: admission_full("client"), E.BusyError, "You already have 2 job(s)"),
    Case("admission-per-address", lambda c: admission_full("ip"), E.BusyError, "You already have 8 job(s)"),
    Case(
        "publish-collapsed-map",
        lambda c: studio.publish_esm(poor_esm_folder(c, -0.70), "alice/ESM_x", "hf_token"),
        E.PoorFitError,
        "Not published: Its map fits poorly: held-out R² -0.70",
    ),
    Case(
        "publish-unchecked-map",
        lambda c: studio.publish_esm(poor_esm_folder(c, float("nan")), "alice/ESM_x", "hf_token"),
        E.PoorFitError,
        "could not be checked on held-out pairs",
    ),
]
CASES += ISSUE10_CASES

# Named errors whose hostile cases live in other tables (file: what raises them).
TESTED_ELSEWHERE = {
    E.ESMFormatError: "test_hostile_esms.py and the broken pool below (skip reasons)",
    E.ESMDimensionError: "test_core_esm.py::test_check_dim",
    E.NoESMsFoundError: "test_pool_of_only_broken_esms_says_why below",
    E.CancelledError: "test_faults.py (cancel through the app)",
    E.DatasetAccessError: "test_core_hub.py (gated dataset on the Hub emulator)",
    E.ConfigNotFoundError: "test_core_hub.py (Hub emulator)",
    E.SplitNotFoundError: "test_core_hub.py (Hub emulator)",
    # Errors of the pool-building tools (issue 16), not of user input to the app, CLI or API.
    getattr(E, "PoolManifestError", E.HFSelectError): "the pool builder's own tests",
}


def test_case_tables_cover_every_named_error():
    """Every user-facing error class in errors.py is provoked by some hostile case, ids are unique."""
    assert len({c.id for c in CASES}) == len(CASES)
    named = {
        cls
        for cls in vars(E).values()
        if isinstance(cls, type) and issubclass(cls, E.HFSelectError) and cls is not E.HFSelectError
    }
    covered = {c.error for c in CASES} | set(TESTED_ELSEWHERE)
    assert named - covered == set(), f"no hostile case for: {sorted(c.__name__ for c in named - covered)}"
    assert len(ISSUE10_CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, ctx):
    if case.id.startswith("device-cuda") and __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(E.HFSelectError) as info:
        case.run(ctx)
    error = info.value
    assert type(error) is case.error, f"{case.id}: {type(error).__name__}: {error}"
    message = str(error)
    assert case.fragment in message, f"{case.id}: {message!r}"
    # What the UI shows: one readable message, never a traceback or a wall of text.
    assert "Traceback" not in message and 'File "' not in message
    assert len(message) <= limits.MAX_MESSAGE_CHARS and message.count("\n") <= 1, message


# --- accepted on purpose ------------------------------------------------------------------


def test_num_examples_larger_than_dataset_uses_every_row():
    texts = make_texts(12, seed=3)
    dataset = frame(texts, [i % 3 for i in range(12)], num_examples=10_000)
    assert len(dataset) == 12
    assert sorted(dataset.texts) == sorted(texts)


def test_two_examples_are_enough():
    dataset = frame(["good movie", "bad movie"], ["pos", "neg"])
    assert len(dataset) == 2 and dataset.num_classes == 2


def test_megabyte_text_is_accepted_and_truncated(monkeypatch):
    huge = "good " * 200_000  # 1 MB in one cell
    dataset = frame([huge, "bad", "fine"], [0, 1, 0])
    assert len(dataset.texts[0]) == limits.max_text_chars() < len(huge)
    monkeypatch.setenv(limits.MAX_TEXT_CHARS_ENV, "100")
    assert len(frame([huge, "bad", "fine"], [0, 1, 0]).texts[0]) == 100


def test_megabyte_text_file_is_read_and_truncated(tmp_path):
    path = tmp_path / "long.csv"
    pd.DataFrame({"text": ["x" * 1_000_000, "bad", "fine"], "label": [0, 1, 0]}).to_csv(path, index=False)
    dataset = TargetDataset.from_file(path, "text", "label")
    assert len(dataset.texts[0]) == limits.max_text_chars()


def test_utf8_bom_header_is_clean(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\nhello,0\nworld,1\n".encode())
    assert list(read_table(path).columns) == ["text", "label"]


def test_resolve_inside_accepts_paths_inside(tmp_path):
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "a.csv"
    target.write_text("x")
    assert resolve_inside("sub/a.csv", tmp_path) == target.resolve()
    assert resolve_inside(target, tmp_path) == target.resolve()
    assert resolve_inside("sub/../sub/a.csv", tmp_path) == target.resolve()
    assert resolve_inside(".", tmp_path) == tmp_path.resolve()
    # A symlink that stays inside the root is fine.
    (tmp_path / "inner_link.csv").symlink_to(target)
    assert resolve_inside("inner_link.csv", tmp_path) == target.resolve()


def test_check_upload_accepts_gradio_temp_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio_tmp"))
    assert gradio_upload_dirs()[0] == tmp_path / "gradio_tmp"
    upload = tmp_path / "gradio_tmp" / "abc123" / "data.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text("text,label\na,0\nb,1\n")
    assert check_upload(str(upload)) == upload.resolve()
    with pytest.raises(E.UnsafePathError):
        check_upload(str(upload.parent / ".." / ".." / "elsewhere.csv"))


# --- broken ESMs in a pool: each skipped with a reason, the ranking still completes -------------

GOOD_ESMS = ["org/good_a", "org/good_b"]


def _write_weights(folder: Path, tensors: dict) -> None:
    save_file(
        {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(folder / "model.safetensors")
    )


def _nan_weights(folder: Path) -> None:
    w, b = random_map(HIDDEN, 1)
    w[3, 4] = np.nan
    _write_weights(folder, {"model.weight": w, "model.bias": b})


def _inf_bias(folder: Path) -> None:
    w, b = random_map(HIDDEN, 2)
    b[0] = np.inf
    _write_weights(folder, {"model.weight": w, "model.bias": b})


def _pickle_only(folder: Path) -> None:
    import torch

    (folder / "model.safetensors").unlink()
    torch.save({"model.weight": torch.eye(HIDDEN), "model.bias": torch.zeros(HIDDEN)}, folder / "pytorch_model.bin")


def _pickle_named_safetensors(folder: Path) -> None:
    import torch

    torch.save({"model.weight": torch.eye(HIDDEN)}, folder / "model.safetensors")


def _config(**changes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        config = json.loads((folder / "config.json").read_text())
        for key, value in changes.items():
            if value is ...:
                config.pop(key, None)
            else:
                config[key] = value
        (folder / "config.json").write_text(json.dumps(config))

    return edit


BROKEN_ESMS: list[tuple[str, Callable[[Path], None], str]] = [
    ("wrong_dim", lambda f: write_esm_folder(f, "org/wrong_dim", dim=16), "dimension 16 does not match"),
    ("nan_weights", _nan_weights, "NaN or Inf"),
    ("inf_bias", _inf_bias, "NaN or Inf"),
    ("missing_weights", lambda f: (f / "model.safetensors").unlink(), "missing model.safetensors"),
    ("missing_config", lambda f: (f / "config.json").unlink(), "missing config.json"),
    ("no_task_id", _config(task_id=...), "no task_id"),
    ("no_base_model", _config(base_model_name=None), "no base_model_name"),
    ("pickle_only", _pickle_only, "pickle files are never loaded"),
    ("pickle_as_safetensors", _pickle_named_safetensors, "not a readable safetensors file"),
    ("config_not_json", lambda f: (f / "config.json").write_text("{'task_id': 1"), "not valid JSON"),
    ("config_is_list", lambda f: (f / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    ("config_huge", lambda f: (f / "config.json").write_text(" " * 1_100_000 + "{}"), "larger than"),
    ("config_dim_mismatch", _config(esm_embedding_dim=64), "config says dimension 64"),
    ("mlp_architecture", _config(esm_architecture="mlp"), "unsupported ESM architecture"),
    (
        "not_square",
        lambda f: _write_weights(f, {"model.weight": np.ones((HIDDEN, 8)), "model.bias": np.ones(HIDDEN)}),
        "not a d x d map",
    ),
    ("wrong_keys", lambda f: _write_weights(f, {"encoder.weight": np.eye(HIDDEN)}), "no linear layer weights"),
    ("empty_weights_file", lambda f: (f / "model.safetensors").write_bytes(b""), "not a readable safetensors"),
]


@pytest.fixture(scope="module")
def broken_pool_ranking(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("broken_pool")
    for i, task in enumerate(GOOD_ESMS):
        write_esm_folder(root / task.replace("/", "__"), task, seed=i)
    for name, breaker, _ in BROKEN_ESMS:
        folder = write_esm_folder(root / name, f"org/{name}", seed=7)
        breaker(folder)
    texts = make_texts(30, seed=5)
    dataset = frame(texts, [i % 2 for i in range(30)])
    return compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(root), device="cpu")


def test_broken_pool_still_ranks_the_good_esms(broken_pool_ranking):
    ranking = broken_pool_ranking
    assert sorted(r.config.task_id for r in ranking) == GOOD_ESMS
    assert all(np.isfinite(r.score) for r in ranking)
    assert {s.name for s in ranking.skipped} == {name for name, _, _ in BROKEN_ESMS}
    assert len(ranking.skipped_frame()) == len(BROKEN_ESMS)


@pytest.mark.parametrize(("name", "fragment"), [(n, f) for n, _, f in BROKEN_ESMS], ids=[n for n, _, _ in BROKEN_ESMS])
def test_broken_esm_is_skipped_with_reason(broken_pool_ranking, name, fragment):
    reasons = {s.name: s.reason for s in broken_pool_ranking.skipped}
    assert name in reasons, f"{name} was not skipped: {reasons}"
    assert fragment in reasons[name], reasons[name]
    assert "Traceback" not in reasons[name] and len(reasons[name]) < 400


def test_pool_of_only_broken_esms_says_why(tmp_path, tiny_bert_dir):
    for name, breaker, _ in BROKEN_ESMS[1:4]:
        breaker(write_esm_folder(tmp_path / name, f"org/{name}"))
    dataset = frame(make_texts(10), [i % 2 for i in range(10)])
    with pytest.raises(E.NoESMsFoundError) as info:
        compute_task_ranking(dataset, base_model=str(tiny_bert_dir), source=str(tmp_path), device="cpu")
    message = str(info.value)
    assert "could not be loaded" in message and "NaN or Inf" in message


# --- issue 10: the right answer where one exists -------------------------------------------------


def test_blank_rating_keeps_regression_and_says_so(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("text,rating\na,1.0\nb,2.0\nc,\nd,5.0\ne,3.5\nf,4.0\n", encoding="utf-8")
    dataset = TargetDataset.from_file(path, "text", "rating")
    assert dataset.task_type == "regression"
    assert dataset.labels.tolist() == [1.0, 2.0, 5.0, 3.5, 4.0]
    assert dataset.dropped == {"missing label": 1}
    assert "1 rows dropped (missing label: 1)" in dataset.summary()


def test_whole_ratings_with_a_blank_stay_regression(tmp_path):
    """1.0-5.0 written as decimals with one blank cell: regression, not a 5-class task."""
    path = tmp_path / "ratings.csv"
    path.write_text("text,rating\n" + "".join(f"t{i},{i % 5 + 1}.0\n" for i in range(20)) + "x,\n", encoding="utf-8")
    assert TargetDataset.from_file(path, "text", "rating").task_type == "regression"


def test_integer_classes_with_a_blank_stay_classes_in_every_format(tmp_path):
    df = pd.DataFrame({"text": list("abcdef"), "y": pd.array([0, 1, None, 2, 1, 0], dtype="Int64")})
    df.to_parquet(tmp_path / "d.parquet")
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    df.to_csv(tmp_path / "d.csv", index=False)
    for name in ("d.parquet", "d.jsonl", "d.csv"):
        dataset = TargetDataset.from_file(tmp_path / name, "text", "y")
        assert dataset.task_type == "classification", name
        assert dataset.label_names == ["0", "1", "2"] and dataset.dropped == {"missing label": 1}, name


def test_minus_one_is_a_class_unless_a_classlabel_says_it_means_no_label():
    texts = make_texts(9, seed=1)
    plain = frame(texts, [-1, 0, 1] * 3)
    assert plain.label_names == ["-1", "0", "1"] and plain.dropped == {} and len(plain) == 9
    hub = frame(texts, [-1, 0, 1] * 3, label_names=["neg", "pos"])
    assert hub.label_names == ["neg", "pos"] and len(hub) == 6
    assert hub.dropped == {"label -1 (unlabelled, per the dataset's ClassLabel)": 3}


def test_huge_integer_ids_stay_distinct():
    ids = [2**53, 2**53 + 1, 2**62, 2**62 + 1]
    dataset = frame(["a", "b", "c", "d"], ids)
    assert dataset.num_classes == 4 and dataset.label_names == [str(i) for i in ids]
    unsigned = pd.Series(np.array([2**64 - 1, 2**64 - 2, 2**63 + 1, 5], dtype=np.uint64))
    dataset = frame(["a", "b", "c", "d"], unsigned)
    assert dataset.num_classes == 4 and len(set(dataset.labels.tolist())) == 4


def test_ten_classes_are_fine_in_a_small_sample():
    dataset = frame([f"t{i}" for i in range(12)], [i % 10 for i in range(12)])
    assert dataset.num_classes == 10


def test_parquet_within_the_caps_is_read_whole(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    text = pa.DictionaryArray.from_arrays(pa.array(np.arange(5_000) % 3, type=pa.int32()), pa.array(["a", "b", "c"]))
    pq.write_table(pa.table({"text": text, "label": np.arange(5_000) % 2}), tmp_path / "ok.parquet")
    df = read_table(tmp_path / "ok.parquet")
    assert len(df) == 5_000 and df["text"].tolist()[:4] == ["a", "b", "c", "a"]
    assert df["label"].dtype == np.int64


def test_base_models_the_app_accepts(tmp_path, monkeypatch):
    monkeypatch.delenv("HFSELECT_ALLOWED_MODEL_DIRS", raising=False)
    assert check_base_model_allowed("sentence-transformers/all-MiniLM-L6-v2")
    assert check_base_model_allowed("bert-base-uncased") == "bert-base-uncased"
    model = save_tiny_bert(tmp_path / "models" / "tiny")
    with pytest.raises(E.BaseModelNotAllowedError) as refused:
        check_base_model_allowed(str(model))
    with pytest.raises(E.BaseModelNotAllowedError) as missing:
        check_base_model_allowed(str(tmp_path / "models" / "no_such_model"))
    # The same words whether the folder exists or not: the app never tells which folders exist.
    assert str(refused.value).split("' is not")[1] == str(missing.value).split("' is not")[1]
    monkeypatch.setenv("HFSELECT_ALLOWED_MODEL_DIRS", str(tmp_path / "models"))
    assert check_base_model_allowed(str(model)) == str(model)


def test_form_refuses_negative_seed_and_fractions():
    from hfselect_app.rank_tab import RankForm, validate_form

    assert any("Seed must be between 0 and" in e for e in validate_form(RankForm(example="product_reviews", seed=-1)))
    assert any("whole number" in e for e in validate_form(RankForm(example="product_reviews", num_examples=2.5)))
    assert any("whole number" in e for e in validate_form(RankForm(example="product_reviews", max_esms="x")))
    assert any("not a Hugging Face model id" in e for e in validate_form(RankForm(example="x", base_model="/etc")))
    assert validate_form(RankForm(example="product_reviews", seed=0)) == []


CLI_CASES = [
    (["--batch-size", "0"], "--batch-size must be between 1 and 1,024, not 0"),
    (["--batch-size", "-4"], "not -4"),
    (["--device", "evil"], "Device 'evil' is not one of cpu, cuda, cuda:N or mps"),
    (["--seed", "-1"], "--seed must be between 0 and 4,294,967,295, not -1"),
    (["--output", "/nonexistent/x.csv"], "Output folder '/nonexistent' does not exist"),
    (["--output", "ranking.txt"], "must end in .csv or .json"),
    (["--max-esms", "-1"], "--max-esms must be between 1"),
    (["--max-esms", "0"], "--max-esms must be between 1"),
    (["--top", "-1"], "--top must be between 1"),
    (["--num-examples", "1"], "--num-examples must be between 2 and"),
    (["--esm-dir", "/nonexistent/esms"], "--esm-dir '/nonexistent/esms' is not a folder"),
]
if not __import__("torch").cuda.is_available():
    CLI_CASES.append((["--device", "cuda"], "no CUDA GPU is visible on this machine"))


@pytest.mark.parametrize(("flags", "fragment"), CLI_CASES, ids=[" ".join(f) for f, _ in CLI_CASES])
def test_cli_checks_flags_before_any_work(flags, fragment, monkeypatch, capsys):
    from hfselect_core import cli, data

    def no_work(*args, **kwargs):
        raise AssertionError("data was read before the flags were checked")

    monkeypatch.setattr(data.TargetDataset, "from_file", no_work)
    monkeypatch.setattr(data.TargetDataset, "from_hub", no_work)
    assert cli.main(["rank", "--example", "product_reviews", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and fragment in err, err
    assert "Traceback" not in err and err.count("\n") == 1


def test_cli_never_prints_a_traceback(monkeypatch, capsys):
    from hfselect_core import cli

    def boom(args):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "cmd_coverage", boom)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    for action in parser._subparsers._group_actions[0].choices.values():
        if action.get_default("func").__name__ == "cmd_coverage":
            action.set_defaults(func=boom)
    assert cli.main(["coverage"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unexpected RuntimeError: disk on fire\n"


def test_cli_process_checks_the_output_path_first(tmp_path):
    """As a process: a bad --output fails in seconds, before the model loads, with one line on stderr."""
    import subprocess
    import sys

    root = REPO_ROOT
    cmd = [sys.executable, "-m", "hfselect_core", "rank", "--example", "product_reviews", "-o", "/nonexistent/x.csv"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert done.returncode == 2
    assert done.stderr == "error: Output folder '/nonexistent' does not exist. Create it first.\n"
    assert done.stdout == ""


def test_form_messages_quoting_huge_values_are_bounded():
    from hfselect_app.rank_tab import FIELDS, RankForm
    from hfselect_app.studio_tab import model_size
    from hfselect_app.validators import field_errors

    errors = field_errors(FIELDS, RankForm(source="<b>" * 300_000, task_type="x" * 10**6, pool="y" * 10**6))
    assert {f for f, _ in errors} == {"source", "task_type", "pool"}
    assert all(len(m) <= 400 for _, m in errors), [len(m) for _, m in errors]
    # The studio's time estimate does not read server folders the app may not load.
    assert model_size("/etc") == (768, 12)
