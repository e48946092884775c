"""Ringing before the answer, CANCEL while ringing (200 + 487 + ACK), in the sans-I/O core, time injected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipwarden.sensors.honeypot.calls import MAX_RING_SECONDS, parse_ring_range
from sipwarden.sensors.honeypot.core import HoneypotCore
from sipwarden.sensors.honeypot.invite import ACK_TIMEOUT_SECONDS
from sipwarden.sensors.honeypot.outputs import Output, Peer, Reply, SendTo, StartMedia, StopMedia, Wake
from sipwarden.sensors.honeypot.server import core_config
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sip.headers import parse_name_addr
from sipwarden.sip.message import Response, parse_message

from .helpers import (
    ATTACKER,
    SDP_OFFER,
    answer_challenge,
    counter_token,
    events,
    make_core,
    media,
    replies,
    sip_request,
)

NOW = 1_700_000_000.0
URI = "sip:9011441234567890@192.0.2.10"
BRANCH = "z9hG4bKinvite2"


class Ports:
    """A PortReserver that remembers what was reserved and released."""

    def __init__(self) -> None:
        self.reserved: list[int] = []
        self.released: list[int] = []

    def reserve(self, host: str, port: int) -> bool:
        self.reserved.append(port)
        return True

    def release(self, host: str, port: int) -> None:
        self.released.append(port)


def _ringing_core(ring: str = "3-3", ports: Ports | None = None, **settings: object) -> HoneypotCore:
    config = core_config(HoneypotSettings(ring_seconds=ring, rtp_ports="20000-20009", **settings), sensor="t")  # type: ignore[arg-type]
    return HoneypotCore(config, token=counter_token(), ports=ports)


def _invite(core: HoneypotCore, *, peer: Peer = ATTACKER, call_id: str = "inv-1", at: float = NOW + 1) -> list[Output]:
    """Challenge, then the authenticated INVITE at `at` (branch BRANCH); the outputs of the second."""
    first = core.receive(sip_request("INVITE", URI, call_id=call_id, body=SDP_OFFER), peer, NOW)
    (challenge,) = replies(first)
    auth = answer_challenge(challenge, username="100", password="100", method="INVITE", uri=URI)
    request = sip_request("INVITE", URI, call_id=call_id, cseq=2, headers=[auth], body=SDP_OFFER, branch=BRANCH)
    return core.receive(request, peer, at)


def _sent(outputs: list[Output]) -> list[Response]:
    """The responses sent outside a request (SendTo), parsed."""
    out = []
    for item in outputs:
        if isinstance(item, SendTo):
            message = parse_message(item.data)
            assert isinstance(message, Response)
            out.append(message)
    return out


def _cancel(core: HoneypotCore, *, branch: str = BRANCH, call_id: str = "inv-1", at: float = NOW + 2) -> list[Output]:
    return core.receive(sip_request("CANCEL", URI, call_id=call_id, cseq=2, branch=branch), ATTACKER, at)


def _tag(response: Response) -> str | None:
    return parse_name_addr(response.headers.get("To") or "").tag


def test_an_authenticated_invite_rings_and_is_answered_when_the_ring_time_is_over() -> None:
    core = _ringing_core("3-3")
    out = _invite(core)
    trying, ringing = replies(out)
    assert (trying.status, ringing.status, ringing.reason) == (100, 180, "Ringing")
    assert _tag(trying) is None and _tag(ringing)  # RFC 3261 8.2.6.2: no To tag on 100
    assert [o for o in out if isinstance(o, Wake)] == [Wake(NOW + 4)]
    assert media(out) == [] and [e.kind for e in events(out)] == []  # no port bound for audio yet, no answer
    assert core.handle_calls(NOW + 3.9) == []
    answered = core.handle_calls(NOW + 4)
    (ok,) = _sent(answered)
    assert ok.status == 200 and ok.headers.get("CSeq") == "2 INVITE" and _tag(ok) == _tag(ringing)
    assert b"m=audio 20000 RTP/AVP 8" in ok.body
    (start,) = media(answered)
    assert isinstance(start, StartMedia) and start.local_port == 20000
    # The port is bound before the 200 names it: StartMedia comes first.
    assert isinstance(answered[0], StartMedia)
    (event,) = events(answered)
    assert (event.kind, event.detail["ring_seconds"], event.target_e164) == ("call_answered", 3.0, "+441234567890")


def test_the_ring_time_is_picked_per_call_within_the_range() -> None:
    picks = iter(["0000", "ffff", "8000"])
    tokens = counter_token()
    config = core_config(HoneypotSettings(ring_seconds="2-6", rtp_ports="20000-20009"), sensor="t")

    def token(n: int) -> str:
        return next(picks) if n == 2 else tokens(n)

    core = HoneypotCore(config, token=token)
    wakes = []
    for i in range(3):
        out = _invite(core, call_id=f"inv-{i}")
        wakes += [o.at - (NOW + 1) for o in out if isinstance(o, Wake)]
    assert wakes == pytest.approx([2.0, 6.0, 2.0 + 4 * 0x8000 / 0xFFFF])


def test_the_default_ring_is_two_to_six_seconds() -> None:
    assert core_config(HoneypotSettings()).ring_seconds == (2.0, 6.0)


def test_a_retransmitted_invite_while_ringing_gets_the_180_again() -> None:
    core = _ringing_core("5-5")
    out = _invite(core)
    ringing = [o.data for o in out if isinstance(o, Reply)][-1]
    # RFC 3261 17.2.1: the transaction repeats its last provisional response; no second event, no auth.
    again = core.receive(sip_request("INVITE", URI, call_id="inv-1", cseq=2, body=SDP_OFFER), ATTACKER, NOW + 2)
    assert again == [Reply(ringing)]


def test_cancel_while_ringing_gets_200_and_the_invite_487_and_the_ack_is_absorbed() -> None:
    ports = Ports()
    core = _ringing_core("5-5", ports=ports)
    ringing = replies(_invite(core))[1]
    out = _cancel(core)
    (ok,) = replies(out)
    assert (ok.status, ok.headers.get("CSeq")) == (200, "2 CANCEL")
    (terminated,) = _sent(out)
    assert (terminated.status, terminated.reason, terminated.headers.get("CSeq")) == (
        487,
        "Request Terminated",
        "2 INVITE",
    )
    # RFC 3261 9.2: the To tag of the 200 to CANCEL and of the 487 are the one of the 180.
    assert _tag(ok) == _tag(terminated) == _tag(ringing)
    (ended,) = events(out)
    assert (ended.kind, ended.detail["reason"], ended.detail["answered"], ended.detail["ring_seconds"]) == (
        "call_ended", "cancel", False, 1.0
    )  # fmt: skip
    assert (ended.target, ended.target_e164, ended.username) == ("9011441234567890", "+441234567890", "100")
    assert media(out) == []  # no media was ever started
    assert ports.reserved == [20000] and ports.released == [20000]
    assert not core.calls.calls
    # The ACK of the 487 ends the transaction; it is never answered.
    ack = sip_request("ACK", URI, call_id="inv-1", cseq=2, to_tag=_tag(terminated), branch=BRANCH)
    assert core.receive(ack, ATTACKER, NOW + 2.1) == []
    # Nothing more: no 487 repeats, and the call is not answered when its ring time is over.
    assert [o for t in (2.6, 4, 6.5, 10) for o in core.handle_calls(NOW + t)] == []


def test_the_487_is_repeated_over_udp_until_the_ack_then_given_up() -> None:
    core = _ringing_core("5-5")
    _invite(core)
    terminated = next(o.data for o in _cancel(core) if isinstance(o, SendTo))
    sent = []
    t = NOW + 2
    while t < NOW + 2 + ACK_TIMEOUT_SECONDS + 5:
        t += 0.25
        sent += [(round(t - NOW - 2, 2), o) for o in core.handle_calls(t) if isinstance(o, SendTo)]
    # RFC 3261 17.2.1: timer G from T1 doubling to T2, until timer H (64*T1).
    assert [at for at, _ in sent] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(o.data == terminated and o.peer == ATTACKER for _, o in sent)
    assert not core.calls.completed


def test_retransmitted_cancel_and_invite_after_the_cancel_repeat_their_answers() -> None:
    core = _ringing_core("5-5")
    _invite(core)
    first = _cancel(core)
    ok = next(o.data for o in first if isinstance(o, Reply))
    terminated = next(o.data for o in first if isinstance(o, SendTo))
    assert _cancel(core, at=NOW + 2.5) == [Reply(ok)]
    again = core.receive(sip_request("INVITE", URI, call_id="inv-1", cseq=2, body=SDP_OFFER), ATTACKER, NOW + 2.6)
    assert again == [Reply(terminated)]


@pytest.mark.parametrize(("call_id", "branch"), [("nope", BRANCH), ("inv-1", "z9hG4bKother")])
def test_cancel_of_an_unknown_transaction_gets_481(call_id: str, branch: str) -> None:
    core = _ringing_core("5-5")
    _invite(core)
    out = _cancel(core, call_id=call_id, branch=branch)
    assert [r.status for r in replies(out)] == [481]
    assert [e.kind for e in events(out)] == ["probe"]
    assert core.calls.calls["inv-1"].state == "ringing"  # the real call rings on


def test_cancel_after_the_answer_changes_nothing() -> None:
    core = _ringing_core("1-1")
    _invite(core)
    core.handle_calls(NOW + 2)
    out = _cancel(core, at=NOW + 3)
    assert [r.status for r in replies(out)] == [200]
    assert media(out) == [] and events(out) == []  # RFC 3261 9.2: the caller has to send BYE
    assert core.calls.calls["inv-1"].state == "answered"


def test_bye_on_the_early_dialog_ends_the_ringing_call_with_487() -> None:
    core = _ringing_core("5-5")
    ringing = replies(_invite(core))[1]
    bye = sip_request("BYE", URI, call_id="inv-1", cseq=3, to_tag=_tag(ringing), branch="z9hG4bKbye")
    out = core.receive(bye, ATTACKER, NOW + 2)
    assert [r.status for r in replies(out)] == [200] and [r.status for r in _sent(out)] == [487]
    (ended,) = events(out)
    assert (ended.detail["reason"], ended.detail["answered"]) == ("bye", False)
    # A CANCEL racing the BYE still finds its INVITE transaction: 200 to the CANCEL, nothing more.
    late = _cancel(core, at=NOW + 2.1)
    (ok,) = replies(late)
    assert (ok.status, ok.headers.get("CSeq"), _tag(ok)) == (200, "2 CANCEL", _tag(ringing))
    assert len(late) == 1


def test_no_487_repeats_over_tcp_and_the_transaction_is_forgotten() -> None:
    tcp = Peer("203.0.113.7", 40000, "tcp", "192.0.2.10", 5060)
    core = _ringing_core("5-5")
    _invite(core, peer=tcp)
    out = core.receive(sip_request("CANCEL", URI, call_id="inv-1", cseq=2, branch=BRANCH), tcp, NOW + 2)
    assert [r.status for r in _sent(out)] == [487]
    assert [o for t in range(3, 40) for o in core.handle_calls(NOW + t) if isinstance(o, SendTo)] == []
    assert not core.calls.completed


def test_shutdown_while_ringing_reports_the_call_and_frees_the_port() -> None:
    ports = Ports()
    core = _ringing_core("5-5", ports=ports)
    _invite(core)
    out = core.close(NOW + 3)
    assert [o for o in out if isinstance(o, StopMedia)] == []
    (ended,) = [e for e in events(out) if e.kind == "call_ended"]
    assert (ended.detail["reason"], ended.detail["answered"]) == ("shutdown", False)
    assert ports.released == [20000]


def test_ringing_calls_count_against_the_call_limit() -> None:
    core = _ringing_core("5-5")
    core.calls.max_calls = 1
    _invite(core)
    assert [r.status for r in replies(_invite(core, call_id="inv-2"))] == [486]


def test_ring_zero_answers_at_once() -> None:
    core = make_core(ring_seconds="0-0")
    out = _invite(core)
    assert [r.status for r in replies(out)] == [100, 180, 200]
    assert not [o for o in out if isinstance(o, Wake)]


@pytest.mark.parametrize("text", ["6", "6-2", "-1-2", "a-b", f"1-{MAX_RING_SECONDS + 1:g}", ""])
def test_bad_ring_ranges_are_refused_with_the_range_named(text: str) -> None:
    with pytest.raises(ValueError, match="ring range"):
        parse_ring_range(text)
    with pytest.raises(ValueError, match="ring range"):
        core_config(HoneypotSettings(ring_seconds=text))


def test_ring_ranges_accept_fractions() -> None:
    assert parse_ring_range(" 0.5-1.5 ") == (0.5, 1.5)


def test_a_persona_with_early_media_rings_with_183_and_sdp_and_plays_before_the_answer() -> None:
    ports = Ports()
    core = _ringing_core("3-3", ports=ports, persona="freeswitch")
    out = _invite(core)
    trying, progress = replies(out)
    assert (trying.status, progress.status, progress.reason) == (100, 183, "Session Progress")
    assert progress.headers.get("Content-Type") == "application/sdp" and b"m=audio 20000 RTP/AVP 8" in progress.body
    # The port is bound and the ringback plays before the 183 names it.
    kinds = [type(o).__name__ for o in out if isinstance(o, StartMedia | Reply)]
    assert kinds == ["Reply", "StartMedia", "Reply"]
    answered = core.handle_calls(NOW + 4)
    (ok,) = _sent(answered)
    assert ok.status == 200 and ok.body == progress.body and _tag(ok) == _tag(progress)
    assert media(answered) == []  # already playing


def test_cancel_during_early_media_stops_the_media() -> None:
    ports = Ports()
    core = _ringing_core("3-3", ports=ports, persona="freeswitch")
    _invite(core)
    out = _cancel(core)
    assert media(out) == [StopMedia("inv-1")]
    assert ports.released == []  # the port belongs to the media layer since StartMedia
    assert [r.status for r in _sent(out)] == [487]


STEPS = st.lists(
    st.tuples(
        st.sampled_from(["INVITE", "CANCEL", "ACK", "BYE", "TICK"]),
        st.integers(0, 2),  # which call
        st.integers(0, 1),  # which branch: the INVITE's or another
        st.floats(0, 4),  # seconds since the previous step
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(steps=STEPS, persona=st.sampled_from(["asterisk", "freeswitch"]))
def test_any_order_of_invite_cancel_ack_bye_keeps_ports_and_media_balanced(
    steps: list[tuple[str, int, int, float]], persona: str
) -> None:
    ports = Ports()
    core = _ringing_core("1-3", ports=ports, persona=persona)
    now, outputs = NOW, []
    playing: set[str] = set()
    first_starts: list[int] = []  # ports handed to the media layer (a re-INVITE only re-aims)

    def follow(out: list[Output]) -> None:
        for item in out:
            if isinstance(item, StartMedia) and item.call_id not in playing:
                playing.add(item.call_id)
                first_starts.append(item.local_port)
            elif isinstance(item, StopMedia):
                assert item.call_id in playing
                playing.discard(item.call_id)
        outputs.extend(out)

    for method, call, branch_index, step in steps:
        now += step
        call_id, branch = f"inv-{call}", (BRANCH, "z9hG4bKx")[branch_index]
        if method == "TICK":
            follow(core.handle_calls(now))
        elif method == "INVITE" and call_id not in core.calls.calls and call_id not in core.calls.completed:
            follow(_invite(core, call_id=call_id, at=now))
        else:
            tag = core.calls.calls[call_id].local_tag if call_id in core.calls.calls else None
            request = sip_request(method, URI, call_id=call_id, cseq=2, branch=branch, to_tag=tag, body=b"")
            follow(core.receive(request, ATTACKER, now))
        assert len(core.calls.calls) + len(core.calls.completed) <= 3
    follow(core.close(now + 100))
    assert [e for e in events(outputs) if e.kind == "malformed"] == []
    # Every port bound for a call went either to the media layer (and was stopped) or back.
    assert playing == set()
    assert sorted(ports.reserved) == sorted([*ports.released, *first_starts])
    # Every call that rang was reported once as ended.
    assert len([e for e in events(outputs) if e.kind == "call_ended"]) == len(ports.reserved)
