"""Real attack tools and SIP clients against the honeypot on loopback (SIPVicious, SIPp, sipsak).

The honeypot runs in the test's event loop and writes to a real SQLite store; every tool is a
subprocess with a timeout, and every assertion reads what the store holds.
"""

from __future__ import annotations

import array
import asyncio
import shutil
import socket
import sys
import wave
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipwarden.events import Event
from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import FanoutSink
from sipwarden.store import EventWriter, Store

pytestmark = pytest.mark.tools

BIN = Path(sys.executable).parent
SCENARIO = Path(__file__).parent / "scenarios" / "uac_auth_pcap.xml"
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
#: Seconds any one tool may run; a hung tool fails the test instead of hanging the suite.
TOOL_TIMEOUT = 90.0


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _free_port_both() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        port = _free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


@dataclass
class Running:
    honeypot: Honeypot
    store: Store
    writer: EventWriter
    port: int
    data_dir: Path

    def events(self, kind: str | None = None) -> list[Event]:
        self.writer.flush()
        return self.store.events(kind=kind, limit=10_000)


async def _start(tmp_path: Path, **settings: object) -> Running:
    store = Store.open(f"sqlite:///{tmp_path / 'hp.db'}")
    writer = EventWriter(store)
    port = _free_port_both()
    rtp = _free_port()
    rtp = min(rtp, 65000)
    hp_settings = HoneypotSettings(rtp_ports=f"{rtp}-{rtp + 40}", aggregate_seconds=0, **settings)  # type: ignore[arg-type]
    honeypot = Honeypot(
        hp_settings,
        FanoutSink([writer]),
        sensor="t",
        data_dir=tmp_path,
        listen=[f"udp:127.0.0.1:{port}", f"tcp:127.0.0.1:{port}"],
    )
    await honeypot.start()
    return Running(honeypot, store, writer, port, tmp_path)


async def _stop(running: Running) -> None:
    await running.honeypot.stop()
    running.writer.close()
    running.store.close()


@pytest.fixture
async def hp(tmp_path: Path) -> AsyncIterator[Running]:
    running = await _start(tmp_path)
    try:
        yield running
    finally:
        await _stop(running)


