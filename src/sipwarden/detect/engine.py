"""The detection engine: Events in, Decisions out. Pure: no I/O, time taken from the events.

The engine owns what is common to every rule: per-source state, trust learning (successful logins),
the allowlist and the machine's own addresses (never banned), ban lengths for repeat offenders, and
de-duplication (a source already banned is not banned again until its ban ends). Rules only say what
they saw (`Finding`); a broken rule is logged and skipped, never fatal (the mitmproxy addon model).
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

from sipwarden.detect.durations import parse_duration, parse_rate
from sipwarden.detect.rules import Finding, Rule, SourceView, build_rules
from sipwarden.detect.rules.enumeration import USERNAME_KINDS
from sipwarden.detect.settings import DetectSettings
from sipwarden.detect.tracker import SourceTable, key_of
from sipwarden.events import Decision, Event

log = logging.getLogger(__name__)

#: Addresses remembered as trusted (successful logins) and as earlier offenders. Both are bounded so
#: that a flood of spoofed sources cannot grow them; the oldest entries are dropped first.
MAX_TRUSTED: Final = 100_000
MAX_OFFENDERS: Final = 1_000_000
#: How often (in event time) `tick` forgets idle source state: a full scan, so not on every call.
SWEEP_INTERVAL: Final = timedelta(seconds=60)
#: Sources looked at per `tick` while sweeping: ~20 ms of work, so a million take 20 ticks.
SWEEP_BATCH: Final = 50_000

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ActiveDecision(Protocol):
    """What the engine keeps of an active decision: a `Decision`, or a lean record read from the store
    at start (`store.decision_reads.DecisionRef`) that carries only these fields."""

    @property
    def id(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def until(self) -> datetime | None: ...


class Engine:
    """Feed events in time order; act on the decisions that come out."""

    def __init__(
        self,
        settings: DetectSettings,
        *,
        allowlist: Iterable[str] = (),
        own_addresses: Iterable[str] = (),
        rules: Sequence[Rule] | None = None,
    ) -> None:
        self.settings = settings
        self.rules: list[Rule] = list(rules) if rules is not None else build_rules(settings)
        self.protected: tuple[IpNetwork, ...] = tuple(
            ipaddress.ip_network(a, strict=False) for a in [*settings.allowlist, *allowlist, *own_addresses]
        )
        windows: list[float] = []
        self._bases: list[int] = []
        for rule in self.rules:
            self._bases.append(len(windows))
            windows += rule.windows
        self.sources = SourceTable(
            windows, users_window=parse_rate(settings.enumeration).seconds, max_sources=settings.max_sources
        )
        self._view = SourceView(self.sources)
        self._ban_time = parse_duration(settings.ban_time)
        self._max_ban_time = parse_duration(settings.max_ban_time)
        self._trust_window = timedelta(seconds=parse_duration(settings.trust_window))
        self._notice_time = timedelta(seconds=parse_duration(settings.notice_time))
        self._trusted: dict[str, datetime] = {}
        self._offenses: dict[str, int] = {}
        self._active: dict[tuple[str, str, str], ActiveDecision] = {}  # (scope, value, action) -> decision
        self._ends: list[tuple[datetime, str, tuple[str, str, str]]] = []  # heap of (until, id, slot)
        self._last_sweep: datetime | None = None

    # -- public ---------------------------------------------------------------------------------------

    def feed(self, event: Event) -> list[Decision]:
        """Process one event; return the decisions it caused (usually none)."""
        if not event.src_ip:
            return []
        try:
            addr = ipaddress.ip_address(event.src_ip)
        except ValueError:
            log.debug("event %s has an unusable source address %r", event.id, event.src_ip)
            return []
        if self.is_protected(addr):
            return []
        address, key = str(addr), key_of(addr)
        if event.kind == "auth_success" and event.source != "honeypot":
            # A login accepted by the real PBX; a "success" on the honeypot is a crack, not trust.
            self._learn_trust(address, event.ts)
        trusted = self.is_trusted(address, event.ts)
        username = event.username if event.kind in USERNAME_KINDS else None
        slot = self.sources.touch(key, event.ts, event.id, username)
        view = self._view
        view.bind(key, address, slot, trusted=trusted, factor=self.settings.trust_factor if trusted else 1.0)
        findings: list[Finding] = []
        for rule, base in zip(self.rules, self._bases, strict=True):
            view.use_windows(base)
            try:
                findings += rule.observe(event, view)
            except Exception:  # one broken rule must not stop detection (STYLE.md, mitmproxy model)
                log.exception("detection rule %s failed on event %s", type(rule).__name__, event.id)
        decisions: list[Decision] = []
        for finding in findings:
            decision = self._decide(finding, address, event.ts, view)
            if decision is not None:
                decisions.append(decision)
        if any(d.action == "ban" and d.scope == "ip" and d.value == address for d in decisions):
            # Counting starts again after the ban; only now, so that every finding of this event
            # still quoted the source's evidence.
            self.sources.forget(key)
        return decisions

    def tick(self, now: datetime) -> list[ActiveDecision]:
        """Advance time: return the decisions that ended by `now`, and forget idle state."""
        ended: list[ActiveDecision] = []
        while self._ends and self._ends[0][0] <= now:
            _, decision_id, slot = heapq.heappop(self._ends)
            active = self._active.get(slot)
            if active is not None and active.id == decision_id:  # else replaced or released: stale entry
                del self._active[slot]
                ended.append(active)
        if self.sources.sweeping:
            self.sources.sweep(now, budget=SWEEP_BATCH)
        if self._last_sweep is None or now - self._last_sweep >= SWEEP_INTERVAL:
            self._last_sweep = now
            self.sources.sweep(now, budget=SWEEP_BATCH)
            for rule in self.rules:
                try:
                    rule.expire(now)
                except Exception:
                    log.exception("detection rule %s failed to expire state", type(rule).__name__)
            horizon = now - self._trust_window
            self._trusted = {k: t for k, t in self._trusted.items() if t >= horizon}
        return ended

    def restore(self, decisions: Iterable[ActiveDecision]) -> None:
        """Load earlier decisions (from the store at start): active ones dedupe, all count as offenses.

        Of several decisions about the same scope, value and action, the one that ends last stays.
        """
        active, ends = self._active, self._ends
        bulk = not ends  # at start: push every end, then order the heap once
        for d in decisions:
            if d.action == "ban" and d.scope == "ip":
                self._count_offense(d.value)
            slot = (d.scope, d.value, d.action)
            known = active.get(slot)
            if known is None or not ends_before(d, known):
                active[slot] = d
                if d.until is not None:
                    if bulk:
                        ends.append((d.until, d.id, slot))
                    else:
                        heapq.heappush(ends, (d.until, d.id, slot))
        if bulk:
            heapq.heapify(ends)

    def active(self, scope: str, value: str, action: str) -> ActiveDecision | None:
        """The active decision about `value` with `action` (None when there is none)."""
        return self._active.get((scope, value, action))

    def release(self, scope: str, value: str, action: str | None = None) -> None:
        """Forget an active decision (a person removed the ban): one action, or all of them."""
        for act in (action,) if action else ("ban", "watch", "notice"):
            self._active.pop((scope, value, act), None)

    def is_protected(self, addr: ipaddress.IPv4Address | ipaddress.IPv6Address | IpNetwork) -> bool:
        """True for allowlisted and own addresses (and ranges that overlap them)."""
        if isinstance(addr, ipaddress.IPv4Network | ipaddress.IPv6Network):
            return any(addr.version == net.version and addr.overlaps(net) for net in self.protected)
        return any(addr in net for net in self.protected)

    def is_trusted(self, key: str, now: datetime) -> bool:
        """True when the source logged in successfully within the trust window."""
        seen = self._trusted.get(key)
        return seen is not None and now - seen <= self._trust_window

    def ban_seconds(self, value: str) -> float:
        """The length of the next ban of `value`: ban_time x repeat_factor^earlier bans, capped."""
        earlier = self._offenses.get(value, 0)
        seconds = self._ban_time * self.settings.repeat_factor ** min(earlier, 64)
        return min(seconds, self._max_ban_time)

    # -- internals ------------------------------------------------------------------------------------

    def _decide(self, finding: Finding, address: str, ts: datetime, view: SourceView) -> Decision | None:
        value = finding.value or address
        if finding.scope in ("ip", "range") and finding.action == "ban":
            target = ipaddress.ip_network(value, strict=False) if finding.scope == "range" else None
            if self.is_protected(target or ipaddress.ip_address(value)):
                return None
        slot = (finding.scope, value, finding.action)
        active = self._active.get(slot)
        if active is not None and (active.until is None or active.until > ts):
            return None
        if finding.action == "ban":
            until = ts + timedelta(seconds=self.ban_seconds(value))
            self._count_offense(value)
        elif finding.action == "notice":
            until = ts + self._notice_time
        else:
            until = ts + timedelta(seconds=self._ban_time)
        evidence = finding.evidence if finding.evidence is not None else view.evidence()
        decision = Decision(
            ts=ts,
            scope=finding.scope,
            value=value,
            action=finding.action,
            scenario=finding.scenario,
            reason=finding.reason,
            until=until,
            event_ids=tuple(evidence),
        )
        self._activate(decision)
        return decision

    def _activate(self, decision: ActiveDecision) -> None:
        slot = (decision.scope, decision.value, decision.action)
        self._active[slot] = decision
        if decision.until is not None:
            heapq.heappush(self._ends, (decision.until, decision.id, slot))

    def _learn_trust(self, key: str, ts: datetime) -> None:
        if key not in self._trusted and len(self._trusted) >= MAX_TRUSTED:
            self._trusted.pop(next(iter(self._trusted)))
        self._trusted.pop(key, None)
        self._trusted[key] = ts

    def _count_offense(self, value: str) -> None:
        if value not in self._offenses and len(self._offenses) >= MAX_OFFENDERS:
            self._offenses.pop(next(iter(self._offenses)))
        self._offenses[value] = self._offenses.get(value, 0) + 1


def ends_before(a: ActiveDecision, b: ActiveDecision) -> bool:
    """True when `a` ends strictly before `b` (None: never ends)."""
    if a.until is None:
        return False
    return b.until is None or a.until < b.until
