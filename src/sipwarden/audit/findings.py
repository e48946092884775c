"""What an audit reports: findings with severity, place and a concrete fix; exit codes for CI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    """Ordered severities. The exit code of `sipwarden audit` is `exit_code()` of the worst one."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    def exit_code(self) -> int:
        """0 clean or info only, 1 low/medium, 2 high, 3 critical."""
        return {0: 0, 1: 1, 2: 1, 3: 2, 4: 3}[int(self)]

    def sarif_level(self) -> str:
        """SARIF result level: error for high/critical, warning for medium, note otherwise."""
        return "error" if self >= Severity.HIGH else "warning" if self == Severity.MEDIUM else "note"


@dataclass(frozen=True, slots=True)
class Rule:
    """A kind of finding: stable id, name, what is wrong in general."""

    id: str
    name: str
    severity: Severity
    summary: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one place."""

    rule: Rule
    file: str
    line: int
    message: str
    fix: str
    severity: Severity | None = None  # overrides the rule's default when set

    @property
    def level(self) -> Severity:
        """Severity of this finding."""
        return self.severity if self.severity is not None else self.rule.severity

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rule": self.rule.id,
            "name": self.rule.name,
            "severity": str(self.level),
            "file": self.file,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


def _r(id_: str, name: str, severity: Severity, summary: str) -> Rule:
    return Rule(id_, name, severity, summary)


S = Severity
#: Every rule the audit knows (the SARIF tool.driver.rules list is built from this table).
RULES: dict[str, Rule] = {r.name: r for r in (
    _r("SW001", "secret-equals-username", S.CRITICAL, "The password is the account name: the first guess of every scanner."),
    _r("SW002", "secret-common", S.CRITICAL, "The password is on the list of passwords SIP brute-forcers try first."),
    _r("SW003", "secret-numeric", S.HIGH, "A digits-only password falls to an exhaustive search in hours."),
    _r("SW004", "secret-short", S.HIGH, "A short password falls to brute force."),
    _r("SW005", "secret-reused", S.HIGH, "The same password on several accounts: one crack opens them all."),
    _r("SW010", "allowguest", S.HIGH, "Unauthenticated (guest) calls are accepted."),
    _r("SW011", "alwaysauthreject-off", S.MEDIUM, "Different answers for unknown and known accounts allow enumeration."),
    _r("SW012", "guest-reaches-international", S.CRITICAL, "A context reachable without a password dials international or premium numbers."),
    _r("SW013", "account-without-acl", S.MEDIUM, "An account may register and call from any address on the internet."),
    _r("SW020", "ami-exposed", S.CRITICAL, "The Asterisk Manager Interface listens on all addresses with a weak secret."),
    _r("SW021", "ami-without-acl", S.MEDIUM, "An AMI user has no permit/deny list."),
    _r("SW030", "freeswitch-default-password", S.CRITICAL, "FreeSWITCH's default_password is still 1234."),
    _r("SW040", "no-tls", S.LOW, "No TLS transport: SIP credentials and call setup travel in clear text."),
    _r("SW041", "no-srtp", S.LOW, "Media is not encrypted (no SRTP)."),
    _r("SW050", "proxy-without-auth", S.HIGH, "The SIP proxy does not authenticate callers."),
    _r("SW051", "proxy-without-flood-limit", S.MEDIUM, "The SIP proxy has no per-source flood limit (pike)."),
    _r("SW090", "config-unreadable", S.LOW, "A configuration file could not be read or parsed."),
)}  # fmt: skip


def finding(name: str, file: str, line: int, message: str, fix: str, severity: Severity | None = None) -> Finding:
    """A Finding of the rule called `name`."""
    return Finding(RULES[name], file, line, message, fix, severity)
