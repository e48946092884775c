"""Checks of FreeSWITCH configuration: vars.xml and directory users.

Read line by line with small patterns rather than an XML parser: the files carry
`X-PRE-PROCESS` directives and `$${var}` references that are not plain XML semantics, and a
finding needs the line number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sipwarden.audit.findings import Finding, finding
from sipwarden.audit.secrets import Credential, secret_findings

_SET = re.compile(r'<X-PRE-PROCESS\s+cmd="set"\s+data="([^"=]+)=([^"]*)"', re.I)
_USER = re.compile(r'<user\b[^>]*\bid="([^"]+)"([^>]*)>', re.I)
_PARAM = re.compile(r'<(?:param|variable)\b[^>]*\bname="([^"]+)"[^>]*\bvalue="([^"]*)"', re.I)
_VAR = re.compile(r"\$\$\{([^}]+)\}")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(slots=True)
class FreeswitchConfig:
    """vars.xml variables (with their place) and directory files."""

    vars: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> (value, file, line)
    vars_file: str | None = None
    directory: list[Path] = field(default_factory=list)


def _lines_without_comments(text: str) -> list[str]:
    # Blank out comments but keep line numbers.
    return _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text).splitlines()


def read_vars(path: Path, cfg: FreeswitchConfig) -> None:
    """Collect `<X-PRE-PROCESS cmd="set" data="name=value"/>` lines of vars.xml."""
    cfg.vars_file = str(path)
    for lineno, line in enumerate(_lines_without_comments(path.read_text(encoding="utf-8", errors="replace")), 1):
        for m in _SET.finditer(line):
            cfg.vars[m.group(1).strip()] = (m.group(2), str(path), lineno)


def _expand(value: str, cfg: FreeswitchConfig) -> str:
    return _VAR.sub(lambda m: cfg.vars.get(m.group(1), (m.group(0), "", 0))[0], value)


def check_freeswitch(cfg: FreeswitchConfig) -> list[Finding]:
    """Every finding about one FreeSWITCH installation."""
    out: list[Finding] = []
    default = cfg.vars.get("default_password")
    if default and default[0] == "1234":
        out.append(finding("freeswitch-default-password", default[1], default[2],
                           "default_password=1234: every directory user without its own password has it",
                           "set default_password in vars.xml to a long random value, and give every user its own"))  # fmt: skip
    if cfg.vars_file:
        ssl = [v for k, v in cfg.vars.items() if k.endswith("_ssl_enable") or k.endswith("_tls_enable")]
        if not any(v[0].lower() == "true" for v in ssl):
            line = ssl[0][2] if ssl else 1
            out.append(finding("no-tls", cfg.vars_file, line, "no SIP profile has TLS enabled (internal_ssl_enable)",
                               "set internal_ssl_enable=true (and external) in vars.xml with a certificate"))  # fmt: skip
        srtp = cfg.vars.get("rtp_secure_media")
        if srtp is None or srtp[0].lower() not in {"true", "mandatory", "optional"}:
            out.append(finding("no-srtp", cfg.vars_file, srtp[2] if srtp else 1, "rtp_secure_media is not enabled",
                               "set rtp_secure_media=optional (or mandatory) in vars.xml"))  # fmt: skip
    creds: list[Credential] = []
    for path in cfg.directory:
        out += _check_directory(path, cfg, creds)
    skip_default = {"freeswitch-default-password"} if default and default[0] == "1234" else set()
    for f in secret_findings(creds):
        # Users on default_password=1234 are already covered by the default-password finding.
        if not (skip_default and f.message.startswith("password of user") and "(default_password)" in f.message):
            out.append(f)
    return out


def _check_directory(path: Path, cfg: FreeswitchConfig, creds: list[Credential]) -> list[Finding]:
    out = []
    user: tuple[str, int, bool] | None = None  # id, line, has ACL
    text = path.read_text(encoding="utf-8", errors="replace")
    for lineno, line in enumerate(_lines_without_comments(text), 1):
        m = _USER.search(line)
        if m:
            user = (m.group(1), lineno, "cidr=" in m.group(2))
        if user is not None:
            for p in _PARAM.finditer(line):
                name, value = p.group(1).lower(), p.group(2)
                if name == "password":
                    real = _expand(value, cfg)
                    via = " (default_password)" if "default_password" in value else ""
                    creds.append(Credential(f"user {user[0]}{via}", user[0], real, str(path), lineno, "password"))
                elif name == "auth-acl":
                    user = (user[0], user[1], True)
        if user is not None and re.search(r"</user>|<user\b[^>]*/>", line):
            if not user[2]:
                out.append(finding("account-without-acl", str(path), user[1],
                                   f"user {user[0]} may register from any address",
                                   'add <param name="auth-acl" value="<a network list>"/> or cidr= to the user'))  # fmt: skip
            user = None
    return out
