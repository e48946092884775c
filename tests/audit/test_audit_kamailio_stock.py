"""The audit against the kamailio.cfg the Debian kamailio package installs (its #!ifdef layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwarden.audit.report import audit_paths

STOCK = Path("/etc/kamailio/kamailio.cfg")

pytestmark = [
    pytest.mark.tools,
    pytest.mark.skipif(not STOCK.exists(), reason="kamailio package not installed"),
]


def test_stock_config_has_auth_pike_and_tls_switched_off(tmp_path: Path) -> None:
    copy = tmp_path / "kamailio.cfg"
    copy.write_text(STOCK.read_text())
    assert {f.rule.name for f in audit_paths([copy]).findings} == {
        "proxy-without-auth", "proxy-without-flood-limit", "no-tls",
    }  # fmt: skip


@pytest.mark.parametrize(("define", "gone"), [
    ("WITH_AUTH", "proxy-without-auth"),
    ("WITH_ANTIFLOOD", "proxy-without-flood-limit"),
    ("WITH_TLS", "no-tls"),
])  # fmt: skip
def test_switching_a_feature_on_clears_its_finding(tmp_path: Path, define: str, gone: str) -> None:
    lines = STOCK.read_text().splitlines()
    # The stock file's own instructions: add "#!define WITH_..." near the top, after #!KAMAILIO.
    text = "\n".join([lines[0], f"#!define {define}", *lines[1:]])
    copy = tmp_path / "kamailio.cfg"
    copy.write_text(text)
    names = {f.rule.name for f in audit_paths([copy]).findings}
    assert gone not in names and len(names) == 2
