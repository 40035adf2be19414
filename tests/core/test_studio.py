"""The "Add your dataset" back end: training with caps, the self-check, zips, repo names, publishing (offline)."""

from __future__ import annotations

import json
import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
from helpers import make_texts

from hfselect_core import studio
from hfselect_core.data import TargetDataset
from hfselect_core.errors import ESMFormatError, HFSelectError, HubUnreachableError, InputTooLargeError
from hfselect_core.esm import ESM
from hfselect_core.ranking import compute_task_ranking
from hfselect_core.training import TrainingSettings

FAKE_TOKEN = "hf_FAKEtoken1234567890abcdefSECRET"
SETTINGS = TrainingSettings(lm_num_epochs=1, lm_batch_size=8, lm_learning_rate=1e-3, max_length=32)


@pytest.fixture(scope="module")
def dataset() -> TargetDataset:
    texts = make_texts(36, seed=7)
    labels = ["pos" if i % 2 else "neg" for i in range(36)]
    return TargetDataset.from_pandas(
        pd.DataFrame({"text": texts, "label": labels}), "text", "label", source="tests/tiny_task", subset="default"
    )


@pytest.fixture(scope="module")
def trained(tiny_bert_dir, dataset, tmp_path_factory):
    """One studio run on the tiny BERT, shared by the tests below: (events, result, workdir)."""
    workdir = tmp_path_factory.mktemp("studio")
    events = list(
        studio.iter_studio_training(
            dataset, str(tiny_bert_dir), SETTINGS, device="cpu", workdir=workdir, language="en", developers="tests"
        )
    )
    return events, events[-1].result, workdir


