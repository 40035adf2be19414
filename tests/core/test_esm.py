"""ESM folders: the Hub format, legacy folders, and clear errors for broken ones."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from helpers import esm_config_dict, random_map, write_esm_folder
from safetensors.numpy import load_file, save_file

from hfselect_core.errors import ESMDimensionError, ESMFormatError
from hfselect_core.esm import ESM, ESMConfig, safe_name


def test_save_load_round_trip(tmp_path):
    weight, bias = random_map(8, seed=1)
    config = ESMConfig(base_model_name="org/base", task_id="org/task", num_examples=123, pooling="cls")
    esm = ESM.from_weights(weight, bias, config=config)
    folder = esm.save(tmp_path / "esm")
    tensors = load_file(str(folder / "model.safetensors"))
    assert set(tensors) == {"model.weight", "model.bias"}
    loaded = ESM.from_folder(folder)
    w, b = loaded.weight_and_bias()
    np.testing.assert_array_equal(w, weight)
    np.testing.assert_array_equal(b, bias)
    assert loaded.config.task_id == "org/task"
    assert loaded.config.base_model_name == "org/base"
    assert loaded.config.num_examples == 123
    assert loaded.config.pooling == "cls"
    assert loaded.config.esm_embedding_dim == 8
    assert loaded.config.version == "0.2.0"
    assert loaded.embedding_dim == 8
    assert loaded.name == "esm"
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    import torch

    out = loaded(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(out, x @ weight.T + bias, rtol=1e-5, atol=1e-6)


def test_legacy_folder_loads(tmp_path):
    weight, bias = random_map(6, seed=2)
    folder = write_esm_folder(tmp_path / "legacy", "org/old", dim=6, weight=weight, bias=bias, legacy=True)
    esm = ESM.from_folder(folder)
    assert esm.config.is_legacy
    np.testing.assert_array_equal(esm.weight_and_bias()[0], weight)
    np.testing.assert_array_equal(esm.weight_and_bias()[1], bias)
    # Saving again writes the current names and version.
    esm.save(tmp_path / "resaved")
    assert set(load_file(str(tmp_path / "resaved" / "model.safetensors"))) == {"model.weight", "model.bias"}
    assert ESM.from_folder(tmp_path / "resaved").config.version == "0.2.0"


def test_bundled_pool_folder_loads():
    from hfselect_core.sources import bundled_pool_dir

    folder = bundled_pool_dir("sentence-transformers/all-MiniLM-L6-v2") / "ag_news"
    esm = ESM.from_folder(folder)
    assert esm.embedding_dim == 384
    assert esm.config.task_id == "fancyzhx/ag_news"
    assert esm.config.extra["label_names"] == ["World", "Sports", "Business", "Sci/Tech"]
    assert esm.config.pooling == "st:mean+normalize"


def _good(tmp_path, name="bad"):
    return write_esm_folder(tmp_path / name, "org/task", dim=4)


def _expect(folder, *fragments):
    with pytest.raises(ESMFormatError) as info:
        ESM.from_folder(folder)
    message = str(info.value)
    assert folder.name in message
    for fragment in fragments:
        assert fragment.lower() in message.lower(), message
    return message


def test_missing_weights(tmp_path):
    folder = _good(tmp_path)
    (folder / "model.safetensors").unlink()
    _expect(folder, "missing model.safetensors")


def test_pickle_only_is_never_loaded(tmp_path):
    folder = _good(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"boom": 1}))
    _expect(folder, "pytorch_model.bin", "pickle")


def test_garbage_weights(tmp_path):
    folder = _good(tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00\x01garbage" * 10)
    _expect(folder, "safetensors")


def test_nan_weights(tmp_path):
    weight = np.eye(4, dtype=np.float32)
    weight[1, 2] = np.nan
    folder = write_esm_folder(tmp_path / "nan", "org/task", dim=4, weight=weight, bias=np.zeros(4, np.float32))
    _expect(folder, "nan")


def test_non_square_weights(tmp_path):
    folder = write_esm_folder(
        tmp_path / "rect", "org/task", dim=4, weight=np.ones((4, 3), np.float32), bias=np.zeros(4, np.float32)
    )
    _expect(folder, "d x d")


def test_wrong_tensor_names(tmp_path):
    folder = _good(tmp_path)
    save_file({"foo": np.zeros((4, 4), np.float32)}, str(folder / "model.safetensors"))
    _expect(folder, "no linear layer", "foo")


def test_config_without_task_id(tmp_path):
    config = esm_config_dict("x", "org/base", 4)
    del config["task_id"]
    folder = write_esm_folder(tmp_path / "notask", "x", dim=4, config=config)
    _expect(folder, "task_id")


def test_config_without_base_model(tmp_path):
    config = esm_config_dict("org/task", "x", 4)
    config["base_model_name"] = None
    folder = write_esm_folder(tmp_path / "nobase", "org/task", dim=4, config=config)
    _expect(folder, "base_model_name")


def test_invalid_json(tmp_path):
    folder = _good(tmp_path)
    (folder / "config.json").write_text("{not json", encoding="utf-8")
    _expect(folder, "config.json", "not valid JSON")


def test_config_not_an_object(tmp_path):
    folder = _good(tmp_path)
    (folder / "config.json").write_text("[1, 2]", encoding="utf-8")
    _expect(folder, "JSON object")


def test_missing_config(tmp_path):
    folder = _good(tmp_path)
    (folder / "config.json").unlink()
    _expect(folder, "missing config.json")


def test_dimension_mismatch_between_config_and_weights(tmp_path):
    config = esm_config_dict("org/task", "org/base", 8)
    folder = write_esm_folder(tmp_path / "dim", "org/task", dim=4, config=config)
    _expect(folder, "dimension 8")


def test_not_a_folder(tmp_path):
    with pytest.raises(ESMFormatError, match="no such folder"):
        ESM.from_folder(tmp_path / "nope")


def test_unknown_keys_kept_and_missing_keys_none(tmp_path):
    config = {"base_model_name": "org/base", "task_id": "org/task", "my_custom_key": [1, 2], "another": "x"}
    folder = write_esm_folder(tmp_path / "extra", "org/task", dim=4, config=config)
    esm = ESM.from_folder(folder)
    assert esm.config.extra == {"my_custom_key": [1, 2], "another": "x"}
    for key in ("task_subset", "text_column", "num_examples", "seed", "language", "lm_optimizer", "version"):
        assert getattr(esm.config, key) is None, key
    assert esm.config.esm_architecture is None
    esm.save(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "config.json").read_text(encoding="utf-8"))
    assert written["my_custom_key"] == [1, 2]
    assert written["another"] == "x"
    assert written["task_id"] == "org/task"
    assert written["esm_embedding_dim"] == 4
    assert "pooling" not in written  # the optional key is only written when known
    again = ESM.from_folder(tmp_path / "out")
    assert again.config.extra == {"my_custom_key": [1, 2], "another": "x"}


def test_config_dict_round_trip():
    data = esm_config_dict("org/task", "org/base", 16, pooling="pooler", custom=3.5)
    config = ESMConfig.from_dict(data)
    assert config.pooling == "pooler"
    assert config.extra == {"custom": 3.5}
    assert config.to_dict() == data


def test_unsupported_architecture(tmp_path):
    config = esm_config_dict("org/task", "org/base", 4, esm_architecture="mlp")
    folder = write_esm_folder(tmp_path / "mlp", "org/task", dim=4, config=config)
    _expect(folder, "architecture")


def test_check_dim():
    esm = ESM(4, ESMConfig(task_id="t", base_model_name="b"))
    esm.check_dim(4)
    with pytest.raises(ESMDimensionError, match="4-dimensional"):
        esm.check_dim(8)


def test_helpers():
    assert safe_name("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers__all-MiniLM-L6-v2"
    assert safe_name("..") == "unnamed"
