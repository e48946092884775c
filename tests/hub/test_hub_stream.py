"""The change stream (server-sent events): on SQLite by polling the change log, and across two
`sipwarden hub` processes on one PostgreSQL database by LISTEN/NOTIFY."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub_testkit import ATTACKER, ATTACKER2, Hub, event, free_port, serving
from tests.servekit import stop, wait_healthy

from sipwarden.events import Decision, utcnow
from sipwarden.hub.repo import HubRepo
from sipwarden.hub.settings import HubSettings
from sipwarden.store import Store

#: Bound on every wait in these tests (seconds); a healthy run needs well under one.
WAIT = 20.0


class SseReader:
    """Reads a stream on a thread and collects (event, data) pairs."""

    def __init__(self, url: str, key: str, since: int | None = None) -> None:
        self.items: list[tuple[str, dict[str, Any], int]] = []
        self.comments = 0
        self.error: Exception | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(WAIT, read=WAIT))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        params = {} if since is None else {"since": since}
        self._thread = threading.Thread(target=self._run, args=(url, key, params), daemon=True)
        self._thread.start()

    def _run(self, url: str, key: str, params: dict[str, Any]) -> None:
        try:
            self._read(url, key, params)
        except httpx.HTTPError as exc:  # the hub went away: an error unless the test stopped reading
            if not self._stop.is_set():
                self.error = exc

    def _read(self, url: str, key: str, params: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with (
            httpx.Client(timeout=httpx.Timeout(WAIT, read=WAIT)) as client,
            client.stream("GET", f"{url}/v1/stream", headers=headers, params=params) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    with self._cond:
                        self.comments += 1
                        self._cond.notify_all()
                elif line == "":
                    if "data" in fields:
                        with self._cond:
                            self.items.append((fields["event"], json.loads(fields["data"]), int(fields["id"])))
                            self._cond.notify_all()
                    fields = {}
                else:
                    name, _, value = line.partition(": ")
                    fields[name] = value

    def wait_for(self, count: int) -> list[tuple[str, dict[str, Any], int]]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.items) >= count, timeout=WAIT), f"got {self.items} {self.error}"
            return list(self.items)

    def wait_connected(self) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.comments >= 1, timeout=WAIT)

    def close(self) -> None:
        self._stop.set()
        self._client.close()
        self._thread.join(WAIT)


def test_stream_pushes_new_and_deleted_decisions_sqlite(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'stream.db'}")
    hub = Hub(store)
    with serving(hub.app) as url:
        reader = SseReader(url, hub.reader)
        reader.wait_connected()
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {hub.trusted}"}) as client:
            assert client.post("/v1/events", json=[event(ATTACKER)]).status_code == 202
            kind, data, seq = reader.wait_for(1)[0]
            assert kind == "new" and data["value"] == ATTACKER and data["origin"] == "hub"
            Decision.from_dict(data)  # the stream speaks the shared Decision record
            admin = {"Authorization": f"Bearer {hub.admin}"}
            assert (
                client.post(f"/v1/admin/delist/{ATTACKER}", params={"reason": "test"}, headers=admin).status_code == 200
            )
            kind, data, seq2 = reader.wait_for(2)[1]
            assert kind == "deleted" and data["value"] == ATTACKER and seq2 > seq
        # Resuming from a cursor replays what came after it.
        replay = SseReader(url, hub.reader, since=seq)
        assert replay.wait_for(1)[0][0] == "deleted"
        reader.close()
        replay.close()
    store.close()


@contextmanager
def hub_process(db: str, config: Path) -> Iterator[str]:
    """`sipwarden hub` as a separate process on a loopback port; yields its base URL."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "sipwarden",
        "hub",
        "--db",
        db,
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, 60)
        yield url
    finally:
        stop(proc, 20, 10)


@pytest.mark.postgres
def test_stream_fans_out_between_two_hub_processes_postgres(postgres_fresh_url: str, tmp_path: Path) -> None:
    # Polling every 60 s: an event that arrives in seconds came by NOTIFY, not by a poll.
    config = tmp_path / "hub.toml"
    config.write_text("[hub]\nstream_poll_seconds = 60\n")
    store = Store.open(postgres_fresh_url)
    repo = HubRepo(store, HubSettings())
    sensor, _ = repo.create_key("honeypot", "sensor", trusted=True, now=utcnow())
    reader_key, _ = repo.create_key("reader", "reader", trusted=False, now=utcnow())
    with hub_process(postgres_fresh_url, config) as url_a, hub_process(postgres_fresh_url, config) as url_b:
        reader = SseReader(url_a, reader_key)
        reader.wait_connected()
        time.sleep(0.5)  # the first wait of the stream has begun
        started = time.monotonic()
        response = httpx.post(
            f"{url_b}/v1/events",
            json=[event(ATTACKER), event(ATTACKER2)],
            headers={"Authorization": f"Bearer {sensor}"},
        )
        assert response.status_code == 202
        items = reader.wait_for(2)
        elapsed = time.monotonic() - started
        assert {data["value"] for _, data, _ in items} == {ATTACKER, ATTACKER2}
        assert elapsed < 30, elapsed  # far below the 60 s poll: it came by NOTIFY
        reader.close()
    store.close()
