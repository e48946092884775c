"""SIP messages: parse one complete message from bytes, serialize it back (RFC 3261 7).

Header text is decoded as **latin-1**: every byte becomes exactly one character, so decoding never
fails, ``serialize(parse(x))`` gives back the same bytes, no lone surrogates (as ``surrogateescape``
would make) can reach a database or JSON encoder downstream, and it is CPython's fastest codec.
UTF-8 text (display names, reason phrases; RFC 3261 7.3) therefore appears as its raw bytes;
``headers.from_wire_text`` gives the readable form and ``headers.to_wire_text`` prepares Unicode for
a header we build. Raw NUL bytes and bare CRs in the header section are refused: they would break
C consumers and let an echoed header smuggle a line break into our replies.

Speed: a typical 400-byte OPTIONS parses in about 10 microseconds of CPython (~103,000 instructions:
one regex search for the end of headers, one ``split`` into lines, one ``partition`` per header, a
dict lookup per name); structured headers are parsed only when a property asks for them.
``python -m bench sip_codec`` measures it; results are in docs/benchmarks.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from sipwarden.sip.abnf import HEADER_END_RE, METHOD_RE, REQUEST_URI_RE, SIP_VERSION_RE, STATUS_CODE_RE, TOKEN_RE
from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError
from sipwarden.sip.headers import (
    _CANONICAL,
    MULTI_VALUE_HEADERS,
    NameAddr,
    Via,
    canonical_name,
    parse_cseq,
    parse_name_addr,
    parse_via,
    split_header_values,
)
from sipwarden.sip.limits import (
    MAX_BODY_SIZE,
    MAX_CONTENT_LENGTH_DIGITS,
    MAX_CSEQ,
    MAX_HEADER_LINE,
    MAX_HEADERS,
    MAX_MAX_FORWARDS,
    MAX_MESSAGE_SIZE,
    MAX_START_LINE,
    MAX_STATUS,
    MIN_STATUS,
)

__all__ = [
    "Headers",
    "Request",
    "Response",
    "parse_content_length",
    "parse_message",
    "response_to",
    "serialize_message",
    "serialize_request",
    "serialize_response",
]

#: Headers every request must carry (RFC 3261 8.1.1); Max-Forwards is tolerated missing, as proxies do.
MANDATORY_REQUEST_HEADERS: Final = ("Via", "From", "To", "Call-ID", "CSeq")
_MANDATORY: Final = frozenset(MANDATORY_REQUEST_HEADERS)

# Methods scanners send all day (RFC 3261, 3262, 3265, 3428, 3515, 3903, 6086): a set lookup instead of
# a regex match; any other token is still a valid extension method.
_COMMON_METHODS: Final = frozenset(
    {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO",
     "REFER", "MESSAGE", "UPDATE"}
)  # fmt: skip

#: Headers that may appear once; different repeated values are an error (RFC 3261 7.3.1).
_SINGLE_VALUED: Final = frozenset({"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type"})

# Folding (RFC 3261 7.3.1): a line starting with SP/HT continues the previous one; the line break
# and the leading whitespace together count as a single SP.
_FOLD_RE: Final = re.compile(r"\r?\n[ \t]+")


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered (name, value) pairs with canonical names; lookups are case-insensitive."""

    pairs: tuple[tuple[str, str], ...] = ()
    # First value of each canonical name, built once; not part of equality or hashing.
    _first: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self._first is None:
            pairs = tuple((canonical_name(name), value) for name, value in self.pairs)
            first: dict[str, str] = {}
            for name, value in pairs:
                first.setdefault(name, value)
            object.__setattr__(self, "pairs", pairs)
            object.__setattr__(self, "_first", first)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        """Build from (name, value) pairs; names are canonicalised (compact forms expanded)."""
        return cls(tuple(pairs))

    def get(self, name: str) -> str | None:
        """First value of ``name`` (any case, compact form accepted), or None."""
        first = self._first
        assert first is not None
        value = first.get(name)  # callers mostly pass the canonical spelling: one lookup
        return value if value is not None else first.get(canonical_name(name))

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``; comma-joined lists are split for list headers (Via, Contact...)."""
        cname = canonical_name(name)
        values = [value for key, value in self.pairs if key == cname]
        if cname not in MULTI_VALUE_HEADERS:
            return values
        return [item for value in values for item in split_header_values(value)]

    def __contains__(self, name: object) -> bool:
        assert self._first is not None
        return isinstance(name, str) and canonical_name(name) in self._first

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def items(self) -> list[tuple[str, str]]:
        """The (name, value) pairs in message order."""
        return list(self.pairs)

    def with_header(self, name: str, value: str) -> Headers:
        """A copy where ``name`` has the single value ``value`` (at the first one's place, or appended)."""
        cname = canonical_name(name)
        out: list[tuple[str, str]] = []
        placed = False
        for key, old in self.pairs:
            if key != cname:
                out.append((key, old))
            elif not placed:
                out.append((cname, value))
                placed = True
        if not placed:
            out.append((cname, value))
        return Headers(tuple(out))

    def without(self, name: str) -> Headers:
        """A copy with every ``name`` field removed."""
        cname = canonical_name(name)
        return Headers(tuple(pair for pair in self.pairs if pair[0] != cname))


class _MessageFields:
    """Convenience readers shared by Request and Response; structured values parse on access.

    A missing or malformed header raises ``RemoteProtocolError`` (the message came from a peer).
    """

    __slots__ = ()
    headers: Headers

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise RemoteProtocolError(f"missing {name} header")
        return value

    @property
    def call_id(self) -> str:
        """The Call-ID value."""
        return self._required("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) from CSeq."""
        return parse_cseq(self._required("CSeq"))

    @property
    def from_(self) -> NameAddr:
        """The From header, parsed."""
        return parse_name_addr(self._required("From"))

    @property
    def to(self) -> NameAddr:
        """The To header, parsed."""
        return parse_name_addr(self._required("To"))

    @property
    def vias(self) -> list[Via]:
        """Every Via entry, topmost first."""
        return [parse_via(value) for value in self.headers.get_all("Via")]

    @property
    def contact(self) -> NameAddr | None:
        """The first Contact entry, or None."""
        values = self.headers.get_all("Contact")
        return parse_name_addr(values[0]) if values else None

    @property
    def user_agent(self) -> str | None:
        """User-Agent as sent (wire text), or None."""
        return self.headers.get("User-Agent")

    @property
    def content_type(self) -> str | None:
        """Content-Type as sent, or None."""
        return self.headers.get("Content-Type")

    @property
    def max_forwards(self) -> int | None:
        """Max-Forwards (0..255), or None when absent."""
        value = self.headers.get("Max-Forwards")
        return None if value is None else _max_forwards(value)


@dataclass(frozen=True, slots=True)
class Request(_MessageFields):
    """A SIP request. ``uri`` is the Request-URI as sent (parse it with ``headers.parse_uri``)."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


@dataclass(frozen=True, slots=True)
class Response(_MessageFields):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_content_length(value: str) -> int:
    """Content-Length as an int; absurd values are 413, garbage 400 (RFC 3261 20.14)."""
    value = value.strip(" \t")
    if not _is_digits(value):
        raise RemoteProtocolError(f"bad Content-Length {value[:20]!r}")
    if len(value) > MAX_CONTENT_LENGTH_DIGITS or int(value) > MAX_BODY_SIZE:
        raise RemoteProtocolError(f"Content-Length {value[:20]} exceeds {MAX_BODY_SIZE}", error_status_hint=413)
    return int(value)


def _max_forwards(value: str) -> int:
    value = value.strip(" \t")
    # Leading zeros are legal (RFC 4475 3.1.1.1 wsinv sends "0068"); the length cap keeps int() small.
    if not _is_digits(value) or len(value) > MAX_CONTENT_LENGTH_DIGITS or int(value) > MAX_MAX_FORWARDS:
        raise RemoteProtocolError(f"bad Max-Forwards {value[:20]!r}")
    return int(value)


def _check_version(version: str) -> str:
    if version == "SIP/2.0":
        return version
    if SIP_VERSION_RE.fullmatch(version):
        if version.upper() == "SIP/2.0":
            return "SIP/2.0"  # "SIP" is case-insensitive (RFC 3261 7.1)
        raise RemoteProtocolError(f"unsupported version {version[:20]!r}", error_status_hint=505)
    raise RemoteProtocolError(f"bad SIP version {version[:20]!r}")


def parse_message(data: bytes) -> Request | Response:
    """Parse one complete SIP message (a datagram, or one framed by ``StreamFramer``).

    Raises ``RemoteProtocolError`` (and nothing else) for anything unusable.
    """
    if len(data) > MAX_MESSAGE_SIZE:
        raise RemoteProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_SIZE}", error_status_hint=513)
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")  # RFC 3261 7.5: ignore CRLFs before the start line
    if not data:
        raise RemoteProtocolError("empty message")
    end = HEADER_END_RE.search(data)
    if end is None:  # no empty line: tolerate a header-only datagram (the body would be empty)
        head, rest = data.rstrip(b"\r\n"), b""
    else:
        cut = end.start()
        if data[cut - 1 : cut] == b"\r":
            cut -= 1
        head, rest = data[:cut], data[end.end() :]
    if b"\x00" in head:
        raise RemoteProtocolError("NUL byte in header section")
    text = head.decode("latin-1")
    if "\n " in text or "\n\t" in text:
        text = _FOLD_RE.sub(" ", text)
    lines = text.split("\r\n")
    if not len(lines) - 1 == text.count("\n") == text.count("\r"):
        # LF-only or mixed line ends (RFC 3261 7.5 tolerance); a bare CR is never a line end.
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            raise RemoteProtocolError("bare CR in header section")
        lines = text.split("\n")
    if len(lines) > MAX_HEADERS + 1:
        raise RemoteProtocolError(f"more than {MAX_HEADERS} header fields", error_status_hint=513)

    if len(text) > MAX_HEADER_LINE and max(map(len, lines)) > MAX_HEADER_LINE:
        raise RemoteProtocolError(f"header field longer than {MAX_HEADER_LINE}", error_status_hint=513)

    # The hot path: one partition and one dict lookup per line, in comprehensions rather than a loop
    # body; anything unusual (unknown name, space before the colon, no colon) takes _header_name.
    # The header section holds no blank line: it ends at the first one.
    known = _CANONICAL.get
    pairs = [
        ((known(name) if colon else None) or _header_name(name, colon), value.strip(" \t"))
        for name, colon, value in [line.partition(":") for line in lines[1:]]
    ]
    first = dict(reversed(pairs))  # the first value of each name wins
    if len(first) != len(pairs):
        _check_repeated(pairs)
    headers = Headers(tuple(pairs), first)

    length_text = first.get("Content-Length")
    if length_text is None:
        body = rest  # datagram: the body is the rest of it (RFC 3261 18.3)
    else:
        length = parse_content_length(length_text)
        if length > len(rest):
            raise RemoteProtocolError(f"body of {len(rest)} bytes is shorter than Content-Length {length}")
        body = rest[:length]  # extra bytes after the body are dropped (RFC 3261 18.3)

    start = lines[0]
    if len(start) > MAX_START_LINE:
        raise RemoteProtocolError(f"start line longer than {MAX_START_LINE}", error_status_hint=414)
    if start[:4].upper() == "SIP/":
        return _parse_response(start, headers, body)
    return _parse_request(start, headers, body, first)


def _header_name(name: str, colon: str) -> str:
    """Canonical name of an unusual header line."""
    if not colon:
        raise RemoteProtocolError(f"header line without colon: {name[:60]!r}")
    name = name.rstrip(" \t")  # HCOLON allows SP/HT before the colon (RFC 3261 25.1)
    if not TOKEN_RE.fullmatch(name):
        raise RemoteProtocolError(f"bad header name {name[:60]!r}")
    return canonical_name(name)


def _check_repeated(pairs: list[tuple[str, str]]) -> None:
    # A single-valued header given twice with different values makes the message ambiguous: which
    # Call-ID or body length is real depends on the parser (RFC 4475 3.1.2.11 mcl01, 3.1.2.14
    # multi01). Refuse rather than guess; identical repeats are harmless and tolerated.
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name in _SINGLE_VALUED:
            if name == "Content-Length":
                value = str(parse_content_length(value))
            if seen.setdefault(name, value) != value:
                raise RemoteProtocolError(f"conflicting {name} headers")


def _parse_request(start: str, headers: Headers, body: bytes, first: dict[str, str]) -> Request:
    parts = start.split(" ")
    if len(parts) != 3:
        # RFC 4475 3.1.2.8 lwsstart / 3.1.2.9 trws: extra SP between or after the elements is
        # tolerated; whitespace inside the Request-URI (3.1.2.7 lwsruri) still yields 4 parts.
        parts = [part for part in parts if part]
        if len(parts) != 3:
            raise RemoteProtocolError(f"bad request line {start[:80]!r}")
    method, uri, version = parts
    if method not in _COMMON_METHODS and not METHOD_RE.fullmatch(method):
        raise RemoteProtocolError(f"bad method {method[:40]!r}")
    if not REQUEST_URI_RE.fullmatch(uri):
        raise RemoteProtocolError(f"bad Request-URI {uri[:80]!r}")
    version = _check_version(version)
    if not first.keys() >= _MANDATORY:
        missing = [name for name in MANDATORY_REQUEST_HEADERS if name not in first]
        raise RemoteProtocolError(f"missing {', '.join(missing)} header")
    cseq = first["CSeq"]
    number, _, cseq_method = cseq.partition(" ")
    if not (cseq_method == method and _is_digits(number) and len(number) <= 10 and int(number) <= MAX_CSEQ):
        _, cseq_method = parse_cseq(cseq)  # the exact path, for odd spacing; raises on garbage
        if cseq_method != method:
            # RFC 3261 8.1.1.5; RFC 4475 3.1.2.17 mismatch01: the method must match the CSeq method.
            raise RemoteProtocolError(f"CSeq method {cseq_method!r} does not match {method!r}")
    max_forwards = first.get("Max-Forwards")
    if max_forwards is not None and not (_is_digits(max_forwards) and len(max_forwards) <= 2):
        _max_forwards(max_forwards)
    return Request(method, uri, headers, body, version)


def _parse_response(start: str, headers: Headers, body: bytes) -> Response:
    version, _, rest = start.partition(" ")
    version = _check_version(version)
    code, _, reason = rest.lstrip(" ").partition(" ")
    if not STATUS_CODE_RE.fullmatch(code) or not MIN_STATUS <= int(code) <= MAX_STATUS:
        raise RemoteProtocolError(f"bad status code {code[:20]!r}")  # RFC 4475 3.1.2.19 bigcode
    return Response(int(code), reason.strip(" \t"), headers, body, version)


def _serialize(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    has_length = False
    for name, value in headers.pairs:
        if name not in _CANONICAL and not TOKEN_RE.fullmatch(name):
            raise LocalProtocolError(f"bad header name {name!r}")
        if name == "Content-Length":
            if has_length:
                continue
            has_length = True
            value = str(len(body))
        lines.append(f"{name}: {value}")
    if not has_length:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    text = "\r\n".join(lines)
    # One scan instead of one per value: any CR, LF or NUL beyond the ones we joined with is a
    # value trying to inject a header (or a NUL that breaks C parsers).
    breaks = len(lines)
    if text.count("\n") != breaks or text.count("\r") != breaks or "\x00" in text:
        raise LocalProtocolError("CR, LF or NUL inside a start line or header value")
    try:
        return text.encode("latin-1") + body
    except UnicodeEncodeError:
        raise LocalProtocolError("text beyond latin-1: pass Unicode through headers.to_wire_text()") from None


def serialize_request(req: Request) -> bytes:
    """Bytes of a request; Content-Length is set from the body."""
    if not METHOD_RE.fullmatch(req.method):
        raise LocalProtocolError(f"bad method {req.method!r}")
    if not REQUEST_URI_RE.fullmatch(req.uri):
        raise LocalProtocolError(f"bad Request-URI {req.uri!r}")
    if not SIP_VERSION_RE.fullmatch(req.version):
        raise LocalProtocolError(f"bad version {req.version!r}")
    return _serialize(f"{req.method} {req.uri} {req.version}", req.headers, req.body)


def serialize_response(resp: Response) -> bytes:
    """Bytes of a response; Content-Length is set from the body."""
    if not MIN_STATUS <= resp.status <= MAX_STATUS:
        raise LocalProtocolError(f"bad status {resp.status}")
    if not SIP_VERSION_RE.fullmatch(resp.version):
        raise LocalProtocolError(f"bad version {resp.version!r}")
    return _serialize(f"{resp.version} {resp.status} {resp.reason}", resp.headers, resp.body)


def serialize_message(msg: Request | Response) -> bytes:
    """Bytes of a request or response."""
    if isinstance(msg, Request):
        return serialize_request(msg)
    return serialize_response(msg)


#: Headers a response copies from its request (RFC 3261 8.2.6.2).
_COPIED_TO_RESPONSE: Final = frozenset({"Via", "From", "To", "Call-ID", "CSeq", "Record-Route"})


def response_to(
    req: Request,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """A response to ``req``: Via, From, To, Call-ID, CSeq copied (RFC 3261 8.2.6.2), extra headers after.

    ``to_tag`` is added to To when it has none (RFC 3261 8.2.6.2: required except on 100 Trying).
    Record-Route is copied only for 18x/2xx answers (RFC 3261 12.1.1). Raises RemoteProtocolError
    only when ``to_tag`` is given and the request's To header cannot be parsed.
    """
    copy_rr = 180 <= status < 300
    pairs = [
        (name, value)
        for name, value in req.headers.pairs
        if name in _COPIED_TO_RESPONSE and (name != "Record-Route" or copy_rr)
    ]
    if to_tag is not None:
        to_value = req.headers.get("To")
        # Substring test first: most requests (scanners, new dialogs) carry no tag at all.
        if to_value is not None and (";tag=" not in to_value.lower() or parse_name_addr(to_value).tag is None):
            tagged = f"{to_value};tag={to_tag}"
            pairs = [(name, tagged if name == "To" else value) for name, value in pairs]
    pairs.extend(headers)
    return Response(status, reason, Headers(tuple(pairs)), body)
