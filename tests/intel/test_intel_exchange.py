"""Imports (sipwarden NDJSON, SentryPeer json_log), exports (CSV, JSON, STIX 2.1, MISP), learned prefixes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2
from bench.intel_data import BRUTE, FRAUDSTER, scenario_events

from sipwarden.intel import aggregates
from sipwarden.intel.export import collect, export, to_csv
from sipwarden.intel.importers import event_from_sentrypeer, import_lines, parse_sentrypeer_time
from sipwarden.intel.numbers import learn_prefixes, normalize_with_learned
from sipwarden.store import Store
from sipwarden.store import intel_queries as q

NOW = datetime(2026, 3, 10, tzinfo=UTC)

# A SentryPeer json_log line (field names of SentryPeer's JSON log output).
SENTRYPEER_LINE = {
    "app_name": "sentrypeer",
    "app_version": "v3.0.0",
    "event_timestamp": "2022-03-04 13:55:43.915237123",
    "event_uuid": "4f0b2a1e-9b9b-4a8e-8e0b-1a2b3c4d5e6f",
    "created_by_node_id": "node-ams-1",
    "collected_method": "responsive",
    "transport_type": "UDP",
    "source_ip": "203.0.113.9",
    "destination_ip": "192.0.2.10",
    "called_number": "900972595555555",
    "sip_method": "INVITE",
    "sip_user_agent": "pplsip",
    "sip_message": "INVITE sip:900972595555555@192.0.2.10 SIP/2.0\r\n",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    yield opened
    opened.close()


def test_sentrypeer_time_and_fields() -> None:
    assert parse_sentrypeer_time("2022-03-04 13:55:43.915237123") == datetime(
        2022, 3, 4, 13, 55, 43, 915237, tzinfo=UTC
    )
    ev = event_from_sentrypeer(SENTRYPEER_LINE)
    assert (ev.kind, ev.source, ev.sensor, ev.transport) == ("call_attempt", "import", "node-ams-1", "udp")
    assert ev.src_ip == "203.0.113.9" and ev.user_agent == "pplsip"
    assert ev.target_e164 == "+972595555555" and ev.target_country == "IL"
    assert ev.detail["collected_method"] == "responsive"
    assert ev.id == event_from_sentrypeer(SENTRYPEER_LINE).id  # stable: re-import stores once


def test_import_keeps_good_lines_and_names_bad_ones(store: Store) -> None:
    lines = [
        json.dumps(SENTRYPEER_LINE).encode(),
        b"not json at all",
        b"",
        json.dumps({**SENTRYPEER_LINE, "event_timestamp": 5}).encode(),
        b"[1, 2]",
        json.dumps({**SENTRYPEER_LINE, "event_uuid": "other", "sip_method": "OPTIONS", "called_number": None}).encode(),
    ]
    result = import_lines(store, lines, "sentrypeer")
    assert result.stored == 2
    assert [n for n, _ in result.errors] == [2, 4, 5]
    assert "not JSON" in result.errors[0][1]
    assert store.count_events() == 2
    again = import_lines(store, lines, "sentrypeer")
    assert again.stored == 2 and store.count_events() == 2  # same ids: nothing doubled
    assert q.total(store, "ip", "203.0.113.9").count == 2  # type: ignore[union-attr]


def test_import_of_sipwarden_ndjson_older_than_the_cursor_rebuilds_aggregates(store: Store) -> None:
    events = scenario_events()
    store.add_events(events[-3:])
    aggregates.refresh(store)
    lines = [json.dumps(ev.to_dict()).encode() for ev in events[:-3]] + [b'{"ts": "2026-01-01T00:00:00Z"}']
    result = import_lines(store, lines, "sipwarden")
    assert result.stored == len(events) - 3 and result.error_count == 1
    assert "at least ts, kind and source" in result.errors[0][1]
    assert q.total(store, "ip", BRUTE).count == 21  # type: ignore[union-attr]
    assert sum(r.count for r in q.top(store, "kind", 20)) == len(events)


def test_exports(store: Store) -> None:
    store.add_events(scenario_events())
    store.add_events([scenario_events()[0].replace(id="01KJ0000000000000000000000", user_agent="=HYPERLINK(1)")])
    aggregates.refresh(store)
    found = collect(store)
    assert {(i.type, i.value) for i in found} >= {("ip", BRUTE), ("ip", FRAUDSTER), ("number", "+2314599711")}
    rows = list(csv.reader(io.StringIO(export(store, "csv", NOW))))
    assert rows[0] == ["type", "value", "count", "first_seen", "last_seen"]
    assert rows[[r[1] for r in rows].index("+2314599711")][:2] == ["number", "+2314599711"]
    assert "'=HYPERLINK(1)" in {r[1] for r in rows}
    data = json.loads(export(store, "json", NOW))
    assert {i["value"] for i in data["indicators"]} >= {BRUTE, FRAUDSTER}
    bundle = stix2.parse(export(store, "stix", NOW), allow_custom=False)
    patterns = {o.pattern for o in bundle.objects if o.type == "indicator"}
    assert f"[ipv4-addr:value = '{BRUTE}']" in patterns
    assert any(o.type == "note" and "+2314599711" in o.content for o in bundle.objects)
    misp = json.loads(export(store, "misp", NOW))["Event"]
    kinds = {(a["type"], a["value"]) for a in misp["Attribute"]}
    assert ("ip-src", FRAUDSTER) in kinds and ("phone-number", "+2314599711") in kinds
    assert ("user-agent", "Zoiper rv2.10.19.7") in kinds


def test_csv_of_nothing_is_a_header() -> None:
    assert to_csv([], NOW) == "type,value,count,first_seen,last_seen\n"


def test_prefixes_learned_from_the_data() -> None:
    raws = ["002314599711", "55002314599711", "5500441614960000", "00441614960000", "garbage", ""]
    learned = learn_prefixes(raws)
    assert learned == {"5500": 2}
    got = normalize_with_learned("55002314599711", learned)
    assert (got.e164, got.country, got.prefix) == ("+2314599711", "LR", "5500")
    # a valid built-in reading is kept
    assert normalize_with_learned("00441614960000", learned).prefix == "00"
    assert learn_prefixes(["55002314599711"]) == {}  # once is not a habit
