"""Campaigns: addresses, accounts, numbers and user agents joined by co-occurrence.

The graph is built from the aggregate facets, not from raw events. Only strong links join nodes:
an address that dialled a number, an address that cracked or used an account, and a User-Agent that
few addresses share. Accounts merely *tried* do not link (every scanner tries "100" and "admin"),
nor do common User-Agents (every SIPVicious run says "friendly-scanner").

The brute-forcer -> user link is explicit: the first address that got an account accepted cracked
it; any other address that later registered or called with that account is a user of the crack.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sipwarden.intel.cadence import Cadence, cadence
from sipwarden.intel.risk import RiskClass, risk_of
from sipwarden.store import Store
from sipwarden.store import intel_queries as q

#: A User-Agent shared by more addresses than this is a tool's default, not a fingerprint.
MAX_SHARED_UA_ADDRESSES: Final = 5
#: Most facet rows read to build the graph; a bound, not an expectation (a busy honeypot has a few
#: thousand calling addresses).
MAX_GRAPH_ROWS: Final = 200_000
#: Score weights: a cracked account is the strongest sign of a real incident, a high-risk number next.
#: Most addresses one dossier's campaign walk visits.
MAX_COMPONENT_ADDRESSES: Final = 100
#: Levels of the walk (address -> number -> addresses -> ...); campaigns are shallow graphs.
MAX_WALK_LEVELS: Final = 8
#: Most neighbours taken from one node during the walk.
MAX_NODE_LINKS: Final = 500
SCORE_CRACKED: Final = 10.0
SCORE_USED_CRACK: Final = 10.0
SCORE_NUMBER: Final = 3.0
SCORE_HIGH_RISK_NUMBER: Final = 6.0
SCORE_ADDRESS: Final = 1.0


@dataclass(frozen=True, slots=True)
class CrackLink:
    """Account cracked by one address and later used by another."""

    account: str
    cracked_by: str
    cracked_at: datetime
    used_by: str
    used_at: datetime


@dataclass(frozen=True, slots=True)
class Campaign:
    """A connected group of addresses with what joins them."""

    id: str
    score: float
    addresses: tuple[str, ...]
    numbers: tuple[str, ...]
    accounts: tuple[str, ...]
    user_agents: tuple[str, ...]
    crack_links: tuple[CrackLink, ...]
    first: datetime
    last: datetime
    cadence: Cadence


@dataclass(frozen=True, slots=True)
class Observation:
    """One strong link between an address and another node ("num", "acct" or "ua")."""

    ip: str
    node: str  # "num:+2314599711", "acct:1001", "ua:Zoiper"
    first: datetime
    last: datetime
    count: int


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def crack_links(
    success: Mapping[str, list[tuple[str, datetime]]], use: Mapping[str, list[tuple[str, datetime]]]
) -> list[CrackLink]:
    """Links from `account -> [(ip, first success)]` and `account -> [(ip, first use)]` (pure)."""
    links = []
    for account, successes in success.items():
        cracker, cracked_at = min(successes, key=lambda item: item[1])
        seen: set[str] = set()
        for ip, used_at in sorted((*successes, *use.get(account, ())), key=lambda item: item[1]):
            if ip != cracker and ip not in seen and used_at >= cracked_at:
                seen.add(ip)
                links.append(CrackLink(account, cracker, cracked_at, ip, used_at))
    return links


def build_campaigns(
    observations: Iterable[Observation], links: Iterable[CrackLink], dial_times: Mapping[str, list[datetime]]
) -> list[Campaign]:
    """Connected groups of `observations`, best score first (pure).

    `dial_times` maps a number to the first times of each dial string variant, for the cadence.
    """
    obs = list(observations)
    ua_fanout: dict[str, set[str]] = defaultdict(set)
    for o in obs:
        if o.node.startswith("ua:"):
            ua_fanout[o.node].add(o.ip)
    uf = _UnionFind()
    nodes: dict[str, list[Observation]] = defaultdict(list)
    for o in obs:
        if o.node.startswith("ua:") and len(ua_fanout[o.node]) > MAX_SHARED_UA_ADDRESSES:
            continue
        uf.union(f"ip:{o.ip}", o.node)
        nodes[f"ip:{o.ip}"].append(o)
    link_list = list(links)
    for link in link_list:
        uf.union(f"ip:{link.cracked_by}", f"acct:{link.account}")
        uf.union(f"ip:{link.used_by}", f"acct:{link.account}")
    groups: dict[str, set[str]] = defaultdict(set)
    for node in list(uf.parent):
        groups[uf.find(node)].add(node)
    campaigns = []
    for members in groups.values():
        ips = sorted(m[3:] for m in members if m.startswith("ip:"))
        numbers = sorted(m[4:] for m in members if m.startswith("num:"))
        if not ips or (len(ips) < 2 and not numbers):
            continue
        ip_set = set(ips)
        member_obs = [o for ip in ips for o in nodes.get(f"ip:{ip}", [])]
        group_links = tuple(lk for lk in link_list if lk.cracked_by in ip_set or lk.used_by in ip_set)
        times = [t for t in (*(o.first for o in member_obs), *(o.last for o in member_obs))]
        times += [lk.cracked_at for lk in group_links] + [lk.used_at for lk in group_links]
        accounts = sorted({m[5:] for m in members if m.startswith("acct:")})
        high = sum(1 for n in numbers if risk_of(n) >= RiskClass.HIGH)
        score = (
            SCORE_CRACKED * len({lk.account for lk in group_links})
            + SCORE_USED_CRACK * len({lk.used_by for lk in group_links})
            + SCORE_NUMBER * (len(numbers) - high)
            + SCORE_HIGH_RISK_NUMBER * high
            + SCORE_ADDRESS * len(ips)
            + math.log10(1 + sum(o.count for o in member_obs))
        )
        rhythm = cadence(t for n in numbers for t in dial_times.get(n, ()))
        campaigns.append(
            Campaign(
                id=campaign_id(ips),
                score=round(score, 1),
                addresses=tuple(ips),
                numbers=tuple(numbers),
                accounts=tuple(accounts),
                user_agents=tuple(sorted({m[3:] for m in members if m.startswith("ua:")})),
                crack_links=group_links,
                first=min(times),
                last=max(times),
                cadence=rhythm,
            )
        )
    campaigns.sort(key=lambda c: (-c.score, c.first))
    return campaigns


def campaign_id(addresses: Iterable[str]) -> str:
    """A short stable id of a group, from its smallest address (stable while the group grows)."""
    return "c-" + hashlib.sha256(min(addresses).encode()).hexdigest()[:10]


def load_campaigns(store: Store) -> list[Campaign]:
    """Campaigns from the aggregates in `store` (call `aggregates.refresh` first)."""
    rows = q.facets_of_kind(store, ("number", "cracked", "ua"), prefix="ip:", limit=MAX_GRAPH_ROWS)
    active = {s for s, f, _ in rows if f in ("number", "cracked")}
    success: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    use: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    for subject, facet, row in q.facets_of_kind(store, ("success_ip", "use_ip"), prefix="acct:", limit=MAX_GRAPH_ROWS):
        (success if facet == "success_ip" else use)[subject[5:]].append((row.key, row.first))
        active.add(f"ip:{row.key}")
    links = crack_links(success, use)
    obs = []
    for subject, facet, row in rows:
        if subject not in active:
            continue
        node = {"number": "num:", "cracked": "acct:", "ua": "ua:"}[facet] + row.key
        obs.append(Observation(subject[3:], node, row.first, row.last, row.count))
    numbers = {o.node[4:] for o in obs if o.node.startswith("num:")}
    dial_times: dict[str, list[datetime]] = {}
    for n in numbers:
        dial_times[n] = [r.first for r in q.facets(store, f"num:{n}").get("dial", [])]
    return build_campaigns(obs, links, dial_times)


def campaign_of(store: Store, ip: str) -> Campaign | None:
    """The campaign of one address, found by walking its links outward (no scan of every address).

    The walk goes level by level with one query per level and kind of node, and stops at
    MAX_COMPONENT_ADDRESSES addresses: a number dialled by thousands of sources would otherwise pull
    half the internet into one dossier.
    """
    seen: set[str] = {f"ip:{ip}"}
    level = [f"ip:{ip}"]
    obs: list[Observation] = []
    success: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    use: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
    addresses = 0
    for _ in range(MAX_WALK_LEVELS):
        if not level or addresses >= MAX_COMPONENT_ADDRESSES:
            break
        ips = [n for n in level if n.startswith("ip:")][: MAX_COMPONENT_ADDRESSES - addresses]
        accounts = [n.split(":", 1)[1] for n in level if n.startswith(("acct:", "acct?:"))]
        values = [n for n in level if n.startswith(("num:", "ua:"))]
        addresses += len(ips)
        neighbours: list[str] = []
        by_ip = q.facets_many(store, ips, per_facet=MAX_NODE_LINKS, only=("number", "cracked", "ua"))
        for subject, facets in by_ip.items():
            active = "number" in facets or "cracked" in facets
            for facet, prefix in (("number", "num:"), ("cracked", "acct:"), ("ua", "ua:")):
                if facet == "ua" and not active:
                    continue  # a scanner's User-Agent joins nothing (see load_campaigns)
                for row in facets.get(facet, []):
                    obs.append(Observation(subject[3:], prefix + row.key, row.first, row.last, row.count))
                    neighbours.append(prefix + row.key)
        # An account merely tried links only once it was cracked (its users are then linked to it);
        # ask for those user names alone: an address tried hundreds, nearly none of them cracked.
        for names in q.cracked_usernames(store, ips, per_subject=MAX_NODE_LINKS).values():
            neighbours += ["acct?:" + name for name in names]
        by_acct = q.facets_many(
            store, [f"acct:{a}" for a in accounts], per_facet=MAX_NODE_LINKS, only=("success_ip", "use_ip")
        )
        for subject, facets in by_acct.items():
            account = subject[5:]
            success[account] += [(r.key, r.first) for r in facets.get("success_ip", [])]
            use[account] += [(r.key, r.first) for r in facets.get("use_ip", [])]
            if facets.get("success_ip"):  # only a cracked account links its users
                neighbours += [f"ip:{r.key}" for r in (*facets.get("success_ip", []), *facets.get("use_ip", []))]
        for node in values:
            facet = "number" if node.startswith("num:") else "ua"
            # Any MAX_NODE_LINKS of them (the walk is bounded anyway); a User-Agent only needs to
            # show that it is shared by too many to be a fingerprint.
            limit = MAX_SHARED_UA_ADDRESSES + 1 if facet == "ua" else MAX_NODE_LINKS
            found = q.subject_names_with(store, facet, node.split(":", 1)[1], prefix="ip:", limit=limit)
            if facet == "ua":
                if len(found) > MAX_SHARED_UA_ADDRESSES:
                    continue  # a tool's default User-Agent: not a fingerprint
                # As in load_campaigns: a User-Agent joins only addresses that called or cracked.
                found = [sub for sub in found if sub in seen or _is_active(store, sub)]
            neighbours += found
        level = []
        for n in neighbours:
            if n not in seen:
                seen.add(n)
                level.append(n)
    links = crack_links(dict(success), use)
    numbers = sorted({o.node[4:] for o in obs if o.node.startswith("num:")})[:MAX_NODE_LINKS]
    dials = q.facets_many(store, [f"num:{n}" for n in numbers], per_facet=MAX_NODE_LINKS, only=("dial",))
    dial_times = {n: [r.first for r in dials.get(f"num:{n}", {}).get("dial", [])] for n in numbers}
    found_campaigns = campaigns_of(build_campaigns(obs, links, dial_times), ip)
    return found_campaigns[0] if found_campaigns else None


def _is_active(store: Store, subject: str) -> bool:
    facets = q.facets(store, subject, per_facet=1, only=("number", "cracked"))
    return bool(facets)


def campaigns_of(campaigns: Iterable[Campaign], ip: str) -> list[Campaign]:
    """The campaigns `ip` belongs to."""
    return [c for c in campaigns if ip in c.addresses]
