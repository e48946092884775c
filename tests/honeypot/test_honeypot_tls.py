"""SIP over TLS with the self-signed certificate the honeypot makes: what it looks like, that it is
cached, and that real TLS clients (Python's ssl, sipsak) get OPTIONS answered with it on loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import shutil
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sipwarden.sensors.honeypot.personas import PERSONAS
from sipwarden.sensors.honeypot.server import Honeypot
from sipwarden.sensors.honeypot.settings import HoneypotSettings
from sipwarden.sensors.honeypot.sinks import ListSink
from sipwarden.sensors.honeypot.tls import SELF_SIGNED_DAYS, TlsSetupError, self_signed_certificate, server_context

from .helpers import sip_request
from .test_hp_real_tools import run_tool

TIMEOUT = 10.0


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_the_certificate_looks_like_the_pbxs_own() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate, key = self_signed_certificate("freepbx.sangoma.local", organisation="Sangoma", now=now)
    subject = certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "freepbx.sangoma.local"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Sangoma"
    assert certificate.issuer == subject  # self-signed
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["freepbx.sangoma.local"]
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert certificate.not_valid_before_utc == now - dt.timedelta(days=1)
    assert certificate.not_valid_after_utc == now + dt.timedelta(days=SELF_SIGNED_DAYS)
    other, _ = self_signed_certificate("freepbx.sangoma.local", now=now)
    assert other.serial_number != certificate.serial_number  # random serials, not a fingerprint


async def _options_over_tls(port: int, context: ssl.SSLContext, server_hostname: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context, server_hostname=server_hostname)
    try:
        writer.write(sip_request("OPTIONS", call_id="tls-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    finally:
        writer.close()


def _tls_port(hp: Honeypot) -> int:
    return next(item.port for item in hp.listening if item.transport == "tls")


@pytest.mark.parametrize("persona", ["asterisk", "freeswitch"])
async def test_a_verifying_tls_client_gets_options_answered_with_the_generated_certificate(
    tmp_path: Path, persona: str
) -> None:
    sink = ListSink()
    settings = HoneypotSettings(persona=persona, aggregate_seconds=0)
    async with Honeypot(settings, sink, data_dir=tmp_path, listen=["tls:127.0.0.1:0"]) as hp:
        cert = tmp_path / f"honeypot-{persona}-cert.pem"
        key = tmp_path / f"honeypot-{persona}-key.pem"
        assert cert.exists() and key.stat().st_mode & 0o777 == 0o600
        name = PERSONAS[persona].tls_name
        # Full verification: the chain (the certificate is its own CA) and the host name (SAN).
        context = ssl.create_default_context(cafile=str(cert))
        data = await _options_over_tls(_tls_port(hp), context, name)
    assert data.startswith(b"SIP/2.0 200 OK")
    assert PERSONAS[persona].agent.encode() in data
    assert _load(cert).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == name
    assert [(e.kind, e.transport) for e in sink.events] == [("probe", "tls")]


async def test_the_certificate_is_kept_across_restarts(tmp_path: Path) -> None:
    settings = HoneypotSettings()
    async with Honeypot(settings, ListSink(), data_dir=tmp_path, listen=["tls:127.0.0.1:0"]):
        first = (tmp_path / "honeypot-asterisk-cert.pem").read_bytes()
    async with Honeypot(settings, ListSink(), data_dir=tmp_path, listen=["tls:127.0.0.1:0"]) as hp:
        assert (tmp_path / "honeypot-asterisk-cert.pem").read_bytes() == first
        context = ssl.create_default_context(cafile=str(tmp_path / "honeypot-asterisk-cert.pem"))
        assert (await _options_over_tls(_tls_port(hp), context, "freepbx.sangoma.local")).startswith(b"SIP/2.0 200")


def test_a_broken_cached_certificate_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    persona = PERSONAS["asterisk"]
    server_context("", "", directory=tmp_path, persona=persona)
    cert = tmp_path / "honeypot-asterisk-cert.pem"
    cert.write_bytes(cert.read_bytes()[:100])  # truncated, as by a full disk
    with caplog.at_level(logging.WARNING):
        server_context("", "", directory=tmp_path, persona=persona)
    assert "making a new one" in caplog.text
    assert _load(cert).subject.rfc4514_string() == "CN=freepbx.sangoma.local"


def test_a_configured_certificate_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(TlsSetupError, match="both"):
        server_context(str(tmp_path / "cert.pem"), "", directory=tmp_path)
    with pytest.raises(TlsSetupError, match="cannot load"):
        server_context(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"), directory=tmp_path)


def _free_four_digit_port() -> int:
    """A free TCP port below 10000 on 127.0.0.1: sipsak 0.9.8 cuts the port of a TLS URI to four digits."""
    for port in random.sample(range(5100, 10000), 50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 10000")


@pytest.mark.tools
async def test_sipsak_over_tls_gets_options_answered(tmp_path: Path) -> None:
    if shutil.which("sipsak") is None:
        pytest.skip("sipsak is not installed")
    sink = ListSink()
    port = _free_four_digit_port()
    async with Honeypot(HoneypotSettings(), sink, data_dir=tmp_path, listen=[f"tls:127.0.0.1:{port}"]):
        # sipsak matches the certificate against "host:port", which no certificate can name, so its
        # verification is off here; the Python client above verifies chain and host name.
        argv = ["sipsak", "-vvv", "--transport", "tls", "--tls-ignore-cert-failure", "-s", f"sip:100@127.0.0.1:{port}"]
        rc, out = await run_tool(argv, cwd=tmp_path, timeout=30)
    assert rc == 0 and "SIP/2.0 200 OK" in out, out
    assert "DN: CN=freepbx.sangoma.local" in out, out  # it was shown the generated certificate
    assert [(e.tool, e.transport) for e in sink.events] == [("sipsak", "tls")]
