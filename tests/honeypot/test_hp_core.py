"""The sans-I/O core, driven with client bytes; every answer and event is checked exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipwarden.events import Event
from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.outputs import Output, Peer, Reply, SendTo, StartMedia, StopMedia
from sipwarden.sensors.honeypot.recovery import MAX_HOLD_SECONDS
from sipwarden.sensors.honeypot.responses import MAX_AMPLIFICATION, bounded_reply
from sipwarden.sip.headers import parse_name_addr, parse_via

from .helpers import ATTACKER, SDP_OFFER, answer_challenge, events, make_core, media, replies, sip_request

NOW = 1_700_000_000.0


def test_options_gets_200_with_persona_headers_and_echoes() -> None:
    core = make_core()
    out = core.receive(sip_request("OPTIONS", user_agent="friendly-scanner"), ATTACKER, NOW)
    (resp,) = replies(out)
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.headers.get("Server") == "FPBX-16.0.33(18.13.0)"
    assert "INVITE" in (resp.headers.get("Allow") or "") and resp.headers.get("Accept") == "application/sdp"
    assert resp.headers.get("Call-ID") == "call-1@203.0.113.7"
    assert resp.headers.get("CSeq") == "1 OPTIONS"
    assert parse_name_addr(resp.headers.get("From") or "").tag == "f00d"
    assert parse_name_addr(resp.headers.get("To") or "").tag  # a To tag was added
    via = parse_via(resp.headers.get_all("Via")[0])
    # RFC 3581: rport filled with the source port, received with the source address.
    assert via.param("rport") == "5062" and via.param("received") == "203.0.113.7"
    (event,) = events(out)
    assert (event.kind, event.method, event.tool, event.src_ip, event.src_port) == (
        "probe", "OPTIONS", "sipvicious", "203.0.113.7", 5062
    )  # fmt: skip
    assert event.dst_ip == "192.0.2.10" and event.transport == "udp" and event.raw and "OPTIONS" in event.raw


def test_tags_and_nonces_are_random_not_a_fingerprint() -> None:
    core = make_core()
    tags = set()
    for i in range(3):
        (resp,) = replies(core.receive(sip_request("OPTIONS", call_id=f"c{i}"), ATTACKER, NOW))
        tags.add(parse_name_addr(resp.headers.get("To") or "").tag)
    assert len(tags) == 3


def test_received_is_added_without_rport_only_when_address_differs() -> None:
    core = make_core()
    (resp,) = replies(core.receive(sip_request("OPTIONS", rport=False), ATTACKER, NOW))
    via = parse_via(resp.headers.get_all("Via")[0])
    assert via.param("received") == "203.0.113.7" and not via.has_param("rport")


def _register(
    core: HoneypotCore, password: str | None = None, user: str = "100", call_id: str = "reg-1", tag: str = "f00d"
) -> list[Output]:
    out = core.receive(
        sip_request("REGISTER", "sip:192.0.2.10", from_user=user, call_id=call_id, from_tag=tag), ATTACKER, NOW
    )
    if password is None:
        return out
    (challenge,) = replies(out)
    auth = answer_challenge(challenge, username=user, password=password, method="REGISTER", uri="sip:192.0.2.10")
    return core.receive(
        sip_request(
            "REGISTER", "sip:192.0.2.10", from_user=user, call_id=call_id, cseq=2, from_tag=tag, headers=[auth]
        ),
        ATTACKER,
        NOW + 1,
    )


def test_register_bait_account_is_challenged() -> None:
    core = make_core()
    out = _register(core)
    (resp,) = replies(out)
    assert resp.status == 401
    challenge = resp.headers.get("WWW-Authenticate") or ""
    assert 'realm="asterisk"' in challenge and "nonce=" in challenge and "algorithm=MD5" in challenge
    (event,) = events(out)
    assert (event.kind, event.username) == ("register", "100")


def test_register_unknown_user_gets_404_like_asterisk() -> None:
    core = make_core()
    out = _register(core, user="555")
    assert [r.status for r in replies(out)] == [404]
    assert events(out)[0].kind == "unknown_user"


def test_alwaysauthreject_persona_challenges_everyone_then_forbids() -> None:
    core = make_core(persona_name="asterisk-alwaysauthreject")
    assert [r.status for r in replies(_register(core, user="555"))] == [401]
    out = _register(core, "555", user="555", call_id="reg-2")
    assert [r.status for r in replies(out)] == [403]
    (event,) = events(out)
    assert (event.kind, event.username, event.password) == ("auth_failure", "555", "555")


def test_weak_password_cracks_and_is_remembered() -> None:
    core = make_core()
    out = _register(core, "100")
    (resp,) = replies(out)
    assert resp.status == 200
    assert "expires=3600" in (resp.headers.get("Contact") or "")
    (event,) = events(out)
    assert (event.kind, event.username, event.password) == ("auth_success", "100", "100")
    assert event.detail["recovered_by"] == "policy"
    # The account now has that one password: a top weak password no longer opens it.
    assert [r.status for r in replies(_register(core, "1234", call_id="reg-3"))] == [403]
    assert [r.status for r in replies(_register(core, "100", call_id="reg-4"))] == [200]
    assert core.policy.cracked() == {"100": "100"}


def test_wrong_password_is_recovered_by_search() -> None:
    core = make_core()
    out = _register(core, "4711")
    assert [r.status for r in replies(out)] == [403]
    (event,) = events(out)
    assert (event.kind, event.password, event.detail["recovered_by"]) == ("auth_failure", "4711", "search")


def _drain(core: HoneypotCore, ticks: int = 200) -> list[Event]:
    """Run the timer until held password searches finish (0.5 s ticks, as the server does)."""
    found: list[Event] = []
    for i in range(1, ticks + 1):
        found += events(core.handle_timer(NOW + 1 + i * 0.5))
    return found


def test_password_beyond_the_search_is_not_invented() -> None:
    core = make_core(recovery_tries_per_source=100_000)
    assert events(_register(core, "correct horse battery")) == []  # held while the search goes on
    (event,) = _drain(core)
    assert event.kind == "auth_failure" and event.password is None


def test_six_digit_password_is_found_by_the_timer_search() -> None:
    core = make_core()
    out = _register(core, "482913")
    assert [r.status for r in replies(out)] == [403] and events(out) == []
    (event,) = _drain(core, ticks=120)
    assert (event.kind, event.password, event.detail["recovered_by"]) == ("auth_failure", "482913", "search")
    assert event.ts == datetime.fromtimestamp(NOW + 1, UTC)  # the time of the request, not of the find


def test_held_events_go_out_after_the_hold_time_or_at_close() -> None:
    core = make_core(recovery_tries_per_source=10_000_000)
    _register(core, "correct horse battery")
    _register(core, "another long one", call_id="reg-2")
    out = [e for e in events(core.handle_timer(NOW + 1 + MAX_HOLD_SECONDS)) if e.kind == "auth_failure"]
    assert [e.password for e in out] == [None, None]
    _register(core, "third", call_id="reg-3")
    assert [e.kind for e in events(core.close(NOW + 2))] == ["auth_failure"]


def test_svcrack_tag_reveals_the_password_without_search() -> None:
    from sipvicious.libs.svhelper import createTag

    core = make_core(recovery_tries_per_source=0)  # no search budget at all
    tag = createTag("100:Zebra!42").decode()
    (event,) = events(_register(core, "Zebra!42", tag=tag))
    assert (event.kind, event.password, event.tool) == ("auth_failure", "Zebra!42", "sipvicious/svcrack")
    assert event.detail["recovered_by"] == "tool_tag"
    # A tag that lies about the password is not believed.
    lie = createTag("100:notit").decode()
    (event,) = events(_register(core, "Zebra!42", tag=lie, call_id="reg-9"))
    assert event.password is None


def test_search_budget_per_source_bounds_cpu() -> None:
    core = make_core(recovery_tries_per_source=50)
    (first,) = events(_register(core, "0000"))  # within the first candidates (top list)
    assert first.password == "0000"
    (second,) = events(_register(core, "4711", call_id="reg-2"))
    assert second.password is None  # budget spent


def _call(
    core: HoneypotCore,
    *,
    password: str = "100",  # noqa: S107 - the bait password of the test account
    target: str = "9011441234567890",
    call_id: str = "inv-1",
    body: bytes = SDP_OFFER,
) -> tuple[list[Output], list[Output]]:
    uri = f"sip:{target}@192.0.2.10"
    first = core.receive(sip_request("INVITE", uri, call_id=call_id, body=body), ATTACKER, NOW)
    (challenge,) = replies(first)
    assert challenge.status == 401
    auth = answer_challenge(challenge, username="100", password=password, method="INVITE", uri=uri)
    second = core.receive(
        sip_request("INVITE", uri, call_id=call_id, cseq=2, headers=[auth], body=body), ATTACKER, NOW + 1
    )
    return first, second


def test_invite_is_challenged_then_answered_with_sdp_and_media() -> None:
    core = make_core(rtp_ports="20000-20009")
    first, second = _call(core)
    (attempt,) = events(first)
    assert attempt.kind == "call_attempt"
    assert (attempt.target, attempt.target_e164, attempt.target_country) == ("9011441234567890", "+441234567890", "GB")
    statuses = [r.status for r in replies(second)]
    assert statuses == [100, 180, 200]
    ok = replies(second)[2]
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert b"m=audio 20000 RTP/AVP 8" in ok.body and b"c=IN IP4 192.0.2.10" in ok.body
    ringing_tag = parse_name_addr(replies(second)[1].headers.get("To") or "").tag
    assert parse_name_addr(ok.headers.get("To") or "").tag == ringing_tag
    (start,) = media(second)
    assert isinstance(start, StartMedia)
    assert (start.local_port, start.remote_host, start.remote_port, start.payload_type, start.dtmf_payload_type) == (
        20000, "203.0.113.7", 40000, 8, 101
    )  # fmt: skip
    (answered,) = events(second)
    assert (answered.kind, answered.username, answered.target_e164, answered.detail["codec"]) == (
        "call_answered", "100", "+441234567890", "PCMA"
    )  # fmt: skip


def test_bye_ends_the_call_and_frees_its_port() -> None:
    core = make_core(rtp_ports="20000-20001")
    _call(core)
    to_tag = core.calls.calls["inv-1"].local_tag
    core.receive(
        sip_request("ACK", "sip:9011441234567890@192.0.2.10", call_id="inv-1", cseq=2, to_tag=to_tag), ATTACKER, NOW + 2
    )
    out = core.receive(
        sip_request("BYE", "sip:100@192.0.2.10", call_id="inv-1", cseq=3, to_tag=to_tag), ATTACKER, NOW + 12
    )
    assert [r.status for r in replies(out)] == [200]
    assert media(out) == [StopMedia("inv-1")]
    (ended,) = events(out)
    assert (ended.kind, ended.detail["reason"], ended.detail["seconds"]) == ("call_ended", "bye", 11.0)
    # The only port is free again for the next call.
    _, second = _call(core, call_id="inv-2")
    assert [r.status for r in replies(second)] == [100, 180, 200]


def test_bad_password_on_invite_is_forbidden_and_recorded() -> None:
    core = make_core()
    _, second = _call(core, password="nope")
    assert [r.status for r in replies(second)] == [403]
    (failure,) = events(core.close(NOW + 2))
    assert (failure.kind, failure.target) == ("auth_failure", "9011441234567890")
    assert not media(second)


def test_one_call_attempt_per_call_id() -> None:
    core = make_core()
    first, second = _call(core)
    kinds = [e.kind for e in events(first) + events(second)]
    assert kinds.count("call_attempt") == 1


def test_reinvite_keeps_the_dialog_and_reaims_media() -> None:
    core = make_core(rtp_ports="20000-20009")
    _call(core)
    tag = core.calls.calls["inv-1"].local_tag
    body = SDP_OFFER.replace(b"40000", b"40100")
    out = core.receive(
        sip_request("INVITE", "sip:100@192.0.2.10", call_id="inv-1", cseq=5, to_tag=tag, body=body), ATTACKER, NOW + 5
    )
    (ok,) = replies(out)
    assert ok.status == 200 and parse_name_addr(ok.headers.get("To") or "").tag == tag
    (start,) = media(out)
    assert isinstance(start, StartMedia) and start.remote_port == 40100 and start.local_port == 20000


def test_200_ok_is_retransmitted_over_udp_until_the_ack() -> None:
    core = make_core()
    _, second = _call(core)
    ok = [o.data for o in second if isinstance(o, Reply)][-1]
    sent = []
    t = NOW + 1
    while t < NOW + 9:
        t += 0.25
        sent += [(round(t - NOW - 1, 2), o) for o in core.handle_timer(t) if isinstance(o, SendTo)]
    # RFC 3261 13.3.1.4: at T1, then doubling (0.5, 1, 2, 4 s apart), capped at T2.
    assert [at for at, _ in sent] == [0.5, 1.5, 3.5, 7.5]
    assert all(o.data == ok and o.peer == ATTACKER for _, o in sent)
    _ack(core, at=t)
    assert not [o for o in core.handle_timer(t + 10) if isinstance(o, SendTo)]


def test_a_200_never_acknowledged_ends_the_call() -> None:
    core = make_core(call_timeout_seconds=60)
    _call(core)
    out = []
    for i in range(1, 80):
        out += core.handle_timer(NOW + 1 + i * 0.5)
    assert media(out) == [StopMedia("inv-1")]
    assert [e.detail["reason"] for e in events(out)] == ["no_ack"]


def test_no_retransmission_over_tcp() -> None:
    core = make_core()
    tcp = Peer("203.0.113.7", 40000, "tcp", "192.0.2.10", 5060)
    uri = "sip:900@192.0.2.10"
    (challenge,) = replies(core.receive(sip_request("INVITE", uri, body=SDP_OFFER), tcp, NOW))
    auth = answer_challenge(challenge, username="100", password="100", method="INVITE", uri=uri)
    core.receive(sip_request("INVITE", uri, cseq=2, headers=[auth], body=SDP_OFFER), tcp, NOW)
    assert not [o for o in core.handle_timer(NOW + 5) if isinstance(o, SendTo)]


def test_calls_are_refused_busy_when_no_rtp_port_can_be_had() -> None:
    class Taken:
        def __init__(self) -> None:
            self.asked: list[int] = []

        def reserve(self, host: str, port: int) -> bool:
            self.asked.append(port)
            return False

        def release(self, host: str, port: int) -> None:
            raise AssertionError("nothing was reserved")

    taken = Taken()
    core = HoneypotCore(make_core(rtp_ports="20000-20005").config, ports=taken)
    _, second = _call(core)
    assert [r.status for r in replies(second)] == [486]
    assert taken.asked == [20000, 20002, 20004]
    assert not media(second)


def test_in_dialog_requests_for_unknown_calls_get_481() -> None:
    core = make_core()
    for method in ("BYE", "CANCEL"):
        (resp,) = replies(core.receive(sip_request(method, call_id="nope", to_tag="x"), ATTACKER, NOW))
        assert resp.status == 481
    (resp,) = replies(core.receive(sip_request("INVITE", call_id="nope", to_tag="x", body=SDP_OFFER), ATTACKER, NOW))
    assert resp.status == 481


def test_invite_without_usable_sdp_is_refused_with_488() -> None:
    core = make_core()
    _, second = _call(
        core,
        body=SDP_OFFER.replace(b"RTP/AVP 8 0 101", b"RTP/AVP 18").replace(
            b"a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n", b""
        ),
    )
    assert [r.status for r in replies(second)] == [488]
    assert not core.calls.calls


def _ack(core: HoneypotCore, call_id: str = "inv-1", at: float = NOW + 1.1) -> None:
    tag = core.calls.calls[call_id].local_tag
    assert core.receive(sip_request("ACK", call_id=call_id, cseq=2, to_tag=tag), ATTACKER, at) == []


def test_silent_calls_time_out() -> None:
    core = make_core(call_timeout_seconds=30)
    _call(core)
    _ack(core)
    assert core.handle_timer(NOW + 20) == []
    core.media_activity("inv-1", NOW + 25)
    assert not media(core.handle_timer(NOW + 50))
    out = core.handle_timer(NOW + 56)
    assert media(out) == [StopMedia("inv-1")]
    assert events(out)[0].detail["reason"] == "timeout"


@pytest.mark.parametrize(
    "data",
    [b"\x00", b"", b"\r\n\r\n", b"GARBAGE", b"INVITE sip:x SIP/2.0\r\n\r\n", b"\xff" * 3000,
     sip_request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: x"),
     sip_request("REGISTER", headers=[("Authorization", 'Digest username="100", realm=')])],
)  # fmt: skip
def test_malformed_input_becomes_an_event_and_never_raises(data: bytes) -> None:
    core = make_core()
    out = core.receive(data, ATTACKER, NOW)
    evs = events(out)
    assert [e.kind for e in evs] == ["malformed"]
    assert evs[0].raw is not None and len(evs[0].raw) <= 8192
    if data == b"\x00":
        assert evs[0].raw == "\\x00"


def test_replies_to_one_udp_source_are_rate_limited_but_events_counted() -> None:
    core = make_core(rate_per_source=10, rate_burst=5, aggregate_seconds=60)
    answered = 0
    out_events = []
    for i in range(100):
        out = core.receive(sip_request("OPTIONS", call_id=f"c{i}"), ATTACKER, NOW + i * 0.001)
        answered += len(replies(out))
        out_events += events(out)
    assert answered == 5
    other = Peer("198.51.100.9", 5060, "udp", "192.0.2.10", 5060)
    assert len(replies(core.receive(sip_request("OPTIONS"), other, NOW))) == 1
    out_events += events(core.close(NOW + 1))
    assert sum(e.count for e in out_events if e.src_ip == ATTACKER.ip) == 100


def test_tcp_is_not_rate_limited() -> None:
    core = make_core(rate_per_source=1, rate_burst=1)
    tcp = Peer("203.0.113.7", 40000, "tcp", "192.0.2.10", 5060)
    assert sum(len(replies(core.receive(sip_request("OPTIONS"), tcp, NOW))) for _ in range(10)) == 10


def test_udp_replies_are_never_much_larger_than_the_request() -> None:
    core = make_core()
    # Compact headers, no User-Agent: the full reply (Server, Allow, Supported...) would exceed 3x.
    tiny = (
        b"OPTIONS sip:a SIP/2.0\r\nv:SIP/2.0/UDP h\r\nf:<sip:a@b>;tag=1\r\nt:<sip:a@b>\r\ni:1\r\nCSeq:1 OPTIONS\r\n\r\n"
    )
    out = core.receive(tiny, ATTACKER, NOW)
    data = [o.data for o in out if isinstance(o, Reply)]
    assert len(data) == 1 and len(data[0]) <= MAX_AMPLIFICATION * len(tiny)
    (resp,) = replies(out)
    assert resp.status == 200 and resp.headers.get("Allow") is None  # the minimal form
    # Over TCP the peer completed a handshake, so the full answer is sent.
    tcp = Peer("203.0.113.7", 40000, "tcp", "192.0.2.10", 5060)
    (full,) = replies(core.receive(tiny, tcp, NOW))
    assert full.headers.get("Allow") is not None
    # An ordinary request gets the full answer on UDP too.
    (normal,) = replies(core.receive(sip_request("OPTIONS"), ATTACKER, NOW))
    assert normal.headers.get("Allow") is not None


def test_bounded_reply_prefers_full_then_minimal_then_nothing() -> None:
    def build(minimal: bool) -> bytes:
        return b"m" * 50 if minimal else b"f" * 200

    assert bounded_reply(100, build) == b"f" * 200
    assert bounded_reply(40, build) == b"m" * 50
    assert bounded_reply(10, build) is None


def test_floods_aggregate_into_counts() -> None:
    core = make_core(aggregate_seconds=10, rate_per_source=1e6, rate_burst=1_000_000)
    emitted = []
    for i in range(1000):
        emitted += events(
            core.receive(
                sip_request("OPTIONS", call_id=f"c{i}", user_agent="friendly-scanner"), ATTACKER, NOW + i * 0.001
            )
        )
    assert len(emitted) == 1
    emitted += events(core.handle_timer(NOW + 11))
    assert len(emitted) == 2 and sum(e.count for e in emitted) == 1000


def test_other_methods_are_challenged_or_refused() -> None:
    core = make_core()
    (resp,) = replies(core.receive(sip_request("MESSAGE"), ATTACKER, NOW))
    assert resp.status == 401
    (resp,) = replies(core.receive(sip_request("FOOBAR"), ATTACKER, NOW))
    assert resp.status == 405 and "INVITE" in (resp.headers.get("Allow") or "")


def test_desk_phone_persona_answers_with_user_agent() -> None:
    core = make_core(persona_name="yealink")
    (resp,) = replies(core.receive(sip_request("OPTIONS"), ATTACKER, NOW))
    assert resp.headers.get("User-Agent") == "Yealink SIP-T46S 66.86.0.15" and resp.headers.get("Server") is None
