"""Real clients against the nonce checks: SIPp gets stale=true after waiting past the nonce lifetime,
and SIPVicious svcrack still cracks 100/100, in its usual mode and when it reuses one nonce (-n).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .test_hp_real_tools import _free_port_both, _start, _stop, _sv, run_tool

pytestmark = pytest.mark.tools

SCENARIO = Path(__file__).parent / "scenarios" / "uac_stale_nonce.xml"


async def test_sipp_waiting_past_the_nonce_lifetime_gets_stale_then_registers(tmp_path: Path) -> None:
    if shutil.which("sipp") is None:
        pytest.skip("sipp (sip-tester) is not installed")
    running = await _start(tmp_path, nonce_seconds=1.0)
    try:
        argv = [
            "sipp", "-sf", str(SCENARIO), "-s", "100", "-au", "100", "-ap", "100", "-m", "1",
            "-i", "127.0.0.1", "-p", str(_free_port_both()), "-timeout", "30s", "-nostdin", "-trace_err",
            f"127.0.0.1:{running.port}",
        ]  # fmt: skip
        rc, out = await run_tool(argv, cwd=tmp_path, timeout=60)
        assert rc == 0, out  # the scenario itself checks stale=TRUE in the second 401
        assert running.honeypot.core.policy.cracked() == {"100": "100"}
    finally:
        await _stop(running)
    (stale,) = running.events("auth_failure")
    assert (stale.username, stale.password, stale.detail["nonce"], stale.tool) == ("100", "100", "stale", "sipp")
    (success,) = running.events("auth_success")
    assert success.username == "100"


@pytest.mark.parametrize("reuse", [False, True], ids=["fresh-nonces", "reused-nonce"])
async def test_svcrack_still_cracks_100_after_99_misses(tmp_path: Path, reuse: bool) -> None:
    # svcrack answers each 401 with one guess on its nonce; with -n it sends every guess on the first
    # nonce, so the lifetime (default 300 s) must outlast its run. A dictionary (unlike -r) does not
    # start with the user name, so 99 wrong guesses come before the right one.
    words = tmp_path / "words.txt"
    words.write_text("".join(f"{n}\n" for n in range(1, 101)))
    running = await _start(tmp_path)
    try:
        argv = [_sv("svcrack"), "-u", "100", "-d", str(words), "-p", str(running.port), "127.0.0.1"]
        _, out = await run_tool([*argv, "-n"] if reuse else argv, cwd=tmp_path)
        assert any(line.replace(" ", "") == "|100|100|" for line in out.splitlines()), out
        failures = running.events("auth_failure")
        (success,) = running.events("auth_success")
    finally:
        await _stop(running)
    assert (success.username, success.password, success.tool) == ("100", "100", "sipvicious/svcrack")
    assert sorted(int(e.password or 0) for e in failures) == list(range(1, 100))
    assert all("nonce" not in e.detail for e in failures)  # no guess was refused for its nonce
