"""Where a study lives and which storage holds its trials: the one place that knows the layout
of a study folder and how its storage URL is chosen.

A study folder is ``studies/<name>`` (or ``--out DIR``) and holds ``study.json`` (settings and
results), ``config.yaml`` (the base config), ``space.yaml``, ``best_config.yaml``, ``study.db``
(the default SQLite storage), ``.budget.lock`` (the workers' budget lock) and ``trials/NNNN/``
(one run directory per trial). The storage is ``--storage URL`` when given (any SQLAlchemy URL,
or ``journal:PATH``), else ``study.db`` in the folder. A study that exists is opened with the URL
its ``study.json`` records, unless ``--storage`` or ``$KNOBWISE_TUNE_STORAGE`` names another
(``study.json`` masks passwords, so the real URL travels in that variable).

Example:
    >>> paths = StudyPaths.of("demo")
    >>> str(paths.root), str(paths.trial(7))
    ('studies/demo', 'studies/demo/trials/0007')
    >>> resolve_storage(None, paths.root)
    'sqlite:///studies/demo/study.db'
    >>> mask_url("postgresql+psycopg2://me:secret@db:5432/kw")
    'postgresql+psycopg2://me:***@db:5432/kw'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from knobwise.errors import ConfigError

__all__ = [
    "STORAGE_ENV",
    "STUDIES_DIR",
    "StudyPaths",
    "is_masked",
    "mask_url",
    "resolve_storage",
]

#: Where ``--study NAME`` puts its folder (relative to the working directory).
STUDIES_DIR = Path("studies")

#: The real storage URL of a study, for worker processes and for reading a study whose
#: ``study.json`` holds the masked URL.
STORAGE_ENV = "KNOBWISE_TUNE_STORAGE"

_SQLITE = "sqlite:///"
_MASK = "***"


@dataclass(frozen=True)
class StudyPaths:
    """The files of one study folder."""

    root: Path

    @classmethod
    def of(cls, name: str | None = None, out: str | Path | None = None) -> StudyPaths:
        """``--out DIR`` when given, else ``studies/<name>``; neither is a :class:`ConfigError`."""
        if out:
            return cls(Path(out))
        if not name:
            raise ConfigError("name the study: --study NAME or --out DIR")
        return cls(STUDIES_DIR / name)

    @property
    def study_json(self) -> Path:
        return self.root / "study.json"

    @property
    def config(self) -> Path:
        """The base config every trial starts from."""
        return self.root / "config.yaml"

    @property
    def space(self) -> Path:
        return self.root / "space.yaml"

    @property
    def best_config(self) -> Path:
        return self.root / "best_config.yaml"

    @property
    def db(self) -> Path:
        """The default storage: a SQLite file in the folder."""
        return self.root / "study.db"

    @property
    def budget_lock(self) -> Path:
        return self.root / ".budget.lock"

    @property
    def trials(self) -> Path:
        return self.root / "trials"

    def trial(self, number: int) -> Path:
        """The run directory of trial ``number`` (``trials/NNNN``)."""
        return self.trials / f"{number:04d}"

    def exists(self) -> bool:
        """Whether a study was created here (its ``study.json`` is written)."""
        return self.study_json.is_file()


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe to print and to save)."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def is_masked(url: str) -> bool:
    """Whether ``url`` lost its password to :func:`mask_url` (it cannot be opened as it is)."""
    return _MASK in url


def resolve_storage(url: str | None, study_dir: str | Path, recorded: str | None = None) -> str:
    """The storage URL of the study in ``study_dir``.

    ``url`` (``--storage``) wins. A new study (``recorded`` None) otherwise gets the SQLite file
    ``study.db`` in its folder. A study that exists (``recorded``: the URL in its ``study.json``)
    gets ``$KNOBWISE_TUNE_STORAGE`` when set, else ``recorded``; when ``recorded`` names a SQLite
    file that is gone but the folder holds ``study.db`` (the folder was moved), that file.

    >>> resolve_storage("journal:/tmp/j.log", "studies/s")
    'journal:/tmp/j.log'
    >>> resolve_storage(None, "studies/s", recorded="sqlite:///elsewhere/gone.db")
    'sqlite:///elsewhere/gone.db'
    """
    if url:
        return url
    paths = StudyPaths(Path(study_dir))
    if recorded is None:
        return f"{_SQLITE}{paths.db}"
    env = os.environ.get(STORAGE_ENV)
    if env:
        return env
    moved = recorded.startswith(_SQLITE) and not Path(recorded.removeprefix(_SQLITE)).is_file()
    if (not recorded or is_masked(recorded) or moved) and paths.db.is_file():
        return f"{_SQLITE}{paths.db}"
    return recorded
