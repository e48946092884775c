"""Digest authentication: RFC examples, an independent second implementation, bounds, hostile headers."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sip.digest import (
    ALGORITHMS,
    TOP_PASSWORDS,
    Challenge,
    Credentials,
    candidate_passwords,
    compute_response,
    make_challenge,
    make_credentials,
    parse_authorization,
    parse_challenge,
    recover_password,
    verify,
)
from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError

# RFC 2617 3.5, the "Mufasa" example (note the password's capital O there, lower-case o in RFC 7616).
RFC2617_AUTH = (
    'Digest username="Mufasa", realm="testrealm@host.com", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, '
    'cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)

# RFC 7616 3.9.1
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def rfc7616_creds(algorithm: str, response: str) -> Credentials:
    return Credentials(
        username="Mufasa",
        realm="http-auth@example.org",
        nonce=RFC7616_NONCE,
        uri="/dir/index.html",
        response=response,
        algorithm=algorithm,
        qop="auth",
        nc="00000001",
        cnonce=RFC7616_CNONCE,
        opaque=RFC7616_OPAQUE,
    )


def test_rfc2617_example_parses_and_verifies() -> None:
    creds = parse_authorization(RFC2617_AUTH)
    assert creds.username == "Mufasa"
    assert creds.qop == "auth"
    assert creds.nc == "00000001"
    assert creds.algorithm == "MD5"  # absent means MD5 (RFC 2617 3.2.1)
    assert compute_response(creds, "Circle Of Life", "GET") == "6629fae49393a05397450978507c4ef1"
    assert verify(creds, "Circle Of Life", "GET")
    assert not verify(creds, "Circle of Life", "GET")
    assert not verify(creds, "Circle Of Life", "POST")


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    creds = rfc7616_creds(algorithm, response)
    assert compute_response(creds, "Circle of Life", "GET") == response
    assert verify(creds, "Circle of Life", "GET")
    assert verify(parse_authorization(creds.to_header()), "Circle of Life", "GET")


def _independent_response(
    algo: str, user: str, realm: str, password: str, method: str, uri: str, nonce: str, nc: str, cnonce: str
) -> str:
    """A second, deliberately naive implementation straight from RFC 7616 3.4.1-3.4.3."""
    name = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}[algo.removesuffix("-sess")]

    def h(s: str) -> str:
        return hashlib.new(name, s.encode()).hexdigest()

    a1 = h(f"{user}:{realm}:{password}")
    if algo.endswith("-sess"):
        a1 = h(f"{a1}:{nonce}:{cnonce}")
    a2 = h(f"{method}:{uri}")
    return h(f"{a1}:{nonce}:{nc}:{cnonce}:auth:{a2}")


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS.values()))
def test_sip_register_against_independent_implementation(algorithm: str) -> None:
    # A REGISTER as a softphone sends it after a 401 from a PBX (RFC 8760 for the SHA variants).
    challenge = parse_challenge(
        f'Digest realm="asterisk", nonce="1a2b3c4d", algorithm={algorithm}, qop="auth", opaque="xyz"'
    )
    creds = make_credentials(
        challenge, username="1001", password="s3cr3t", method="REGISTER", uri="sip:pbx.example.net", cnonce="c0ffee"
    )
    expected = _independent_response(
        algorithm, "1001", "asterisk", "s3cr3t", "REGISTER", "sip:pbx.example.net", "1a2b3c4d", "00000001", "c0ffee"
    )
    assert creds.response == expected
    assert creds.opaque == "xyz"
    assert creds.algorithm == algorithm
    parsed = parse_authorization(creds.to_header())
    assert parsed == creds
    assert verify(parsed, "s3cr3t", "REGISTER")
    assert not verify(parsed, "s3cr3t ", "REGISTER")


def test_rfc2069_form_without_qop() -> None:
    challenge = Challenge(realm="r", nonce="n", qop=None)
    creds = make_credentials(challenge, username="u", password="p", method="INVITE", uri="sip:1@h")
    ha1 = hashlib.md5(b"u:r:p").hexdigest()
    ha2 = hashlib.md5(b"INVITE:sip:1@h").hexdigest()
    assert creds.response == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert creds.qop is None and creds.nc is None and creds.cnonce is None


def test_qop_without_nc_and_cnonce_uses_rfc2069_form() -> None:
    # SIPVicious svcrack answers a qop-less challenge with "qop=auth" but hashes without nc/cnonce.
    ha1 = hashlib.md5(b"100:r:1234").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:127.0.0.1").hexdigest()
    response = hashlib.md5(f"{ha1}:abc:{ha2}".encode()).hexdigest()
    header = (
        f'Digest username="100",realm="r",nonce="abc",uri="sip:127.0.0.1",algorithm=MD5,qop=auth,response="{response}"'
    )
    creds = parse_authorization(header)
    assert verify(creds, "1234", "REGISTER")


def test_auth_int_hashes_the_body() -> None:
    challenge = Challenge(realm="r", nonce="n", qop="auth-int")
    body = b"v=0\r\n"
    creds = make_credentials(challenge, username="u", password="p", method="INVITE", uri="sip:x", cnonce="c", body=body)
    assert creds.qop == "auth-int"
    assert verify(creds, "p", "INVITE", body=body)
    assert not verify(creds, "p", "INVITE", body=b"v=1\r\n")


def test_undecodable_bytes_hash_as_sent() -> None:
    # a parser that decodes header bytes with surrogateescape hands us lone surrogates
    user_bytes = b"\xff100"
    creds = Credentials(
        username=user_bytes.decode("utf-8", "surrogateescape"), realm="r", nonce="n", uri="sip:x", response=""
    )
    ha1 = hashlib.md5(user_bytes + b":r:pw").hexdigest()
    ha2 = hashlib.md5(b"REGISTER:sip:x").hexdigest()
    assert compute_response(creds, "pw", "REGISTER") == hashlib.md5(f"{ha1}:n:{ha2}".encode()).hexdigest()
    assert not verify(dataclasses.replace(creds, response="\udcff" * 32), "pw", "REGISTER")
    body = b"\xff\xfe binary"
    int_creds = make_credentials(
        Challenge(realm="r", nonce="n", qop="auth-int"),
        username="u",
        password="p",
        method="INVITE",
        uri="sip:x",
        cnonce="c",
        body=body,
    )
    ha2_int = hashlib.md5(b"INVITE:sip:x:" + hashlib.md5(body).hexdigest().encode()).hexdigest()
    ha1_int = hashlib.md5(b"u:r:p").hexdigest()
    assert int_creds.response == hashlib.md5(f"{ha1_int}:n:00000001:c:auth-int:{ha2_int}".encode()).hexdigest()


def test_challenge_round_trip_and_format() -> None:
    counter = itertools.count()
    challenge = make_challenge("sipwarden", lambda: f"nonce{next(counter)}", opaque="o")
    assert challenge.nonce == "nonce0"
    header = challenge.to_header()
    assert header == 'Digest realm="sipwarden", nonce="nonce0", opaque="o", algorithm=MD5, qop="auth"'
    assert parse_challenge(header) == challenge
    stale = Challenge(realm='a"b\\c', nonce="n", algorithm="SHA-256", qop=None, stale=True)
    assert parse_challenge(stale.to_header()) == stale


def test_make_challenge_rejects_bad_arguments() -> None:
    with pytest.raises(LocalProtocolError):
        make_challenge("r", lambda: "n", algorithm="SHA-1")
    with pytest.raises(LocalProtocolError):
        make_challenge("r", lambda: 'bad"nonce')
    with pytest.raises(LocalProtocolError):
        make_challenge("r", lambda: "n", qop="auth-conf")
    assert make_challenge("r", lambda: "n", algorithm="sha-512-256-SESS").algorithm == "SHA-512-256-sess"


def test_parse_challenge_tolerates_real_world_spellings() -> None:
    # Asterisk style: algorithm unquoted, lower-case scheme, odd spacing, empty list elements.
    c = parse_challenge('digest  realm = "asterisk" ,, nonce="5f2b1c3a",algorithm=md5 , qop="auth,auth-int"')
    assert c == Challenge(realm="asterisk", nonce="5f2b1c3a", algorithm="MD5", qop="auth,auth-int")
    assert parse_challenge('Digest realm="r", nonce="n"').qop is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Basic dXNlcjpwYXNz",
        'Digest username="100, realm="r", nonce="n", uri="sip:x", response="00"',  # unbalanced quote
        'Digest realm="r", nonce="n", uri="sip:x", response="00"',  # no username
        'Digest username="u", realm="r", nonce="n", uri="sip:x"',  # no response
        'Digest username="u", username="v", realm="r", nonce="n", uri="sip:x", response="0"',
        'Digest username="u" realm="r", nonce="n", uri="sip:x", response="0"',  # missing comma
        'Digest username, realm="r"',
        'Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", qop=auth-conf',
        'Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", x="\\',
        "Digestusername=u",
        'Digest username="u", ' + "x=y, " * 40 + 'realm="r"',
        'Digest username="' + "a" * 5000 + '"',
        "Digest =x",
    ],
)
def test_bad_authorization_raises_remote_error(value: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_authorization(value)
    assert info.value.error_status_hint == 400


@pytest.mark.parametrize("value", ["Digest", 'Digest nonce="n"', 'Digest realm="r", nonce="n', "NTLM x"])
def test_bad_challenge_raises_remote_error(value: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_challenge(value)


@given(st.text(max_size=300))
def test_parsers_raise_only_remote_errors(value: str) -> None:
    for parser in (parse_authorization, parse_challenge):
        with contextlib.suppress(RemoteProtocolError):
            parser(value)


@given(st.text(max_size=40), st.text(max_size=80))
def test_verify_never_raises_on_hostile_fields(response: str, algorithm: str) -> None:
    creds = Credentials("u", "r", "n", "sip:x", response, algorithm=algorithm, qop="auth", nc="1", cnonce="c")
    assert verify(creds, "p", "REGISTER") in (True, False)


def test_unknown_algorithm_never_verifies() -> None:
    creds = parse_authorization('Digest username="u", realm="r", nonce="n", uri="sip:x", response="0", algorithm=SHA1')
    assert creds.algorithm == "SHA1"
    assert not verify(creds, "p", "REGISTER")
    assert recover_password(creds, "REGISTER", ["p"], max_tries=5) is None
    with pytest.raises(RemoteProtocolError):
        compute_response(creds, "p", "REGISTER")


def _register_creds(password: str, algorithm: str = "MD5") -> Credentials:
    challenge = Challenge(realm="sipwarden", nonce="abc123", algorithm=algorithm)
    return make_credentials(
        challenge, username="100", password=password, method="REGISTER", uri="sip:127.0.0.1", cnonce="deadbeef", nc=7
    )


def test_recover_password_finds_it_within_the_bound() -> None:
    creds = _register_creds("4711")
    candidates = candidate_passwords("100", TOP_PASSWORDS, max_digits=4)
    assert recover_password(creds, "REGISTER", candidates, max_tries=20_000) == "4711"
    assert recover_password(_register_creds("100"), "REGISTER", candidate_passwords("100", ()), max_tries=1) == "100"
    assert recover_password(_register_creds("s3cr3t", "SHA-256-sess"), "REGISTER", ["x", "s3cr3t"], max_tries=2) == (
        "s3cr3t"
    )


def test_recover_password_respects_the_bound() -> None:
    creds = _register_creds("4711")
    tried: list[str] = []

    def spy() -> Iterator[str]:
        for c in candidate_passwords("100", (), max_digits=4):
            tried.append(c)
            yield c

    assert recover_password(creds, "REGISTER", spy(), max_tries=100) is None
    assert len(tried) == 100  # never pulls more candidates than the bound
    assert recover_password(creds, "REGISTER", ["4711"], max_tries=0) is None
    with pytest.raises(ValueError):
        recover_password(creds, "REGISTER", [], max_tries=-1)


def test_candidate_passwords_order_and_uniqueness() -> None:
    got = list(candidate_passwords("100", ("1234", "100", "admin"), max_digits=3))
    assert got[:3] == ["100", "1234", "admin"]
    assert got[3:13] == [str(d) for d in range(10)]
    assert got[13] == "00"
    assert got.count("100") == 1
    assert len(got) == len(set(got)) == 3 + 10 + 100 + 1000 - 1
    assert list(candidate_passwords("u", (), max_digits=0)) == ["u"]


def test_top_passwords_is_a_short_unique_list() -> None:
    assert 80 <= len(TOP_PASSWORDS) <= 150
    assert len(set(TOP_PASSWORDS)) == len(TOP_PASSWORDS)
    for weak in ("1234", "123456", "password", "0000", "admin", "100", "secret", "voip", "sip"):
        assert weak in TOP_PASSWORDS


# --- real clients on loopback: SIPVicious svcrack (brute force) and sipsak (a registering UA) ---

SVCRACK = Path(sys.executable).with_name("sipvicious_svcrack")
SIPSAK = shutil.which("sipsak")
USER = "100"
PASSWORD = "1042"
#: Hard bounds on the loopback registrar: svcrack sends one REGISTER per password in its range.
MAX_PACKETS = 500
MAX_SECONDS = 60.0
COPIED = (("Via", ("via", "v")), ("From", ("from", "f")), ("To", ("to", "t")), ("Call-ID", ("call-id", "i")), ("CSeq", ("cseq",)))  # fmt: skip


def _header(message: str, *names: str) -> str | None:
    for line in message.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() in names:
            return value.strip()
    return None


class Registrar:
    """A minimal loopback registrar: 401 with a fresh challenge until the credentials verify, then 200."""

    def __init__(self, *, qop: str | None, algorithm: str = "MD5") -> None:
        self.qop, self.algorithm = qop, algorithm
        self.messages: list[tuple[str, Credentials]] = []  # (request text, parsed credentials)
        self.verified = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Registrar:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(timeout=MAX_SECONDS)
        self.sock.close()

    def _serve(self) -> None:
        counter = itertools.count()
        deadline = time.monotonic() + MAX_SECONDS
        for _ in range(MAX_PACKETS):
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                return
            message = data.decode("utf-8", "replace")
            method = message.split(" ", 1)[0]
            copied = [f"{n}: {v}" for n, keys in COPIED if (v := _header(message, *keys)) is not None]
            auth = _header(message, "authorization")
            status, extra = "401 Unauthorized", ""
            if auth is not None:
                creds = parse_authorization(auth)
                self.messages.append((message, creds))
                if verify(creds, PASSWORD, method):
                    self.verified += 1
                    status = "200 OK"
            if status.startswith("401"):
                challenge = make_challenge(
                    "sipwarden", lambda: f"n{next(counter):06d}", qop=self.qop, algorithm=self.algorithm
                )
                extra = f"WWW-Authenticate: {challenge.to_header()}\r\n"
            reply = f"SIP/2.0 {status}\r\n" + "\r\n".join(copied) + "\r\n" + extra + "Content-Length: 0\r\n\r\n"
            self.sock.sendto(reply.encode(), addr)
            if status.startswith("200"):
                return


@pytest.mark.tools
@pytest.mark.skipif(not SVCRACK.exists(), reason="sipvicious is not installed")
@pytest.mark.parametrize(("qop", "algorithm"), [("auth", "MD5"), (None, "MD5"), ("auth", "MD5-sess")])
def test_svcrack_guesses_are_recovered(qop: str | None, algorithm: str) -> None:
    with Registrar(qop=qop, algorithm=algorithm) as registrar:
        result = subprocess.run(
            [str(SVCRACK), "-u", USER, "-r", "1000-1060", "-p", str(registrar.port), "-P", "0",
             "-b", "127.0.0.1", "-x", "127.0.0.1", "--maximumtime", "5", "127.0.0.1"],
            capture_output=True, text=True, timeout=MAX_SECONDS, check=False,
        )  # fmt: skip
    assert len(registrar.messages) >= 40, result.stdout + result.stderr
    for message, creds in registrar.messages:
        # svcrack writes the password it tries into its From tag: hex("user:password" 0x01 random digits)
        from_tag = (_header(message, "from", "f") or "").rsplit(";tag=", 1)[1]
        claimed = bytes.fromhex(from_tag).split(b"\x01")[0].decode()
        candidates = candidate_passwords(USER, (), max_digits=4)
        recovered = recover_password(creds, "REGISTER", candidates, max_tries=12_000)
        assert claimed == f"{USER}:{recovered}"  # recovered from the Authorization header alone
        assert creds.algorithm == algorithm
    assert registrar.verified == 1
    assert PASSWORD in result.stdout + result.stderr  # svcrack reports its crack


@pytest.mark.tools
@pytest.mark.skipif(SIPSAK is None, reason="sipsak is not installed")
@pytest.mark.parametrize("qop", ["auth", None])
def test_sipsak_registration_verifies(qop: str | None) -> None:
    assert SIPSAK is not None
    with Registrar(qop=qop) as registrar:
        result = subprocess.run(
            [SIPSAK, "-U", "-C", "sip:100@127.0.0.1:9", "-s", f"sip:{USER}@127.0.0.1:{registrar.port}", "-a", PASSWORD,
             "-H", "127.0.0.1", "--local-ip", "127.0.0.1", "-x", "60", "-i"],
            capture_output=True, text=True, timeout=MAX_SECONDS, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert registrar.verified == 1
    (_, creds), *_ = registrar.messages
    assert (creds.qop, creds.algorithm) == (qop, "MD5")
    assert not verify(creds, PASSWORD + "x", "REGISTER")
