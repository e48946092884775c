"""Event sets for the investigation tests and the dashboard benchmark.

`scenario_events` is a small, realistic incident (modelled on real honeypot data): a scanner, a
brute-forcer that cracks account 1001, and a second address that uses the cracked account to dial
+231 4599711 (Liberia) with four prefix variants about six minutes apart. `synthetic_events` makes
any number of varied events for load tests.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ulid import ULID

from sipwarden.events import Event
from sipwarden.intel.numbers import normalize_dialled

BRUTE = "198.51.100.7"
FRAUDSTER = "203.0.113.45"
SCANNER = "192.0.2.99"
BASE = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
CRACKED_PASSWORD = "1234"  # noqa: S105  (the weak password the scenario cracks)
DIALS = (("002314599711", 41), ("92314599711", 47), ("9002314599711", 54), ("90112314599711", 60))


def _id(ts: datetime, n: int) -> str:
    # Time-ordered ids from the event time, so a replayed scenario sorts like a live one.
    return str(ULID.from_timestamp(ts.timestamp() + n / 1e6))


def scenario_events(base: datetime = BASE, *, recording_path: str | None = None) -> list[Event]:
    """The incident described in the module docstring, oldest first."""
    out: list[Event] = []

    def add(minutes: float, **fields: object) -> None:
        ts = base + timedelta(minutes=minutes)
        out.append(Event(ts=ts, source="honeypot", sensor="hp1", id=_id(ts, len(out)), **fields))  # type: ignore[arg-type]

    # a scanner the day before and again a week later (it comes back)
    for day in (-1440, 7 * 1440):
        add(day, kind="probe", src_ip=SCANNER, method="OPTIONS", user_agent="friendly-scanner", tool="sipvicious/svmap")
    # the brute-forcer: twenty wrong passwords for 1001, then the right one
    for i in range(20):
        add(
            i * 0.01,
            kind="auth_failure",
            src_ip=BRUTE,
            method="REGISTER",
            username="1001",
            password=f"pw{i}",
            user_agent="friendly-scanner",
            tool="sipvicious/svcrack",
        )
    add(
        0.5,
        kind="auth_success",
        src_ip=BRUTE,
        method="REGISTER",
        username="1001",
        password=CRACKED_PASSWORD,
        user_agent="friendly-scanner",
        tool="sipvicious/svcrack",
    )
    # the user of the crack: registers with 1001, then dials Liberia with four prefixes
    add(
        40,
        kind="auth_success",
        src_ip=FRAUDSTER,
        method="REGISTER",
        username="1001",
        password=CRACKED_PASSWORD,
        user_agent="Zoiper rv2.10.19.7",
    )
    for dial, minute in DIALS:
        number = normalize_dialled(dial)
        add(
            minute,
            kind="call_attempt",
            src_ip=FRAUDSTER,
            method="INVITE",
            username="1001",
            target=dial,
            target_e164=number.e164,
            target_country=number.country,
            user_agent="Zoiper rv2.10.19.7",
        )
    last = DIALS[-1]
    number = normalize_dialled(last[0])
    add(
        60.1,
        kind="call_answered",
        src_ip=FRAUDSTER,
        method="INVITE",
        username="1001",
        target=last[0],
        target_e164=number.e164,
        target_country=number.country,
        call_id="call-lr-1",
        user_agent="Zoiper rv2.10.19.7",
    )
    if recording_path is not None:
        add(
            61,
            kind="recording",
            src_ip=FRAUDSTER,
            method="INVITE",
            username="1001",
            call_id="call-lr-1",
            detail={"path": recording_path, "seconds": 2.0, "codec": "PCMU"},
        )
    return sorted(out, key=lambda ev: ev.id)


USER_AGENTS = ("friendly-scanner", "sipcli/v1.8", "Zoiper rv2.10", "pplsip", "VaxSIPUserAgent/3.1", "sipsak 0.9.8")
TOOLS = ("sipvicious/svmap", "sipvicious/svcrack", "sipcli", None, None, "sipsak")
KINDS = ("probe", "auth_failure", "auth_failure", "unknown_user", "register", "call_attempt")
TARGETS = ("00972595555555", "900441614960000", "0088213600000", "011252612345678", "9002314599711")


def synthetic_events(n: int, *, seed: int = 1, start: datetime = BASE, sources: int = 20_000) -> Iterator[Event]:
    """`n` varied events from `sources` addresses over about 30 days, oldest first."""
    rng = random.Random(seed)
    step = 30 * 86400 / max(n, 1)
    targets = [(t, normalize_dialled(t)) for t in TARGETS]
    for i in range(n):
        ts = start + timedelta(seconds=i * step)
        k = rng.randrange(len(KINDS))
        kind = KINDS[k]
        src = rng.randrange(sources)
        ip = f"10.{(src >> 16) & 255}.{(src >> 8) & 255}.{src & 255}"
        fields: dict[str, object] = {}
        if kind in ("auth_failure", "unknown_user", "register"):
            fields.update(username=str(100 + rng.randrange(900)), password=rng.choice(("1234", "admin", "100", "pass")))
        if kind == "call_attempt":
            raw, number = rng.choice(targets)
            fields.update(target=raw, target_e164=number.e164, target_country=number.country)
        ua = rng.randrange(len(USER_AGENTS))
        yield Event(
            ts=ts,
            kind=kind,
            source="honeypot",
            sensor=f"hp{i % 3}",
            src_ip=ip,  # type: ignore[arg-type]
            method="INVITE" if kind == "call_attempt" else "REGISTER",
            user_agent=USER_AGENTS[ua],
            tool=TOOLS[ua],
            id=_id(ts, i % 1000),
            **fields,
        )  # type: ignore[arg-type]
