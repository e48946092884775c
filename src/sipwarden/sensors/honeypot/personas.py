"""Whom the honeypot pretends to be: header values and answer choices of real systems.

A persona is data. A scanner that fingerprints by Server/User-Agent, Allow, Supported and by which
status an unknown account gets (Asterisk answers 404 unless `alwaysauthreject=yes`, then 401 and
403) sees what it would see on the real system, never one static sipwarden fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from sipwarden.sensors.honeypot.nonces import NonceStyle
from sipwarden.sip.errors import LocalProtocolError


@dataclass(frozen=True, slots=True)
class Persona:
    """Header values and answer policy of one imitated system."""

    name: str
    #: `Server` for a PBX, `User-Agent` for a phone (phones send User-Agent in responses too).
    agent_header: Literal["Server", "User-Agent"]
    agent: str
    realm: str
    allow: str
    supported: str
    accept: str = "application/sdp"
    #: Status for an account that does not exist: 404 (Asterisk default) or "challenge" (alwaysauthreject:
    #: every user gets 401, and wrong credentials 403, so accounts cannot be enumerated).
    unknown_user: Literal["404", "challenge"] = "404"
    #: Digest `qop` offered; Asterisk 16 (chan_pjsip) offers auth, chan_sip offered none.
    qop: str | None = "auth"
    session_name: str = "Asterisk"
    sdp_username: str = "-"
    #: How its digest nonces look: chan_pjsip `<unix time>/<32 hex>`, FreeSWITCH a UUID, phones hex.
    nonce_style: NonceStyle = "asterisk"
    #: Host name (CN and subjectAltName) and organisation of its self-signed TLS certificate: what
    #: the system's installer names the box by default.
    tls_name: str = "freepbx.sangoma.local"
    tls_organisation: str | None = None
    #: Rings with 183 Session Progress and the SDP answer, playing ringback as early media (RFC 3960),
    #: as FreeSWITCH does when it bridges a call; otherwise 180 Ringing without SDP (Asterisk Dial()).
    early_media: bool = False


_ASTERISK_ALLOW: Final = (
    "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER"
)

PERSONAS: Final[dict[str, Persona]] = {
    p.name: p
    for p in (
        Persona(
            name="asterisk",
            agent_header="Server",
            agent="FPBX-16.0.33(18.13.0)",
            realm="asterisk",
            allow=_ASTERISK_ALLOW,
            supported="100rel, timer, replaces, norefersub, histinfo",
        ),
        Persona(
            name="asterisk-alwaysauthreject",
            agent_header="Server",
            agent="FPBX-15.0.23(16.25.0)",
            realm="asterisk",
            allow=_ASTERISK_ALLOW,
            supported="100rel, timer, replaces, norefersub",
            unknown_user="challenge",
        ),
        Persona(
            name="freeswitch",
            agent_header="Server",
            agent="FreeSWITCH-mod_sofia/1.10.9-release~64bit",
            realm="pbx.local",
            allow="INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, INFO, UPDATE, REGISTER, REFER, NOTIFY",
            supported="timer, path, replaces",
            unknown_user="challenge",
            session_name="FreeSWITCH",
            sdp_username="FreeSWITCH",
            nonce_style="uuid",
            tls_name="FreeSWITCH",
            tls_organisation="FreeSWITCH",
            early_media=True,
        ),
        Persona(
            name="yealink",
            agent_header="User-Agent",
            agent="Yealink SIP-T46S 66.86.0.15",
            realm="yealink",
            allow="INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, PUBLISH, UPDATE, MESSAGE",
            supported="replaces, timer",
            session_name="SDP data",
            nonce_style="hex",
            tls_name="yealink.local",
            tls_organisation="Yealink",
        ),
        Persona(
            name="polycom",
            agent_header="User-Agent",
            agent="PolycomVVX-VVX_410-UA/6.4.0.0000",
            realm="polycom",
            allow="INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, MESSAGE, SUBSCRIBE, NOTIFY, PRACK, UPDATE, REFER",
            supported="100rel, replaces",
            session_name="Polycom IP Phone",
            nonce_style="hex",
            tls_name="polycom.local",
            tls_organisation="Polycom",
        ),
    )
}


def get_persona(name: str) -> Persona:
    """The preset called `name`; a LocalProtocolError lists the known names otherwise."""
    try:
        return PERSONAS[name]
    except KeyError:
        raise LocalProtocolError(f"unknown persona {name!r}; known: {', '.join(sorted(PERSONAS))}") from None
