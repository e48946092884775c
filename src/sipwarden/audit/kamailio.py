"""Basic checks of Kamailio and OpenSIPS routing scripts: authentication, flood limit, TLS.

Kamailio's stock kamailio.cfg enables features with `#!define WITH_AUTH` and guards them with
`#!ifdef`; the reader evaluates those guards, so a feature present only in a disabled block counts
as absent.
"""

from __future__ import annotations

import re
from pathlib import Path

from sipwarden.audit.findings import Finding, finding

_DEFINE = re.compile(r"^\s*#!(define|trydef|redefine)\s+(\w+)")
_IF = re.compile(r"^\s*#!(ifdef|ifndef)\s+(\w+)")
_AUTH = re.compile(
    r"\b(auth_check|www_authorize|proxy_authorize|pv_www_authorize|pv_proxy_authorize|auth_challenge)\s*\("
)
_PIKE = re.compile(r"\b(pike_check_req|ratelimit|rl_check)\s*\(")
_TLS = re.compile(
    r"^\s*(listen|socket)\s*=\s*tls:|^\s*enable_tls\s*=\s*(yes|1|true)|loadmodule\s+\"(tls|proto_tls)\.so\"", re.I
)


def active_lines(text: str) -> list[tuple[int, str]]:
    """Lines outside disabled `#!ifdef` blocks and without `#`/`//` comments, with numbers."""
    defines: set[str] = set()
    stack: list[bool] = []
    out = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if m := _IF.match(line):
            on = (m.group(2) in defines) == (m.group(1) == "ifdef")
            stack.append(on and all(stack))
            continue
        if line.startswith("#!else"):
            if stack:
                stack[-1] = not stack[-1] and all(stack[:-1])
            continue
        if line.startswith("#!endif"):
            if stack:
                stack.pop()
            continue
        if stack and not stack[-1]:
            continue
        if m := _DEFINE.match(line):
            defines.add(m.group(2))
            continue
        if line.startswith(("#", "//")):
            continue
        out.append((lineno, line))
    return out


def check_proxy(path: Path) -> list[Finding]:
    """Findings for one kamailio.cfg / opensips.cfg."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = active_lines(text)
    name = "OpenSIPS" if "opensips" in path.name.lower() or "opensips" in text[:2000].lower() else "Kamailio"
    out = []
    if not any(_AUTH.search(line) for _, line in lines):
        fix = "enable #!define WITH_AUTH (Kamailio) or call www_authorize/proxy_authorize before relaying"
        out.append(
            finding("proxy-without-auth", str(path), 1, f"{name} relays requests without authenticating callers", fix)
        )
    if not any(_PIKE.search(line) for _, line in lines):
        fix = "enable #!define WITH_ANTIFLOOD (pike) or call pike_check_req() at the top of request_route"
        out.append(finding("proxy-without-flood-limit", str(path), 1, f"{name} has no per-source flood limit", fix))
    if not any(_TLS.search(line) for _, line in lines):
        fix = "enable #!define WITH_TLS / add listen=tls:IP:5061 with the tls module"
        out.append(finding("no-tls", str(path), 1, f"{name} has no TLS listener", fix))
    return out
