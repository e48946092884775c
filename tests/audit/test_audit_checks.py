"""Every finding kind of the configuration audit, each proven by a fixture written for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipwarden.audit.findings import Finding, Severity
from sipwarden.audit.report import audit_paths

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def line_of(path: Path, text: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {path}")


def found(findings: list[Finding], rule: str) -> list[tuple[str, int]]:
    return [(Path(f.file).name, f.line) for f in findings if f.rule.name == rule]


@pytest.fixture(scope="module")
def chan_sip() -> list[Finding]:
    return audit_paths([FIXTURES / "weak_chan_sip"]).findings


@pytest.fixture(scope="module")
def pjsip() -> list[Finding]:
    return audit_paths([FIXTURES / "weak_pjsip"]).findings


def test_secret_equal_to_the_username(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    sip = FIXTURES / "weak_chan_sip" / "sip.conf"
    assert found(chan_sip, "secret-equals-username") == [("sip.conf", line_of(sip, "secret=1001"))]
    pj = FIXTURES / "weak_pjsip" / "pjsip.conf"
    assert found(pjsip, "secret-equals-username") == [("pjsip.conf", line_of(pj, "password=2001"))]


def test_common_numeric_and_short_secrets(chan_sip: list[Finding]) -> None:
    sip = FIXTURES / "weak_chan_sip" / "sip.conf"
    assert found(chan_sip, "secret-common") == [("sip.conf", line_of(sip, "secret=123456"))]
    assert found(chan_sip, "secret-numeric") == [("sip.conf", line_of(sip, "secret=84736251"))]
    assert found(chan_sip, "secret-short") == [("sip.conf", line_of(sip, "secret=Ab3$xy!"))]


def test_secret_inherited_from_a_template_is_reused(chan_sip: list[Finding]) -> None:
    sip = FIXTURES / "weak_chan_sip" / "sip.conf"
    reused = [f for f in chan_sip if f.rule.name == "secret-reused"]
    assert {f.line for f in reused} == {line_of(sip, "secret=Tq8#vR2!mZ6pLw")}
    assert sorted(f.message.split(" of ")[1].split(" is ")[0] for f in reused) == ["sip peer 1005", "sip peer 1006"]


def test_strong_unique_secrets_are_not_flagged(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    # The trunk in the #included file and endpoint 2002 have strong secrets of their own.
    assert not [f for f in chan_sip if "carrier" in f.message]
    assert not [f for f in pjsip if "2002" in f.message]
    assert audit_paths([FIXTURES / "strong_asterisk"]).findings == []


def test_guest_settings(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    sip = FIXTURES / "weak_chan_sip" / "sip.conf"
    assert found(chan_sip, "allowguest") == [("sip.conf", line_of(sip, "allowguest=yes"))]
    assert found(chan_sip, "alwaysauthreject-off") == [("sip.conf", line_of(sip, "alwaysauthreject=no"))]
    iax = FIXTURES / "weak_pjsip" / "iax.conf"
    assert found(pjsip, "allowguest") == [("iax.conf", line_of(iax, "[guest]"))]


def test_allowguest_missing_is_the_chan_sip_default(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text("[general]\ncontext=public\n")
    (tmp_path / "extensions.conf").write_text("[public]\nexten => _X.,1,Dial(SIP/trunk/${EXTEN})\n")
    findings = audit_paths([tmp_path]).findings
    guest = [f for f in findings if f.rule.name == "allowguest"]
    assert guest and guest[0].level is Severity.MEDIUM
    assert found(findings, "guest-reaches-international") == [("extensions.conf", 2)]


def test_guest_contexts_that_dial_abroad(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    ext = FIXTURES / "weak_chan_sip" / "extensions.conf"
    hits = [f for f in chan_sip if f.rule.name == "guest-reaches-international"]
    assert [(Path(f.file).name, f.line) for f in hits] == [("extensions.conf", line_of(ext, "_00."))]
    assert "via outbound" in hits[0].message and hits[0].level is Severity.CRITICAL
    pj_ext = FIXTURES / "weak_pjsip" / "extensions.conf"
    assert found(pjsip, "guest-reaches-international") == [("extensions.conf", line_of(pj_ext, "_9011."))]


def test_accounts_without_acl(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    assert {f.message.split()[1] for f in chan_sip if f.rule.name == "account-without-acl"} == {
        "1001", "1002", "1003", "1004", "1005", "1006",
    }  # fmt: skip
    # 2002 has permit/deny and the trunk is pinned by an identify section: only 2001 (and the IAX guest).
    assert sorted(f.message.split()[1] for f in pjsip if f.rule.name == "account-without-acl") == ["2001", "peer"]


def test_ami_on_all_addresses_with_a_weak_secret(chan_sip: list[Finding]) -> None:
    mgr = FIXTURES / "weak_chan_sip" / "manager.conf"
    assert found(chan_sip, "ami-exposed") == [("manager.conf", line_of(mgr, "secret = amp111"))]
    assert found(chan_sip, "ami-without-acl") == [("manager.conf", line_of(mgr, "[admin]"))]


def test_ami_on_loopback_with_a_weak_secret_is_only_medium(tmp_path: Path) -> None:
    (tmp_path / "manager.conf").write_text("[general]\nenabled=yes\nbindaddr=127.0.0.1\n\n[admin]\nsecret=admin\n")
    findings = audit_paths([tmp_path]).findings
    assert [(f.rule.name, f.level) for f in findings] == [("secret-equals-username", Severity.MEDIUM)]


def test_no_tls_and_no_srtp(chan_sip: list[Finding], pjsip: list[Finding]) -> None:
    assert found(chan_sip, "no-tls") and found(chan_sip, "no-srtp")
    assert found(pjsip, "no-tls") == [("pjsip.conf", 1)] and found(pjsip, "no-srtp")


def test_freeswitch() -> None:
    fs = FIXTURES / "freeswitch"
    findings = audit_paths([fs]).findings
    assert found(findings, "freeswitch-default-password") == [
        ("vars.xml", line_of(fs / "vars.xml", "default_password=1234"))
    ]
    assert found(findings, "secret-equals-username") == [("1001.xml", 4)]
    assert sorted(found(findings, "account-without-acl")) == [("1000.xml", 2), ("1001.xml", 2)]
    assert found(findings, "no-tls") and found(findings, "no-srtp")
    assert not [f for f in findings if "1002" in f.message]


def test_freeswitch_user_on_a_changed_default_password(tmp_path: Path) -> None:
    (tmp_path / "vars.xml").write_text('<X-PRE-PROCESS cmd="set" data="default_password=secret"/>\n')
    (tmp_path / "directory").mkdir()
    (tmp_path / "directory" / "u.xml").write_text(
        '<user id="1000">\n<param name="password" value="$${default_password}"/>\n</user>\n'
    )
    findings = audit_paths([tmp_path]).findings
    assert found(findings, "secret-common") == [("u.xml", 2)]


def test_kamailio_stock_config_without_auth() -> None:
    findings = audit_paths([FIXTURES / "kamailio"]).findings
    assert {f.rule.name for f in findings} == {"proxy-without-auth", "proxy-without-flood-limit", "no-tls"}


def test_opensips_with_auth_pike_and_tls_is_clean() -> None:
    assert audit_paths([FIXTURES / "opensips" / "opensips.cfg"]).findings == []


def test_include_and_template_problems_are_reported(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text(
        "[general]\nallowguest=no\n#include missing.conf\n[a](nosuch)\nsecret=Qw8!rT5#yU2@iO9p\ndeny=0.0.0.0/0\n"
        "#include sip.conf\n"
    )
    findings = audit_paths([tmp_path / "sip.conf"]).findings
    problems = [f.message for f in findings if f.rule.name == "config-unreadable"]
    assert any("missing.conf not found" in p for p in problems)
    assert any("template nosuch not found" in p for p in problems)
    assert any("nested too deeply" in p for p in problems)


def test_block_comments_and_escaped_semicolons(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text(
        "[general]\nallowguest=no\n;-- allowguest=yes\nstill a comment --;\n[x]\ntype=peer\n"
        "secret=Kd9\\;w2!Lp7#Qz4r\npermit=192.0.2.1\n"
    )
    findings = audit_paths([tmp_path]).findings
    assert not [f for f in findings if f.rule.name in {"allowguest", "secret-short"}]


def test_unknown_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    report = audit_paths([path])
    assert [(f.rule.name, f.level) for f in report.findings] == [("config-unreadable", Severity.INFO)]
    assert report.exit_code() == 0
