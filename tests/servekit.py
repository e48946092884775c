"""Serve an ASGI app for a test: uvicorn in a thread on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` on a free 127.0.0.1 port in a thread; yield its base URL (no trailing slash)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def wait_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float = 30) -> None:
    """Wait until the server process `proc` answers 200 on `url`/health-check; fail with its output if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise AssertionError(f"the server exited ({proc.returncode}): {out}")
        try:
            if httpx.get(f"{url}/health-check", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer {url}/health-check in {timeout:g} s")


def stop(proc: subprocess.Popen[bytes], grace: float, kill_wait: float) -> None:
    """SIGTERM `proc`, wait `grace` seconds for it to exit, then SIGKILL and wait `kill_wait`."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(kill_wait)
