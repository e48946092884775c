"""Log patterns as data: each pattern carries labelled sample lines that prove it.

A `Pattern` is one PBX message (e.g. chan_sip's "Registration from ... failed for ..."). It names a
cheap `trigger` substring that every matching line contains (the prefilter: most log lines are
noise and never reach a regex), a regex over the message, and how to find the source address.

The address rule matters more than the regex (STYLE.md, practice 3). A PBX message often embeds
attacker text (From, Call-ID, User-Agent, dialled number) next to the address the PBX wrote:

* `anchor = "end"`: everything after the address is PBX text (a fixed reason); the regex is anchored
  at `$`, so the greedy attacker field before it cannot move the address slot.
* `anchor = "start"`: everything before the address is PBX text; the regex is anchored there.
* `anchor = "unique"`: attacker text on both sides. Every occurrence of the address slot is found;
  if they disagree, the line is ambiguous and becomes a `malformed` event without an address.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple

from sipwarden.events import EventKind

Family = Literal["asterisk", "freeswitch", "kamailio"]

#: What Kamailio and OpenSIPS print for an absent pseudo-variable ($fU, $ua): no value.
NULL_TEXT: Final = "<null>"
Anchor = Literal["end", "start", "unique"]

#: Longest text accepted as an address slot: "[" + 45-char IPv6 (RFC 4291 with embedded IPv4) + "]:65535".
MAX_HOST_CHARS: Final = 54

# One address slot as PBXs print it: 1.2.3.4, 1.2.3.4:5060, [2001:db8::1]:5060, 2001:db8::1,
# [1.2.3.4]:5060 (PJSIP's pj_sockaddr_print brackets even IPv4). Hex digits, dots, colons and
# brackets only: a hostname never fills the slot, so it is never resolved (no event instead).
ADDR: Final = r"[0-9a-fA-F.:\[\]]{2,54}"


@dataclass(frozen=True, slots=True)
class Sample:
    """A labelled log line: the fields the event must carry (`kind`, `src_ip`, ...)."""

    line: str
    expect: Mapping[str, Any]


_NO_DETAIL: Final[Mapping[str, Any]] = MappingProxyType({})
# Named groups that go to `detail` as they are (PBX context, not Event fields).
_DETAIL_GROUPS: Final = ("contact", "context", "profile", "acl", "tries", "endpoint")


class Found(NamedTuple):
    """What a pattern read from a message, before it becomes an Event.

    A named tuple rather than a frozen dataclass: one is made per recognised log line, and a
    tuple is built in a third of the time (a frozen dataclass sets each field through
    `object.__setattr__`). It is just as immutable.
    """

    kind: EventKind | None  # None: recognised, informational, no event
    fields: Mapping[str, Any]
    reason: str | None = None
    ts_text: str | None = None  # a better time than the envelope's (Asterisk EventTV)
    error: str | None = None  # set: the line is `malformed` (ambiguous or non-IP address)
    detail: Mapping[str, Any] = _NO_DETAIL  # extra detail (contact URI, tries)


Extractor = Callable[["Pattern", "re.Match[str]", str], Found]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One PBX message shape, its event kind, and the samples that prove it."""

    id: str
    family: Family
    kind: EventKind
    trigger: str
    regex: re.Pattern[str]
    samples: tuple[Sample, ...]
    anchor: Anchor = "end"
    #: With anchor "unique": the regex whose `host` group finds every address slot in the message.
    slot: re.Pattern[str] | None = None
    #: Reason text (prefix) -> kind, when the PBX writes why it refused.
    reasons: Mapping[str, EventKind] = field(default_factory=dict)
    #: Unbracketed IPv6 with the port glued on ('2001:db8::20:5060', Asterisk 13.10-16.0 PJSIP).
    glued_port: bool = False
    extract: Extractor | None = None
    #: Source files whose messages this is (Asterisk's envelope names them); empty: any.
    #: A message shape only counts where the PBX module that prints it wrote it.
    files: tuple[str, ...] = ()
    #: The named groups of `regex` that `standard_extract` copies to `detail`, in `_DETAIL_GROUPS`
    #: order (worked out once, not per line).
    detail_groups: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.regex.groupindex
        object.__setattr__(self, "detail_groups", tuple(k for k in _DETAIL_GROUPS if k in names))

    def find(self, message: str) -> Found | None:
        """Match at the start of `message` (the text after the envelope); None if it does not apply."""
        m = self.regex.match(message)
        if m is None:
            return None
        if self.extract is not None:
            return self.extract(self, m, message)
        return standard_extract(self, m, message)


#: Distinct addresses remembered by `parse_host`: attacks repeat the same few addresses (from
#: ever-changing ports), and `ipaddress` parsing is the costliest step of a matched line.
HOST_CACHE_SIZE: Final = 65536


