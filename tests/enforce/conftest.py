"""A fresh network namespace per nftables test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sipwarden.enforce import Runner

from .netns import namespaces, need_root_tools


@pytest.fixture
def netns() -> Iterator[str]:
    """The name of a new, empty network namespace (removed after the test)."""
    need_root_tools("nft")
    with namespaces(["fw"]) as made:
        yield made["fw"]


@pytest.fixture
def runner(netns: str) -> Runner:
    """Runs firewall commands inside the test's namespace."""
    return Runner.in_netns(netns)