def _front_matter(card: str) -> dict:
    yaml = pytest.importorskip("yaml")
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_training_yields_stages_and_a_result(trained, tiny_bert_dir, dataset):
    events, result, workdir = trained
    stages = [e.stage for e in events]
    for stage in ("Loading base model", "Fine-tuning", "Embedding", "Fitting the map", "Saving", "Self-check", "Done"):
        assert stage in stages
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(e.result is None for e in events[:-1])
    assert isinstance(result, studio.StudioResult)
    assert result.folder.parent.parent == workdir  # a fresh temp dir under workdir
    assert result.folder.name == "ESM_tests_tiny_task_default"
    assert sorted(p.name for p in result.folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert result.zip_path.is_file() and result.zip_path.parent == result.folder.parent
    assert np.isfinite(result.fit.mse) and np.isfinite(result.fit.r2)
    assert result.num_examples == len(dataset) and result.device == "cpu"
    # No bundled pool for the tiny model: the self-check ranks the new ESM alone.
    assert result.self_rank == 1 and result.self_rank_total == 1
    assert result.ranking is not None and len(result.ranking) == 1
    assert result.notes and "No bundled ESM pool" in result.notes[0]
    assert "ranks" in events[-1].message or "scored its own task" in events[-1].message
    assert {"fine_tune", "self_check", "total"} <= set(result.seconds)


def test_card_metadata(trained, tiny_bert_dir):
    _, result, _ = trained
    meta = _front_matter(result.card_markdown)
    assert meta["license"] == "apache-2.0"
    assert meta["datasets"] == ["tests/tiny_task"]
    assert meta["base_model"] == str(tiny_bert_dir)
    assert meta["tags"] == ["embedding_space_map", f"BaseLM:{tiny_bert_dir}"]
    assert result.card_markdown == (result.folder / "README.md").read_text(encoding="utf-8")
    config = json.loads((result.folder / "config.json").read_text(encoding="utf-8"))
    assert config["task_id"] == "tests/tiny_task" and config["task_subset"] == "default"
    assert config["language"] == "en" and config["num_examples"] == 36


def test_zip_loads_back_and_ranks(trained, tiny_bert_dir, dataset):
    _, result, _ = trained
    with zipfile.ZipFile(result.zip_path) as zf:
        assert sorted(zf.namelist()) == ["README.md", "config.json", "model.safetensors"]
    esm = studio.load_esm_zip(result.zip_path)
    assert isinstance(esm, ESM) and esm.embedding_dim == 32
    assert esm.config.task_id == "tests/tiny_task"
    np.testing.assert_allclose(esm.weight_and_bias()[0], result.esm.weight_and_bias()[0])
    ranking = compute_task_ranking(dataset, base_model=str(tiny_bert_dir), esms=[esm], device="cpu")
    assert len(ranking) == 1 and np.isfinite(ranking[0].score)


def _write_zip(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "extra",
    [
        {"../evil": b"x"},
        {"notes.txt": b"x"},
        {"/etc/evil": b"x"},
        {"sub/config.json": b"{}"},
        {"..\\evil": b"x"},
    ],
)
def test_unsafe_or_extra_zip_members_rejected(trained, tmp_path, extra):
    _, result, _ = trained
    members = {name: (result.folder / name).read_bytes() for name in studio.ZIP_MEMBERS}
    bad = _write_zip(tmp_path / "bad.zip", {**members, **extra})
    with pytest.raises(ESMFormatError, match="only config.json"):
        studio.load_esm_zip(bad)
    assert not (tmp_path / "evil").exists() and not (tmp_path.parent / "evil").exists()


def test_zip_checks(trained, tmp_path):
    _, result, _ = trained
    members = {name: (result.folder / name).read_bytes() for name in studio.ZIP_MEMBERS}
    no_weights = _write_zip(tmp_path / "no_weights.zip", {"config.json": members["config.json"]})
    with pytest.raises(ESMFormatError, match="no model.safetensors"):
        studio.load_esm_zip(no_weights)
    (tmp_path / "not.zip").write_bytes(b"plain text")
    with pytest.raises(ESMFormatError, match="not a zip"):
        studio.load_esm_zip(tmp_path / "not.zip")
    with pytest.raises(ESMFormatError, match="larger than|more than"):
        studio.load_esm_zip(result.zip_path, max_bytes=1000)
    # A zip bomb-ish member: small compressed, large uncompressed.
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", members["config.json"])
        zf.writestr("model.safetensors", b"\0" * 3_000_000)
    with pytest.raises(ESMFormatError, match="more than"):
        studio.load_esm_zip(bomb, max_bytes=1_000_000)
    with pytest.raises(ESMFormatError, match="missing"):
        studio.zip_esm_folder(tmp_path)


def test_caps_enforced(tiny_bert_dir, dataset, monkeypatch, tmp_path):
    monkeypatch.setenv(studio.MAX_EXAMPLES_CPU_ENV, "20")
    assert studio.studio_limits().max_examples("cpu") == 20
    assert studio.studio_limits().max_examples("cuda") == 10_000
    with pytest.raises(InputTooLargeError, match=r"36 examples is over .* limit of 20 on CPU .*HFSELECT_STUDIO"):
        next(studio.iter_studio_training(dataset, str(tiny_bert_dir), SETTINGS, device="cpu", workdir=tmp_path))
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    with pytest.raises(InputTooLargeError, match="epochs"):
        studio.check_training_request(10, 50, "cpu")
    with pytest.raises(HFSelectError, match="at least 10"):
        studio.check_training_request(5, 1, "cpu")
    studio.check_training_request(20, 3, "cpu")  # at the cap: fine


def test_sample_to_cap_and_cancel_cleans_up(tiny_bert_dir, dataset, monkeypatch, tmp_path):
    monkeypatch.setenv(studio.MAX_EXAMPLES_CPU_ENV, "20")
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 1

    gen = studio.iter_studio_training(
        dataset, str(tiny_bert_dir), SETTINGS, device="cpu", workdir=tmp_path, sample_to_cap=True, should_stop=stop
    )
    with pytest.raises(HFSelectError, match="cancelled"):
        list(gen)
    assert list(tmp_path.iterdir()) == []  # the temp dir of the cancelled run is gone


# The time estimate moved to hfselect_core/estimate.py: tests/core/test_estimate.py.


@pytest.mark.parametrize(
    ("user", "source", "subset", "expected"),
    [
        ("alice", "stanfordnlp/imdb", "plain_text", "alice/ESM_stanfordnlp_imdb_plain_text"),
        ("alice", "ag_news", None, "alice/ESM_ag_news"),
        ("bob", "/tmp/gradio/abc/my reviews.csv", None, "bob/ESM_my_reviews"),
        ("bob", "reviews.jsonl", "", "bob/ESM_reviews"),
        ("carol", "org/data--set..v2", "sub set!", "carol/ESM_org_data-set.v2_sub_set"),
        ("dave", "ünïcode/dätä", "-x-", "dave/ESM_n_code_d_t_-x"),
    ],
)
def test_default_repo_id(user, source, subset, expected):
    repo_id = studio.default_repo_id(user, source, subset)
    assert repo_id == expected
    assert studio.validate_repo_id(repo_id) == repo_id


def test_default_repo_id_long_and_invalid():
    repo_id = studio.default_repo_id("alice", "org/" + "x" * 200, "y" * 50)
    assert len(repo_id.split("/")[1]) <= 96
    assert studio.validate_repo_id(repo_id) == repo_id
    with pytest.raises(studio.RepoIdError, match="sign in"):
        studio.default_repo_id("", "ag_news")
    for bad in ("no-slash", "a/b/c", "alice/bad name", "alice/x--y", "alice/-lead", "alice/" + "x" * 97):
        with pytest.raises(studio.RepoIdError):
            studio.validate_repo_id(bad)


@pytest.fixture
def fake_hub(monkeypatch):
    """Record what would be pushed instead of talking to the Hub."""
    import huggingface_hub

    calls: dict[str, list] = {"create_repo": [], "upload_folder": []}

    def create_repo(self, repo_id, **kwargs):
        calls["create_repo"].append({"repo_id": repo_id, "token": self.token, **kwargs})
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        folder = kwargs["folder_path"]
        from pathlib import Path

        files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file()}
        calls["upload_folder"].append({**kwargs, "files": files})
        return "commit"

    monkeypatch.setattr("hfselect_core.hub.hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    return calls


def test_publish_with_fake_token(trained, tiny_bert_dir, fake_hub, caplog, capsys):
    _, result, _ = trained
    caplog.set_level(logging.DEBUG)
    studio.publish_esm(result.folder, "alice/ESM_tests_tiny_task_default", FAKE_TOKEN, private=True)
    (create,) = fake_hub["create_repo"]
    assert create["repo_id"] == "alice/ESM_tests_tiny_task_default"
    assert create["repo_type"] == "model" and create["private"] is True and create["exist_ok"] is True
    assert create["token"] == FAKE_TOKEN  # handed to huggingface_hub, and nowhere else
    (upload,) = fake_hub["upload_folder"]
    assert upload["repo_id"] == "alice/ESM_tests_tiny_task_default"
    assert set(upload["allow_patterns"]) == {"config.json", "model.safetensors", "README.md"}
    pushed = {name: data for name, data in upload["files"].items() if name in upload["allow_patterns"]}
    assert sorted(pushed) == ["README.md", "config.json", "model.safetensors"]
    meta = _front_matter(pushed["README.md"].decode("utf-8"))
    assert meta["tags"] == ["embedding_space_map", f"BaseLM:{tiny_bert_dir}"]
    assert meta["license"] == "apache-2.0" and meta["datasets"] == ["tests/tiny_task"]
    out = capsys.readouterr()
    assert FAKE_TOKEN not in out.out + out.err
    assert FAKE_TOKEN not in caplog.text
    assert "alice/ESM_tests_tiny_task_default" in caplog.text  # it did log, without the token


def test_publish_accepts_oauth_token_object(trained, fake_hub):
    _, result, _ = trained

    class OAuthToken:  # the shape of gradio's gr.OAuthToken
        token = FAKE_TOKEN

    studio.publish_esm(result.folder, "alice/esm-test", OAuthToken())
    assert fake_hub["create_repo"][0]["token"] == FAKE_TOKEN


def test_publish_refusals(trained, fake_hub, tmp_path):
    _, result, _ = trained
    for token in (None, "", "   "):
        with pytest.raises(studio.NotSignedInError, match="sign in with Hugging Face"):
            studio.publish_esm(result.folder, "alice/esm", token)
    with pytest.raises(studio.RepoIdError):
        studio.publish_esm(result.folder, "alice/bad name", FAKE_TOKEN)
    with pytest.raises(ESMFormatError, match="missing"):
        studio.publish_esm(tmp_path, "alice/esm", FAKE_TOKEN)
    assert fake_hub["create_repo"] == [] and fake_hub["upload_folder"] == []


def test_publish_refuses_a_card_the_hub_would_refuse(trained, fake_hub, tmp_path):
    """A card edited after training (a license the Hub does not know) is refused
    before anything is created or uploaded, naming the problem."""
    import shutil

    _, result, _ = trained
    folder = tmp_path / "esm"
    shutil.copytree(result.folder, folder)
    card = (folder / "README.md").read_text(encoding="utf-8")
    edited = card.replace('license: "apache-2.0"', 'license: "my-own-license"', 1)
    assert edited != card
    (folder / "README.md").write_text(edited, encoding="utf-8")
    with pytest.raises(ESMFormatError, match="would be refused by the Hub.*license"):
        studio.publish_esm(folder, "alice/esm", FAKE_TOKEN)
    assert fake_hub["create_repo"] == [] and fake_hub["upload_folder"] == []


def test_publish_offline_raises_hub_unreachable(trained, monkeypatch):
    _, result, _ = trained
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="cannot be reached") as info:
        studio.publish_esm(result.folder, "alice/esm", FAKE_TOKEN)
    assert FAKE_TOKEN not in str(info.value)


