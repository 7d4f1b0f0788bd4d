"""Study folders and storage URLs: the rules of tune/_paths.py, the one place that decides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from knobwise.errors import ConfigError
from knobwise.tune import STORAGE_ENV, StudyPaths, is_masked, mask_url, resolve_storage


def test_study_paths_of_a_name_or_an_out_folder(tmp_path: Path) -> None:
    assert StudyPaths.of("s1").root == Path("studies/s1")
    paths = StudyPaths.of("ignored", tmp_path / "here")
    assert paths.root == tmp_path / "here"
    assert paths.study_json.name == "study.json" and paths.db.name == "study.db"
    assert paths.trial(12) == tmp_path / "here" / "trials" / "0012"
    assert not paths.exists()
    paths.root.mkdir()
    paths.study_json.write_text("{}")
    assert paths.exists()


def test_a_study_needs_a_name_or_a_folder() -> None:
    with pytest.raises(ConfigError, match=r"^name the study: --study NAME or --out DIR$"):
        StudyPaths.of(None, None)


def test_storage_of_a_new_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORAGE_ENV, "postgresql://u:pw@db/kw")  # only an existing study reads it
    assert resolve_storage(None, tmp_path) == f"sqlite:///{tmp_path / 'study.db'}"
    assert resolve_storage("journal:/j.log", tmp_path) == "journal:/j.log"


def test_storage_of_an_existing_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    recorded = mask_url("postgresql://u:pw@db/kw")
    assert recorded == "postgresql://u:***@db/kw" and is_masked(recorded)
    assert resolve_storage(None, tmp_path, recorded) == recorded  # the caller says a password is missing
    assert resolve_storage("postgresql://u:pw@db/kw", tmp_path, recorded) == "postgresql://u:pw@db/kw"
    monkeypatch.setenv(STORAGE_ENV, "postgresql://u:pw@db/kw")
    assert resolve_storage(None, tmp_path, recorded) == "postgresql://u:pw@db/kw"


def test_a_moved_study_uses_its_own_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    gone = f"sqlite:///{tmp_path / 'old' / 'study.db'}"
    assert resolve_storage(None, tmp_path, gone) == gone  # no study.db here either: as recorded
    (tmp_path / "study.db").write_bytes(b"")
    assert resolve_storage(None, tmp_path, gone) == f"sqlite:///{tmp_path / 'study.db'}"
    assert resolve_storage(None, tmp_path, "") == f"sqlite:///{tmp_path / 'study.db'}"
