"""Fixtures shared by every test directory.

`postgres_url` starts a throwaway PostgreSQL cluster (initdb + pg_ctl) on 127.0.0.1 for the whole
session; `postgres_fresh_url` gives each test its own empty database in it. Tests that use them are
marked `@pytest.mark.postgres`. `store` is a fresh store on each backend in turn (SQLite, then
PostgreSQL); directories with other needs define their own.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from sipwarden.store import Store

#: Seconds pg_ctl may take to start or stop the server; a cold start on a busy 2-core box takes ~2 s.
PG_START_TIMEOUT = 60
PG_SUPERUSER = "sipwarden"
_db_numbers = itertools.count(1)


def _pg_bindir() -> Path | None:
    """The newest PostgreSQL server binaries: Debian's /usr/lib/postgresql/N/bin, else pg_config."""
    candidates: list[Path] = []
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)], reverse=True)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    for path in ("initdb", "pg_ctl"):
        found = shutil.which(path)
        if found:
            candidates.append(Path(found).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: pick an unprivileged system user when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise RuntimeError("running as root, and neither a 'postgres' nor a 'nobody' user exists")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL (postgresql://...) of a database on a throwaway PostgreSQL server on 127.0.0.1."""
    bindir = _pg_bindir()
    if bindir is None:
        message = "PostgreSQL server binaries not found (Debian package 'postgresql'; make system-deps)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    user = _server_user()
    # Not under pytest's tmp dir: that is mode 0700 for root, which the server user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="sipwarden-pg-"))
    data, sockets, logfile = base / "data", base / "run", base / "server.log"
    sockets.mkdir()
    prefix: list[str] = []
    if user is not None:
        shutil.chown(base, user)
        shutil.chown(sockets, user)
        prefix = ["runuser", "-u", user, "--"]
    port = _free_port()

    def run(*argv: str) -> None:
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=PG_START_TIMEOUT, cwd=base)

    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", PG_SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync")
        # fsync=off: the tests kill clients, never the server, so the OS cache is durable enough and
        # much faster. Unix sockets go to our own directory, not /var/run/postgresql.
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets} -c fsync=off"
        run(
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(logfile),
            "-o",
            options,
            "-w",
            "-t",
            str(PG_START_TIMEOUT),
            "start",
        )
    except subprocess.CalledProcessError as exc:
        log = logfile.read_text(errors="replace") if logfile.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}\n{log}")
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={port} user={PG_SUPERUSER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE sipwarden_test")
        yield f"postgresql://{PG_SUPERUSER}@127.0.0.1:{port}/sipwarden_test"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=PG_START_TIMEOUT,
            check=False,
            cwd=base,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_fresh_url(postgres_url: str) -> str:
    """URL of a new, empty database on the session's PostgreSQL server (one per test)."""
    server, _, _ = postgres_url.rpartition("/")
    name = f"sipwarden_t{os.getpid()}_{next(_db_numbers)}"
    host_port = server.split("@", 1)[1]
    host, _, port = host_port.partition(":")
    with psycopg.connect(f"host={host} port={port} user={PG_SUPERUSER} dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store: SQLite in the test's directory, then a fresh real PostgreSQL database."""
    url = (
        f"sqlite:///{tmp_path / 'store.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_fresh_url")
    )
    opened = Store.open(url)
    yield opened
    opened.close()
