"""TLS for the honeypot's SIP-over-TLS listeners (RFC 3261 26.2.1, port 5061)."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import ssl
from pathlib import Path
from typing import Final

#: A self-signed certificate lives this long; scanners do not check, and a long life avoids churn.
SELF_SIGNED_DAYS: Final = 825


class TlsSetupError(Exception):
    """TLS cannot be set up (missing files, or no way to make a certificate); says what to do."""


def server_context(cert: str, key: str, *, directory: Path, common_name: str = "pbx.local") -> ssl.SSLContext:
    """A server SSLContext from PEM `cert` and `key`, or a self-signed pair made in `directory`."""
    if bool(cert) != bool(key):
        raise TlsSetupError("give both a TLS certificate and its key (tls_cert and tls_key)")
    if not cert:
        cert_path, key_path = directory / "honeypot-cert.pem", directory / "honeypot-key.pem"
        if not (cert_path.exists() and key_path.exists()):
            make_self_signed(cert_path, key_path, common_name=common_name)
        cert, key = str(cert_path), str(key_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    return context


def make_self_signed(cert_path: Path, key_path: Path, *, common_name: str) -> None:
    """Write a self-signed certificate and key; needs the optional `cryptography` package."""
    if importlib.util.find_spec("cryptography") is None:
        raise TlsSetupError(
            "a tls listener needs --tls-cert and --tls-key (or [honeypot] tls_cert/tls_key); "
            "install the 'cryptography' package to have a self-signed certificate made instead"
        )
    # Imported by name: the package is optional, so type checkers must not require it.
    x509 = importlib.import_module("cryptography.x509")
    hashes = importlib.import_module("cryptography.hazmat.primitives.hashes")
    serialization = importlib.import_module("cryptography.hazmat.primitives.serialization")
    ec = importlib.import_module("cryptography.hazmat.primitives.asymmetric.ec")
    name_oid = importlib.import_module("cryptography.x509.oid").NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(name_oid.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        .sign(key, hashes.SHA256())
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
