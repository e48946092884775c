"""CdrMonitor end to end: followed files in, Events and ban Decisions out, actions run."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from amiserver import FakeAmi
from cdrgen import freeswitch_json, office_day, premium_burst, write_asterisk_csv

from sipwarden.events import Decision, Event
from sipwarden.fraud.settings import AmiSettings, CdrSettings, FraudSettings
from sipwarden.sensors.cdr.actions import AlertResponder, fill_argv
from sipwarden.sensors.cdr.follow import CdrFollower
from sipwarden.sensors.cdr.monitor import CdrMonitor

NIGHT = datetime(2026, 11, 26, 3, 0)


class Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        Sink.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_sink() -> Iterator[tuple[str, list[bytes]]]:
    Sink.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", Sink.bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_json_cdrs_of_an_attack_become_events_bans_and_actions(
    tmp_path: Path, http_sink: tuple[str, list[bytes]]
) -> None:
    host, bodies = http_sink
    ami = await FakeAmi().start()
    marker = tmp_path / "command-ran"
    fraud = FraudSettings(
        webhook_url=f"http://{host}/hook",
        notify_urls=[f"json://{host}/notify"],
        command=[sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write(' '.join(sys.argv[2:]))",
                 str(marker), "{account}", "{reason}", "{ips}"],
        ami=AmiSettings(enabled=True, port=ami.port, username=ami.username, secret=ami.secret),
    )  # fmt: skip
    spool = tmp_path / "json_cdrs"
    spool.mkdir()
    cdr = CdrSettings(paths=[str(spool / "*.cdr.json")], format="auto")
    monitor = CdrMonitor(cdr, fraud, sensor="pbx1", state_path=tmp_path / "pos.json")
    seen: list[Event | Decision] = []
    try:
        assert (await monitor.poll_once(seen.append)).records == 0
        calls = premium_burst(NIGHT, calls=6, src_ip="203.0.113.50")
        calls[-1] = type(calls[-1])(calls[-1].start, "1004", calls[-1].dst, 30, 3, "198.51.100.7", "later")
        for c in calls:
            (spool / f"{c.uniqueid}.cdr.json").write_text(json.dumps(freeswitch_json(c), indent=2))
        out = await monitor.poll_once(seen.append)
        out2 = await monitor.poll_once(seen.append)  # files whose last line had no newline yet
    finally:
        await ami.stop()
    alerts = out.alerts + out2.alerts
    assert out.records + out2.records == 6
    assert {a.reason for a in alerts} >= {"high_risk_destination", "after_hours"}
    events = [s for s in seen if isinstance(s, Event)]
    decisions = [s for s in seen if isinstance(s, Decision)]
    assert len(events) == 6 and {e.kind for e in events} == {"fraud_call"}
    assert len({e.call_id for e in events}) == 6  # each call once, however many alerts name it
    assert sorted(d.value for d in decisions) == ["198.51.100.7", "203.0.113.50"]
    assert all(d.scope == "ip" and d.action == "ban" and d.event_ids for d in decisions)
    # Actions: webhook and apprise JSON reached the sink, the command ran, AMI hung up the account.
    posted = [json.loads(b) for b in bodies]
    assert any(p.get("account") == "1004" for p in posted)
    assert any("toll fraud" in p.get("title", "") for p in posted)
    assert marker.read_text().startswith("1004 ")
    assert [a["Action"] for a in ami.actions if a["Action"] == "Hangup"]
    assert (tmp_path / "pos.json").exists()


async def test_office_csv_is_quiet_and_garbage_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("")
    monitor = CdrMonitor(CdrSettings(paths=[str(path)]), FraudSettings())
    await monitor.poll_once()
    write_asterisk_csv(tmp_path / "day.csv", office_day(datetime(2026, 11, 25)))
    path.write_text((tmp_path / "day.csv").read_text() + '"broken","line"\n')
    out = await monitor.poll_once()
    assert out.records > 200 and out.alerts == [] and out.decisions == []
    assert [e.kind for e in out.events] == ["malformed"]


async def test_run_stops_and_survives_a_failing_action(tmp_path: Path) -> None:
    path = tmp_path / "Master.csv"
    path.write_text("")
    fraud = FraudSettings(webhook_url="http://127.0.0.1:9/unreachable")
    monitor = CdrMonitor(
        CdrSettings(paths=[str(path)], poll_seconds=0.05), fraud, follower=CdrFollower([str(path)]),
        responder=AlertResponder(fraud),
    )  # fmt: skip
    seen: list[Event | Decision] = []
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(seen.append, stop))
    await asyncio.sleep(0.2)
    write_asterisk_csv(tmp_path / "a.csv", premium_burst(NIGHT, calls=3))
    with path.open("a") as fh:
        fh.write((tmp_path / "a.csv").read_text())
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert [e.kind for e in seen if isinstance(e, Event)] == ["fraud_call"] * 3


def test_command_placeholders_stay_one_argument_each() -> None:
    from sipwarden.fraud.guard import FraudGuard
    from sipwarden.fraud.records import CallRecord
    from sipwarden.fraud.settings import FraudSettings as F

    guard = FraudGuard(F())
    alert = guard.feed(CallRecord(start=NIGHT.astimezone(), account="x; rm -rf /", dst="01123276123456"))[0]
    assert fill_argv(["notify", "--account={account}", "{reason}"], alert) == [
        "notify", "--account=x; rm -rf /", alert.reason,
    ]  # fmt: skip


def test_monitor_from_settings(tmp_path: Path) -> None:
    from sipwarden.config import settings_from_mapping
    from sipwarden.sensors.cdr.monitor import monitor_from_settings

    assert monitor_from_settings(settings_from_mapping({})) is None
    settings = settings_from_mapping({
        "general": {"sensor": "pbx7", "data_dir": str(tmp_path)},
        "cdr": {"enabled": True, "paths": [str(tmp_path / "Master.csv")]},
    })  # fmt: skip
    monitor = monitor_from_settings(settings)
    assert monitor is not None and monitor.sensor == "pbx7"
    assert monitor.follower.state_path == tmp_path / "cdr-positions.json"
