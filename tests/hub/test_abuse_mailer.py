"""SMTP delivery of reports with STARTTLS and login, against aiosmtpd on loopback with a throwaway
certificate: credentials never travel before TLS, and refusals become clear errors."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from abuse_testkit import SmtpSink, free_port
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sipwarden.hub.abuse.mailer import Mailer, SmtpDisabled
from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.hub.abuse.xarf import ReportFacts, build_report
from sipwarden.intel.ownership import Owner

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FACTS = ReportFacts(
    report_id="01JTEST@hub.example",
    ip="198.51.100.7",
    owner=Owner(network="198.51.100.0/24", name="DOC-NET-2", asn=64502, country="DE", abuse_email="abuse@two.example"),
    recipient="abuse@two.example",
    reporter="Example VoIP Ltd",
    from_address="desk@hub.example",
    tlp="amber",
    first_seen=NOW,
    last_seen=NOW,
    events=3,
    port=5060,
    evidence=["2026-11-25T08:00:00Z 198.51.100.7:5060 udp probe OPTIONS ua='friendly-scanner'"],
    user_agent="sipwarden/test",
)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made by openssl for this test run only."""
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class TlsSink(SmtpSink):
    logins: list[tuple[str, str, bool]]

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((user, password, session.ssl is not None))
        return AuthResult(success=(user, password) == ("desk", "s3cret"), handled=False)


@pytest.fixture
def tls_sink(certificate: tuple[Path, Path]) -> Iterator[TlsSink]:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    sink = TlsSink(port=free_port())
    sink.logins = []
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=sink.port,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=sink.authenticate,
        auth_required=True,
        auth_require_tls=True,
        ready_timeout=10,
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def mailer(sink: SmtpSink, cert: Path, **changes: Any) -> Mailer:
    values: dict[str, Any] = {
        "smtp_enabled": True,
        "from_address": "desk@hub.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port,
        "smtp_user": "desk",
        "smtp_password": "s3cret",
        "smtp_timeout_seconds": 10,
    }
    values.update(changes)
    return Mailer(AbuseSettings.model_validate(values), tls_context=ssl.create_default_context(cafile=str(cert)))


def test_starttls_then_login_then_the_report(tls_sink: TlsSink, certificate: tuple[Path, Path]) -> None:
    text = build_report(FACTS, now=NOW).as_string()
    mailer(tls_sink, certificate[0]).send(text, "abuse@two.example", NOW)
    assert tls_sink.logins == [("desk", "s3cret", True)]  # the password went over TLS only
    [got] = tls_sink.received
    assert got.rcpt_tos == ["abuse@two.example"] and got.mail_from == "desk@hub.example"
    assert got.message["X-XARF"] == "PLAIN"
    assert got.report()["TLP"] == "amber" and got.report()["Source"] == "198.51.100.7"


def test_refusals_are_errors_and_nothing_is_delivered(tls_sink: TlsSink, certificate: tuple[Path, Path]) -> None:
    text = build_report(FACTS, now=NOW).as_string()
    with pytest.raises(smtplib.SMTPAuthenticationError):
        mailer(tls_sink, certificate[0], smtp_password="wrong").send(text, "abuse@two.example", NOW)
    # Without STARTTLS this server refuses to go on; the password is never offered in the clear.
    with pytest.raises(smtplib.SMTPException):
        mailer(tls_sink, certificate[0], smtp_starttls=False).send(text, "abuse@two.example", NOW)
    assert all(over_tls for _, _, over_tls in tls_sink.logins)
    # A certificate we do not trust stops the session before anything is sent.
    untrusting = Mailer(mailer(tls_sink, certificate[0]).settings)  # the system's CAs only
    with pytest.raises(ssl.SSLError):
        untrusting.send(text, "abuse@two.example", NOW)
    assert tls_sink.received == []


def test_nothing_is_sent_while_disabled_or_without_a_sender(tls_sink: TlsSink, certificate: tuple[Path, Path]) -> None:
    text = build_report(FACTS, now=NOW).as_string()
    with pytest.raises(SmtpDisabled, match="smtp_enabled"):
        mailer(tls_sink, certificate[0], smtp_enabled=False).send(text, "abuse@two.example", NOW)
    with pytest.raises(SmtpDisabled, match="from_address"):
        mailer(tls_sink, certificate[0], from_address="").send(text, "abuse@two.example", NOW)
    assert tls_sink.received == [] and tls_sink.logins == []
