"""The change log is pruned after `[hub] change_log_days`; a cursor older than what is kept gets
410 Gone (delta and stream), and the in-memory check index reads the whole list again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from hub_testkit import ATTACKER, ATTACKER2, ATTACKER6, Hub, event

from sipwarden.events import utcnow
from sipwarden.hub.lookup import HubIndex, address_key
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.service import HubService
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store


@pytest.fixture
def hub(store: Store) -> Iterator[Hub]:
    with Hub(store) as h:
        yield h


def cursor_after(hub: Hub, since: int = 0) -> int:
    response = hub.get(f"/v1/blocklist?format=json&since={since}", hub.reader)
    assert response.status_code == 200, response.text
    return int(response.json()["cursor"])


def test_pruning_forgets_old_changes_but_keeps_the_newest(hub: Hub) -> None:
    repo = hub.repo
    assert repo.prune_changes(utcnow() + timedelta(days=1)) == 0  # an empty log
    for ip in (ATTACKER, ATTACKER2, ATTACKER6):
        hub.submit(hub.trusted, event(ip))
    head = repo.head()
    assert repo.prune_changes(utcnow() - timedelta(days=1)) == 0  # nothing that old
    assert repo.pruned_through() == 0
    assert repo.prune_changes(utcnow() + timedelta(days=1)) == 2  # all but the newest
    assert repo.head() == head and repo.pruned_through() == head - 1
    assert [c.ip for c, _ in repo.changes(0)] == [ATTACKER6]
    assert repo.prune_changes(utcnow() + timedelta(days=1)) == 0  # the newest stays
    assert repo.pruned_through() == head - 1


def test_an_old_cursor_gets_410_and_a_current_one_goes_on(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    old = cursor_after(hub)
    hub.submit(hub.trusted, event(ATTACKER2))
    hub.submit(hub.trusted, event(ATTACKER6))
    current = cursor_after(hub, old)
    hub.repo.prune_changes(utcnow() + timedelta(seconds=1))
    gone = hub.get(f"/v1/blocklist?format=json&since={old}", hub.reader)
    assert gone.status_code == 410 and "whole list" in gone.json()["detail"]
    assert hub.get(f"/v1/stream?since={old}", hub.reader).status_code == 410
    assert hub.get("/v1/stream", hub.reader, headers={"Last-Event-ID": str(old)}).status_code == 410
    # The cursor of the newest change is still good, and so is the whole list with its cursor.
    assert cursor_after(hub, current) == current
    whole = hub.get("/v1/blocklist?format=json", hub.reader)
    assert sorted(a["ip"] for a in whole.json()["addresses"]) == sorted([ATTACKER, ATTACKER2, ATTACKER6])
    assert int(whole.headers["X-Sipwarden-Cursor"]) == current


def test_the_hub_prunes_what_is_older_than_change_log_days(store: Store) -> None:
    settings = HubSettings(change_log_days=30)
    with Hub(store, settings) as hub:
        hub.submit(hub.trusted, event(ATTACKER))
        old = cursor_after(hub)
        svc = HubService(store, settings)
        later = utcnow() + timedelta(days=31)
        assert svc.sweep(later, force=True) == 1  # the listing expired: one more change, at `later`
        assert hub.repo.pruned_through() == old
        # A client at `old` has seen every forgotten change and goes on; one from before has not.
        assert cursor_after(hub, old) == old + 1
        assert hub.get("/v1/blocklist?format=json&since=0", hub.reader).status_code == 410
        assert [c.op for c in (change for change, _ in hub.repo.changes(old))] == ["del"]


def test_the_check_index_reads_the_whole_list_when_it_fell_behind_the_log(hub: Hub) -> None:
    hub.submit(hub.trusted, event(ATTACKER))
    index = HubIndex(HubRepo(hub.store, hub.settings))
    index.load(utcnow())
    assert index.lookup(address_key(ATTACKER) or 0)[1]
    # Changes this index never applied, then forgotten (as if its process had stalled for weeks).
    index.cursor = 0
    hub.submit(hub.trusted, event(ATTACKER2))
    hub.post(f"/v1/admin/delist/{ATTACKER}", hub.admin, params={"reason": "test"})
    hub.submit(hub.trusted, event(ATTACKER6))
    hub.repo.prune_changes(utcnow() + timedelta(seconds=1))
    assert index.refresh(utcnow(), full=True) == 0  # nothing left to apply: it reloaded instead
    assert not index.lookup(address_key(ATTACKER) or 0)[1]
    assert index.lookup(address_key(ATTACKER2) or 0)[1] and index.lookup(address_key(ATTACKER6) or 0)[1]
    assert index.cursor == hub.repo.head()
