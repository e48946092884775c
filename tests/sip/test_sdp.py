"""SDP parsing, serialization and the offer/answer codec choice."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipwarden.sip.errors import LocalProtocolError, RemoteProtocolError
from sipwarden.sip.sdp import MAX_SDP_BYTES, Media, SessionDescription, make_answer, parse_sdp, serialize_sdp

# The offer SIPp's built-in uac scenario sends (sipp -sn uac), with its keywords filled in.
SIPP_OFFER = (
    b"v=0\r\n"
    b"o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)

# A softphone offer in the shape Zoiper/MicroSIP send: several codecs, DTMF, media-level c=.
SOFTPHONE_OFFER = (
    b"v=0\n"
    b"o=Z 1700000000 1 IN IP4 192.0.2.10\n"
    b"s=Z\n"
    b"c=IN IP4 192.0.2.10\n"
    b"t=0 0\n"
    b"a=group:BUNDLE 0\n"
    b"m=audio 40000 RTP/AVP 106 9 98 101 0 8 3\n"
    b"c=IN IP4 198.51.100.7\n"
    b"a=rtpmap:106 opus/48000/2\n"
    b"a=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\n"
    b"a=rtpmap:98 telephone-event/48000\n"
    b"a=rtpmap:101 telephone-event/8000\n"
    b"a=fmtp:101 0-16\n"
    b"a=sendrecv\n"
    b"a=rtcp-mux\n"
    b"m=video 40002 RTP/AVP 96\n"
    b"a=rtpmap:96 H264/90000\n"
)

IPV6_OFFER = (
    b"v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\n"
    b"m=audio 7078 RTP/AVP 8 96\r\na=rtpmap:96 telephone-event/8000\r\na=sendonly\r\n"
)


def test_parse_sipp_offer() -> None:
    sd = parse_sdp(SIPP_OFFER)
    assert sd.origin == "user1 53655765 2353687637 IN IP4 127.0.0.1"
    assert sd.session_name == "-"
    assert sd.connection == "127.0.0.1"
    audio = sd.audio()
    assert audio == Media(kind="audio", port=6000, proto="RTP/AVP", formats=("0",), rtpmap=((0, "PCMU", 8000),))
    assert sd.remote_rtp_address() == ("127.0.0.1", 6000)


def test_parse_softphone_offer_with_lf_and_media_connection() -> None:
    sd = parse_sdp(SOFTPHONE_OFFER)
    assert sd.session_name == "Z"
    assert sd.attributes == (("group", "BUNDLE 0"),)
    audio = sd.audio()
    assert audio is not None
    assert audio.connection == "198.51.100.7"
    # explicit rtpmaps plus RFC 3551 static defaults, in the order of the m= line
    assert audio.rtpmap == (
        (106, "opus", 48000),
        (9, "G722", 8000),
        (98, "telephone-event", 48000),
        (101, "telephone-event", 8000),
        (0, "PCMU", 8000),
        (8, "PCMA", 8000),
        (3, "GSM", 8000),
    )
    assert audio.attribute("fmtp") == "106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1"
    assert audio.attribute("sendrecv") is None
    assert ("rtcp-mux", None) in audio.attributes
    assert sd.media[1].kind == "video"
    # media-level c= beats the session-level one (RFC 8866 5.7)
    assert sd.remote_rtp_address() == ("198.51.100.7", 40000)


def test_round_trip() -> None:
    for body in (SIPP_OFFER, SOFTPHONE_OFFER, IPV6_OFFER):
        sd = parse_sdp(body)
        again = serialize_sdp(sd)
        assert parse_sdp(again) == sd
        assert b"\n" not in again.replace(b"\r\n", b"")


def test_blank_lines_are_skipped() -> None:
    assert parse_sdp(SIPP_OFFER.replace(b"t=0 0\r\n", b"t=0 0\r\n\r\n")) == parse_sdp(SIPP_OFFER)
    assert parse_sdp(SIPP_OFFER + b"\r\n\r\n") == parse_sdp(SIPP_OFFER)


def test_serialize_exact_bytes() -> None:
    assert serialize_sdp(parse_sdp(SIPP_OFFER)) == SIPP_OFFER


def test_remote_address_refuses_names_and_hold() -> None:
    named = SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 attacker.example")
    assert parse_sdp(named).remote_rtp_address() is None
    hold = SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 0.0.0.0")
    assert parse_sdp(hold).remote_rtp_address() is None
    multicast = SIPP_OFFER.replace(b"c=IN IP4 127.0.0.1", b"c=IN IP4 233.252.0.1/127")
    assert parse_sdp(multicast).connection == "233.252.0.1"
    rejected = SIPP_OFFER.replace(b"m=audio 6000", b"m=audio 0")
    assert parse_sdp(rejected).audio() is None
    assert parse_sdp(rejected).remote_rtp_address() is None


def test_answer_to_sipp_offer() -> None:
    answer = make_answer(parse_sdp(SIPP_OFFER), address="127.0.0.1", port=20000, session_id=42, username="sipwarden")
    assert serialize_sdp(answer) == (
        b"v=0\r\n"
        b"o=sipwarden 42 42 IN IP4 127.0.0.1\r\n"
        b"s=-\r\n"
        b"c=IN IP4 127.0.0.1\r\n"
        b"t=0 0\r\n"
        b"m=audio 20000 RTP/AVP 0\r\n"
        b"a=rtpmap:0 PCMU/8000\r\n"
        b"a=ptime:20\r\n"
        b"a=sendrecv\r\n"
    )


def test_answer_picks_first_supported_and_telephone_event() -> None:
    offer = parse_sdp(SOFTPHONE_OFFER)
    answer = make_answer(offer, address="127.0.0.1", port=30000, session_id=7, username="u")
    assert len(answer.media) == len(offer.media)  # RFC 3264 6
    audio = answer.media[0]
    # the codec comes first; telephone-event at the codec's 8 kHz, not the 48 kHz one (RFC 4733 2.1)
    assert audio.formats == ("0", "101")
    assert audio.rtpmap == ((0, "PCMU", 8000), (101, "telephone-event", 8000))
    assert audio.attribute("fmtp") == "101 0-16"
    assert answer.media[1].port == 0 and answer.media[1].kind == "video"
    # only PCMA supported: it is chosen though PCMU comes first
    pcma = make_answer(offer, address="127.0.0.1", port=30000, session_id=7, username="u", supported=(8,))
    assert pcma.media[0].formats == ("8",)
    assert pcma.media[0].attribute("fmtp") is None


def test_answer_ipv6_and_direction() -> None:
    answer = make_answer(parse_sdp(IPV6_OFFER), address="::1", port=4000, session_id=1, username="u")
    body = serialize_sdp(answer)
    assert b"c=IN IP6 ::1\r\n" in body
    assert b"o=u 1 1 IN IP6 ::1\r\n" in body
    assert b"a=recvonly\r\n" in body  # the offer was sendonly (RFC 3264 6.1)
    assert answer.media[0].formats == ("8", "96")
    assert parse_sdp(body) == answer


def test_answer_refusals() -> None:
    no_common = SIPP_OFFER.replace(b"RTP/AVP 0", b"RTP/AVP 18").replace(b"a=rtpmap:0 PCMU/8000", b"")
    with pytest.raises(RemoteProtocolError) as info:
        make_answer(parse_sdp(no_common), address="127.0.0.1", port=2, session_id=1, username="u")
    assert info.value.error_status_hint == 488
    srtp = SIPP_OFFER.replace(b"RTP/AVP", b"RTP/SAVP")
    with pytest.raises(RemoteProtocolError):
        make_answer(parse_sdp(srtp), address="127.0.0.1", port=2, session_id=1, username="u")
    video_only = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n"
    with pytest.raises(RemoteProtocolError):
        make_answer(parse_sdp(video_only), address="127.0.0.1", port=2, session_id=1, username="u")
    with pytest.raises(LocalProtocolError):
        make_answer(parse_sdp(SIPP_OFFER), address="127.0.0.1", port=0, session_id=1, username="u")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"hello",
        b"v=1\r\n",
        b"v=0\r\nthis is not sdp\r\n",
        b"v=0\r\nm=audio\r\n",
        b"v=0\r\nm=audio x RTP/AVP 0\r\n",
        b"v=0\r\nm=audio 70000 RTP/AVP 0\r\n",
        b"v=0\r\nc=IN IP4\r\n",
        b"v=0\r\nc=XX IP4 1.2.3.4\r\n",
        b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n",
        b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
        b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:300 PCMU/8000\r\n",
        b"v=0\r\na=\r\n",
        b"v=0\r\nv=0\r\n",
        b"v=0\r\n\xff\xfe\r\n",
        b"v=0\r\n" + b"m=audio 1 RTP/AVP 0\r\n" * 17,
        b"v=0\r\n" + b"a=x\r\n" * 129,
        b"v=0\r\nm=audio 1 RTP/AVP " + b" ".join(b"%d" % i for i in range(129)) + b"\r\n",
    ],
)
def test_garbage_raises_remote_error(body: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_sdp(body)


def test_oversized_body() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        parse_sdp(SIPP_OFFER + b"a=x\r\n" * (MAX_SDP_BYTES // 5))
    assert info.value.error_status_hint == 413


def test_serialize_refuses_injected_lines() -> None:
    sd = SessionDescription(origin="u 1 1 IN IP4 127.0.0.1\r\nm=video", session_name="-", connection=None, media=())
    with pytest.raises(LocalProtocolError):
        serialize_sdp(sd)


@given(st.binary(max_size=400))
def test_parse_raises_only_remote_errors(body: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_sdp(b"v=0\r\n" + body)


@given(
    st.lists(
        st.sampled_from(
            [
                b"o=- 1 1 IN IP4 1.2.3.4",
                b"m=audio 5 RTP/AVP 0 8",
                b"a=rtpmap:8 PCMA/8000",
                b"c=IN IP4 ::1",
                b"a=sendonly",
                b"s=x",
            ]
        ),
        max_size=12,
    )
)
def test_parse_serialize_is_stable(lines: list[bytes]) -> None:
    sd = parse_sdp(b"v=0\r\n" + b"\r\n".join(lines))
    assert parse_sdp(serialize_sdp(sd)) == sd
