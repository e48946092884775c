"""bench/common.py and the pure parts of the benchmark scripts, on real sockets and real files."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from bench.bench_honeypot_memory import bounded, source_addresses
from bench.bench_options_flood import meets_goal, parse_sipp_results
from bench.common import (
    LOOPBACK,
    markdown_table,
    options_request,
    process_tree,
    rss_kib,
    udp_drops,
)


def test_udp_drops_counts_what_a_full_receive_buffer_drops() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client,
    ):
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel doubles it; still tiny
        server.bind((LOOPBACK, 0))
        port = server.getsockname()[1]
        assert udp_drops(port) == 0
        for _ in range(500):  # never read: the buffer fills and the rest is dropped
            client.sendto(b"x" * 1000, (LOOPBACK, port))
        assert (udp_drops(port) or 0) > 0
    assert udp_drops(port) is None  # the counter goes with the socket


def test_options_request_is_one_well_formed_sip_request() -> None:
    data = options_request(("127.16.0.1", 5555), (LOOPBACK, 5060), "abc")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"OPTIONS sip:100@127.0.0.1:5060 SIP/2.0"
    assert b"Via: SIP/2.0/UDP 127.16.0.1:5555;branch=z9hG4bKabc" in lines
    assert b"Call-ID: abc" in lines and b"Content-Length: 0" in lines
    assert body == b""


def test_source_addresses_are_distinct_loopback_hosts() -> None:
    addresses = list(source_addresses(1000))
    assert len(set(addresses)) == 1000
    assert all(a.startswith("127.16.") or a.startswith("127.17.") for a in addresses)
    assert not any(a.endswith((".0", ".255")) for a in addresses)
    assert "127.0.0.1" not in addresses and "127.0.0.2" not in addresses
    with pytest.raises(ValueError):
        list(source_addresses(10**7))


def test_a_source_address_can_really_send() -> None:
    address = next(source_addresses(1))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind((LOOPBACK, 0))
        rx.settimeout(5)
        tx.bind((address, 0))
        tx.sendto(b"ping", rx.getsockname())
        data, peer = rx.recvfrom(100)
    assert data == b"ping" and peer[0] == address


def test_bounded_compares_growth_per_source() -> None:
    flat = [{"sources": 10, "rss_kib": 50_000}, {"sources": 50, "rss_kib": 60_000}, {"sources": 100, "rss_kib": 61_000}]
    linear = [
        {"sources": 10, "rss_kib": 50_000},
        {"sources": 50, "rss_kib": 90_000},
        {"sources": 100, "rss_kib": 140_000},
    ]
    assert bounded(flat) is True
    assert bounded(linear) is False
    assert bounded(flat[:2]) is None


def test_meets_goal_needs_rate_and_loss() -> None:
    ok = {"rate": 10_000, "answered_per_s": 9_910.0, "loss_percent": 0.0}
    assert meets_goal(ok)
    assert not meets_goal({**ok, "loss_percent": 0.2})
    assert not meets_goal({**ok, "answered_per_s": 8_000.0})
    assert not meets_goal({**ok, "rate": 5_000, "answered_per_s": 5_000.0})


def test_parse_sipp_results_reads_the_final_lines(tmp_path: Path) -> None:
    # Trimmed from a real SIPp 3.6.1 run (-trace_stat -stf, -trace_counts); only the columns read here.
    stats = tmp_path / "stats.csv"
    stats.write_text(
        "StartTime;CurrentTime;OutgoingCall(C);SuccessfulCall(C);FailedCall(C);Retransmissions(C);\n"
        "2026-11-25\t04:14:34.069403\t1795580074.069403;2026-11-25\t04:14:35.07\t1795580075.07;1000;1000;0;0;\n"
        "2026-11-25\t04:14:34.069403\t1795580074.069403;2026-11-25\t04:14:39.075165\t1795580079.075165;"
        "5000;4990;10;7;\n"
    )
    counts = tmp_path / "counts.csv"
    counts.write_text(
        "CurrentTime;ElapsedTime;0_OPTIONS_Sent;0_OPTIONS_Retrans;0_OPTIONS_Timeout;1_200_Recv;\n"
        "2026-11-25\t04:14:39.075202\t1795580079.075202;00:00:05:005000;5000;7;0;4990;\n"
    )
    run = parse_sipp_results(stats, counts, 1)
    assert (run.calls, run.successful, run.failed, run.retransmissions) == (5000, 4990, 10, 7)
    assert (run.requests_sent, run.requests_retransmitted, run.exit_status) == (5000, 7, 1)
    assert run.elapsed_s == pytest.approx(5.005762, abs=1e-3)


def test_parse_sipp_results_without_statistics_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(RuntimeError, match="no statistics"):
        parse_sipp_results(empty, empty, 0)


def test_rss_and_process_tree_of_this_process() -> None:
    pids = process_tree(os.getpid())
    assert pids[0] == os.getpid()
    assert rss_kib(pids) > 1000  # a Python interpreter holds megabytes
    assert rss_kib([2**22 + 12345]) == 0  # a process that does not exist counts as nothing


def test_markdown_table_shape() -> None:
    text = markdown_table(("a", "b"), [(1, 2), ("x", "y")])
    assert text.splitlines() == ["| a | b |", "|---:|---:|", "| 1 | 2 |", "| x | y |"]


def test_runner_lists_benchmarks_and_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.__main__ import available, run

    assert {"options_flood", "honeypot_memory"} <= set(available())
    assert run([]) == 2
    assert "options_flood" in capsys.readouterr().out
    assert run(["no_such_bench"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err
