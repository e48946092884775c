"""What sensors submit: the hub records who really sent an event, not who the event says it is."""

from __future__ import annotations

from pathlib import Path

from hub_testkit import ATTACKER, ATTACKER2, Hub, event

from sipwarden.hub.submit import REPORTED_SENSOR, EventIn
from sipwarden.store import Store


def test_the_submitting_key_is_the_reporter(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'submit.db'}")
    with Hub(store) as hub:
        # pbx-0 claims to be the trusted honeypot; a third event names nobody.
        spoofed = event(ATTACKER, kind="auth_failure", source="asterisk", sensor="honeypot-1", detail={"line": 7})
        honest = event(ATTACKER2, kind="auth_failure", source="asterisk", sensor="pbx-0")
        anonymous = event(ATTACKER2, kind="unknown_user", source="asterisk")
        assert hub.submit(hub.sensors[0], spoofed, honest, anonymous)["accepted"] == 3
        stored = {(e.src_ip, e.kind): e for e in store.events(limit=10)}
    first = stored[(ATTACKER, "auth_failure")]
    assert first.sensor == "pbx-0"
    assert first.detail == {"line": 7, REPORTED_SENSOR: "honeypot-1"}
    assert stored[(ATTACKER2, "auth_failure")].sensor == "pbx-0"
    assert REPORTED_SENSOR not in stored[(ATTACKER2, "auth_failure")].detail  # it told the truth
    assert stored[(ATTACKER2, "unknown_user")].sensor == "pbx-0"
    store.close()


def test_a_claimed_name_never_overrides_the_key() -> None:
    item = EventIn.model_validate(event(ATTACKER, sensor="somebody-else", detail={REPORTED_SENSOR: "forged"}))
    recorded = item.to_event("pbx-7")
    assert recorded.sensor == "pbx-7" and recorded.detail[REPORTED_SENSOR] == "somebody-else"
