"""Sending reports by SMTP (`smtplib`), only when `[hub.abuse] smtp_enabled` says so.

The message is the one the admin approved, byte for byte, except its Date header, which is set to
the moment it leaves (RFC 5322 3.6.1: the date the message was submitted).
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from datetime import datetime
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import format_datetime

from sipwarden.hub.abuse.settings import AbuseSettings


class SmtpDisabled(RuntimeError):
    """`[hub.abuse] smtp_enabled` is false: nothing may be sent."""


class Mailer:
    """Delivers stored report messages through the configured SMTP server."""

    def __init__(
        self,
        settings: AbuseSettings,
        *,
        smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        """Send with `settings`; the factory and TLS context are parameters for tests."""
        self.settings = settings
        self.smtp_factory = smtp_factory
        self.tls_context = tls_context or ssl.create_default_context()

    def send(self, message_text: str, recipient: str, now: datetime) -> None:
        """Send one stored message to `recipient`; raises SmtpDisabled, smtplib.SMTPException or OSError."""
        s = self.settings
        if not s.smtp_enabled:
            raise SmtpDisabled("smtp_enabled is false in [hub.abuse]")
        if not s.from_address:
            raise SmtpDisabled("from_address is empty in [hub.abuse]")
        msg = message_from_string(message_text, policy=policy.SMTP)
        assert isinstance(msg, EmailMessage)
        del msg["Date"]
        msg["Date"] = format_datetime(now)
        with self.smtp_factory(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            smtp.ehlo()
            if s.smtp_starttls:
                # RFC 3207: never send credentials or reports in the clear when TLS was asked for;
                # starttls() raises SMTPNotSupportedError when the server does not offer it.
                smtp.starttls(context=self.tls_context)
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            # The envelope recipient is the stored, checked mailbox, never a header re-read from text.
            smtp.send_message(msg, from_addr=s.from_address, to_addrs=[recipient])
