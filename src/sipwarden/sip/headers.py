"""Header names and the structured header values: URIs, name-addr (From/To/Contact), Via, CSeq.

Values are parsed on access, not when the message is parsed (a scanner's OPTIONS is answered
without ever looking inside From). Every parser here raises ``RemoteProtocolError`` on bad input
and nothing else. Text is wire text: latin-1 decoded bytes (see ``message.py``).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, replace
from typing import Final

from sipwarden.sip.abnf import METHOD_RE, SCHEME_RE, TOKEN_RE
from sipwarden.sip.errors import RemoteProtocolError
from sipwarden.sip.limits import MAX_CSEQ, MAX_PARAMS, MAX_PORT

__all__ = [
    "COMPACT_FORMS",
    "MULTI_VALUE_HEADERS",
    "NameAddr",
    "Params",
    "SipUri",
    "Via",
    "canonical_name",
    "from_wire_text",
    "parse_cseq",
    "parse_name_addr",
    "parse_uri",
    "parse_via",
    "split_header_values",
    "to_wire_text",
]

Params = tuple[tuple[str, str | None], ...]

#: Compact header names (RFC 3261 7.3.3 and 20, RFC 3265, 3515, 3892, 4028, 3841, 8224).
COMPACT_FORMS: Final[dict[str, str]] = {
    "v": "Via",
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
}

# Names whose usual spelling is not plain Title-Case, plus the common ones (a dict hit is the fast
# path for every header of a typical message).
_KNOWN_NAMES: Final = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length", "Content-Type",
    "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity", "Identity-Info",
    "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires", "Min-SE", "Organization",
    "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Priority", "Privacy",
    "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Remote-Party-ID", "Reply-To",
    "Request-Disposition", "Require", "Retry-After", "Route", "RSeq", "Server", "Service-Route",
    "Session-Expires", "SIP-ETag", "SIP-If-Match", "Subject", "Subscription-State", "Supported",
    "Timestamp", "To", "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)  # fmt: skip
_CANONICAL: Final[dict[str, str]] = {}
for _name in _KNOWN_NAMES:
    _CANONICAL[_name] = _name
    _CANONICAL[_name.lower()] = _name
for _short, _long in COMPACT_FORMS.items():
    _CANONICAL[_short] = _long
    _CANONICAL[_short.upper()] = _long

#: Headers whose comma-separated values are separate entries (RFC 3261 7.3.1: a header field may
#: appear as a comma-separated list iff its grammar is ``#(...)``).
MULTI_VALUE_HEADERS: Final = frozenset(
    {
        "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
        "Allow-Events", "Call-Info", "Contact", "Content-Encoding", "Content-Language", "Error-Info",
        "In-Reply-To", "P-Asserted-Identity", "P-Preferred-Identity", "Path", "Proxy-Require",
        "Record-Route", "Reject-Contact", "Require", "Route", "Service-Route", "Supported",
        "Unsupported", "Via", "Warning",
    }
)  # fmt: skip


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: compact forms expanded, known names as RFCs spell them.

    ``'i'`` and ``'call-id'`` give ``'Call-ID'``; unknown names become Title-Case (``'x-foo'`` ->
    ``'X-Foo'``) since header names are case-insensitive (RFC 3261 7.3.1).
    """
    known = _CANONICAL.get(name)
    if known is not None:
        return known
    lower = name.lower()
    known = _CANONICAL.get(lower)
    if known is not None:
        return known
    return "-".join(part[:1].upper() + part[1:] for part in lower.split("-"))


def to_wire_text(text: str) -> str:
    """Prepare Unicode text for a header we build: its UTF-8 bytes as wire characters (RFC 3261 7.3)."""
    return text.encode("utf-8").decode("latin-1")


def from_wire_text(wire: str) -> str:
    """Readable text from wire text (display names, reason phrases): UTF-8, bad bytes replaced."""
    return wire.encode("latin-1", "replace").decode("utf-8", "replace")


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts '²' (0xB2 in latin-1); SIP numbers are ASCII DIGIT only.
    return text.isascii() and text.isdigit()


