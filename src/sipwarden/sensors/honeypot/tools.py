"""Recognise attack tools from the request they send.

Fingerprints are data (STYLE.md, practice 4): each `Fingerprint` names the tool, says which field it
looks at and carries sample values proven by tests/honeypot/test_tools.py. Some tools hide their
User-Agent, so SIPVicious is also recognised from its From-tag encoding (`createTag` in
sipvicious/libs/svhelper.py: hex of `DATA\\x01RANDOM`) and its Via branch form `z9hG4bK-<digits>`.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

Field = Literal["user_agent", "from_tag", "body"]


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """One recognisable trait of a tool: a regex over one field, with samples that must match it."""

    tool: str
    field: Field
    pattern: re.Pattern[str]
    samples: tuple[str, ...]


def _fp(tool: str, field: Field, pattern: str, *samples: str) -> Fingerprint:
    return Fingerprint(tool, field, re.compile(pattern, re.IGNORECASE), samples)


#: Ordered: the first match wins, so specific traits (svwar's SDP, svcrack's fixed tag) come before
#: the User-Agents, and weaker tag traits after them.
FINGERPRINTS: Final[tuple[Fingerprint, ...]] = (
    # svwar offers this SDP with INVITE scans (sipvicious/svwar.py, _invite_body).
    _fp("sipvicious/svwar", "body", r"^s=svwar\r?$", "s=svwar"),
    # svcrack's first REGISTER always carries this literal tag (svcrack.py, Register()).
    _fp("sipvicious/svcrack", "from_tag", r"^3206210844$", "3206210844"),
    _fp("sipvicious", "user_agent", r"friendly-scanner", "friendly-scanner"),
    _fp("sipvicious", "user_agent", r"sipvicious", "sipvicious", "SIPVicious 0.3.4"),
    _fp("sippts", "user_agent", r"^pplsip\b", "pplsip"),
    _fp("sipcli", "user_agent", r"^sipcli\b", "sipcli/v1.8"),
    _fp("vaxsip", "user_agent", r"VaxSIPUserAgent", "VaxSIPUserAgent/3.1"),
    _fp("nmap", "user_agent", r"Nmap NSE", "Nmap NSE"),
    _fp("sundayddr", "user_agent", r"sundayddr", "sundayddr"),
    _fp("sipsak", "user_agent", r"^sipsak\b", "sipsak 0.9.8.1"),
    _fp("sipp", "user_agent", r"^SIPp\b", "SIPp/Linux"),
    _fp("sip-scan", "user_agent", r"^sip-scan\b", "sip-scan"),
    _fp("smap", "user_agent", r"^smap\b", "smap"),
    _fp("iwar", "user_agent", r"^iWar\b", "iWar"),
    _fp("cantina", "user_agent", r"^Cantina\b", "Cantina"),
    _fp("sipbomber", "user_agent", r"SIPBomber", "SIPBomber"),
    # SIPp's built-in scenarios tag From as `[pid]SIPpTag00[call_number]`.
    _fp("sipp", "from_tag", r"SIPpTag\d*$", "12345SIPpTag001", "7SIPpTag01"),
    # nmap's SIP service probe (nmap-service-probes, SIPOptions) and sip.lua use `nm` names and tags.
    _fp("nmap", "from_tag", r"^(root|nm\w*)$", "root", "nm1a2b"),
)

_HEX_TAG: Final = re.compile(r"^(?:[0-9a-f]{2}){2,128}$", re.IGNORECASE)
#: svmap's tag DATA: the scanned address in hex (IPv4 `%02x` x4, IPv6 groups joined) + port `%04x`.
_SVMAP_TARGET: Final = re.compile(r"^[0-9a-f]{12,36}$")
#: SIPVicious builds branches as `z9hG4bK-` + random.getrandbits(32) in decimal.
_SV_BRANCH: Final = re.compile(r"^z9hG4bK-\d{1,10}$")


def decode_sipvicious_tag(tag: str | None) -> str | None:
    """The DATA that SIPVicious hid in a From tag (`hex(DATA + b'\\x01' + RANDOM)`), or None."""
    if not tag or not _HEX_TAG.match(tag):
        return None
    try:
        raw = binascii.unhexlify(tag)
    except (binascii.Error, ValueError):
        return None
    data, sep, rnd = raw.partition(b"\x01")
    if not sep or not rnd.isdigit():
        return None
    return data.decode("utf-8", "replace")


def svcrack_password(tag: str | None, username: str) -> str | None:
    """The password svcrack tried, from its From tag `hex(user:password\\x01rnd)`, or None."""
    data = decode_sipvicious_tag(tag)
    if data is None or not data.startswith(username + ":"):
        return None
    return data[len(username) + 1 :]


def recognise(
    *,
    user_agent: str | None,
    from_tag: str | None,
    branch: str | None,
    method: str,
    body: bytes = b"",
    to_user: str | None = None,
) -> str | None:
    """Name the tool that sent a request (`sipvicious/svcrack`, `sippts`...), or None."""
    sv_data = decode_sipvicious_tag(from_tag)
    if sv_data is not None:
        return _sipvicious_flavour(sv_data, method, to_user)
    if body:
        body_lines = body[:2048].decode("latin-1").splitlines()
        tool = next((fp.tool for fp in _BODY if any(fp.pattern.match(line) for line in body_lines)), None)
        if tool is not None:
            return tool
    if from_tag and (match := _TAG_BEFORE_USER_AGENT.match(from_tag)) is not None:
        return _TAG_TOOLS[match.lastgroup or ""]
    tool = _by_user_agent(user_agent) if user_agent else None
    if tool is not None:
        return tool
    if from_tag and (match := _TAG_AFTER_USER_AGENT.match(from_tag)) is not None:
        return _TAG_TOOLS[match.lastgroup or ""]
    if branch and _SV_BRANCH.match(branch) and not user_agent:
        # compact mode (`-c`) drops the User-Agent but keeps the branch form.
        return "sipvicious"
    return None


_FIRST_UA: Final = next(i for i, fp in enumerate(FINGERPRINTS) if fp.field == "user_agent")
#: Body traits all come before the User-Agents (the table's order), so they are tried first.
_BODY: Final = tuple(fp for fp in FINGERPRINTS if fp.field == "body")
assert all(fp.field == "body" for fp in FINGERPRINTS[: len(_BODY)]), "body traits must head the table"
#: User-Agent traits are tried as one group, at the place of the first of them.
_USER_AGENT: Final = tuple(fp for fp in FINGERPRINTS if fp.field == "user_agent")
_TAG_TOOLS: Final = {f"t{i}": fp.tool for i, fp in enumerate(FINGERPRINTS) if fp.field == "from_tag"}


def _combined_tag_pattern(indexes: range) -> re.Pattern[str]:
    """One regex for the From-tag traits in `indexes`, the first of them (in table order) that matches
    anywhere wins: each trait is a lookahead tried at position 0, in order, so a flood pays one regex
    call instead of one per trait. The group name says which trait matched."""
    parts = [
        f"(?=.*?(?:{fp.pattern.pattern}))(?P<t{i}>)" for i in indexes if (fp := FINGERPRINTS[i]).field == "from_tag"
    ]
    return re.compile("|".join(parts) or r"(?!)", re.IGNORECASE | re.DOTALL)


_TAG_BEFORE_USER_AGENT: Final = _combined_tag_pattern(range(_FIRST_UA))
_TAG_AFTER_USER_AGENT: Final = _combined_tag_pattern(range(_FIRST_UA, len(FINGERPRINTS)))


@lru_cache(maxsize=4096)
def _by_user_agent(user_agent: str) -> str | None:
    """The tool a User-Agent names. Cached: a flood repeats one User-Agent (bounded LRU)."""
    return next((fp.tool for fp in _USER_AGENT if fp.pattern.search(user_agent)), None)


def _sipvicious_flavour(data: str, method: str, to_user: str | None) -> str:
    """svcrack hides `user:password`, svmap the scanned address, svwar the extension."""
    if ":" in data and method == "REGISTER":
        return "sipvicious/svcrack"
    if _SVMAP_TARGET.match(data) and data != to_user:
        return "sipvicious/svmap"
    # svwar tags each request with the extension it tries.
    return "sipvicious/svwar"
