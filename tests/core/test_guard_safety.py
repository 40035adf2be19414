"""Guards for hfselect_core.safety that mutation testing showed missing (issue 18).

The refusals themselves are covered in tests/e2e/test_reliability.py; these pin what a refusal
says (the user must learn which path and which folder), the size boundary, the default upload
folder, and that every allowed root is tried.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from hfselect_core.errors import InputTooLargeError, UnsafePathError, UnsupportedFileError
from hfselect_core.safety import check_upload, gradio_upload_dirs, resolve_inside


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize(
    ("given", "shown"),
    [("", "'(empty)'"), ("data\x00.csv", "'data\\0.csv'"), ("../../etc/passwd", "'../../etc/passwd'")],
)
def test_a_refused_path_names_the_path_and_the_folder(tmp_path, given, shown):
    with pytest.raises(UnsafePathError) as info:
        resolve_inside(given, tmp_path)
    message = str(info.value)
    assert f"The path {shown} points outside" in message
    assert f"the allowed folder '{tmp_path.resolve()}'" in message or f"the allowed folder '{tmp_path}'" in message


def test_an_upload_outside_every_root_names_the_file_and_every_root(tmp_path, monkeypatch):
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    other = tmp_path / "examples"
    other.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("text,label\na,0\n")
    with pytest.raises(UnsafePathError) as info:
        check_upload(outside, [other])
    message = str(info.value)
    assert f"'{outside}'" in message
    roots = [str(other), *(str(d) for d in gradio_upload_dirs())]
    assert f"'{', '.join(roots)}'" in message


def test_every_allowed_root_is_tried_in_turn(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    target = second / "data.csv"
    target.write_text("text,label\nx,1\n")
    assert check_upload(target, [first, second]) == target.resolve()


def test_the_default_upload_folder_is_the_system_temp_gradio_folder(monkeypatch):
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    assert gradio_upload_dirs() == [Path(tempfile.gettempdir()) / "gradio"]
    folder = Path(tempfile.gettempdir()) / "gradio" / f"guard-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        path = folder / "upload.csv"
        path.write_text("text,label\nx,1\n")
        assert check_upload(path) == path.resolve()  # no allowed roots: Gradio's own folder only
    finally:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def test_size_cap_boundary_and_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HFSELECT_MAX_UPLOAD_MB", "1")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    exactly = _sparse(tmp_path / "exact.csv", 1_000_000)
    assert check_upload(exactly) == exactly.resolve()  # at the cap: accepted
    big = _sparse(tmp_path / "big.csv", 2_500_000)
    with pytest.raises(InputTooLargeError) as info:
        check_upload(big)
    assert "'big.csv' is 2.5 MB; the limit is 1 MB (set HFSELECT_MAX_UPLOAD_MB to change it)" in str(info.value)


def test_missing_upload_messages_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with pytest.raises(UnsupportedFileError, match=r"^No file was uploaded\. Upload a CSV"):
        check_upload(None)
    with pytest.raises(UnsupportedFileError, match=r"^The uploaded file 'gone\.csv' no longer exists"):
        check_upload(tmp_path / "gone.csv")
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(UnsupportedFileError, match=r"^'folder\.csv' is not a regular file"):
        check_upload(tmp_path / "folder.csv")
