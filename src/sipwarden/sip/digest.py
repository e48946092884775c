"""HTTP Digest authentication as SIP uses it (RFC 3261 22.4, RFC 2617, RFC 7616, RFC 8760).

Sans-I/O: challenges and credentials are parsed into frozen records and serialized back; the
nonce comes from an injected factory, so this module never reads the clock or global randomness.
Only ``qop=auth`` and ``qop=auth-int`` (and the RFC 2069 form without qop) are computed; the
algorithms are MD5, SHA-256 and SHA-512-256, each with its ``-sess`` variant.

The honeypot uses `recover_password` to learn which password an attacker guessed: it has the
full Authorization header, so it can try a bounded list of candidates offline.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "ALGORITHMS",
    "TOP_PASSWORDS",
    "Algorithm",
    "Challenge",
    "Credentials",
    "candidate_passwords",
    "compute_response",
    "make_challenge",
    "make_credentials",
    "parse_authorization",
    "parse_challenge",
    "recover_password",
    "verify",
]

Algorithm = Literal["MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess"]

#: Canonical spelling of every supported algorithm, keyed by its lower-case form: tokens are
#: case-insensitive (RFC 7616 3.3), but we answer with the spelling the RFCs use.
ALGORITHMS: Final[dict[str, str]] = {
    name.lower(): name for name in ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")
}

#: Hash constructors behind each algorithm family (RFC 7616 3.2). usedforsecurity=False: MD5 is the
#: protocol's choice, not ours. SHA-512/256 is FIPS 180-4 5.3.6.2, not a truncated SHA-512.
_CONSTRUCTORS: Final[dict[str, Callable[[bytes], Any]]] = {
    "MD5": functools.partial(hashlib.md5, usedforsecurity=False),
    "SHA-256": hashlib.sha256,
    "SHA-512-256": functools.partial(hashlib.new, "sha512_256"),
}

#: Bound on a whole Authorization / WWW-Authenticate value. Real ones are ~300 bytes; Kamailio and
#: Asterisk accept headers of a few KiB, so 4 KiB fits every honest client and stops parse abuse.
MAX_HEADER_CHARS: Final = 4096
#: Bound on the number of auth-params: RFC 7616 defines 13 for the Authorization header.
MAX_PARAMS: Final = 32

QOP_VALUES: Final = frozenset({"auth", "auth-int"})

# RFC 7230 3.2.6: token = 1*tchar
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# An unquoted value. Strictly a token, but clients send uri=sip:1.2.3.4 unquoted, so anything up
# to the next comma or whitespace is accepted (and bounded by MAX_HEADER_CHARS).
_BARE_VALUE = re.compile(r'[^,\s"]+')


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _parse_params(value: str, what: str) -> dict[str, str]:
    """Parse ``Digest k=v, k="v"...`` into lower-cased keys; RemoteProtocolError on garbage."""
    if len(value) > MAX_HEADER_CHARS:
        raise RemoteProtocolError(f"{what} longer than {MAX_HEADER_CHARS} characters")
    text = value.strip()
    scheme = _TOKEN.match(text)
    if scheme is None or scheme.group().lower() != "digest":
        raise RemoteProtocolError(f"{what} is not a Digest {what.lower()}")
    pos = scheme.end()
    if pos < len(text) and text[pos] not in " \t\r\n":
        raise RemoteProtocolError(f"{what}: missing space after the Digest scheme")
    params: dict[str, str] = {}
    while True:
        pos = _skip_ws(text, pos)
        while pos < len(text) and text[pos] == ",":  # empty list elements are allowed (RFC 7230 7)
            pos = _skip_ws(text, pos + 1)
        if pos >= len(text):
            break
        name_match = _TOKEN.match(text, pos)
        if name_match is None:
            raise RemoteProtocolError(f"{what}: expected a parameter name at offset {pos}")
        name = name_match.group().lower()
        pos = _skip_ws(text, name_match.end())
        if pos >= len(text) or text[pos] != "=":
            raise RemoteProtocolError(f"{what}: parameter {name!r} has no '='")
        pos = _skip_ws(text, pos + 1)
        if pos < len(text) and text[pos] == '"':
            item, pos = _quoted_string(text, pos, what)
        else:
            bare = _BARE_VALUE.match(text, pos)
            if bare is None:
                raise RemoteProtocolError(f"{what}: parameter {name!r} has no value")
            item, pos = bare.group(), bare.end()
        if name in params:
            # RFC 7616 3.4: each parameter appears at most once; two values make the meaning unclear.
            raise RemoteProtocolError(f"{what}: parameter {name!r} repeated")
        params[name] = item
        if len(params) > MAX_PARAMS:
            raise RemoteProtocolError(f"{what}: more than {MAX_PARAMS} parameters")
        pos = _skip_ws(text, pos)
        if pos < len(text) and text[pos] != ",":
            raise RemoteProtocolError(f"{what}: expected ',' after parameter {name!r}")
    return params


def _quoted_string(text: str, pos: int, what: str) -> tuple[str, int]:
    """Read a quoted-string starting at the opening quote (RFC 3261 25.1, quoted-pair escapes)."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise RemoteProtocolError(f"{what}: unbalanced quotes")


