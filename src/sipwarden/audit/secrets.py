"""How weak a SIP secret is: equal to the account, common, digits only, short, reused."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sipwarden.audit.findings import Finding, Severity, finding
from sipwarden.sip.digest import TOP_PASSWORDS

#: Shortest secret not reported. NIST SP 800-63B asks at least 8 for user-chosen passwords; SIP
#: secrets are machine-entered and attacked online at thousands of guesses a second by svcrack, so
#: the audit asks for 12 (what FreePBX's generated secrets and most hardening guides use or exceed).
MIN_SECRET_LENGTH: Final = 12
_COMMON: Final = frozenset(p.lower() for p in TOP_PASSWORDS)


@dataclass(frozen=True, slots=True)
class Credential:
    """A secret found in a configuration, with whose it is and where it is written."""

    account: str
    username: str
    secret: str
    file: str
    line: int
    what: str = "secret"  # the key as written (secret, password, default_password)


def weakness(username: str, secret: str) -> tuple[str, str] | None:
    """The worst weakness of `secret` as (rule name, reason), or None for a strong secret."""
    name, low = username.lower(), secret.lower()
    # "1001", "1001!" and "1001abc" fall to the same first guesses (svcrack tries the extension).
    if name and low.startswith(name) and len(secret) - len(username) <= 3:
        return "secret-equals-username", "is the account name or a variation of it"
    if secret.lower() in _COMMON:
        return "secret-common", "is on the list of passwords brute-forcers try first"
    if secret.isdigit():
        return "secret-numeric", f"is {len(secret)} digits only"
    if len(secret) < MIN_SECRET_LENGTH:
        return "secret-short", f"has {len(secret)} characters (fewer than {MIN_SECRET_LENGTH})"
    return None


def secret_findings(creds: Iterable[Credential], *, severity: Severity | None = None) -> list[Finding]:
    """Findings for weak and reused secrets; strong, unique secrets give none."""
    creds = list(creds)
    out = []
    fix = f"set a random secret of at least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand -base64 18`)"
    for cred in creds:
        if not cred.secret or cred.secret.startswith("$"):
            continue  # unresolved variable: checked where it is defined
        weak = weakness(cred.username, cred.secret)
        if weak:
            rule, reason = weak
            out.append(finding(rule, cred.file, cred.line, f"{cred.what} of {cred.account} {reason}", fix, severity))
    by_secret: dict[str, list[Credential]] = {}
    for cred in creds:
        if cred.secret and not cred.secret.startswith("$"):
            by_secret.setdefault(cred.secret, []).append(cred)
    for group in by_secret.values():
        accounts = sorted({c.account for c in group})
        if len(accounts) < 2:
            continue
        for cred in group:
            others = [a for a in accounts if a != cred.account]
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            out.append(
                finding(
                    "secret-reused",
                    cred.file,
                    cred.line,
                    f"{cred.what} of {cred.account} is also used by {shown}",
                    "give every account its own random secret",
                    severity,
                )
            )
    return out
