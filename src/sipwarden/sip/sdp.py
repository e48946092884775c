"""SDP (RFC 8866, formerly RFC 4566) and the offer/answer choice of a codec (RFC 3264).

Only what a SIP endpoint that answers calls needs: origin, session name, connection addresses,
media lines with their rtpmap and other attributes. Other lines (i=, u=, e=, p=, b=, r=, z=, k=)
are accepted and dropped. Parsing is tolerant of bare LF line ends, as RFC 8866 5 asks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "Media",
    "SessionDescription",
    "make_answer",
    "parse_sdp",
    "serialize_sdp",
]

#: Bound on an SDP body. A rich offer (audio, video, ICE candidates, DTLS fingerprints) is 2-4 KiB;
#: 16 KiB leaves room while keeping a hostile body from costing much.
MAX_SDP_BYTES: Final = 16 * 1024
#: Bound on m= lines: conferencing offers carry a handful, nothing honest carries more.
MAX_MEDIA: Final = 16
#: Bound on format numbers in one m= line; 128 is every RTP payload type there is.
MAX_FORMATS: Final = 128
#: Bound on a= lines per session or media section (ICE candidate lists are the longest seen).
MAX_ATTRIBUTES: Final = 128

#: RFC 3551 table 4: static audio payload types -> (encoding name, clock rate).
STATIC_PAYLOAD_TYPES: Final[dict[int, tuple[str, int]]] = {
    0: ("PCMU", 8000),
    3: ("GSM", 8000),
    4: ("G723", 8000),
    5: ("DVI4", 8000),
    6: ("DVI4", 16000),
    7: ("LPC", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),
    10: ("L16", 44100),
    11: ("L16", 44100),
    12: ("QCELP", 8000),
    13: ("CN", 8000),
    14: ("MPA", 90000),
    15: ("G728", 8000),
    16: ("DVI4", 11025),
    17: ("DVI4", 22050),
    18: ("G729", 8000),
}

#: Codecs `make_answer` can speak, by the static payload type that names them in `supported`.
_CODECS: Final[dict[int, str]] = {0: "PCMU", 8: "PCMA"}
#: The `supported` entry that means "accept telephone-event (RFC 4733) at the offer's payload type".
TELEPHONE_EVENT_PT: Final = 101

_DIRECTIONS: Final = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}
_RTP_PROTOS: Final = frozenset({"RTP/AVP", "RTP/AVPF"})


@dataclass(frozen=True, slots=True)
class Media:
    """One m= section."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    #: (payload type, encoding name, clock rate): explicit a=rtpmap lines, plus RFC 3551 static
    #: defaults for listed static payload types that have none.
    rtpmap: tuple[tuple[int, str, int], ...]
    connection: str | None = None
    #: Every other a= line of the section as (name, value or None), in order.
    attributes: tuple[tuple[str, str | None], ...] = ()

    def encoding(self, payload_type: int) -> tuple[str, int] | None:
        """(encoding name, clock rate) of a payload type of this section, or None."""
        for pt, name, rate in self.rtpmap:
            if pt == payload_type:
                return name, rate
        return None

    def attribute(self, name: str) -> str | None:
        """The value of the first a=`name` line (None when absent or a flag)."""
        for key, value in self.attributes:
            if key == name:
                return value
        return None


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A parsed SDP body."""

    origin: str  # the o= value: "<username> <sess-id> <sess-version> IN IP4 <address>"
    session_name: str
    connection: str | None  # the session-level c= address
    media: tuple[Media, ...]
    attributes: tuple[tuple[str, str | None], ...] = ()
    timing: str = "0 0"

    def audio(self) -> Media | None:
        """The first audio stream that is not rejected (port 0), or None."""
        for m in self.media:
            if m.kind == "audio" and m.port != 0:
                return m
        return None

    def remote_rtp_address(self) -> tuple[str, int] | None:
        """Where the peer wants audio: media-level c= beats session-level (RFC 8866 5.7).

        None unless the address is an IP literal (never a name to resolve) and not 0.0.0.0/::,
        which old user agents use to put a call on hold (RFC 3264 8.4).
        """
        audio = self.audio()
        if audio is None:
            return None
        address = audio.connection or self.connection
        if address is None:
            return None
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.is_unspecified:
            return None
        return str(ip), audio.port


def _connection_address(value: str) -> str:
    # c=<nettype> <addrtype> <connection-address>; multicast may carry /ttl/count (RFC 8866 5.7)
    parts = value.split()
    if len(parts) != 3 or parts[0] != "IN" or parts[1] not in ("IP4", "IP6"):
        raise RemoteProtocolError(f"SDP: bad connection line {value[:80]!r}")
    return parts[2].split("/", 1)[0]


def _attribute(value: str) -> tuple[str, str | None]:
    name, sep, rest = value.partition(":")
    if not name:
        raise RemoteProtocolError("SDP: empty attribute name")
    return name, (rest if sep else None)


def _rtpmap(value: str) -> tuple[int, str, int]:
    # a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
    pt_text, _, spec = value.partition(" ")
    pieces = spec.strip().split("/")
    try:
        pt = int(pt_text)
        rate = int(pieces[1])
    except (ValueError, IndexError):
        raise RemoteProtocolError(f"SDP: bad rtpmap {value[:80]!r}") from None
    if not 0 <= pt <= 127 or not pieces[0] or rate <= 0:
        raise RemoteProtocolError(f"SDP: bad rtpmap {value[:80]!r}")
    return pt, pieces[0], rate


class _MediaBuilder:
    def __init__(self, value: str) -> None:
        parts = value.split()
        if len(parts) < 3:
            raise RemoteProtocolError(f"SDP: bad media line {value[:80]!r}")
        port_text = parts[1].split("/", 1)[0]  # <port>/<number of ports>
        if not port_text.isdigit() or int(port_text) > 65535:
            raise RemoteProtocolError(f"SDP: bad media port {parts[1][:20]!r}")
        if len(parts) - 3 > MAX_FORMATS:
            raise RemoteProtocolError("SDP: too many formats")
        self.kind, self.port, self.proto = parts[0], int(port_text), parts[2]
        self.formats = tuple(parts[3:])
        self.connection: str | None = None
        self.rtpmap: list[tuple[int, str, int]] = []
        self.attributes: list[tuple[str, str | None]] = []

    def build(self) -> Media:
        explicit = {pt for pt, _, _ in self.rtpmap}
        rtpmap = list(self.rtpmap)
        if self.proto in _RTP_PROTOS:
            for fmt in self.formats:
                if fmt.isdigit() and int(fmt) in STATIC_PAYLOAD_TYPES and int(fmt) not in explicit:
                    name, rate = STATIC_PAYLOAD_TYPES[int(fmt)]
                    rtpmap.append((int(fmt), name, rate))
        order = {fmt: i for i, fmt in enumerate(self.formats)}
        rtpmap.sort(key=lambda entry: order.get(str(entry[0]), len(order)))
        return Media(
            kind=self.kind,
            port=self.port,
            proto=self.proto,
            formats=self.formats,
            rtpmap=tuple(rtpmap),
            connection=self.connection,
            attributes=tuple(self.attributes),
        )


def parse_sdp(body: bytes) -> SessionDescription:
    """Parse an SDP body; RemoteProtocolError (hint 400) on garbage."""
    if len(body) > MAX_SDP_BYTES:
        raise RemoteProtocolError(f"SDP body larger than {MAX_SDP_BYTES} bytes", error_status_hint=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteProtocolError("SDP body is not UTF-8") from None
    lines = [line.rstrip("\r") for line in text.split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0].strip() != "v=0":
        raise RemoteProtocolError("SDP must start with v=0")
    origin = ""
    session_name = "-"  # RFC 8866 5.3: "-" when there is no name
    timing = "0 0"
    connection: str | None = None
    session_attributes: list[tuple[str, str | None]] = []
    media: list[_MediaBuilder] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # RFC 8866 forbids blank lines, but some user agents emit one; it carries nothing
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise RemoteProtocolError(f"SDP line {number} is not <type>=<value>")
        kind, value = line[0], line[2:]
        current = media[-1] if media else None
        if kind == "m":
            if len(media) >= MAX_MEDIA:
                raise RemoteProtocolError(f"SDP: more than {MAX_MEDIA} media sections")
            media.append(_MediaBuilder(value))
        elif kind == "c":
            if current is None:
                connection = _connection_address(value)
            else:
                current.connection = _connection_address(value)
        elif kind == "a":
            target = session_attributes if current is None else current.attributes
            if len(target) >= MAX_ATTRIBUTES:
                raise RemoteProtocolError(f"SDP: more than {MAX_ATTRIBUTES} attributes in a section")
            name, attr_value = _attribute(value)
            if current is not None and name == "rtpmap" and attr_value is not None:
                current.rtpmap.append(_rtpmap(attr_value))
            else:
                target.append((name, attr_value))
        elif current is None and kind == "o":
            origin = value
        elif current is None and kind == "s":
            session_name = value
        elif current is None and kind == "t":
            timing = value
        elif kind == "v":
            raise RemoteProtocolError(f"SDP line {number}: a second v= line")
    return SessionDescription(
        origin=origin,
        session_name=session_name,
        connection=connection,
        media=tuple(m.build() for m in media),
        attributes=tuple(session_attributes),
        timing=timing,
    )


def _addr_type(address: str) -> str:
    return "IP6" if ":" in address else "IP4"


def _check_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise LocalProtocolError("an SDP value may not contain CR or LF")
    return value


def _attribute_lines(attributes: Sequence[tuple[str, str | None]]) -> list[str]:
    return [_check_line(f"a={name}" if value is None else f"a={name}:{value}") for name, value in attributes]


def serialize_sdp(sd: SessionDescription) -> bytes:
    """The SDP body for `sd`, with CRLF line ends (RFC 8866 5)."""
    lines = ["v=0", f"o={sd.origin}", f"s={sd.session_name or '-'}"]
    if sd.connection is not None:
        lines.append(f"c=IN {_addr_type(sd.connection)} {sd.connection}")
    lines.append(f"t={sd.timing}")
    lines += _attribute_lines(sd.attributes)
    for m in sd.media:
        lines.append(" ".join((f"m={m.kind}", str(m.port), m.proto, *m.formats)))
        if m.connection is not None:
            lines.append(f"c=IN {_addr_type(m.connection)} {m.connection}")
        lines += [f"a=rtpmap:{pt} {name}/{rate}" for pt, name, rate in m.rtpmap]
        lines += _attribute_lines(m.attributes)
    return ("\r\n".join(_check_line(line) for line in lines) + "\r\n").encode("utf-8")


def make_answer(
    offer: SessionDescription,
    *,
    address: str,
    port: int,
    session_id: int,
    username: str,
    supported: Sequence[int] = (0, 8, TELEPHONE_EVENT_PT),
    session_name: str = "-",
    ptime: int = 20,
) -> SessionDescription:
    """Answer `offer` with one audio stream at `address`:`port` (RFC 3264 6).

    Picks the first offered codec among `supported` (0 = PCMU, 8 = PCMA) and adds telephone-event at
    the offer's own payload type when `supported` holds 101 and the offer has it. Other m= lines are
    refused with port 0, as RFC 3264 6 requires (same number of m= lines). RemoteProtocolError with
    hint 488 (Not Acceptable Here) when the offer has no usable audio.
    """
    if not 0 < port <= 65535:
        raise LocalProtocolError(f"bad RTP port {port}")
    audio = offer.audio()
    if audio is None or audio.proto not in _RTP_PROTOS:
        raise RemoteProtocolError("SDP offer has no RTP audio stream", error_status_hint=488)
    names = {_CODECS[pt] for pt in supported if pt in _CODECS}
    codec: tuple[int, str, int] | None = None
    event: tuple[int, str, int] | None = None
    for fmt in audio.formats:
        if not fmt.isdigit():
            continue
        encoding = audio.encoding(int(fmt))
        if encoding is None:
            continue
        name, rate = encoding
        if codec is None and name.upper() in names and rate == 8000:
            codec = (int(fmt), name.upper(), rate)
        elif event is None and name.lower() == "telephone-event" and rate == 8000 and TELEPHONE_EVENT_PT in supported:
            # RFC 4733 2.1: events use the clock rate of the audio codec, 8000 for G.711
            event = (int(fmt), "telephone-event", rate)
    if codec is None:
        raise RemoteProtocolError("SDP offer has no codec in common", error_status_hint=488)
    rtpmap = (codec,) if event is None else (codec, event)
    attributes: list[tuple[str, str | None]] = []
    if event is not None:
        attributes.append(("fmtp", f"{event[0]} 0-16"))  # RFC 4733 2.4.1: DTMF events 0-15 and flash
    attributes.append(("ptime", str(ptime)))
    offered = (*audio.attributes, *offer.attributes)  # media-level direction first (RFC 3264 5.1)
    direction = next((_DIRECTIONS[k] for k, _ in offered if k in _DIRECTIONS), "sendrecv")
    attributes.append((direction, None))
    answered = Media(
        kind="audio",
        port=port,
        proto=audio.proto,
        formats=tuple(str(pt) for pt, _, _ in rtpmap),
        rtpmap=rtpmap,
        attributes=tuple(attributes),
    )
    media = tuple(
        answered
        if m is audio
        else Media(kind=m.kind, port=0, proto=m.proto, formats=m.formats[:1] or ("0",), rtpmap=())
        for m in offer.media
    )
    return SessionDescription(
        origin=f"{username} {session_id} {session_id} IN {_addr_type(address)} {address}",
        session_name=session_name,
        connection=address,
        media=media,
    )
