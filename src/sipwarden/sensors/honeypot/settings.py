"""Settings of the SIP honeypot."""

from __future__ import annotations

from pydantic import Field

from sipwarden.settings_base import Section


class HoneypotSettings(Section):
    """`[honeypot]`: where the honeypot listens and whom it pretends to be."""

    enabled: bool = Field(default=True, description="Run the honeypot from `sipwarden run`.")
    listen: list[str] = Field(
        default_factory=lambda: ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"],
        description="Sockets as TRANSPORT:HOST:PORT (udp, tcp, tls); IPv6 hosts in brackets.",
    )