# What matters when splitting a value: quoted-strings (RFC 3261 25.1, with quoted-pairs; an
# unterminated one runs to the end), <...> spans, and the separator. The regex engine skips all the
# rest in C: a 60 KB hostile value costs one scan, not a Python step per character. The quoted-string
# is written as an unrolled loop (runs of plain characters between quoted-pairs), which sre matches
# far faster than an alternation per character, and it always matches once started (no blow-up).
_QUOTED: Final = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?$)'
_SPLIT_RES: Final = {
    (";", False): re.compile(_QUOTED + r"|;", re.S),
    (",", True): re.compile(_QUOTED + r"|<[^>]*(?:>|$)|,", re.S),
}
_QUOTED_STRING_RE: Final = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"', re.S)
_QUOTED_PAIR_RE: Final = re.compile(r"\\(.)", re.S)
_ESCAPED_CHAR: Final = operator.itemgetter(1)  # match -> its group 1


def _split_outside_quotes(text: str, sep: str, *, angle: bool = False) -> list[str]:
    """Split on ``sep`` (';' or ',') outside quoted-strings (and outside <...> when ``angle``)."""
    parts: list[str] = []
    start = 0
    for match in _SPLIT_RES[sep, angle].finditer(text):
        if match.group() == sep:
            parts.append(text[start : match.start()])
            start = match.end()
    parts.append(text[start:])
    return parts


def split_header_values(value: str) -> list[str]:
    """Split a header value on commas outside quotes and <...>; empty entries are dropped."""
    if "," not in value:
        stripped = value.strip(" \t")
        return [stripped] if stripped else []
    pieces = (
        value.split(",") if '"' not in value and "<" not in value else _split_outside_quotes(value, ",", angle=True)
    )
    return [p for p in (piece.strip(" \t") for piece in pieces) if p]


def _parse_params(text: str) -> Params:
    """``a=1;b;c="x;y"`` (the text after the first ';') -> ``(('a','1'), ('b',None), ('c','"x;y"'))``."""
    pieces = _split_outside_quotes(text, ";") if '"' in text else text.split(";")
    if len(pieces) > MAX_PARAMS:
        raise RemoteProtocolError(f"more than {MAX_PARAMS} parameters")
    params: list[tuple[str, str | None]] = []
    for piece in pieces:
        name, eq, value = piece.partition("=")
        name = name.strip(" \t")
        if not name:
            if eq or piece.strip(" \t"):
                raise RemoteProtocolError(f"parameter without a name: {piece!r}")
            continue  # ";;" or a trailing ';': tolerated, nothing to keep
        if not TOKEN_RE.fullmatch(name):
            raise RemoteProtocolError(f"bad parameter name {name!r}")
        params.append((name, value.strip(" \t") if eq else None))
    return tuple(params)


def _param(params: Params, name: str) -> str | None:
    lname = name.lower()
    for key, value in params:
        if key.lower() == lname:
            return value
    return None


def _has_param(params: Params, name: str) -> bool:
    lname = name.lower()
    return any(key.lower() == lname for key, _ in params)


def _serialize_params(params: Params) -> str:
    return "".join(f";{key}" if value is None else f";{key}={value}" for key, value in params)


