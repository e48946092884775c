"""Nonces that prove their age and realm: fresh, stale (401 stale=true) or unknown (401), time injected."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.nonces import CLOCK_SKEW_SECONDS, NonceMint, NonceStyle
from sipwarden.sensors.honeypot.outputs import Output
from sipwarden.sensors.honeypot.server import core_config
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sip.digest import Challenge, Credentials, make_credentials, parse_challenge
from sipwarden.sip.message import Response

from .helpers import ATTACKER, SDP_OFFER, counter_token, events, make_core, replies, sip_request

NOW = 1_700_000_000.0
SECRET = b"k" * 32
STYLES: tuple[NonceStyle, ...] = ("asterisk", "uuid", "hex")
SHAPES = {
    "asterisk": r"[0-9]{10}/[0-9a-f]{32}",  # chan_pjsip: <unix time>/<md5 hex>
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",  # FreeSWITCH: UUID v4
    "hex": r"[0-9a-f]{32}",
}


def _mint(style: NonceStyle = "asterisk", secret: bytes = SECRET, lifetime: float = 30) -> NonceMint:
    return NonceMint(lifetime=lifetime, style=style, secret=secret, salt=lambda n: bytes(range(1, n + 1)))


@pytest.mark.parametrize("style", STYLES)
def test_a_nonce_is_fresh_for_its_lifetime_then_stale(style: NonceStyle) -> None:
    mint = _mint(style)
    nonce = mint.issue("asterisk", NOW)
    assert re.fullmatch(SHAPES[style], nonce), nonce
    assert mint.check(nonce, "asterisk", NOW) == "fresh"
    assert mint.check(nonce, "asterisk", NOW + 30) == "fresh"
    assert mint.check(nonce, "asterisk", NOW + 31) == "stale"
    assert mint.check(nonce.upper(), "asterisk", NOW + 1) == "fresh"  # hex case does not matter


@pytest.mark.parametrize("style", STYLES)
def test_a_nonce_is_only_valid_for_the_realm_and_secret_that_issued_it(style: NonceStyle) -> None:
    nonce = _mint(style).issue("asterisk", NOW)
    assert _mint(style).check(nonce, "pbx.local", NOW) == "unknown"
    assert _mint(style, secret=b"x" * 32).check(nonce, "asterisk", NOW) == "unknown"
    # Another process with the same secret (a worker behind the same port) accepts it.
    assert _mint(style).check(nonce, "asterisk", NOW + 1) == "fresh"


@pytest.mark.parametrize("style", STYLES)
def test_every_changed_character_makes_a_nonce_unknown(style: NonceStyle) -> None:
    mint = _mint(style)
    nonce = mint.issue("asterisk", NOW)
    for i, ch in enumerate(nonce):
        if ch in "/-":
            continue
        forged = nonce[:i] + ("1" if ch != "1" else "2") + nonce[i + 1 :]
        # A changed time is also caught: the MAC covers it.
        assert mint.check(forged, "asterisk", NOW) == "unknown", (i, forged)


def test_a_nonce_from_the_future_is_unknown_beyond_the_clock_skew() -> None:
    mint = _mint()
    nonce = mint.issue("asterisk", NOW + 100)
    assert mint.check(nonce, "asterisk", NOW + 100 - CLOCK_SKEW_SECONDS) == "fresh"
    assert mint.check(nonce, "asterisk", NOW) == "unknown"


def test_salt_makes_nonces_of_one_second_differ() -> None:
    mint = NonceMint(lifetime=30)
    assert len({mint.issue("asterisk", NOW) for _ in range(50)}) == 50


def test_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lifetime"):
        NonceMint(lifetime=0)


@given(st.text(max_size=200))
def test_hostile_nonces_never_raise(text: str) -> None:
    for style in STYLES:
        assert _mint(style).check(text, "asterisk", NOW) in ("unknown", "fresh", "stale")
    assert _mint("asterisk").check("99999999999/" + "0" * 32, "asterisk", NOW) == "unknown"


# -- the core ------------------------------------------------------------------------------------


def _challenge_of(outputs: list[Output]) -> Response:
    (resp,) = replies(outputs)
    assert resp.status == 401
    return resp


def _creds(resp: Response, method: str = "REGISTER", uri: str = "sip:192.0.2.10") -> Credentials:
    challenge = parse_challenge(resp.headers.get("WWW-Authenticate") or "")
    return make_credentials(challenge, username="100", password="100", method=method, uri=uri, cnonce="c0ffee")


def _register(core: HoneypotCore, creds: Credentials | None, at: float, cseq: int = 1) -> list[Output]:
    headers = [("Authorization", creds.to_header())] if creds else []
    request = sip_request("REGISTER", "sip:192.0.2.10", call_id="reg-1", cseq=cseq, headers=headers)
    return core.receive(request, ATTACKER, at)


def test_an_expired_nonce_gets_a_fresh_401_with_stale_then_the_new_nonce_works() -> None:
    core = make_core(nonce_seconds=30)
    creds = _creds(_challenge_of(_register(core, None, NOW)))
    out = _register(core, creds, NOW + 45, cseq=2)
    again = _challenge_of(out)
    challenge = parse_challenge(again.headers.get("WWW-Authenticate") or "")
    assert challenge.stale and challenge.nonce != creds.nonce and challenge.realm == "asterisk"
    assert "stale=TRUE" in (again.headers.get("WWW-Authenticate") or "")
    (event,) = events(out)
    # Right credentials on a stale nonce open nothing, but what was tried is still learnt.
    assert (event.kind, event.password, event.detail["nonce"]) == ("auth_failure", "100", "stale")
    assert core.policy.cracked() == {}
    ok = _register(core, _creds(again), NOW + 46, cseq=3)
    assert [r.status for r in replies(ok)] == [200]
    assert core.policy.cracked() == {"100": "100"}


def test_a_nonce_we_never_issued_gets_a_401_without_stale() -> None:
    core = make_core()
    _register(core, None, NOW)
    # Right password, right realm, a nonce in Asterisk's shape that this honeypot never issued.
    forged = Challenge(realm="asterisk", nonce="1700000000/" + "ab" * 16, qop="auth")
    creds = make_credentials(
        forged, username="100", password="100", method="REGISTER", uri="sip:192.0.2.10", cnonce="c0ffee"
    )
    out = _register(core, creds, NOW + 1, cseq=2)
    challenge = parse_challenge(_challenge_of(out).headers.get("WWW-Authenticate") or "")
    assert not challenge.stale
    (event,) = events(out)
    assert (event.kind, event.detail["nonce"]) == ("auth_failure", "unknown")
    assert core.policy.cracked() == {}


def test_a_nonce_of_another_persona_is_not_ours() -> None:
    secret = "shared secret"
    asterisk = make_core(nonce_secret=secret)
    phone = make_core(nonce_secret=secret, persona_name="yealink")
    creds = _creds(_challenge_of(_register(phone, None, NOW)))  # realm "yealink", a yealink nonce
    out = _register(asterisk, creds, NOW + 1, cseq=2)
    assert not parse_challenge(_challenge_of(out).headers.get("WWW-Authenticate") or "").stale


def test_processes_sharing_the_secret_accept_each_others_nonces() -> None:
    settings = HoneypotSettings(nonce_secret="shared secret", ring_seconds="0-0")
    one = HoneypotCore(core_config(settings), token=counter_token())
    two = HoneypotCore(core_config(settings), token=counter_token())
    other = HoneypotCore(core_config(HoneypotSettings(ring_seconds="0-0")), token=counter_token())
    creds = _creds(_challenge_of(_register(one, None, NOW)))
    assert [r.status for r in replies(_register(two, creds, NOW + 1, cseq=2))] == [200]
    assert [r.status for r in replies(_register(other, creds, NOW + 1, cseq=2))] == [401]


def test_an_invite_on_a_stale_nonce_is_challenged_again_with_stale() -> None:
    core = make_core(nonce_seconds=10)
    uri = "sip:900@192.0.2.10"
    first = core.receive(sip_request("INVITE", uri, call_id="inv-1", body=SDP_OFFER), ATTACKER, NOW)
    creds = _creds(_challenge_of(first), method="INVITE", uri=uri)
    request = sip_request(
        "INVITE", uri, call_id="inv-1", cseq=2, headers=[("Authorization", creds.to_header())], body=SDP_OFFER
    )
    out = core.receive(request, ATTACKER, NOW + 20)
    challenge = parse_challenge(_challenge_of(out).headers.get("WWW-Authenticate") or "")
    assert challenge.stale
    (event,) = events(out)
    assert (event.kind, event.target, event.detail["nonce"]) == ("auth_failure", "900", "stale")
    assert not core.calls.calls


@pytest.mark.parametrize(("persona", "style"), [("asterisk", "asterisk"), ("freeswitch", "uuid"), ("polycom", "hex")])
def test_nonces_look_like_the_personas_own(persona: str, style: str) -> None:
    core = make_core(persona_name=persona)
    out = core.receive(sip_request("REGISTER", "sip:192.0.2.10", from_user="100"), ATTACKER, NOW)
    nonce = parse_challenge(_challenge_of(out).headers.get("WWW-Authenticate") or "").nonce
    assert re.fullmatch(SHAPES[style], nonce), nonce
