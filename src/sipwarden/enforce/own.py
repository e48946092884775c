"""The machine's own addresses (never banned): loopback plus every address on its interfaces."""

from __future__ import annotations

import json
import logging

from sipwarden.enforce.backend import EnforceError, Runner

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.0/8", "::1/128")


def own_addresses(runner: Runner | None = None) -> list[str]:
    """Loopback and the addresses of every interface (from `ip -j addr`); loopback only if `ip` fails."""
    out = list(LOOPBACK)
    try:
        data = json.loads((runner or Runner()).run(["ip", "-j", "addr", "show"]))
    except (EnforceError, ValueError) as exc:
        log.warning("cannot read this machine's addresses (%s); only loopback is protected", exc)
        return out
    for link in data:
        for info in link.get("addr_info", []):
            if info.get("local"):
                out.append(str(info["local"]))
    return out
