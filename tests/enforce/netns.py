"""Network namespaces that a test creates for itself (and always removes), joined by veth pairs.

Addresses inside them come from 10.x only; nothing is routed outside the namespaces.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest


def need_root_tools(*tools: str) -> None:
    """Skip the test with a clear reason unless we are root and the tools exist."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, nftables)")
    for tool in ("ip", *tools):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            pytest.skip(f"{tool} is not installed (scripts/install-system-deps.sh)")


def sh(*argv: str, ns: str | None = None, check: bool = True, timeout: float = 30) -> str:
    """Run argv (inside namespace `ns` when given); return stdout."""
    full = ["ip", "netns", "exec", ns, *argv] if ns else list(argv)
    proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(full)} failed: {proc.stderr}")
    return proc.stdout


@contextmanager
def namespaces(names: Sequence[str]) -> Iterator[dict[str, str]]:
    """Create namespaces `swtest-<random>-<name>` with loopback up; remove them afterwards."""
    tag = secrets.token_hex(3)
    made: dict[str, str] = {}
    try:
        for name in names:
            ns = f"swtest-{tag}-{name}"[:15] if len(names) == 1 else f"sw{tag}{name}"[:15]
            sh("ip", "netns", "add", ns)
            made[name] = ns
            sh("ip", "link", "set", "lo", "up", ns=ns)
        yield made
    finally:
        for ns in made.values():
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30, check=False)


def link(a: str, a_addr: str, b: str, b_addr: str, name: str) -> None:
    """A veth pair between namespaces a and b with the given CIDR addresses."""
    sh("ip", "link", "add", f"{name}a", "netns", a, "type", "veth", "peer", "name", f"{name}b", "netns", b)
    sh("ip", "addr", "add", a_addr, "dev", f"{name}a", ns=a)
    sh("ip", "addr", "add", b_addr, "dev", f"{name}b", ns=b)
    sh("ip", "link", "set", f"{name}a", "up", ns=a)
    sh("ip", "link", "set", f"{name}b", "up", ns=b)
