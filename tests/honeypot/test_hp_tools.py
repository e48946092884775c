"""Tool recognition: every fingerprint is proven by its samples, and real tool output is recognised."""

from __future__ import annotations

import binascii

import pytest
from sipvicious.libs.svhelper import createTag, makeRequest

from sipwarden.sensors.honeypot.tools import (
    FINGERPRINTS,
    decode_sipvicious_tag,
    recognise,
    svcrack_password,
)
from sipwarden.sip.headers import parse_name_addr, parse_via
from sipwarden.sip.message import Request, parse_message


@pytest.mark.parametrize("fp", FINGERPRINTS, ids=lambda fp: f"{fp.tool}:{fp.field}:{fp.pattern.pattern}")
def test_every_fingerprint_has_samples_that_match(fp: object) -> None:
    from sipwarden.sensors.honeypot.tools import Fingerprint

    assert isinstance(fp, Fingerprint)
    assert fp.samples, f"{fp.tool}: a fingerprint needs sample values"
    for sample in fp.samples:
        assert fp.pattern.search(sample), f"{fp.tool}: {sample!r} does not match {fp.pattern.pattern!r}"


def test_no_sample_is_claimed_by_an_earlier_fingerprint() -> None:
    # The first match wins, so a sample of a later fingerprint matched earlier would be misnamed.
    for i, fp in enumerate(FINGERPRINTS):
        for sample in fp.samples:
            for earlier in FINGERPRINTS[:i]:
                if earlier.field == fp.field and earlier.tool != fp.tool:
                    assert not earlier.pattern.search(sample), f"{sample!r} of {fp.tool} is taken by {earlier.tool}"


def _request(text: str | bytes) -> Request:
    message = parse_message(text.encode() if isinstance(text, str) else text)
    assert isinstance(message, Request)
    return message


def _recognise(req: Request) -> str | None:
    from_value = req.headers.get("From")
    to_value = req.headers.get("To")
    return recognise(
        user_agent=req.headers.get("User-Agent"),
        from_tag=parse_name_addr(from_value).tag if from_value else None,
        branch=parse_via(req.headers.get_all("Via")[0]).branch,
        method=req.method,
        body=req.body,
        to_user=parse_name_addr(to_value).uri.user if to_value else None,
    )


def test_svcrack_request_built_by_sipvicious_reveals_its_password() -> None:
    tag = createTag("100:secret99")
    text = makeRequest(
        "REGISTER", '"100" <sip:100@127.0.0.1>', '"100" <sip:100@127.0.0.1>', "127.0.0.1", 5060,
        callid="1234", srchost="127.0.0.1", localtag=tag, contact="sip:100@127.0.0.1", cseq=2,
    )  # fmt: skip
    req = _request(text)
    assert _recognise(req) == "sipvicious/svcrack"
    from_tag = parse_name_addr(req.headers.get("From") or "").tag
    assert svcrack_password(from_tag, "100") == "secret99"
    assert svcrack_password(from_tag, "101") is None


def test_svwar_tags_the_extension() -> None:
    text = makeRequest(
        "REGISTER", '"105"<sip:105@127.0.0.1>', '"105"<sip:105@127.0.0.1>', "127.0.0.1", 5060,
        "99", "127.0.0.1", None, 1, None, createTag("105"), False, extension="105",
    )  # fmt: skip
    assert _recognise(_request(text)) == "sipvicious/svwar"


def test_svmap_tags_the_scanned_address() -> None:
    tag = createTag("%s%s" % ("".join("%02x" % int(x) for x in ("127", "0", "0", "1")), "%04x" % 5060))  # noqa: UP031
    text = makeRequest(
        "OPTIONS", '"sipvicious"<sip:100@1.1.1.1>', '"sipvicious"<sip:100@1.1.1.1>', "127.0.0.1", 5060,
        "777", "127.0.0.1", None, localtag=tag, extension="100",
    )  # fmt: skip
    assert _recognise(_request(text)) == "sipvicious/svmap"


def test_sipvicious_compact_mode_without_user_agent() -> None:
    text = makeRequest(
        "OPTIONS", "<sip:100@1.1.1.1>", "<sip:100@1.1.1.1>", "127.0.0.1", 5060, "777", "127.0.0.1", None,
        compact=True, extension="100",
    )  # fmt: skip
    req = _request(text)
    assert req.headers.get("User-Agent") is None
    assert _recognise(req) == "sipvicious"


def test_decode_rejects_ordinary_tags() -> None:
    assert decode_sipvicious_tag("as5f3c2a1b") is None
    assert decode_sipvicious_tag(None) is None
    assert decode_sipvicious_tag(binascii.hexlify(b"no separator").decode()) is None
    assert decode_sipvicious_tag(binascii.hexlify(b"a\x01notdigits").decode()) is None


NMAP_PROBE = (
    "OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/TCP nm;branch=foo\r\nFrom: <sip:nm@nm>;tag=root\r\n"
    "To: <sip:nm2@nm2>\r\nCall-ID: 50000\r\nCSeq: 42 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n"
    "Contact: <sip:nm@nm>\r\nAccept: application/sdp\r\n\r\n"
)


@pytest.mark.parametrize(
    ("text", "tool"),
    [
        (NMAP_PROBE, "nmap"),
        (NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: Nmap NSE\r\nAccept:"), "nmap"),
        (NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: pplsip\r\nAccept:"), "sippts"),
        (NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: sipcli/v1.8\r\nAccept:"), "sipcli"),
        (
            NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: VaxSIPUserAgent/3.1\r\nAccept:"),
            "vaxsip",
        ),
        (NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: sundayddr\r\nAccept:"), "sundayddr"),
        (
            NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: sipsak 0.9.8.1\r\nAccept:"),
            "sipsak",
        ),
        (NMAP_PROBE.replace("tag=root", "tag=12345SIPpTag001"), "sipp"),
        (NMAP_PROBE.replace("tag=root", "tag=x1").replace("Accept:", "User-Agent: Yealink SIP-T46S\r\nAccept:"), None),
    ],
)
def test_user_agents_and_tags(text: str, tool: str | None) -> None:
    assert _recognise(_request(text)) == tool


def test_svwar_invite_sdp_is_recognised_even_with_another_user_agent() -> None:
    body = "v=0\r\no=- 1 1 IN IP4 1.1.1.1\r\ns=svwar\r\nc=IN IP4 1.1.1.1\r\nt=0 0\r\nm=audio 6060 RTP/AVP 0 8\r\n"
    assert recognise(
        user_agent="Linphone", from_tag="x1", branch="z9hG4bKabc", method="INVITE", body=body.encode()
    ) == ("sipvicious/svwar")
