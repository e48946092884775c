"""The OPTIONS that real scanners send take the fast path (and still get recognised)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import ListSink

from .test_hp_real_tools import _sv, run_tool

pytestmark = pytest.mark.tools


@pytest.mark.parametrize(
    ("tool", "argv", "recognised"),
    [
        ("svmap", ["127.0.0.1"], "sipvicious/svmap"),
        ("svmap -c", ["127.0.0.1", "-c"], "sipvicious/svmap"),
        ("svwar -m OPTIONS", ["127.0.0.1", "-m", "OPTIONS", "-e", "100-102"], "sipvicious/svwar"),
        ("sipsak", [], "sipsak"),
    ],
)
async def test_scanner_options_take_the_fast_path(tmp_path: Path, tool: str, argv: list[str], recognised: str) -> None:
    sink = ListSink()
    honeypot = Honeypot(HoneypotSettings(listen=["udp:127.0.0.1:0"]), sink, data_dir=tmp_path)
    await honeypot.start()
    try:
        port = honeypot.listening[0].port
        if tool == "sipsak":
            if shutil.which("sipsak") is None:
                pytest.skip("sipsak is not installed")
            command = ["sipsak", "-s", f"sip:100@127.0.0.1:{port}"]
        else:
            command = [_sv(tool.split()[0]), *argv, "-p", str(port)]
        await run_tool(command, cwd=tmp_path)
    finally:
        await honeypot.stop()
    probes = [event for event in sink.events if event.method == "OPTIONS"]
    assert probes and {event.tool for event in probes} == {recognised}
    assert honeypot.fast.fast == sum(event.count for event in probes) and honeypot.fast.full == 0
