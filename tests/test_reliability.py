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
from helpers import HIDDEN, esm_config_dict, make_texts, random_map, save_tiny_bert, write_esm_folder
from safetensors.numpy import save_file

from hfselect_core import errors as E
from hfselect_core import limits
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


def test_case_table_is_large_and_unique():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, ctx):
    with pytest.raises(E.HFSelectError) as info:
        case.run(ctx)
    error = info.value
    assert type(error) is case.error, f"{case.id}: {type(error).__name__}: {error}"
    message = str(error)
    assert case.fragment in message, f"{case.id}: {message!r}"
    # What the UI shows: one readable message, never a traceback or a wall of text.
    assert "Traceback" not in message and 'File "' not in message
    assert len(message) < 700 and message.count("\n") <= 1, message


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


def test_esm_config_sample_keys_are_complete():
    # Guard for the builders above: the good ESM config carries the keys the Hub ESMs use.
    assert {"task_id", "base_model_name", "esm_embedding_dim"} <= set(esm_config_dict("t", "m", 4))
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
