"""Fixtures for the tuning tests (helpers live in ``tune_helpers.py``)."""

from __future__ import annotations

from tune_helpers import lr_space, postgres_url  # noqa: F401 - fixtures