async def run_tool(argv: Sequence[str], *, cwd: Path, timeout: float = TOOL_TIMEOUT) -> tuple[int, str]:
    """Run a tool while the honeypot keeps serving in this loop; (exit status, stdout+stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{argv[0]} did not finish within {timeout}s") from None
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def _sv(name: str) -> str:
    path = BIN / f"sipvicious_{name}"
    if not path.exists():
        pytest.skip(f"sipvicious_{name} is not installed")
    return str(path)


async def test_svmap_finds_the_honeypot_as_freepbx(hp: Running) -> None:
    _, out = await run_tool([_sv("svmap"), "127.0.0.1", "-p", str(hp.port)], cwd=hp.data_dir)
    assert f"127.0.0.1:{hp.port}" in out and "FPBX-16.0.33(18.13.0)" in out, out
    (probe,) = hp.events("probe")
    assert (probe.tool, probe.method, probe.transport) == ("sipvicious/svmap", "OPTIONS", "udp")


async def test_svwar_sees_the_bait_accounts_as_requiring_auth(hp: Running) -> None:
    _, out = await run_tool([_sv("svwar"), "-e100-110", "-p", str(hp.port), "127.0.0.1"], cwd=hp.data_dir)
    rows = {
        line.split("|")[1].strip(): line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| 1")
    }
    assert rows == {str(n): "reqauth" for n in range(100, 111)}, out
    registers = hp.events("register")
    assert sorted(int(e.username or 0) for e in registers) == list(range(100, 111))
    assert {e.tool for e in registers} == {"sipvicious/svwar"}
    # svwar first checks how the server answers a random extension: the 404 tells it users can be enumerated.
    assert [e.tool for e in hp.events("unknown_user")] == ["sipvicious/svwar"]


async def test_svcrack_cracks_100_with_its_own_number(hp: Running) -> None:
    _, out = await run_tool(
        [_sv("svcrack"), "-u", "100", "-r", "90-110", "-p", str(hp.port), "127.0.0.1"], cwd=hp.data_dir
    )
    assert any(line.replace(" ", "") == "|100|100|" for line in out.splitlines()), out
    (success,) = hp.events("auth_success")
    assert (success.username, success.password, success.tool) == ("100", "100", "sipvicious/svcrack")
    assert hp.honeypot.core.policy.cracked() == {"100": "100"}


async def test_svcrack_wrong_guesses_are_each_recorded_with_their_password(tmp_path: Path) -> None:
    # svcrack tries the user name first; an account whose password is further in the range shows every miss.
    running = await _start(tmp_path, accept_own_number=False, weak_passwords=["105"])
    try:
        _, out = await run_tool(
            [_sv("svcrack"), "-u", "101", "-r", "90-110", "-p", str(running.port), "127.0.0.1"], cwd=tmp_path
        )
        assert any(line.replace(" ", "") == "|101|105|" for line in out.splitlines()), out
        failures = running.events("auth_failure")
        assert sorted(e.password or "?" for e in failures) == sorted(["101", *(str(n) for n in range(90, 105))])
        assert {e.detail.get("recovered_by") for e in failures} == {"tool_tag"}
        assert sum(e.count for e in failures) == len(failures)
        (success,) = running.events("auth_success")
        assert (success.username, success.password) == ("101", "105")
    finally:
        await _stop(running)


async def _sipp_call(hp: Running, *transport: str) -> tuple[int, str]:
    if shutil.which("sipp") is None or not PCAP.exists():
        pytest.skip("sipp (sip-tester) with its sample pcap is not installed")
    argv = [
        "sipp", "-sf", str(SCENARIO), "-s", "9011441234567890", "-au", "100", "-ap", "100",
        "-m", "1", "-i", "127.0.0.1", "-p", str(_free_port_both()), "-mi", "127.0.0.1", "-mp", str(_free_port()),
        "-timeout", "40s", "-nostdin", "-trace_err", *transport, f"127.0.0.1:{hp.port}",
    ]  # fmt: skip
    return await run_tool(argv, cwd=hp.data_dir)


def _assert_call_recorded(hp: Running, transport: str) -> None:
    (attempt,) = hp.events("call_attempt")
    assert (attempt.target, attempt.target_e164, attempt.target_country) == ("9011441234567890", "+441234567890", "GB")
    assert attempt.tool == "sipp" and attempt.transport == transport
    (answered,) = hp.events("call_answered")
    assert answered.username == "100" and answered.detail["codec"] == "PCMA"
    (ended,) = hp.events("call_ended")
    assert ended.detail["reason"] == "bye"
    (dtmf,) = hp.events("dtmf")
    assert dtmf.detail["digit"] == "1" and dtmf.username == "100"
    (recording,) = hp.events("recording")
    assert recording.detail["digits"] == "1"
    path = Path(recording.detail["path"])
    assert path.parent == hp.data_dir / "recordings"
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 2, 1)
        seconds = wav.getnframes() / 8000
        samples = array.array("h", wav.readframes(wav.getnframes()))
    # g711a.pcap holds 236 packets of 30 ms: about 7 seconds of speech.
    assert 5.0 <= seconds <= 7.5, seconds
    assert recording.detail["seconds"] == pytest.approx(seconds, abs=0.01)
    rms = (sum(s * s for s in samples) / len(samples)) ** 0.5
    assert rms > 300, f"recording is silent (rms {rms:.0f})"


async def test_sipp_call_with_cracked_account_over_udp_is_recorded(hp: Running) -> None:
    rc, out = await _sipp_call(hp)
    assert rc == 0, out
    _assert_call_recorded(hp, "udp")


async def test_sipp_call_over_tcp_is_recorded(hp: Running) -> None:
    rc, out = await _sipp_call(hp, "-t", "t1")
    assert rc == 0, out
    _assert_call_recorded(hp, "tcp")


async def test_sipsak_probes_are_answered(hp: Running) -> None:
    if shutil.which("sipsak") is None:
        pytest.skip("sipsak is not installed")
    uri = f"sip:100@127.0.0.1:{hp.port}"
    rc, out = await run_tool(["sipsak", "-vv", "-s", uri], cwd=hp.data_dir, timeout=30)
    assert rc == 0 and "SIP/2.0 200 OK" in out, out
    rc, out = await run_tool(["sipsak", "-vv", "--transport", "tcp", "-s", uri], cwd=hp.data_dir, timeout=30)
    assert rc == 0 and "SIP/2.0 200 OK" in out, out
    probes = hp.events("probe")
    assert [(e.tool, e.transport) for e in probes] == [("sipsak", "udp"), ("sipsak", "tcp")]