def parse_host(text: str, *, glued_port: bool = False) -> tuple[str, int | None] | None:
    """An address slot as printed by a PBX -> (ip, port); None when it is not an IP address.

    Never resolves names: a hostname where an address belongs is refused, not looked up.
    """
    return _parse_host(text, glued_port)


def _parse_host(text: str, glued_port: bool) -> tuple[str, int | None] | None:
    text = text.strip()
    if not text or len(text) > MAX_HOST_CHARS:
        return None
    port: int | None = None
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            return None
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                return None
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        if not p.isdigit():
            return None
        port = int(p)
    elif glued_port and text.count(":") > 1:
        host, _, p = text.rpartition(":")
        if not p.isdigit():
            return None
        port = int(p)
    else:
        host = text
    if port is not None and not 0 < port < 65536:
        return None
    ip = _ip_text(host)
    return None if ip is None else (ip, port)


@functools.lru_cache(maxsize=HOST_CACHE_SIZE)
def _ip_text(host: str) -> str | None:
    """The canonical text of the IP address `host`, or None when it is not one."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:1.2.3.4 is the IPv4 peer of a dual-stack socket
    return str(ip)


def sip_user(uri_text: str | None) -> str | None:
    """The user part of the first SIP URI in `uri_text` (a From header as the PBX echoed it)."""
    if not uri_text:
        return None
    m = _SIP_USER_RE.search(uri_text)
    return m.group(1) if m else None


_SIP_USER_RE: Final = re.compile(r"sips?:([^@;>\s'\"]+)@")


def reason_kind(pattern: Pattern, reason: str | None) -> EventKind:
    """The event kind for a refusal reason (pattern default when the reason is unknown)."""
    if reason:
        for prefix, kind in pattern.reasons.items():
            if reason.startswith(prefix):
                return kind
    return pattern.kind


def address_fields(pattern: Pattern, host_text: str, message: str) -> tuple[dict[str, Any], str | None]:
    """`src_ip`/`src_port` from the address slot, applying the pattern's anchor rule."""
    glued = pattern.glued_port
    if pattern.anchor == "unique" and pattern.slot is not None:
        seen = {m.group("host") for m in pattern.slot.finditer(message)}
        if len(seen) > 1:  # one distinct slot text is one address: nothing to compare
            hosts = {_parse_host(h, glued) for h in seen}
            if len({h[0] if h else None for h in hosts}) > 1:
                return {}, "ambiguous address: attacker-controlled text repeats the address slot"
    parsed = _parse_host(host_text, glued)
    if parsed is None:
        return {}, f"not an IP address: {host_text[:MAX_HOST_CHARS]!r}"
    ip, port = parsed
    return {"src_ip": ip, "src_port": port}, None


def standard_extract(pattern: Pattern, m: re.Match[str], message: str) -> Found:
    """Named groups -> event fields: host, user, from, ua, method, target, reason, transport."""
    groups = m.groupdict()
    if NULL_TEXT in groups.values():
        groups = {k: v for k, v in groups.items() if v != NULL_TEXT}
    get = groups.get
    fields: dict[str, Any] = {}
    error = None
    host = get("host")
    if host is not None:
        addr, error = address_fields(pattern, host, message)
        if addr:
            fields.update(addr)
            if addr.get("src_port") is None and get("port"):
                fields["src_port"] = int(groups["port"])
    user = get("user")
    if user is None:
        from_text = get("from")
        if from_text is not None:
            user = sip_user(from_text)
    if user:
        fields["username"] = user
    method = get("method")
    if method:
        fields["method"] = method
    target = get("target")
    if target:
        fields["target"] = target
    ua = get("ua")
    if ua is not None:
        fields["user_agent"] = ua
    transport = get("transport")
    if transport:
        fields["transport"] = transport.lower().rstrip("6")
    call_id = get("callid")
    if call_id:
        fields["call_id"] = call_id
    detail = {k: groups[k] for k in pattern.detail_groups if get(k)} if pattern.detail_groups else _NO_DETAIL
    reason = get("reason")
    return Found(reason_kind(pattern, reason), fields, reason, None, error, detail)


def check_patterns(patterns: tuple[Pattern, ...]) -> None:
    """Refuse a pattern table with duplicate ids or a pattern without samples."""
    ids = [p.id for p in patterns]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate pattern ids: {sorted(dupes)}")
    bare = [p.id for p in patterns if not p.samples]
    if bare:
        raise ValueError(f"patterns without samples: {bare}")
    for p in patterns:
        for s in p.samples:
            if p.trigger not in s.line:
                raise ValueError(f"{p.id}: sample lacks the trigger {p.trigger!r}: {s.line}")
