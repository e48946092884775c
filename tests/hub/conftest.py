"""Fixtures of the hub tests: a store on each backend, the loopback RDAP server with the test
networks, and a loopback SMTP sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from abuse_testkit import SmtpSink, add_test_networks, smtp_sink
from rdapfixture import RdapFixture, rdap_server

from sipwarden.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store: SQLite in the test's directory, then a fresh real PostgreSQL database."""
    url = (
        f"sqlite:///{tmp_path / 'hub.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_fresh_url")
    )
    opened = Store.open(url)
    yield opened
    opened.close()


@pytest.fixture
def rdap() -> Iterator[RdapFixture]:
    """The loopback RDAP server answering for the abuse tests' networks."""
    with rdap_server() as state:
        add_test_networks(state)
        yield state


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """A loopback SMTP server that keeps what it receives."""
    with smtp_sink() as s:
        yield s
