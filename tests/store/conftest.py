"""Every store test runs on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sipwarden.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL of an empty store: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'sipwarden.db'}"
    return str(request.getfixturevalue("postgres_fresh_url"))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """An opened (migrated) store, closed after the test."""
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()
