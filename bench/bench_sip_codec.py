"""The sans-I/O SIP core on its own: parse, structured headers, answer, serialize, stream framing.

    python -m bench sip_codec [--number 20000] [--repeat 7] [--out FILE]

Each case runs NUMBER times, REPEAT rounds; the best round counts (the least disturbed by other work
on the machine) and is measured in this process's CPU time, so a busy neighbour inflates it less
than wall time would. Messages are what scanners send (SIPVicious svmap OPTIONS, svcrack REGISTER
with digest credentials, an INVITE with SDP to a premium-rate number).

Goal (honeypot: 10,000 OPTIONS/s on 2 cores in CPython): parsing a typical ~400-byte OPTIONS takes
well under 20 microseconds, leaving most of the per-request budget for the answer and the event.
"""

from __future__ import annotations

import argparse
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from bench.common import loadavg, markdown_table, write_results
from sipwarden.sip.framing import StreamFramer
from sipwarden.sip.message import Request, parse_message, response_to, serialize_response

#: The goal for parsing the OPTIONS below, in microseconds of CPU time.
GOAL_PARSE_US: Final = 20.0

OPTIONS: Final = (
    b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK-2345-1-0;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "sipvicious" <sip:100@1.1.1.1>;tag=6637386435626533313363340131353633343637313139\r\n'
    b'To: "sipvicious" <sip:100@1.1.1.1>\r\n'
    b"Call-ID: 1234567890abcdef@198.51.100.7\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Contact: <sip:100@198.51.100.7:5060>\r\n"
    b"User-Agent: friendly-scanner\r\n"
    b"Accept: application/sdp\r\n"
    b"Content-Length: 0\r\n\r\n"
)

REGISTER: Final = (
    b"REGISTER sip:192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5061;branch=z9hG4bK-3476-2-1;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "1001" <sip:1001@192.0.2.1>;tag=3236343963353530\r\n'
    b'To: "1001" <sip:1001@192.0.2.1>\r\n'
    b"Call-ID: 1337042617@198.51.100.7\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:1001@198.51.100.7:5061>\r\n"
    b'Authorization: Digest username="1001",realm="asterisk",nonce="4bc2a3a1",'
    b'uri="sip:192.0.2.1",response="6e3c27a2b6a7b2b8d9f2c4a1e0f3d5c7",algorithm=MD5\r\n'
    b"User-Agent: friendly-scanner\r\n"
    b"Expires: 3600\r\n"
    b"Content-Length: 0\r\n\r\n"
)

_SDP: Final = (
    b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
)
INVITE: Final = (
    b"INVITE sip:0046701234567@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK-524287-1---a1b2c3d4;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@198.51.100.7:5070>\r\n"
    b"To: <sip:0046701234567@192.0.2.1>\r\n"
    b'From: "1001"<sip:1001@192.0.2.1>;tag=4a1b2c3d\r\n'
    b"Call-ID: ZDk0NzQ1YjA5MmY0YzE2NmQ3MDc0ZDg0NDQ0NmM3Njc\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n"
    b"Content-Type: application/sdp\r\n"
    b"User-Agent: Z 3.15.40006 rv2.8.20\r\n"
    b"Content-Length: " + str(len(_SDP)).encode() + b"\r\n\r\n" + _SDP
)

#: Messages per stream-framing round: a pipelined burst on one TCP connection.
STREAM_BURST: Final = 100


def _best_us(fn: Callable[[], object], number: int, repeat: int, per_call: int = 1) -> float:
    rounds = timeit.repeat(fn, number=number, repeat=repeat, timer=time.process_time)
    return min(rounds) / number / per_call * 1e6


def _answer_options() -> bytes:
    msg = parse_message(OPTIONS)
    assert isinstance(msg, Request)
    return serialize_response(response_to(msg, 200, "OK", to_tag="a6c85cf", headers=[("Allow", "INVITE, ACK")]))


def _parse_and_inspect() -> object:
    msg = parse_message(REGISTER)
    return msg.vias[0].branch, msg.from_.tag, msg.to.uri.user, msg.cseq


def _frame_burst() -> int:
    framer = StreamFramer()
    framer.receive_data(OPTIONS * STREAM_BURST)
    count = 0
    while framer.next_message() is not None:
        count += 1
    return count


def run(number: int, repeat: int) -> list[dict[str, object]]:
    """Time every case; one row per case with microseconds per operation and the rate on one core."""
    assert _frame_burst() == STREAM_BURST
    cases: list[tuple[str, int, Callable[[], object], int]] = [
        ("parse OPTIONS (svmap)", len(OPTIONS), lambda: parse_message(OPTIONS), 1),
        ("parse REGISTER with digest", len(REGISTER), lambda: parse_message(REGISTER), 1),
        ("parse INVITE with SDP", len(INVITE), lambda: parse_message(INVITE), 1),
        ("parse REGISTER + Via, From, To, CSeq", len(REGISTER), _parse_and_inspect, 1),
        ("parse OPTIONS + build and serialize 200", len(OPTIONS), _answer_options, 1),
        ("stream framing, per message", len(OPTIONS), _frame_burst, STREAM_BURST),
    ]
    rows: list[dict[str, object]] = []
    for name, size, fn, per_call in cases:
        calls = max(1, number // per_call)
        us = _best_us(fn, calls, repeat, per_call)
        rows.append({"case": name, "bytes": size, "us": round(us, 2), "per_s_one_core": round(1e6 / us)})
    return rows


def main(argv: Sequence[str]) -> int:
    """Entry point of `python -m bench sip_codec`."""
    parser = argparse.ArgumentParser(prog="python -m bench sip_codec", description=__doc__)
    parser.add_argument("--number", type=int, default=20000, help="calls per round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best counts")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    load_before = loadavg()
    rows = run(args.number, args.repeat)
    parse_us = float(str(rows[0]["us"]))
    write_results(
        "sip_codec",
        {"rows": rows, "goal_parse_us": GOAL_PARSE_US, "load": max(load_before, loadavg())},
        Path(args.out) if args.out else None,
    )
    print(
        markdown_table(
            ["case", "bytes", "µs", "per second, one core"],
            [[r["case"], r["bytes"], r["us"], f"{r['per_s_one_core']:,}"] for r in rows],
        )
    )
    print(f"load average {max(load_before, loadavg()):.1f}; goal: parse OPTIONS under {GOAL_PARSE_US} µs")
    return 0 if parse_us < GOAL_PARSE_US else 1
