"""Network ownership over RDAP: the sans-I/O parser and bootstrap, then the refresher against a
loopback RDAP server, filling the store's cache (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rdapfixture import RdapFixture, network_doc, rdap_server

from sipwarden.intel.owner_cache import OwnerIndex, StoreOwnership
from sipwarden.intel.rdap import Bootstrap, RdapError, ip_query_url, parse_bootstrap, parse_ip_network
from sipwarden.intel.rdap_refresh import MAX_RDAP_BYTES, RdapConfig, RdapRefresher
from sipwarden.store import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


# -- the parser ---------------------------------------------------------------------------------------


def test_nested_abuse_contact_asn_country_and_name() -> None:
    doc = network_doc("192.0.2.0/24", "DOC-NET-1", country="nl", abuse="abuse@example.net", asn=64500)
    net = parse_ip_network(doc, "192.0.2.77")
    assert net.blocks == ("192.0.2.0/24",)
    assert (net.name, net.handle, net.org) == ("DOC-NET-1", "NET-DOC-NET-1", "Example Hosting Ltd")
    assert (net.asn, net.country, net.abuse_email) == (64500, "NL", "abuse@example.net")
    owner = net.owner_of("192.0.2.77")
    assert (owner.network, owner.name, owner.abuse_email) == ("192.0.2.0/24", "DOC-NET-1", "abuse@example.net")


def test_flat_abuse_entity_and_missing_contact() -> None:
    flat = parse_ip_network(
        network_doc("2001:db8::/32", "DOC-V6", abuse="noc@example.org", nested=False), "2001:db8::5"
    )
    assert flat.abuse_email == "noc@example.org" and flat.blocks == ("2001:db8::/32",)
    assert flat.asn is None  # RFC 9083 has no origin AS; only ARIN's extension says it
    none = parse_ip_network(network_doc("198.51.100.0/24", "NO-ABUSE"), "198.51.100.1")
    assert none.abuse_email is None


def test_a_range_that_is_not_one_block() -> None:
    doc = network_doc("203.0.113.0/24", "RAGGED", abuse="a@example.com", end="203.0.113.191")
    net = parse_ip_network(doc, "203.0.113.150")
    assert net.blocks == ("203.0.113.0/25", "203.0.113.128/26")
    assert net.owner_of("203.0.113.150").network == "203.0.113.128/26"
    assert net.owner_of("203.0.113.5").network == "203.0.113.0/25"


@pytest.mark.parametrize(
    "email",
    [
        "abuse@example.net\r\nBcc: victim@example.org",
        "a@example.net, b@example.org",
        "<a@example.net>",
        "no-at-sign",
        "x" * 300 + "@e.com",
    ],
)
def test_hostile_mailboxes_never_become_recipients(email: str) -> None:
    net = parse_ip_network(network_doc("192.0.2.0/24", "EVIL", abuse=email), "192.0.2.1")
    assert net.abuse_email is None


def test_control_characters_are_removed_from_names() -> None:
    doc = network_doc("192.0.2.0/24", "NAME\r\nX-Injected: 1\x1b[31m")
    assert parse_ip_network(doc, "192.0.2.1").name == "NAMEX-Injected: 1[31m"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (["not", "an", "object"], "not a JSON object"),
        ({**network_doc("192.0.2.0/24", "X"), "objectClassName": "domain"}, "expected an ip network"),
        (network_doc("198.51.100.0/24", "ELSEWHERE"), "does not hold"),
        ({**network_doc("192.0.2.0/24", "X"), "startAddress": "banana"}, "not addresses"),
        ({**network_doc("192.0.2.0/24", "X"), "endAddress": "192.0.1.0"}, "not a range"),
        ({**network_doc("2001:db8::/32", "X"), "endAddress": "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"}, "too ragged"),
    ],
)
def test_unusable_documents_are_rdap_errors(doc: object, message: str) -> None:
    with pytest.raises(RdapError, match=message):
        parse_ip_network(doc, "2001:db8::1" if "2001" in json.dumps(doc) else "192.0.2.1")  # type: ignore[arg-type]


def test_bootstrap_picks_the_most_specific_service_and_prefers_https() -> None:
    boot = parse_bootstrap(
        {
            "services": [
                [["0.0.0.0/0"], ["https://wide.example/rdap"]],
                [["192.0.2.0/24"], ["http://a.example/", "https://b.example/"]],
            ]
        },
        {"services": [[["2001:db8::/32"], ["https://v6.example/"]]]},
    )
    assert boot.base_urls("192.0.2.9") == ("https://b.example/", "http://a.example/")
    assert boot.base_urls("198.51.100.1") == ("https://wide.example/rdap/",)
    assert boot.base_urls("2001:db8::1") == ("https://v6.example/",)
    assert Bootstrap(()).base_urls("2001:db8::1") == ()
    assert ip_query_url("https://wide.example/rdap", "2001:0db8:0::1") == "https://wide.example/rdap/ip/2001:db8::1"
    for bad in ({"services": "nope"}, {"services": [["x"]]}, {"services": [[["not-a-net"], ["https://x/"]]]}):
        with pytest.raises(RdapError):
            parse_bootstrap(bad)


def test_owner_index_longest_prefix() -> None:
    from sipwarden.intel.owner_cache import CachedOwner
    from sipwarden.intel.ownership import Owner

    def row(net: str) -> CachedOwner:
        return CachedOwner(Owner(network=net, name=net), "h", "", "src", T0, T0)

    index = OwnerIndex([row("192.0.2.0/24"), row("192.0.2.128/25"), row("2001:db8::/32"), row("0.0.0.0/0")])
    assert index.find("192.0.2.200").owner.network == "192.0.2.128/25"  # type: ignore[union-attr]
    assert index.find("192.0.2.1").owner.network == "192.0.2.0/24"  # type: ignore[union-attr]
    assert index.find("::ffff:192.0.2.1").owner.network == "192.0.2.0/24"  # type: ignore[union-attr]
    assert index.find("198.51.100.1").owner.network == "0.0.0.0/0"  # type: ignore[union-attr]
    assert index.find("2001:db8:1::1").owner.network == "2001:db8::/32"  # type: ignore[union-attr]
    assert index.find("2001:db9::1") is None
    assert index.find("not an address") is None


# -- the refresher against a loopback RDAP server -----------------------------------------------------


@pytest.fixture
def rdap() -> Iterator[RdapFixture]:
    with rdap_server() as state:
        state.add(network_doc("192.0.2.0/24", "DOC-NET-1", country="NL", abuse="abuse@one.example", asn=64500))
        state.add(network_doc("198.51.100.0/24", "DOC-NET-2", country="DE", abuse="abuse@two.example", nested=False))
        state.add(network_doc("2001:db8::/32", "DOC-NET-V6", country="FR", abuse="abuse@six.example"))
        yield state


def refresher(store: Store, rdap: RdapFixture, **config: Any) -> RdapRefresher:
    cfg = RdapConfig(bootstrap_url=f"{rdap.base}/bootstrap/", interval_seconds=0.0, timeout_seconds=5.0)
    return RdapRefresher(StoreOwnership(store), dataclasses.replace(cfg, **config))


def test_refresh_fills_the_cache_and_the_cache_answers_afterwards(store: Store, rdap: RdapFixture) -> None:
    r = refresher(store, rdap)
    try:
        first = r.refresh(["192.0.2.10", "198.51.100.7", "2001:db8::1", "10.1.2.3", "junk"], T0)
        assert sorted(first.found) == ["192.0.2.10", "198.51.100.7", "2001:db8::1"]
        assert first.skipped == 2  # a private address and text that is no address are never asked
        assert rdap.requests["/bootstrap/ipv4.json"] == 1 and rdap.requests["/bootstrap/ipv6.json"] == 1
        # Same addresses again, and a neighbour in a cached network: no request at all.
        again = r.refresh(["192.0.2.10", "192.0.2.99", "198.51.100.7", "2001:db8::1"], T0 + timedelta(hours=1))
        assert again.looked_up == [] and again.cached == 4
        assert rdap.lookups("192.0.2.10") == 1 and rdap.lookups("192.0.2.99") == 0
    finally:
        r.close()
    owners = StoreOwnership(store)
    one = owners.lookup("192.0.2.99")
    assert one is not None
    assert (one.network, one.name, one.asn, one.country, one.abuse_email) == (
        "192.0.2.0/24",
        "DOC-NET-1",
        64500,
        "NL",
        "abuse@one.example",
    )
    six = owners.cached("2001:db8:ffff::1")
    assert six is not None and six.owner.abuse_email == "abuse@six.example"
    assert six.source == f"{rdap.base}/rdap/ip/2001:db8::1"
    assert six.expires_at == T0 + timedelta(days=30)
    assert owners.lookup("203.0.113.1") is None


def test_stale_entries_are_asked_again_and_updated(store: Store, rdap: RdapFixture) -> None:
    r = refresher(store, rdap, cache_days=1.0)
    try:
        r.refresh(["192.0.2.10"], T0)
        rdap.add(network_doc("192.0.2.0/24", "DOC-NET-1", country="NL", abuse="new-abuse@one.example"))
        assert r.refresh(["192.0.2.10"], T0 + timedelta(hours=23)).looked_up == []
        later = r.refresh(["192.0.2.10"], T0 + timedelta(days=1, minutes=1))
        assert later.found == ["192.0.2.10"]
    finally:
        r.close()
    owner = StoreOwnership(store).lookup("192.0.2.10")
    assert owner is not None and owner.abuse_email == "new-abuse@one.example"
    assert rdap.lookups("192.0.2.10") == 2


def test_unknown_and_failing_addresses_wait_before_they_are_asked_again(store: Store, rdap: RdapFixture) -> None:
    rdap.status_for["198.51.100.50"] = 500
    r = refresher(store, rdap, missing_retry_hours=48.0, error_retry_hours=2.0)
    try:
        first = r.refresh(["203.0.113.9", "198.51.100.50"], T0)
        assert first.missing == ["203.0.113.9"]
        assert "HTTP 500" in first.errors["198.51.100.50"]
        soon = r.refresh(["203.0.113.9", "198.51.100.50"], T0 + timedelta(hours=1))
        assert soon.looked_up == [] and soon.waiting == 2
        del rdap.status_for["198.51.100.50"]
        after_error_wait = r.refresh(["203.0.113.9", "198.51.100.50"], T0 + timedelta(hours=3))
        assert after_error_wait.found == ["198.51.100.50"] and after_error_wait.waiting == 1
        after_missing_wait = r.refresh(["203.0.113.9"], T0 + timedelta(hours=49))
        assert after_missing_wait.missing == ["203.0.113.9"]
    finally:
        r.close()
    assert rdap.lookups("203.0.113.9") == 2 and rdap.lookups("198.51.100.50") == 2
    outcome = StoreOwnership(store).outcomes(["203.0.113.9"])["203.0.113.9"]
    assert outcome.status == "missing" and outcome.retry_at == T0 + timedelta(hours=49 + 48)


def test_redirects_are_followed_and_oversized_answers_refused(store: Store, rdap: RdapFixture) -> None:
    rdap.redirect.add("198.51.100.9")
    rdap.raw_for["2001:db8::9"] = b"[" + b" " * (MAX_RDAP_BYTES + 10) + b"]"
    r = refresher(store, rdap)
    try:
        result = r.refresh(["198.51.100.9", "2001:db8::9"], T0)
    finally:
        r.close()
    assert result.found == ["198.51.100.9"]
    assert rdap.requests["/rir2/ip/198.51.100.9"] == 1
    assert "larger than" in result.errors["2001:db8::9"]
    cached = StoreOwnership(store).cached("198.51.100.9")
    assert cached is not None and cached.source.endswith("/rdap/ip/198.51.100.9")


def test_a_rate_limit_pauses_that_registry_for_the_run(store: Store, rdap: RdapFixture) -> None:
    rdap.status_for["192.0.2.1"] = 429  # with Retry-After: 120
    r = refresher(store, rdap)
    try:
        result = r.refresh(["192.0.2.1", "198.51.100.9", "2001:db8::9"], T0)
        assert "rate limited" in result.errors["192.0.2.1"] and "retry after 120 s" in result.errors["192.0.2.1"]
        # The same registry is asked nothing more in this run; the others wait for the next one.
        assert result.looked_up == ["192.0.2.1"] and result.deferred == 2
        assert rdap.lookups("198.51.100.9") == 0
    finally:
        r.close()
    outcome = StoreOwnership(store).outcomes(["192.0.2.1"])["192.0.2.1"]
    assert outcome.retry_at == T0 + timedelta(seconds=120)
    del rdap.status_for["192.0.2.1"]
    r = refresher(store, rdap)
    try:
        assert r.refresh(["192.0.2.1", "198.51.100.9"], T0 + timedelta(seconds=60)).found == ["198.51.100.9"]
        assert r.refresh(["192.0.2.1"], T0 + timedelta(seconds=121)).found == ["192.0.2.1"]
    finally:
        r.close()


def test_a_configured_base_url_skips_the_bootstrap_and_lookups_are_bounded(store: Store, rdap: RdapFixture) -> None:
    slept: list[float] = []
    cfg = RdapConfig(base_url=f"{rdap.base}/rdap", max_lookups=2, interval_seconds=0.5)
    r = RdapRefresher(StoreOwnership(store), cfg, sleep=slept.append)
    try:
        result = r.refresh(["192.0.2.1", "198.51.100.1", "2001:db8::1"], T0)
    finally:
        r.close()
    assert result.looked_up == ["192.0.2.1", "198.51.100.1"] and result.deferred == 1
    assert slept == [0.5]  # one pause between two queries, none before the first
    assert not any(path.startswith("/bootstrap") for path in rdap.requests)


def test_garbage_answers_are_errors_not_crashes(store: Store, rdap: RdapFixture) -> None:
    rdap.raw_for["192.0.2.1"] = b"<html>not json</html>"
    rdap.raw_for["192.0.2.2"] = json.dumps(network_doc("198.51.100.0/24", "WRONG")).encode()
    r = refresher(store, rdap)
    try:
        result = r.refresh(["192.0.2.1", "192.0.2.2"], T0)
    finally:
        r.close()
    assert "not JSON" in result.errors["192.0.2.1"]
    assert "does not hold" in result.errors["192.0.2.2"]
    assert StoreOwnership(store).lookup("192.0.2.1") is None


def test_a_missing_bootstrap_stops_the_run_with_one_clear_error(store: Store, rdap: RdapFixture) -> None:
    r = RdapRefresher(StoreOwnership(store), RdapConfig(bootstrap_url=f"{rdap.base}/nowhere/", interval_seconds=0))
    try:
        with pytest.raises(RdapError, match="bootstrap file not found"):
            r.refresh(["192.0.2.1"], T0)
    finally:
        r.close()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=30,
)
_KEYS = st.sampled_from(
    ["startAddress", "endAddress", "entities", "roles", "vcardArray", "name", "country", "handle", "objectClassName"]
)


@given(st.dictionaries(_KEYS, _JSON, max_size=9), st.sampled_from(["192.0.2.1", "2001:db8::1"]))
@settings(max_examples=300, deadline=None)
def test_any_json_is_a_network_or_an_rdap_error(doc: dict[str, object], ip: str) -> None:
    base = network_doc("192.0.2.0/24" if "." in ip else "2001:db8::/32", "FUZZ", abuse="a@example.net")
    for candidate in (doc, {**base, **doc}):
        try:
            net = parse_ip_network(candidate, ip)
        except RdapError:
            continue
        assert net.blocks and (net.abuse_email is None or "\n" not in net.abuse_email)


def test_deeply_nested_answers_are_errors(store: Store, rdap: RdapFixture) -> None:
    rdap.raw_for["192.0.2.3"] = b"[" * 200_000 + b"]" * 200_000
    r = refresher(store, rdap)
    try:
        result = r.refresh(["192.0.2.3"], T0)
    finally:
        r.close()
    assert "nests too deep" in result.errors["192.0.2.3"]
