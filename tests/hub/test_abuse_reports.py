"""Abuse reports end to end: listed addresses, owners from a loopback RDAP server, X-ARF drafts, an
admin's approval, and delivery to a loopback SMTP sink (aiosmtpd) only when sending is enabled."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from abuse_testkit import (
    ABUSE1,
    ABUSE2,
    NET1,
    NET1_IP,
    NET2_IP,
    NET6_IP,
    SmtpSink,
    free_port,
    smtp_sink,
)
from hub_testkit import Hub, event
from rdapfixture import RdapFixture

from sipwarden.events import utcnow
from sipwarden.hub.abuse.desk import AbuseDesk
from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

FROM = "abuse-desk@hub.example"


def abuse_settings(rdap: RdapFixture, sink: SmtpSink | None, **changes: object) -> AbuseSettings:
    values: dict[str, object] = {
        "rdap_bootstrap_url": f"{rdap.base}/bootstrap/",
        "rdap_interval_seconds": 0.0,
        "from_address": FROM,
        "reporter": "Example VoIP Ltd security team",
        "smtp_host": "127.0.0.1",
        "smtp_port": sink.port if sink else free_port(),
        "smtp_starttls": False,
        "smtp_timeout_seconds": 5.0,
    }
    values.update(changes)
    return AbuseSettings.model_validate(values)


def attack(hub: Hub) -> None:
    """Honeypot evidence from a trusted sensor lists three addresses in three networks."""
    hub.submit(
        hub.trusted,
        event(NET1_IP, "auth_failure", user_agent="friendly-scanner", username="1001", dst_ip="192.0.2.50",
              dst_port=5060, src_port=5071, transport="udp", method="REGISTER", tool="sipvicious/svcrack"),
        event(NET1_IP, "call_attempt", target="0046812345678", dst_port=5060, src_port=5071, transport="udp",
              method="INVITE", user_agent="evil\r\nBcc: victim@example.org"),
        event(NET2_IP, "probe", method="OPTIONS", user_agent="sipvicious", dst_port=5080, src_port=5060),
        event(NET6_IP, "probe", method="OPTIONS"),
    )  # fmt: skip


def test_reports_are_drafted_approved_and_sent_only_when_enabled(
    store: Store, rdap: RdapFixture, sink: SmtpSink
) -> None:
    disabled = abuse_settings(rdap, sink, smtp_enabled=False)
    with Hub(store, HubSettings(abuse=disabled)) as hub:
        attack(hub)
        desk = AbuseDesk(store, disabled)
        now = utcnow()
        refreshed = desk.refresh_ownership(now)
        assert sorted(refreshed.found) == sorted([NET1_IP, NET2_IP, NET6_IP])

        drafted = desk.draft(now)
        assert len(drafted.drafted) == 2  # NET6 has no abuse mailbox
        assert drafted.no_mailbox == [NET6_IP]
        # Drafting again finds both already reported.
        assert desk.draft(now).drafted == [] and desk.draft(now).recent == 2

        # Nothing is sent before approval, whatever the switch says...
        enabled = abuse_settings(rdap, sink, smtp_enabled=True)
        assert AbuseDesk(store, enabled).send_due(now).sent == []
        assert sink.received == []
        # ...nor after approval while sending is disabled.
        approved = desk.approve(drafted.drafted, "admin", now)
        assert sorted(approved) == sorted(drafted.drafted)
        held = desk.send_due(now + timedelta(minutes=1))
        assert (held.enabled, held.sent, held.waiting) == (False, [], 2)
        assert sink.received == []
        assert {r.status for r in desk.repo.reports()} == {"approved"}

        sent = AbuseDesk(store, enabled).send_due(now + timedelta(minutes=2))
        assert sorted(sent.sent) == sorted(drafted.drafted) and sent.failed == {}
        assert {r.status for r in desk.repo.reports()} == {"sent"}
        # Sent once only: a second run finds nothing due.
        assert AbuseDesk(store, enabled).send_due(now + timedelta(minutes=3)).sent == []

    assert sorted(r.rcpt_tos[0] for r in sink.received) == [ABUSE1, ABUSE2]
    one = next(r for r in sink.received if r.rcpt_tos == [ABUSE1])
    msg = one.message
    assert one.mail_from == FROM
    assert (msg["From"], msg["To"], msg["X-XARF"], msg["Auto-Submitted"]) == (FROM, ABUSE1, "PLAIN", "auto-generated")
    assert msg["Subject"].startswith(f"abuse report about {NET1_IP} - ")
    assert msg["Bcc"] is None  # an attacker's user agent cannot add headers
    assert abs(parsedate_to_datetime(msg["Date"]) - (now + timedelta(minutes=2))) < timedelta(seconds=2)
    assert msg.get_content_type() == "multipart/mixed"
    parts = one.parts()
    assert [p.get_content_type() for p in parts] == ["text/plain"] * 3
    assert [p.get_param("name") for p in parts[1:]] == ["report.txt", "logfile.log"]
    human = str(parts[0].get_content())
    assert NET1_IP in human and NET1 in human and "AS64501" in human and "NET-ONE" in human
    assert "Example VoIP Ltd security team" in human
    report = one.report()
    assert report["Category"] == "abuse" and report["Report-Type"] == "login-attack"
    assert report["Version"] == "0.2" and report["Service"] == "sip"
    assert (report["Source"], report["Source-Type"], report["Port"]) == (NET1_IP, "ip-address", 5060)
    assert report["Occurrences"] == 2 and report["Reported-From"] == FROM and report["TLP"] == "green"
    assert report["Schema-URL"].endswith("abuse_login-attack_0.1.2.json")
    evidence = one.evidence()
    assert len(evidence) == 2
    assert any("auth_failure REGISTER user='1001'" in line and "tool=sipvicious/svcrack" in line for line in evidence)
    assert any(f"{NET1_IP}:5071 udp call_attempt INVITE dialled='0046812345678'" in line for line in evidence)
    assert any("Bcc: victim" in line and "\\r\\n" in line for line in evidence)  # shown, escaped, inert
    # Where our sensors are and what they are called stays with us.
    assert not any("192.0.2.50" in line or "honeypot-1" in line for line in evidence)
    v6 = desk.repo.reports(status="sent")
    assert {r.ip for r in v6} == {NET1_IP, NET2_IP}


def test_a_failed_send_is_kept_and_retried_later(store: Store, rdap: RdapFixture) -> None:
    port = free_port()
    settings = abuse_settings(rdap, None, smtp_enabled=True, smtp_port=port, smtp_max_attempts=2)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
    desk = AbuseDesk(store, settings)
    now = utcnow()
    desk.refresh_ownership(now)
    ids = desk.draft(now).drafted
    desk.approve(ids, "admin", now)
    first = desk.send_due(now)  # nobody listens on the port yet
    assert sorted(first.failed) == sorted(ids)
    report = desk.repo.get(ids[0])
    assert report is not None and report.status == "failed" and report.attempts == 1
    assert report.last_error and "Connection refused" in report.last_error
    assert report.next_attempt_at == now + timedelta(minutes=5)
    with smtp_sink(port) as sink:
        assert desk.send_due(now + timedelta(minutes=1)).sent == []  # not due yet
        assert sink.received == []
        again = desk.send_due(now + timedelta(minutes=6))
        assert sorted(again.sent) == sorted(ids)
        assert len(sink.received) == 2
    done = desk.repo.get(ids[0])
    assert done is not None and done.status == "sent" and done.attempts == 2 and done.last_error is None


def test_after_the_last_attempt_a_report_waits_for_an_admin(store: Store, rdap: RdapFixture) -> None:
    port = free_port()
    settings = abuse_settings(rdap, None, smtp_enabled=True, smtp_port=port, smtp_max_attempts=1)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
    desk = AbuseDesk(store, settings)
    now = utcnow()
    desk.refresh_ownership(now)
    ids = desk.draft(now).drafted
    desk.approve(ids, "admin", now)
    assert len(desk.send_due(now).failed) == 2
    stuck = desk.repo.get(ids[0])
    assert stuck is not None and stuck.status == "failed" and stuck.next_attempt_at is None
    assert desk.send_due(now + timedelta(days=30)).failed == {}  # never by itself, never lost
    assert desk.repo.retry([ids[0]], now + timedelta(days=30)) == [ids[0]]
    with smtp_sink(port) as sink:
        assert desk.send_due(now + timedelta(days=30)).sent == [ids[0]]
        assert [r.rcpt_tos for r in sink.received] == [[desk.repo.get(ids[0]).recipient]]  # type: ignore[union-attr]


def test_discarded_drafts_are_never_sent_and_cannot_be_approved(
    store: Store, rdap: RdapFixture, sink: SmtpSink
) -> None:
    settings = abuse_settings(rdap, sink, smtp_enabled=True)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
    desk = AbuseDesk(store, settings)
    now = utcnow()
    desk.refresh_ownership(now)
    ids = desk.draft(now).drafted
    assert desk.repo.discard(ids, now) == ids
    assert desk.approve(ids, "admin", now) == []
    assert desk.send_due(now + timedelta(hours=1)).sent == []
    assert sink.received == []
    # A discarded draft does not count as a report: the next run drafts the addresses again.
    assert len(desk.draft(now).drafted) == 2


def test_drafting_needs_a_sender_address(store: Store, rdap: RdapFixture) -> None:
    with pytest.raises(ValueError, match="from_address"):
        AbuseDesk(store, abuse_settings(rdap, None, from_address="")).draft(utcnow())


# -- the HTTP API -------------------------------------------------------------------------------------


def test_api_roles_and_the_whole_flow(store: Store, rdap: RdapFixture, sink: SmtpSink) -> None:
    settings = abuse_settings(rdap, sink, smtp_enabled=True)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
        AbuseDesk(store, settings).refresh_ownership(utcnow())
        # Readers see the scoreboard and owners; reports are for admins.
        assert hub.get("/v1/abuse/networks", hub.reader).status_code == 200
        owner = hub.get(f"/v1/abuse/owners/{NET1_IP}", hub.reader).json()
        assert (owner["network"], owner["abuse_email"], owner["asn"], owner["org"]) == (
            NET1,
            ABUSE1,
            64501,
            "Example Hosting Ltd",
        )
        assert hub.get("/v1/abuse/owners/81.2.69.1", hub.reader).status_code == 404
        assert hub.get("/v1/abuse/owners/not-an-ip", hub.reader).status_code == 400
        assert hub.get("/v1/abuse/reports", hub.reader).status_code == 403
        assert hub.post("/v1/abuse/reports/draft", hub.sensors[0]).status_code == 403
        assert hub.post("/v1/abuse/send", hub.reader).status_code == 403

        drafted = hub.post("/v1/abuse/reports/draft", hub.admin).json()
        assert len(drafted["drafted"]) == 2 and drafted["no_mailbox"] == 1
        listing = hub.get("/v1/abuse/reports?status=draft", hub.admin).json()
        assert listing["counts"] == {"draft": 2}
        first = drafted["drafted"][0]
        full = hub.get(f"/v1/abuse/reports/{first}", hub.admin).json()
        assert "X-XARF: PLAIN" in full["message"] and full["status"] == "draft"
        assert hub.post("/v1/abuse/send", hub.admin).json()["sent"] == []  # nothing approved yet
        approved = hub.post(f"/v1/abuse/reports/{first}/approve", hub.admin).json()
        assert approved["status"] == "approved" and approved["approved_by"] == "admin"
        assert hub.post(f"/v1/abuse/reports/{first}/approve", hub.admin).status_code == 404  # not a draft now
        assert hub.post(f"/v1/abuse/reports/{'0' * 26}/approve", hub.admin).status_code == 404
        assert hub.get("/v1/abuse/reports/nope", hub.admin).status_code == 422
        sent = hub.post("/v1/abuse/send", hub.admin).json()
        assert sent == {"enabled": True, "sent": [first], "failed": {}, "waiting": 0}
        assert len(sink.received) == 1
        board = hub.get("/v1/abuse/networks", hub.reader).json()
        assert board["totals"]["waiting"] == 1 and board["totals"]["unreported"] == 2
        waiting = hub.get("/v1/abuse/networks?verdict=waiting", hub.reader).json()["networks"]
        assert [n["reports_sent"] for n in waiting] == [1]


def test_api_send_while_disabled_sends_nothing(store: Store, rdap: RdapFixture, sink: SmtpSink) -> None:
    settings = abuse_settings(rdap, sink, smtp_enabled=False)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
        AbuseDesk(store, settings).refresh_ownership(utcnow())
        ids = hub.post("/v1/abuse/reports/draft", hub.admin).json()["drafted"]
        for report_id in ids:
            assert hub.post(f"/v1/abuse/reports/{report_id}/approve", hub.admin).status_code == 200
        answer = hub.post("/v1/abuse/send", hub.admin).json()
        assert answer == {"enabled": False, "sent": [], "failed": {}, "waiting": 2}
    assert sink.received == []


def test_api_draft_without_a_sender_is_a_clear_error(store: Store, rdap: RdapFixture) -> None:
    with Hub(store, HubSettings(abuse=abuse_settings(rdap, None, from_address=""))) as hub:
        answer = hub.post("/v1/abuse/reports/draft", hub.admin)
        assert answer.status_code == 400 and "from_address" in answer.json()["detail"]


def test_dashboard_dossiers_show_the_cached_owner(store: Store, rdap: RdapFixture) -> None:
    settings = abuse_settings(rdap, None)
    with Hub(store, HubSettings(abuse=settings), client_host="127.0.0.1") as hub:
        attack(hub)
        AbuseDesk(store, settings).refresh_ownership(utcnow())
        page = hub.get(f"/ui/attackers/{NET1_IP}")
    assert page.status_code == 200
    assert ABUSE1 in page.text and "NET-ONE" in page.text and "AS64501" in page.text


def test_concurrent_drafting_reports_each_address_once(store: Store, rdap: RdapFixture) -> None:
    from concurrent.futures import ThreadPoolExecutor

    settings = abuse_settings(rdap, None)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
    AbuseDesk(store, settings).refresh_ownership(utcnow())
    now = utcnow()
    desks = [AbuseDesk(store, settings) for _ in range(4)]  # as four hub processes would
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda d: d.draft(now), desks))
    assert sum(len(r.drafted) for r in results) == 2
    assert sorted(r.ip for r in desks[0].repo.reports()) == sorted([NET1_IP, NET2_IP])


def test_a_draft_run_with_a_stale_view_still_reports_each_address_once(store: Store, rdap: RdapFixture) -> None:
    settings = abuse_settings(rdap, None)
    with Hub(store, HubSettings(abuse=settings)) as hub:
        attack(hub)
    first, second = AbuseDesk(store, settings), AbuseDesk(store, settings)
    first.refresh_ownership(utcnow())
    now = utcnow()
    # The second process read "nothing reported yet" just before the first one drafted.
    second.repo.recently_reported = lambda ips, since: set()  # type: ignore[method-assign]
    assert len(first.draft(now).drafted) == 2
    late = second.draft(now)
    assert late.drafted == [] and late.recent == 2
    assert len(first.repo.reports()) == 2