def test_publish_http_error_is_actionable(trained, monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    _, result, _ = trained

    class Response:
        status_code = 403
        headers: dict = {}
        request = None

    def create_repo(self, repo_id, **kwargs):
        raise HfHubHTTPError("403 Forbidden", response=Response())

    monkeypatch.setattr("hfselect_core.hub.hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    with pytest.raises(studio.PublishError, match="Sign in with Hugging Face again") as info:
        studio.publish_esm(result.folder, "someone-else/esm", FAKE_TOKEN)
    assert FAKE_TOKEN not in str(info.value)


def test_stopping_after_the_result_keeps_the_files(tiny_bert_dir, dataset, tmp_path):
    """A caller may stop iterating right after the final event: the ESM must survive."""
    events = studio.iter_studio_training(
        dataset, str(tiny_bert_dir), SETTINGS, device="cpu", workdir=tmp_path, self_check=False
    )
    result = next(e.result for e in events if e.result is not None)
    events.close()
    assert (result.folder / "model.safetensors").is_file()
    assert result.zip_path.is_file()


def test_publish_defaults_are_public_and_refuse_a_poor_fit(trained, fake_hub, tmp_path):
    """Mutation testing found these defaults unguarded: a caller that says nothing publishes a
    public repo, and a map whose held-out R² is poor is refused unless the caller insists."""
    import shutil

    from hfselect_core.errors import PoorFitError

    _, result, _ = trained
    studio.publish_esm(result.folder, "alice/ESM_defaults", FAKE_TOKEN)
    assert fake_hub["create_repo"][-1]["private"] is False
    poor = shutil.copytree(result.folder, tmp_path / "poor")
    config = json.loads((poor / "config.json").read_text(encoding="utf-8"))
    config["esm_r2"] = -0.7
    (poor / "config.json").write_text(json.dumps(config), encoding="utf-8")
    uploads = len(fake_hub["upload_folder"])
    with pytest.raises(PoorFitError, match="allow_poor_fit=True"):
        studio.publish_esm(poor, "alice/ESM_poor", FAKE_TOKEN)
    assert len(fake_hub["upload_folder"]) == uploads
    studio.publish_esm(poor, "alice/ESM_poor", FAKE_TOKEN, allow_poor_fit=True)
    assert fake_hub["upload_folder"][-1]["repo_id"] == "alice/ESM_poor"
