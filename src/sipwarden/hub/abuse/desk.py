"""The abuse desk: ownership refresh, scoreboard, drafting, approval and sending, in one place.

Every step is explicit and separate, because a report is a complaint with the hub's name on it:
`draft` prepares messages (nothing leaves), an admin `approve`s them, and `send_due` mails only
approved reports and only while `[hub.abuse] smtp_enabled` is true. A failed send keeps the report
with its reason and tries again later with growing pauses; nothing is dropped.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata
from typing import Final

import httpx

from sipwarden.events import Event, new_id
from sipwarden.hub.abuse.mailer import Mailer, SmtpDisabled
from sipwarden.hub.abuse.reports import AbuseRepo, AbuseReport
from sipwarden.hub.abuse.scoreboard import NetworkScore, score
from sipwarden.hub.abuse.settings import AbuseSettings
from sipwarden.hub.abuse.xarf import ReportFacts, build_report
from sipwarden.intel.owner_cache import StoreOwnership
from sipwarden.intel.rdap_refresh import RdapConfig, RdapRefresher, RefreshResult
from sipwarden.store import Store

log = logging.getLogger(__name__)

#: The SIP port reported when the evidence does not say which port was attacked (RFC 3261 19.1.2).
DEFAULT_SIP_PORT: Final = 5060
#: First pause after a failed send; it doubles with each attempt, up to MAX_RETRY_PAUSE.
FIRST_RETRY_PAUSE: Final = timedelta(minutes=5)
MAX_RETRY_PAUSE: Final = timedelta(hours=12)
#: Reports one `send_due` call sends at most (a cron run every few minutes drains a big queue).
SEND_BATCH: Final = 100
#: Seconds a scoreboard is reused by the API and the page. Drawing it for 100,000 addresses costs
#: seconds of CPU (`python -m bench abuse_scoreboard`), while verdicts change over hours and days;
#: sends and refreshes made by this process redraw it at once.
SCOREBOARD_CACHE_SECONDS: Final = 30.0


def _version() -> str:
    try:
        return metadata.version("sipwarden")
    except metadata.PackageNotFoundError:
        return "0"


@dataclass(slots=True)
class DraftResult:
    """What one drafting run did."""

    drafted: list[str] = field(default_factory=list)  # report ids
    no_owner: list[str] = field(default_factory=list)  # addresses whose owner is not cached yet
    no_mailbox: list[str] = field(default_factory=list)  # owner known, no abuse mailbox
    recent: int = 0  # reported within report_again_days
    deferred: int = 0  # over max_drafts


@dataclass(slots=True)
class SendResult:
    """What one sending run did."""

    enabled: bool
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: int = 0  # approved reports left in the queue (sending disabled)


def evidence_line(ev: Event) -> str:
    """One event as a line of the evidence part (no reporter names, no destination addresses:
    those would tell the attacker's provider, and through it the attacker, where our sensors are)."""
    src = f"[{ev.src_ip}]:{ev.src_port}" if ev.src_ip and ":" in ev.src_ip else f"{ev.src_ip}:{ev.src_port}"
    parts = [ev.ts.strftime("%Y-%m-%dT%H:%M:%SZ"), src if ev.src_port else (ev.src_ip or "-"), ev.transport or "-"]
    parts.append(ev.kind)
    if ev.method:
        parts.append(ev.method)
    if ev.username:
        parts.append(f"user={ev.username!r}")
    if ev.target:
        parts.append(f"dialled={ev.target!r}")
    if ev.user_agent:
        parts.append(f"ua={ev.user_agent!r}")
    if ev.tool:
        parts.append(f"tool={ev.tool}")
    if ev.count > 1:
        parts.append(f"x{ev.count}")
    return " ".join(parts)


class AbuseDesk:
    """The abuse desk over one store."""

    def __init__(self, store: Store, settings: AbuseSettings, *, ownership: StoreOwnership | None = None) -> None:
        """Reports and ownership in `store`, policy from `settings`."""
        self.store = store
        self.settings = settings
        self.ownership = ownership or StoreOwnership(store)
        self.repo = AbuseRepo(store)
        self._board: tuple[float, list[NetworkScore]] | None = None
        self._board_lock = threading.Lock()

    # -- ownership ------------------------------------------------------------------------------------

    def rdap_config(self) -> RdapConfig:
        """The refresher's configuration from `[hub.abuse]`."""
        s = self.settings
        return RdapConfig(
            bootstrap_url=s.rdap_bootstrap_url,
            base_url=s.rdap_base_url,
            timeout_seconds=s.rdap_timeout_seconds,
            cache_days=s.rdap_cache_days,
            missing_retry_hours=s.rdap_missing_retry_hours,
            error_retry_hours=s.rdap_error_retry_hours,
            max_lookups=s.rdap_max_lookups,
            interval_seconds=s.rdap_interval_seconds,
            user_agent=f"sipwarden/{_version()} (abuse desk)",
        )

    def refresh_ownership(
        self,
        now: datetime,
        *,
        ips: Sequence[str] | None = None,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RefreshResult:
        """Look up the owners of `ips` (default: every listed address) the cache cannot answer."""
        refresher = RdapRefresher(self.ownership, self.rdap_config(), client=client, sleep=sleep)
        try:
            return refresher.refresh(self.repo.listed_addresses() if ips is None else ips, now)
        finally:
            if client is None:
                refresher.close()
            with self._board_lock:
                self._board = None

    # -- scoreboard -----------------------------------------------------------------------------------

    def scoreboard(self, now: datetime) -> list[NetworkScore]:
        """Every attacking network with its verdict (a cache read: no network I/O)."""
        s = self.settings
        return score(
            self.repo.attacking_addresses(),
            self.repo.sent(),
            self.ownership,
            now,
            grace=timedelta(hours=s.grace_hours),
            quiet=timedelta(days=s.quiet_days),
        )

    def cached_scoreboard(self, now: datetime, mono: float) -> list[NetworkScore]:
        """`scoreboard(now)`, reused for SCOREBOARD_CACHE_SECONDS of the monotonic clock `mono`."""
        with self._board_lock:
            if self._board is not None and mono - self._board[0] < SCOREBOARD_CACHE_SECONDS:
                return self._board[1]
        board = self.scoreboard(now)
        with self._board_lock:
            self._board = (mono, board)
        return board

    # -- reports --------------------------------------------------------------------------------------

    def draft(self, now: datetime) -> DraftResult:
        """Draft a report for every listed address with a known abuse mailbox not reported lately.

        Raises ValueError when `from_address` is not set (a report needs a sender to answer to).
        """
        s = self.settings
        if not s.from_address:
            raise ValueError("set [hub.abuse] from_address before drafting reports")
        result = DraftResult()
        seen = {a.ip: a for a in self.repo.attacking_addresses()}
        listed = self.repo.listed_addresses()
        recent = self.repo.recently_reported(listed, now - timedelta(days=s.report_again_days))
        for ip in listed:
            owner = self.ownership.lookup(ip)
            if owner is None:
                result.no_owner.append(ip)
                continue
            if not owner.abuse_email:
                result.no_mailbox.append(ip)
                continue
            if ip in recent:
                result.recent += 1
                continue
            if len(result.drafted) >= s.max_drafts:
                result.deferred += 1
                continue
            address = seen.get(ip)
            if address is None:
                continue
            events = self.store.events(ip=ip, newest=True, limit=s.evidence_lines)
            ports = Counter(ev.dst_port for ev in events if ev.dst_port)
            report_id = new_id()
            facts = ReportFacts(
                report_id=f"{report_id}@{s.from_address.rpartition('@')[2]}",
                ip=ip,
                owner=owner,
                recipient=owner.abuse_email,
                reporter=s.reporter,
                from_address=s.from_address,
                tlp=s.tlp,
                first_seen=address.first_seen,
                last_seen=address.last_seen,
                events=address.events,
                port=ports.most_common(1)[0][0] if ports else DEFAULT_SIP_PORT,
                evidence=[evidence_line(ev) for ev in events],
                user_agent=f"sipwarden/{_version()}",
            )
            message = build_report(facts, now=now)
            stored = self.repo.add(
                AbuseReport(
                    id=report_id,
                    ip=ip,
                    network=owner.network,
                    recipient=owner.abuse_email,
                    status="draft",
                    events=address.events,
                    message=message.as_string(),
                    created_at=now,
                    approved_at=None,
                    approved_by=None,
                    attempts=0,
                    next_attempt_at=None,
                    sent_at=None,
                    last_error=None,
                ),
                unless_reported_since=now - timedelta(days=s.report_again_days),
            )
            if not stored:
                result.recent += 1  # another process drafted it a moment ago
                continue
            result.drafted.append(report_id)
        return result

    def approve(self, ids: Sequence[str], by: str, now: datetime) -> list[str]:
        """Approve drafts for sending; the ids approved (others were not drafts)."""
        done = self.repo.approve(ids, by, now)
        if done:
            log.info("abuse desk: %s approved %d report(s)", by, len(done))
        return done

    def send_due(self, now: datetime, *, mailer: Mailer | None = None, limit: int = SEND_BATCH) -> SendResult:
        """Send approved reports that are due, if sending is enabled; record each outcome."""
        s = self.settings
        if not s.smtp_enabled:
            waiting = self.repo.counts().get("approved", 0)
            return SendResult(enabled=False, waiting=waiting)
        mailer = mailer or Mailer(s)
        result = SendResult(enabled=True)
        for report in self.repo.claim_due(now, limit):
            try:
                mailer.send(report.message, report.recipient, now)
            except (smtplib.SMTPException, OSError, SmtpDisabled, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
                attempts = report.attempts + 1
                pause = min(FIRST_RETRY_PAUSE * 2 ** (attempts - 1), MAX_RETRY_PAUSE)
                retry = now + pause if attempts < s.smtp_max_attempts else None
                self.repo.mark_failed(report.id, error, retry)
                result.failed[report.id] = error
                log.warning("abuse desk: sending report %s to %s failed: %s", report.id, report.recipient, error)
                continue
            self.repo.mark_sent(report.id, now)
            result.sent.append(report.id)
        if result.sent:
            with self._board_lock:
                self._board = None
        return result
