"""Settings of the SIP honeypot."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from sipwarden.settings_base import Section

#: More UDP worker processes than this is a typo, not a machine (each holds ~100 MB of libraries).
MAX_WORKERS: Final = 64


class HoneypotSettings(Section):
    """`[honeypot]`: where the honeypot listens and whom it pretends to be."""

    enabled: bool = Field(default=True, description="Run the honeypot from `sipwarden run`.")
    listen: list[str] = Field(
        default_factory=lambda: ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"],
        description="Sockets as TRANSPORT:HOST:PORT (udp, tcp, tls); IPv6 hosts in brackets.",
    )
    persona: str = Field(
        default="asterisk",
        description="Which system to imitate: asterisk, asterisk-alwaysauthreject, freeswitch, yealink, polycom.",
    )
    bait_accounts: list[str] = Field(
        default_factory=lambda: ["100-199", "1000-1099"],
        description="Accounts that exist, as numbers or FIRST-LAST ranges; other users get 404 (or 403).",
    )
    accept_own_number: bool = Field(
        default=True, description="A bait account accepts its own number as password (e.g. 100/100)."
    )
    weak_passwords: list[str] = Field(
        default_factory=lambda: ["1234", "12345", "123456", "password", "admin", "0000", "1111", "qwerty"],
        description="Further passwords every bait account accepts until it is first cracked.",
    )
    rtp_ports: str = Field(default="10000-10999", description="FIRST-LAST UDP ports for the audio of answered calls.")
    recordings_dir: str = Field(
        default="", description="Where call audio is written as WAV; empty: <general.data_dir>/recordings."
    )
    max_recording_seconds: int = Field(default=120, ge=1, le=3600, description="Longest recording kept per call.")
    recordings_quota_mb: int = Field(
        default=500, ge=0, description="Disk space for all recordings; when full, calls are answered but not recorded."
    )
    call_timeout_seconds: float = Field(
        default=30.0, gt=0, description="End an answered call after this many seconds without audio."
    )
    max_call_seconds: float = Field(default=300.0, gt=0, description="End any answered call after this long.")
    ring_seconds: str = Field(
        default="2-6",
        description="FIRST-LAST seconds an authenticated call rings before it is answered (picked per call; 0-0 answers at once).",
    )
    nonce_seconds: float = Field(
        default=300.0, gt=0, description="A digest nonce is accepted this long; older ones get 401 with stale=true."
    )
    nonce_secret: str = Field(
        default="",
        description="Key of the nonce MAC, shared by honeypot processes that accept each other's nonces; empty: random per process.",
    )
    rate_per_source: float = Field(
        default=50.0, gt=0, description="Replies per second to one unauthenticated UDP source (token bucket rate)."
    )
    rate_burst: int = Field(default=200, ge=1, description="Replies one UDP source may get in a burst.")
    aggregate_seconds: float = Field(
        default=10.0, ge=0, description="Identical probes from one source within this window become one event."
    )
    udp_receive_buffer: int = Field(
        default=4 * 1024 * 1024,
        ge=0,
        description="SO_RCVBUF of each UDP socket in bytes (capped by net.core.rmem_max); 0: the kernel default.",
    )
    workers: int | Literal["auto"] = Field(
        default=1,
        description="Processes answering UDP (SO_REUSEPORT sockets on one port); 'auto': one per core; 1: in-process.",
    )

    @field_validator("workers")
    @classmethod
    def _workers_in_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= MAX_WORKERS:
            raise ValueError(f"workers must be 'auto' or 1..{MAX_WORKERS}")
        return value

    recovery_tries_per_source: int = Field(
        default=2_000_000,
        ge=0,
        description="Digest guesses spent recovering one source's passwords (CPU bound; 1.1M covers 6 digits).",
    )
    tls_cert: str = Field(default="", description="PEM certificate for tls listeners; empty: self-signed.")
    tls_key: str = Field(default="", description="PEM private key for tls listeners.")
    json_log: str = Field(default="", description="Also append every event as NDJSON to this file; empty: off.")
    webhook: str = Field(default="", description="Also POST every event as JSON to this URL; empty: off.")