_HOSTNAME_RE: Final = re.compile(r"[A-Za-z0-9\-._]+")
# IPv6address: hex groups and colons, an optional dotted IPv4 tail; at least one colon.
_IPV6_RE: Final = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){1,7}(?::?\d{1,3}(?:\.\d{1,3}){3})?")
# display-name = *(token LWS) (RFC 3261 25.1), as one pattern instead of a match per word.
_TOKEN_WORDS_RE: Final = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+(?:[ \t]+[A-Za-z0-9\-.!%*_+`'~]+)*")


def _parse_hostport(text: str) -> tuple[str, int | None]:
    """``host[:port]`` or ``[v6]:port`` -> (host without brackets, port)."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise RemoteProtocolError(f"unterminated IPv6 reference {text!r}")
        host = text[1:end]
        # Syntax only (RFC 3261 25.1 IPv6reference); ipaddress.IPv6Address would cost 4 us per URI and
        # nothing here becomes a ban target (only socket addresses do).
        if not _IPV6_RE.fullmatch(host):
            raise RemoteProtocolError(f"bad IPv6 address {host[:60]!r}")
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise RemoteProtocolError(f"junk after IPv6 reference {text!r}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.partition(":")
        if not _HOSTNAME_RE.fullmatch(host):
            raise RemoteProtocolError(f"bad host {host!r}")
        if not colon:
            return host, None
    if not _is_digits(port_text) or len(port_text) > 5 or int(port_text) > MAX_PORT:
        raise RemoteProtocolError(f"bad port {port_text!r}")
    return host, int(port_text)


def _format_host(host: str, port: int | None) -> str:
    text = f"[{host}]" if ":" in host else host
    return text if port is None else f"{text}:{port}"


@dataclass(frozen=True, slots=True)
class SipUri:
    """A sip:, sips: or tel: URI. ``user`` keeps its %-escapes as written (RFC 3261 19.1.1)."""

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str | None = None

    def param(self, name: str) -> str | None:
        """Value of a URI parameter (case-insensitive name); None if absent or valueless."""
        return _param(self.params, name)

    def __str__(self) -> str:
        if self.scheme == "*":
            return "*"
        if self.scheme == "tel":
            return f"tel:{self.user or ''}{_serialize_params(self.params)}"
        text = self.scheme + ":"
        if self.user is not None:
            text += self.user if self.password is None else f"{self.user}:{self.password}"
            text += "@"
        text += _format_host(self.host, self.port) + _serialize_params(self.params)
        return text if self.headers is None else f"{text}?{self.headers}"


_WILDCARD_URI: Final = SipUri("*", None, None, "*")
_SCHEMES: Final = {"sip": "sip", "SIP": "sip", "sips": "sips", "SIPS": "sips", "tel": "tel", "TEL": "tel"}
# Userinfo is escaped text (RFC 3261 25.1): whitespace, controls, quotes and <> are never part of it.
_BAD_USERINFO_RE: Final = re.compile(r'[\x00-\x20\x7f<>"]')


def parse_uri(text: str) -> SipUri:
    """Parse a sip:, sips: or tel: URI (``sip:user:pw@[2001:db8::1]:5060;transport=tcp?h=v``)."""
    text = text.strip(" \t")
    scheme, colon, rest = text.partition(":")
    if not colon:
        raise RemoteProtocolError(f"URI without a scheme: {text[:80]!r}")
    lscheme = _SCHEMES.get(scheme)
    if lscheme is None:
        if not SCHEME_RE.fullmatch(scheme):
            raise RemoteProtocolError(f"URI without a scheme: {text[:80]!r}")
        lscheme = scheme.lower()
        if lscheme not in ("sip", "sips", "tel"):
            raise RemoteProtocolError(f"unsupported URI scheme {scheme[:20]!r}")
    if lscheme == "tel":
        # RFC 3966: tel:+1-201-555-0123;phone-context=... The number is the "user" part.
        number, semi, ptext = rest.partition(";")
        if not number or _BAD_USERINFO_RE.search(number) or "@" in number:
            raise RemoteProtocolError(f"bad tel URI {text[:80]!r}")
        return SipUri("tel", number, None, "", None, _parse_params(ptext) if semi else ())
    user: str | None = None
    password: str | None = None
    at = rest.find("@")
    if at >= 0:
        userinfo, rest = rest[:at], rest[at + 1 :]
        user_part, pcolon, pw = userinfo.partition(":")
        if not user_part or _BAD_USERINFO_RE.search(userinfo):
            raise RemoteProtocolError(f"bad userinfo in URI {text[:80]!r}")
        user = user_part
        password = pw if pcolon else None
    rest, qmark, headers = rest.partition("?")
    hostport, semi, ptext = rest.partition(";")
    host, port = _parse_hostport(hostport)
    return SipUri(lscheme, user, password, host, port, _parse_params(ptext) if semi else (), headers if qmark else None)


def _read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read the quoted-string starting at ``text[start] == '"'``: (unescaped content, index after it)."""
    end = text.find('"', start + 1)
    if end < 0:
        raise RemoteProtocolError("unterminated quoted string")  # RFC 4475 3.1.2.10 quotbal
    if text.find("\\", start + 1, end) < 0:
        return text[start + 1 : end], end + 1  # no quoted-pair: the common case
    match = _QUOTED_STRING_RE.match(text, start)
    if match is None:
        raise RemoteProtocolError("unterminated quoted string")
    # A C callable as the replacement: a template (r"\1") is expanded per match, ten times slower.
    return _QUOTED_PAIR_RE.sub(_ESCAPED_CHAR, match.group(1)), match.end()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From/To/Contact value: optional display name, URI, header parameters (``tag``, ``expires``)."""

    display: str | None
    uri: SipUri
    params: Params = ()

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (RFC 3261 19.3), None when absent."""
        return _param(self.params, "tag")

    @property
    def is_wildcard(self) -> bool:
        """True for ``Contact: *`` (REGISTER removing all bindings, RFC 3261 10.2.2)."""
        return self.uri.scheme == "*"

    def param(self, name: str) -> str | None:
        """Value of a header parameter (case-insensitive name); None if absent or valueless."""
        return _param(self.params, name)

    def with_params(self, **params: str | None) -> NameAddr:
        """A copy with parameters set (e.g. ``with_params(tag="a1b2")``), replacing same-named ones."""
        return replace(self, params=_merge_params(self.params, params))

    def __str__(self) -> str:
        if self.is_wildcard:
            return "*"
        prefix = "" if self.display is None else _quote(self.display) + " "
        return f"{prefix}<{self.uri}>{_serialize_params(self.params)}"


WILDCARD: Final = NameAddr(None, _WILDCARD_URI)


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``"Bob" <sip:bob@h>;tag=1``, ``Bob <sip:bob@h>``, ``sip:a@b;tag=x`` or ``*``."""
    text = text.strip(" \t")
    if text == "*":
        return WILDCARD
    display: str | None
    if text.startswith('"'):
        display, end = _read_quoted(text, 0)
        rest = text[end:].lstrip(" \t")
        if not rest.startswith("<"):
            raise RemoteProtocolError(f"display name without <URI>: {text[:80]!r}")
    elif "<" in text:
        lt = text.index("<")
        display = text[:lt].strip(" \t") or None
        # An unquoted display name is *(token LWS) (RFC 3261 25.1); RFC 4475 3.1.2.15 baddn.
        if display is not None and not _TOKEN_WORDS_RE.fullmatch(display):
            raise RemoteProtocolError(f"unquoted display name with separators: {display[:80]!r}")
        rest = text[lt:]
    else:
        # addr-spec without <>: every ;param belongs to the header, not the URI (RFC 3261 20).
        uri_text, semi, ptext = text.partition(";")
        if "?" in uri_text or "," in uri_text:
            raise RemoteProtocolError(f"URI with ?/, must be in <...>: {text[:80]!r}")
        return NameAddr(None, parse_uri(uri_text), _parse_params(ptext) if semi else ())
    gt = rest.find(">")
    if gt < 0:
        raise RemoteProtocolError(f"unterminated <URI>: {text[:80]!r}")
    uri = parse_uri(rest[1:gt])
    after = rest[gt + 1 :].lstrip(" \t")
    if after and not after.startswith(";"):
        raise RemoteProtocolError(f"junk after <URI>: {after[:80]!r}")
    return NameAddr(display, uri, _parse_params(after[1:]) if after else ())


def _merge_params(params: Params, changes: dict[str, str | None]) -> Params:
    merged = list(params)
    for key, value in changes.items():
        lkey = key.lower()
        for i, (name, _) in enumerate(merged):
            if name.lower() == lkey:
                merged[i] = (name, value)
                break
        else:
            merged.append((key, value))
    return tuple(merged)


@dataclass(frozen=True, slots=True)
class Via:
    """One via-parm: ``SIP/2.0/UDP host:port;branch=z9hG4bK...;rport``."""

    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: Params = ()

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter (RFC 3261 8.1.1.7); None when absent."""
        return _param(self.params, "branch")

    def param(self, name: str) -> str | None:
        """Value of a Via parameter (case-insensitive name); None if absent or valueless."""
        return _param(self.params, name)

    def has_param(self, name: str) -> bool:
        """True when the parameter is present, valued or not (``rport`` is often bare, RFC 3581)."""
        return _has_param(self.params, name)

    def with_params(self, **params: str | None) -> Via:
        """A copy with parameters set; a server adds ``received``/``rport`` (RFC 3261 18.2.1, RFC 3581)."""
        return replace(self, params=_merge_params(self.params, params))

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {_format_host(self.host, self.port)}{_serialize_params(self.params)}"


_VIA_RE: Final = re.compile(r"SIP/2\.0/([A-Za-z]+) ([A-Za-z0-9\-._:\[\]]+)(?:;([^\"]*))?")


def parse_via(text: str) -> Via:
    """Parse one via-parm; LWS around '/', ':' and ';' is allowed (RFC 3261 25.1, RFC 4475 wsinv)."""
    fast = _VIA_RE.fullmatch(text)
    if fast is not None:  # "SIP/2.0/UDP host:port;params", as nearly every UA writes it
        transport, sent_by, ptext = fast.groups()
        host, port = _parse_hostport(sent_by)
        return Via("SIP/2.0", transport.upper(), host, port, _parse_params(ptext) if ptext is not None else ())
    name, slash1, rest = text.partition("/")
    version, slash2, rest = rest.partition("/")
    name = name.strip(" \t")
    version = version.strip(" \t")
    if not slash1 or not slash2 or not TOKEN_RE.fullmatch(name) or not TOKEN_RE.fullmatch(version):
        raise RemoteProtocolError(f"bad Via protocol: {text[:80]!r}")
    rest = rest.lstrip(" \t")
    match = TOKEN_RE.match(rest)  # transport = token (RFC 3261 25.1 other-transport)
    if match is None:
        raise RemoteProtocolError(f"Via without transport: {text[:80]!r}")
    transport = match.group()
    rest = rest[match.end() :]
    if not rest or rest[0] not in " \t":
        raise RemoteProtocolError(f"Via without sent-by: {text[:80]!r}")
    rest = rest.strip(" \t")
    sent_by, semi, ptext = rest.partition(";") if '"' not in rest else _partition_quoted(rest)
    host, port = _parse_hostport(sent_by.replace(" ", "").replace("\t", ""))
    return Via(f"{name.upper()}/{version}", transport.upper(), host, port, _parse_params(ptext) if semi else ())


def _partition_quoted(text: str) -> tuple[str, str, str]:
    head, *tail = _split_outside_quotes(text, ";")
    return (head, ";", ";".join(tail)) if tail else (head, "", "")


def parse_cseq(text: str) -> tuple[int, str]:
    """``'4711 INVITE'`` -> ``(4711, 'INVITE')``; the number must be below 2**31 (RFC 3261 8.1.1.5)."""
    number, _, method = text.strip(" \t").replace("\t", " ").partition(" ")
    method = method.strip(" ")
    if not _is_digits(number) or len(number) > 10 or int(number) > MAX_CSEQ:
        raise RemoteProtocolError(f"bad CSeq number {number[:20]!r}")
    if not METHOD_RE.fullmatch(method):
        raise RemoteProtocolError(f"bad CSeq method {method[:40]!r}")
    return int(number), method
