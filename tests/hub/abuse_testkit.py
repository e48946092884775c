"""Helpers of the abuse desk tests: a loopback SMTP sink (aiosmtpd), the test networks served by the
RDAP fixture, and a parsed view of a received report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hub_testkit import free_port
from rdapfixture import RdapFixture, network_doc

# Public addresses used as data only (the hub refuses to list documentation ranges; see hub_testkit).
NET1, NET1_IP, NET1_OTHER = "45.134.26.0/24", "45.134.26.7", "45.134.26.99"
NET2, NET2_IP, NET2_OTHER = "185.53.88.0/22", "185.53.88.10", "185.53.90.20"
NET6, NET6_IP = "2a01:4f8::/32", "2a01:4f8::99"
ABUSE1, ABUSE2 = "abuse@net-one.example", "abuse@net-two.example"


def add_test_networks(rdap: RdapFixture) -> None:
    """Two networks with abuse mailboxes and an IPv6 one without."""
    rdap.add(network_doc(NET1, "NET-ONE", country="NL", abuse=ABUSE1, asn=64501))
    rdap.add(network_doc(NET2, "NET-TWO", country="RU", abuse=ABUSE2, nested=False))
    rdap.add(network_doc(NET6, "NET-SIX", country="DE"))


@dataclass
class Received:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def parts(self) -> list[EmailMessage]:
        return [p for p in self.message.iter_parts() if isinstance(p, EmailMessage)]

    def report(self) -> dict[str, Any]:
        """The X-ARF report part (the second part), parsed as YAML."""
        data = yaml.safe_load(self.parts()[1].get_content())
        assert isinstance(data, dict)
        return data

    def evidence(self) -> list[str]:
        return str(self.parts()[2].get_content()).splitlines()


@dataclass
class SmtpSink:
    """Messages received by the loopback SMTP server."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        msg = message_from_bytes(content, policy=policy.SMTP)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 OK"


@contextmanager
def smtp_sink(port: int | None = None) -> Iterator[SmtpSink]:
    """An SMTP server on 127.0.0.1 that keeps every message it is sent."""
    sink = SmtpSink(port=port or free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port, ready_timeout=10)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()
