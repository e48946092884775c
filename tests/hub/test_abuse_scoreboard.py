"""The per-network scoreboard: the pure verdicts with time as a parameter, then a hub whose reported
networks behave differently: one stops after the report, one goes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from abuse_testkit import (
    ABUSE1,
    NET1,
    NET1_IP,
    NET1_OTHER,
    NET2,
    NET2_IP,
    NET2_OTHER,
    NET6_IP,
    SmtpSink,
)
from hub_testkit import Hub, event
from rdapfixture import RdapFixture, network_doc, rdap_server

from sipwarden.events import utcnow
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.scoreboard import AddressSeen, SentReport, judge, score
from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.hub.policy import Evidence
from sipwarden.hub.settings import HubSettings
from sipwarden.intel.ownership import NullOwnership, Owner, StaticOwnership
from sipwarden.store import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
GRACE = timedelta(hours=24)
QUIET = timedelta(days=7)


def test_verdicts_follow_the_last_report() -> None:
    assert judge(None, T0, T0, grace=GRACE, quiet=QUIET) == "unreported"
    # Attacks in the grace period after a report do not count against the network...
    assert judge(T0, T0 + timedelta(hours=23), T0 + timedelta(days=2), grace=GRACE, quiet=QUIET) == "waiting"
    # ...attacks after it do...
    assert judge(T0, T0 + timedelta(hours=25), T0 + timedelta(days=2), grace=GRACE, quiet=QUIET) == "ignores"
    assert judge(T0, T0 + timedelta(hours=25), T0 + timedelta(days=30), grace=GRACE, quiet=QUIET) == "ignores"
    # ...and a quiet period without them means the network acted.
    assert judge(T0, T0 - timedelta(hours=1), T0 + QUIET, grace=GRACE, quiet=QUIET) == "acts"
    assert judge(T0, T0 - timedelta(hours=1), T0 + QUIET - timedelta(seconds=1), grace=GRACE, quiet=QUIET) == "waiting"


def test_addresses_group_by_owner_network_or_fallback_prefix() -> None:
    owners = StaticOwnership({"192.0.2.0/25": Owner(network="192.0.2.0/25", name="LOW", abuse_email="a@x.example")})
    seen = [
        AddressSeen("192.0.2.1", T0, T0 + timedelta(hours=1), 5),
        AddressSeen("192.0.2.100", T0 - timedelta(days=1), T0, 7),
        AddressSeen("192.0.2.200", T0, T0, 1),  # outside the owner's /25: grouped by its /24
        AddressSeen("2001:db8:1:2::1", T0, T0, 2),
        AddressSeen("2001:db8:1:3::1", T0, T0, 3),
    ]
    lines = {n.network: n for n in score(seen, [], owners, T0, grace=GRACE, quiet=QUIET)}
    assert set(lines) == {"192.0.2.0/25", "192.0.2.0/24", "2001:db8:1::/48"}
    low = lines["192.0.2.0/25"]
    assert (low.addresses, low.events, low.first_seen, low.last_seen) == (
        2,
        12,
        T0 - timedelta(days=1),
        T0 + timedelta(hours=1),
    )
    assert low.owner is not None and low.owner.name == "LOW"
    assert lines["192.0.2.0/24"].owner is None
    assert lines["2001:db8:1::/48"].addresses == 2
    assert all(n.verdict == "unreported" for n in lines.values())


def test_ignoring_networks_come_first_and_count_their_active_addresses() -> None:
    seen = [
        AddressSeen("192.0.2.1", T0, T0, 100),
        AddressSeen("198.51.100.1", T0, T0 + timedelta(days=3), 5),
        AddressSeen("198.51.100.2", T0, T0, 5),
        AddressSeen("203.0.113.1", T0, T0, 1),
    ]
    reports = [SentReport("192.0.2.1", T0 + timedelta(hours=1)), SentReport("198.51.100.2", T0 + timedelta(hours=1))]
    lines = score(seen, reports, NullOwnership(), T0 + timedelta(days=10), grace=GRACE, quiet=QUIET)
    assert [(n.network, n.verdict) for n in lines] == [
        ("198.51.100.0/24", "ignores"),
        ("192.0.2.0/24", "acts"),
        ("203.0.113.0/24", "unreported"),
    ]
    assert lines[0].active_after_report == 1 and lines[0].reports_sent == 1
    assert lines[1].last_report_at == T0 + timedelta(hours=1)


# -- a hub whose networks were reported ---------------------------------------------------------------


def test_a_network_that_stopped_acts_and_one_that_went_on_ignores(
    store: Store, rdap: RdapFixture, sink: SmtpSink
) -> None:
    settings = AbuseSettings(
        rdap_bootstrap_url=f"{rdap.base}/bootstrap/",
        rdap_interval_seconds=0,
        from_address="desk@hub.example",
        smtp_enabled=True,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_starttls=False,
        quiet_days=7,
        grace_hours=24,
    )
    with Hub(store, HubSettings(abuse=settings)) as hub:
        hub.submit(hub.trusted, event(NET1_IP, "register"), event(NET2_IP, "auth_failure"), event(NET6_IP, "probe"))
        desk = AbuseDesk(store, settings)
        t0 = utcnow()
        desk.refresh_ownership(t0)
        ids = desk.draft(t0).drafted
        desk.approve(ids, "admin", t0)
        assert len(desk.send_due(t0).sent) == 2
        assert {r.rcpt_tos[0] for r in sink.received} == {ABUSE1, "abuse@net-two.example"}

        # Within the grace period both networks still attack a little; that is expected.
        trusted_id = hub.repo.keys()[0].id
        for ip in (NET1_IP, NET2_IP):
            hub.repo.add_evidence(
                trusted_id, [Evidence(ip, 1.0, True, 3, "honeypot probe", t0)], t0 + timedelta(hours=2)
            )
        # NET2 goes on two days later, from its reported address and a new one.
        later = t0 + timedelta(days=2)
        for ip in (NET2_IP, NET2_OTHER):
            hub.repo.add_evidence(trusted_id, [Evidence(ip, 1.0, True, 4, "honeypot register", later)], later)

        after_three_days = {n.network: n for n in desk.scoreboard(t0 + timedelta(days=3))}
        assert after_three_days[NET1].verdict == "waiting"
        assert after_three_days[NET2].verdict == "ignores"
        board = {n.network: n for n in desk.scoreboard(t0 + timedelta(days=8))}
        one, two = board[NET1], board[NET2]
        assert (one.verdict, one.addresses, one.events, one.reports_sent) == ("acts", 1, 1 + 3, 1)
        assert (two.verdict, two.addresses, two.events, two.reports_sent) == ("ignores", 2, 1 + 3 + 4 + 4, 1)
        assert two.active_after_report == 2 and two.last_seen == later
        assert one.owner is not None and one.owner.asn == 64501 and one.owner.country == "NL"
        assert board["2a01:4f8::/32"].verdict == "unreported"  # known owner, no abuse mailbox
        assert next(n.network for n in desk.scoreboard(t0 + timedelta(days=8))) == NET2

        # New addresses get their own reports (a new incident), while the reported ones are not
        # reported twice within report_again_days.
        hub.repo.add_evidence(
            trusted_id, [Evidence(NET1_OTHER, 1.0, True, 1, "honeypot probe", later)], t0 + timedelta(days=9)
        )
        desk.refresh_ownership(t0 + timedelta(days=9))
        again = desk.draft(t0 + timedelta(days=9))
        assert sorted(desk.repo.get(i).ip for i in again.drafted) == sorted([NET1_OTHER, NET2_OTHER])  # type: ignore[union-attr]

        # An address an admin delisted (a false positive) leaves the scoreboard.
        assert hub.repo.delist(NET2_OTHER, "our customer", t0 + timedelta(days=9))
        assert desk.scoreboard(t0 + timedelta(days=9))[0].addresses == 1


def test_the_scoreboard_page_escapes_registry_text(store: Store) -> None:
    with rdap_server() as rdap:
        rdap.add(network_doc(NET1, "<script>alert(1)</script>", country="NL", abuse=ABUSE1, asn=64501))
        settings = AbuseSettings(rdap_bootstrap_url=f"{rdap.base}/bootstrap/", rdap_interval_seconds=0)
        with Hub(store, HubSettings(abuse=settings)) as hub:
            hub.submit(hub.trusted, event(NET1_IP, "register"), event(NET2_IP, "register"))
            AbuseDesk(store, settings).refresh_ownership(utcnow())
            assert hub.get("/abuse").status_code == 401  # outside the anonymous-read networks, a key is needed
            page = hub.get("/abuse", hub.reader)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]
    text = page.text
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert NET1 in text and "AS64501" in text and "185.53.88.0/24" in text  # NET2 unknown here: its /24
    assert "2 networks: 0 ignores, 0 waiting, 0 acts, 2 unreported" in text


def test_the_cached_scoreboard_is_reused_briefly_and_redrawn_after_a_send(store: Store) -> None:
    desk = AbuseDesk(store, AbuseSettings())
    now = utcnow()
    first = desk.cached_scoreboard(now, 100.0)
    assert first == [] and desk.cached_scoreboard(now, 129.0) is first
    with Hub(store, HubSettings()) as hub:
        hub.submit(hub.trusted, event(NET1_IP, "register"))
    assert desk.cached_scoreboard(now, 129.0) == []  # still the copy drawn at 100
    assert [n.network for n in desk.cached_scoreboard(now, 131.0)] == ["45.134.26.0/24"]
