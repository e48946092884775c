"""bench/servers.py: the servers' command lines and configuration stay valid for the real programs."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from bench.servers import HONEYPOT_BENCH_SETTINGS, HoneypotServer, KamailioServer, write_toml

from sipwarden.config import load_settings


def test_write_toml_is_read_back_by_tomllib(tmp_path: Path) -> None:
    sections = {"general": {"data_dir": str(tmp_path / 'a "quoted" dir')}, "honeypot": {"rate_burst": 5, "x": 1.5}}
    path = write_toml(tmp_path / "c.toml", sections)
    assert tomllib.loads(path.read_text()) == sections


def test_honeypot_bench_config_is_valid_and_lifts_the_reply_limit(tmp_path: Path) -> None:
    server = HoneypotServer(tmp_path, 5999)
    argv = server.argv()
    assert argv[1:6] == ["honeypot", "--listen", "udp:127.0.0.1:5999", "--db", f"sqlite:///{tmp_path / 'bench.db'}"]
    # The file the benchmark writes is what sipwarden itself validates: a renamed key fails here.
    settings = load_settings(Path(argv[argv.index("--config") + 1]))
    assert settings.honeypot.rate_per_source == HONEYPOT_BENCH_SETTINGS["honeypot"]["rate_per_source"]
    assert settings.honeypot.rate_burst == HONEYPOT_BENCH_SETTINGS["honeypot"]["rate_burst"]
    assert settings.general.data_dir == tmp_path


@pytest.mark.tools
def test_kamailio_accepts_the_options_config(tmp_path: Path) -> None:
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        pytest.skip("kamailio is not installed (scripts/install-system-deps.sh)")
    argv = KamailioServer(tmp_path, 5999).argv()
    assert argv[argv.index("-f") + 1].endswith("bench/kamailio/options.cfg")
    # -c: parse the configuration (modules, routes, listen address) and exit.
    check = subprocess.run(["kamailio", "-c", *argv[1:5]], capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stderr
