"""The "Add your dataset" tab's handlers, called directly: train a tiny ESM, load the zip back, publish (faked)."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from helpers import make_texts  # noqa: E402

from hfselect_app import studio_tab  # noqa: E402
from hfselect_core import hub  # noqa: E402
from hfselect_core.studio import load_esm_zip  # noqa: E402


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, tmp_path_factory):
    upload_dir = tmp_path_factory.mktemp("gradio_uploads")
    os.environ["GRADIO_TEMP_DIR"] = str(upload_dir)
    # The app takes local base models only from folders the deployment allows.
    os.environ["HFSELECT_ALLOWED_MODEL_DIRS"] = str(tiny_bert_dir.parent)
    path = upload_dir / "my_reviews.csv"
    texts = make_texts(30)
    pd.DataFrame({"text": texts, "label": [i % 2 for i in range(len(texts))]}).to_csv(path, index=False)
    args = dict(
        source="file",
        file=str(path),
        text_columns=["text"],
        label_column="label",
        task_type="classification",
        num_examples=30,
        seed=1,
        base_model=str(tiny_bert_dir),
        epochs=1,
        batch_size=8,
        learning_rate=2e-5,
        fit_method="closed_form",
    )
    try:
        outputs = list(studio_tab.train_esm(**args))
    finally:
        os.environ.pop("GRADIO_TEMP_DIR", None)
        os.environ.pop("HFSELECT_ALLOWED_MODEL_DIRS", None)
    return outputs


def test_train_streams_and_returns_card_zip_and_folder(trained):
    assert len(trained) > 3, "progress should stream"
    status, fit, check, card, download, folder = trained[-1]
    assert status.startswith("✅"), status
    assert "MSE" in fit and "R²" in fit
    assert "Self-check" in check and "own task" in check
    assert "```yaml" in card
    readme = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    for needle in ("embedding_space_map", "BaseLM:", "apache-2.0"):
        assert needle in readme.split("---")[1], needle
    assert "my_reviews" in readme  # an upload is no Hub dataset: named in the body, not in `datasets:`
    zip_path = download.constructor_args["value"]
    assert download.constructor_args["visible"] and zip_path.endswith(".zip")
    esm = load_esm_zip(zip_path)
    assert esm.config.task_id == "my_reviews" and esm.config.lm_num_epochs == 1
    assert os.path.isdir(folder)


def test_bad_training_form_gives_messages(tiny_bert_dir):
    form = dict(example="product_reviews", num_examples=5, seed=1, base_model="m", epochs=0, fit_method="sgd")
    out = list(studio_tab.train_esm(**form))
    status = out[-1][0]
    assert "at least" in status and "epochs" in status and "Traceback" not in status
    checks = studio_tab.validate_studio(example=None, num_examples=5000, seed=1, base_model="m", batch_size=8)
    assert len(checks) == len(studio_tab.FIELDS)
    bad = {f.name: c["message"] for f, c in zip(studio_tab.FIELDS, checks) if not c["is_valid"]}
    assert set(bad) == {"example", "num_examples"}  # every problem at once, each at its own input
    assert "Pick an example" in bad["example"] and "over this deployment's limit" in bad["num_examples"]


def test_publish_with_fake_token(trained, monkeypatch):
    import huggingface_hub

    folder = trained[-1][5]
    calls = []

    def create_repo(self, repo_id, **kw):
        calls.append(("create", repo_id, kw, self.token))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kw):
        calls.append(("upload", kw["repo_id"], kw, sorted(os.listdir(kw["folder_path"]))))

    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(hub, "require_hub", lambda *a, **k: None, raising=False)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)

    profile = {"preferred_username": "alice"}
    repo = studio_tab.suggest_repo(folder, profile)
    assert repo == "alice/ESM_my_reviews"

    class Token:
        token = "hf_fake_secret"

    msg = studio_tab.publish(folder, repo, True, Token())
    assert msg.startswith("✅") and "alice/ESM_my_reviews" in msg and "hf_fake_secret" not in msg
    create, upload = calls
    assert create[1] == "alice/ESM_my_reviews" and create[2]["private"] is True and create[3] == "hf_fake_secret"
    assert {"config.json", "model.safetensors", "README.md"} <= set(upload[3])
    readme = open(os.path.join(folder, "README.md"), encoding="utf-8").read().split("---")[1]
    assert "embedding_space_map" in readme and "BaseLM:" in readme

    assert "Sign in" in studio_tab.publish(folder, repo, False, None)
    assert "not a" in studio_tab.publish(folder, "no-slash", False, Token())


def test_publish_offline_says_hub_unreachable(trained):
    msg = studio_tab.publish(trained[-1][5], "alice/ESM_x", False, None)
    assert "cannot be reached" in msg and "Traceback" not in msg


def test_collapsed_map_is_flagged_and_not_published_without_consent(tiny_bert_dir, monkeypatch):
    """A run whose map fits poorly (a collapsed fine-tune: R² -0.70 with MiniLM at learning rate 0.9)
    is reported as unreliable everywhere, and publishing refuses it unless the user ticks the box.

    The collapse itself is the training's business; here the held-out R² is pinned to what such a
    run measured, so the test covers what the app does with it.
    """
    import huggingface_hub

    from hfselect_core import training

    monkeypatch.setattr(training, "map_quality", lambda *a, **k: (0.9, -0.70))
    monkeypatch.setenv("HFSELECT_ALLOWED_MODEL_DIRS", str(tiny_bert_dir.parent))
    form = dict(
        example="product_reviews", num_examples=30, seed=1, base_model=str(tiny_bert_dir), epochs=1, batch_size=8
    )
    status, fit, check, card, download, folder = list(studio_tab.train_esm(**form, learning_rate=0.9))[-1]
    assert status.startswith("⚠️ Done, but the ESM is not reliable: Its map fits poorly"), status
    assert "This ESM is not reliable" in fit and "R² **-0.700**" in fit
    assert "as expected" not in check and "its map fits poorly, so the self-check says little" in check

    monkeypatch.setattr(hub, "hub_reachable", lambda *a, **k: True)
    uploads = []
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, repo_id, **kw: f"https://hf.co/{repo_id}")
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda self, **kw: uploads.append(kw["repo_id"]))

    class Token:
        token = "hf_fake_secret"

    refused = studio_tab.publish(folder, "alice/ESM_poor", False, Token())
    assert refused.startswith("❌ Not published") and "Publish even though the fit is poor" in refused
    assert uploads == []
    forced = studio_tab.publish(folder, "alice/ESM_poor", False, Token(), True)
    assert forced.startswith("✅ Published") and uploads == ["alice/ESM_poor"]
