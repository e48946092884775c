"""Fixtures of the hub tests: the loopback RDAP server with the test networks, and a loopback SMTP
sink (`store`, a store on each backend, comes from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from abuse_testkit import SmtpSink, add_test_networks, smtp_sink
from rdapfixture import RdapFixture, rdap_server


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