def _quote(value: str) -> str:
    """Serialize a quoted-string, escaping the two characters quoted-pair exists for."""
    if any(c in value for c in "\r\n\x00"):
        raise LocalProtocolError("a digest parameter may not contain CR, LF or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _canonical_algorithm(name: str | None) -> str:
    # RFC 2617 3.2.1: "If this is not present it is assumed to be MD5".
    if name is None or name == "":
        return "MD5"
    return ALGORITHMS.get(name.lower(), name)


@dataclass(frozen=True, slots=True)
class Challenge:
    """A server's Digest challenge (WWW-Authenticate / Proxy-Authenticate)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: str | None = "auth"
    opaque: str | None = None
    stale: bool = False

    def to_header(self) -> str:
        """The header value: ``Digest realm="..", nonce="..", algorithm=MD5, qop="auth"``."""
        parts = [f"realm={_quote(self.realm)}", f"nonce={_quote(self.nonce)}"]
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        if self.stale:
            parts.append("stale=TRUE")
        # algorithm before qop: common brute-force tools find it with `algorithm=(.+?)[,\r]`
        # and fall back to MD5 silently when it is last; keeping a comma after it is harmless.
        parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            parts.append(f"qop={_quote(self.qop)}")  # RFC 7616 3.3: qop is quoted in challenges
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    """Parse a WWW-Authenticate / Proxy-Authenticate value; RemoteProtocolError on garbage."""
    params = _parse_params(value, "Challenge")
    for required in ("realm", "nonce"):
        if required not in params:
            raise RemoteProtocolError(f"Challenge: missing {required}")
    return Challenge(
        realm=params["realm"],
        nonce=params["nonce"],
        algorithm=_canonical_algorithm(params.get("algorithm")),
        qop=params.get("qop"),
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def make_challenge(
    realm: str,
    nonce_factory: Callable[[], str],
    *,
    algorithm: str = "MD5",
    qop: str | None = "auth",
    opaque: str | None = None,
    stale: bool = False,
) -> Challenge:
    """A fresh challenge; the nonce comes from `nonce_factory` (time and randomness are the caller's).

    `stale` tells a client that its last nonce expired but its credentials may be right, so it can
    retry with the new nonce without asking its user again (RFC 7616 3.3, RFC 2617 3.2.1).
    """
    canonical = ALGORITHMS.get(algorithm.lower())
    if canonical is None:
        raise LocalProtocolError(f"unsupported digest algorithm {algorithm!r}")
    if qop is not None and not {q.strip() for q in qop.split(",")} <= QOP_VALUES:
        raise LocalProtocolError(f"unsupported qop {qop!r}")
    nonce = nonce_factory()
    if not nonce or any(c in nonce for c in '"\\\r\n'):
        raise LocalProtocolError("nonce must be non-empty and contain no quote, backslash or newline")
    return Challenge(realm=realm, nonce=nonce, algorithm=canonical, qop=qop, opaque=opaque, stale=stale)


@dataclass(frozen=True, slots=True)
class Credentials:
    """A client's Digest answer (Authorization / Proxy-Authorization)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def to_header(self) -> str:
        """The header value, in the order SIP user agents commonly send it."""
        parts = [
            f"username={_quote(self.username)}",
            f"realm={_quote(self.realm)}",
            f"nonce={_quote(self.nonce)}",
            f"uri={_quote(self.uri)}",
            f"response={_quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={_quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={_quote(self.opaque)}")
        # RFC 7616 3.4: qop and nc are unquoted tokens in the Authorization header.
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return "Digest " + ", ".join(parts)


def parse_authorization(value: str) -> Credentials:
    """Parse an Authorization / Proxy-Authorization value; RemoteProtocolError on garbage."""
    params = _parse_params(value, "Authorization")
    for required in ("username", "realm", "nonce", "uri", "response"):
        if required not in params:
            raise RemoteProtocolError(f"Authorization: missing {required}")
    qop = params.get("qop")
    if qop is not None and qop.lower() not in QOP_VALUES:
        raise RemoteProtocolError(f"Authorization: unknown qop {qop!r}")
    return Credentials(
        username=params["username"],
        realm=params["realm"],
        nonce=params["nonce"],
        uri=params["uri"],
        response=params["response"],
        algorithm=_canonical_algorithm(params.get("algorithm")),
        qop=None if qop is None else qop.lower(),
        nc=params.get("nc"),
        cnonce=params.get("cnonce"),
        opaque=params.get("opaque"),
    )


def _utf8(text: str) -> bytes:
    # surrogateescape: header text decoded that way by the message parser hashes as the bytes sent
    return text.encode("utf-8", "surrogateescape")


def _hasher(algorithm: str) -> tuple[Callable[[bytes], Any], bool]:
    """(hash constructor, is_sess) for an algorithm name; RemoteProtocolError when we cannot compute it."""
    canonical = ALGORITHMS.get(algorithm.lower())
    if canonical is None:
        raise RemoteProtocolError(f"unsupported digest algorithm {algorithm!r}")
    return _CONSTRUCTORS[canonical.removesuffix("-sess")], canonical.endswith("-sess")


class _Prepared:
    """Everything of a response that does not depend on the password, computed once.

    Password search is the hot path (the honeypot tries thousands of guesses per header): the hash
    of ``username:realm:`` is computed once and copied per guess.
    """

    __slots__ = ("ha1_base", "new", "sess_suffix", "suffix")

    def __init__(self, creds: Credentials, method: str, body: bytes) -> None:
        new, sess = _hasher(creds.algorithm)
        self.new = new
        qop = creds.qop
        if qop == "auth-int":
            # RFC 2617 3.2.2.3: HA2 = H(method:uri:H(entity-body))
            ha2 = new(_utf8(f"{method}:{creds.uri}:") + new(body).hexdigest().encode()).hexdigest()
        else:
            ha2 = new(_utf8(f"{method}:{creds.uri}")).hexdigest()
        self.ha1_base = new(_utf8(f"{creds.username}:{creds.realm}:"))
        self.sess_suffix = _utf8(f":{creds.nonce}:{creds.cnonce or ''}") if sess else None
        if qop is not None and (creds.nc is not None or creds.cnonce is not None):
            # RFC 2617 3.2.2.1: KD(HA1, nonce:nc:cnonce:qop:HA2)
            self.suffix = _utf8(f":{creds.nonce}:{creds.nc or ''}:{creds.cnonce or ''}:{qop}:{ha2}")
        else:
            # RFC 2069 form. Also taken when qop is present without nc and cnonce: SIPVicious
            # svcrack adds "qop=auth" to answers of qop-less challenges but hashes this way.
            self.suffix = _utf8(f":{creds.nonce}:{ha2}")

    def response(self, password: str) -> str:
        h = self.ha1_base.copy()
        h.update(_utf8(password))
        ha1: bytes = h.hexdigest().encode()
        if self.sess_suffix is not None:
            # RFC 2617 3.2.2.2 / RFC 7616 3.4.2: HA1 = H(H(user:realm:pass):nonce:cnonce)
            ha1 = self.new(ha1 + self.sess_suffix).hexdigest().encode()
        return str(self.new(ha1 + self.suffix).hexdigest())


def compute_response(creds: Credentials, password: str, method: str, *, body: bytes = b"") -> str:
    """The ``response`` value `creds` should carry for `password` and request `method`.

    `body` matters only for ``qop=auth-int``. RemoteProtocolError for an unsupported algorithm.
    """
    return _Prepared(creds, method, body).response(password)


def _same(a: str, b: str) -> bool:
    # hmac.compare_digest refuses non-ASCII str; compare bytes so hostile input cannot raise.
    return hmac.compare_digest(a.lower().encode("utf-8", "surrogateescape"), b.encode("utf-8"))


def verify(creds: Credentials, password: str, method: str, *, body: bytes = b"") -> bool:
    """True when `creds` prove knowledge of `password` (constant-time compare)."""
    try:
        expected = compute_response(creds, password, method, body=body)
    except RemoteProtocolError:
        return False
    return _same(creds.response, expected)


def recover_password(
    creds: Credentials, method: str, candidates: Iterable[str], *, max_tries: int, body: bytes = b""
) -> str | None:
    """The first of `candidates` that produces `creds.response`, trying at most `max_tries`.

    `max_tries` bounds the CPU spent on one header (two to three hashes per try).
    """
    if max_tries < 0:
        raise ValueError("max_tries must be >= 0")
    try:
        prepared = _Prepared(creds, method, body)
    except RemoteProtocolError:
        return None
    target = creds.response.lower()
    for candidate in itertools.islice(candidates, max_tries):
        if prepared.response(candidate) == target:
            return candidate
    return None


def make_credentials(
    challenge: Challenge,
    *,
    username: str,
    password: str,
    method: str,
    uri: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Answer `challenge` as a client would (tests, probes). `cnonce` is required when qop is offered."""
    qop: str | None = None
    if challenge.qop is not None:
        offered = [q.strip().lower() for q in challenge.qop.split(",")]
        qop = "auth" if "auth" in offered else ("auth-int" if "auth-int" in offered else None)
        if qop is None:
            raise LocalProtocolError(f"no supported qop in {challenge.qop!r}")
    sess = challenge.algorithm.lower().endswith("-sess")
    if (qop is not None or sess) and not cnonce:
        raise LocalProtocolError("cnonce is required with qop or a -sess algorithm")
    creds = Credentials(
        username=username,
        realm=challenge.realm,
        nonce=challenge.nonce,
        uri=uri,
        response="",
        algorithm=challenge.algorithm,
        qop=qop,
        nc=f"{nc:08x}" if qop is not None else None,
        cnonce=cnonce if (qop is not None or sess) else None,
        opaque=challenge.opaque,
    )
    try:
        response = compute_response(creds, password, method, body=body)
    except RemoteProtocolError as exc:
        raise LocalProtocolError(str(exc)) from None
    return dataclasses.replace(creds, response=response)


#: The weakest SIP passwords, tried first by `candidate_passwords`. Compiled from the patterns that
#: public SIP honeypot reports and PBX-hardening guides describe brute-forcers using: the extension
#: itself (added separately), short digit runs and repeats, keyboard walks, the top entries of
#: leaked-password lists, and the factory defaults of common PBX distributions and IP phones.
TOP_PASSWORDS: Final[tuple[str, ...]] = (
    "1234", "123456", "password", "12345678", "0000", "1111", "admin", "100", "1000", "secret",
    "pass", "voip", "sip", "12345", "123", "1", "123456789", "1234567", "1234567890", "000000",
    "111111", "00000000", "11111111", "2222", "3333", "4444", "5555", "6666", "7777", "8888",
    "9999", "222222", "333333", "444444", "555555", "666666", "777777", "888888", "999999", "121212",
    "123123", "112233", "654321", "4321", "987654321", "0123", "01234", "012345", "1212", "1122",
    "101", "102", "200", "201", "1001", "2000", "asterisk", "freepbx", "elastix", "trixbox",
    "admin123", "administrator", "root", "test", "test123", "guest", "user", "default", "changeme",
    "qwerty", "qwerty123", "abc123", "abcd1234", "passw0rd", "password1", "password123", "letmein",
    "welcome", "phone", "telefon", "telephone", "voip123", "sip123", "pbx", "1q2w3e", "1q2w3e4r",
    "qwe123", "zxcvbn", "aa123456", "a123456", "123abc", "iloveyou", "monkey", "dragon", "cisco",
    "polycom", "yealink", "grandstream", "456", "789", "1010", "2020", "12341234", "1234qwer",
)  # fmt: skip


def candidate_passwords(username: str, top: Sequence[str], *, max_digits: int = 6) -> Iterator[str]:
    """The username, then `top`, then every numeric string 0-9, 00-99 ... of up to `max_digits` digits.

    Each candidate appears once. SIPVicious svcrack's default is a numeric range, and many hacked
    accounts had the extension number as password, hence this order.
    """
    if max_digits < 0:
        raise ValueError("max_digits must be >= 0")
    seen: set[str] = set()
    for word in (username, *top):
        if word not in seen:
            seen.add(word)
            yield word
    for width in range(1, max_digits + 1):
        for n in range(10**width):
            word = f"{n:0{width}d}"
            if word not in seen:
                yield word
