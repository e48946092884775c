"""TLS for the honeypot's SIP-over-TLS listeners (RFC 3261 26.2.1, port 5061).

With no certificate configured a self-signed one is made, the way the imitated system's installer
makes its own: an RSA key, the persona's host name as CN and subjectAltName, the persona's
organisation, a server-auth leaf certificate. It is cached in the data directory per persona, so a
scanner sees the same certificate across restarts, as it would on a real PBX.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import ssl
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sipwarden.sensors.honeypot.personas import Persona

log = logging.getLogger(__name__)

#: A self-signed certificate lives this long: the CA/Browser Forum's former 825-day cap, a life
#: installers still pick; scanners do not check, and a long life avoids churn.
SELF_SIGNED_DAYS: Final = 825
#: RSA size: what Asterisk's ast_tls_cert and FreeSWITCH's gentls_cert make (and what a scanner
#: expects of a PBX; an EC key would stand out).
RSA_BITS: Final = 2048
#: Backdating of notBefore, so a client whose clock is a little behind still accepts it.
BACKDATE: Final = dt.timedelta(days=1)


class TlsSetupError(Exception):
    """TLS cannot be set up (missing or unreadable files); says what to do."""


def server_context(
    cert: str, key: str, *, directory: Path, persona: Persona | None = None, common_name: str = "pbx.local"
) -> ssl.SSLContext:
    """A server SSLContext from PEM `cert` and `key`, or a self-signed pair cached in `directory`.

    The self-signed certificate names `persona.tls_name` (or `common_name` without a persona).
    """
    if bool(cert) != bool(key):
        raise TlsSetupError("give both a TLS certificate and its key (tls_cert and tls_key)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # No TLS 1.3 session tickets: they arrive after the handshake, before any SIP, and clients with a
    # simple read loop (sipsak 0.9.8 over GnuTLS) take them for a failed read and give up. SIP
    # connections are long-lived, so resumption buys nothing here.
    context.num_tickets = 0
    if cert:
        _load(context, cert, key)
        return context
    name = persona.tls_name if persona is not None else common_name
    organisation = persona.tls_organisation if persona is not None else None
    stem = f"honeypot-{persona.name}" if persona is not None else "honeypot"
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    if not (cert_path.exists() and key_path.exists()):
        make_self_signed(cert_path, key_path, common_name=name, organisation=organisation)
    try:
        context.load_cert_chain(str(cert_path), str(key_path))
    except (OSError, ssl.SSLError) as exc:
        # A cached pair that no longer loads (truncated by a full disk, say) is ours to replace.
        log.warning("self-signed TLS certificate %s unusable (%s); making a new one", cert_path, exc)
        make_self_signed(cert_path, key_path, common_name=name, organisation=organisation)
        _load(context, str(cert_path), str(key_path))
    return context


def _load(context: ssl.SSLContext, cert: str, key: str) -> None:
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None


def self_signed_certificate(
    common_name: str, *, organisation: str | None = None, now: dt.datetime | None = None
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A self-signed server certificate for `common_name` (also its DNS subjectAltName) and its key."""
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    name = x509.Name(attributes)
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=SELF_SIGNED_DAYS))
        # RFC 5922 7.1: SIP clients match the domain against DNS subjectAltName entries first.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def make_self_signed(cert_path: Path, key_path: Path, *, common_name: str, organisation: str | None = None) -> None:
    """Write a self-signed certificate and its key (mode 0600) as PEM files."""
    certificate, key = self_signed_certificate(common_name, organisation=organisation)
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    # Created 0600 rather than chmod-ed after writing: the key is never readable by others.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    key_path.chmod(0o600)  # an existing file keeps its mode through O_CREAT
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
