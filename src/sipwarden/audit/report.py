"""Find PBX configuration files under the given paths, run every check, collect one report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sipwarden.audit.asterisk import AsteriskConfig, check_asterisk
from sipwarden.audit.asterisk_conf import parse_conf
from sipwarden.audit.findings import Finding, Severity, finding
from sipwarden.audit.freeswitch import FreeswitchConfig, check_freeswitch, read_vars
from sipwarden.audit.kamailio import check_proxy

ASTERISK_FILES: Final = {"sip.conf": "sip", "pjsip.conf": "pjsip", "iax.conf": "iax",
                         "extensions.conf": "extensions", "manager.conf": "manager"}  # fmt: skip
PROXY_FILES: Final = frozenset({"kamailio.cfg", "opensips.cfg"})
#: Files examined under one directory argument (a /etc tree has a few hundred).
MAX_FILES: Final = 20_000


@dataclass(slots=True)
class AuditReport:
    """Findings (sorted by file and line) and the files that were read."""

    findings: list[Finding] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def worst(self) -> Severity | None:
        """The highest severity found, or None when there is nothing."""
        return max((f.level for f in self.findings), default=None)

    def exit_code(self) -> int:
        """0 clean/info, 1 low or medium, 2 high, 3 critical."""
        worst = self.worst()
        return worst.exit_code() if worst is not None else 0


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name in ASTERISK_FILES:
        return ASTERISK_FILES[name]
    if name in PROXY_FILES:
        return "proxy"
    if name == "vars.xml":
        return "fs-vars"
    if name.endswith(".xml") and "directory" in (p.lower() for p in path.parts[:-1]):
        return "fs-directory"
    return None


def _sniff(path: Path) -> str | None:
    """Guess the kind of a file given by name on the command line."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000].lower()
    except OSError:
        return None
    if "x-pre-process" in head and 'cmd="set"' in head and "<user" not in head:
        return "fs-vars"
    if "<user" in head:
        return "fs-directory"
    if "loadmodule" in head or "request_route" in head:
        return "proxy"
    if "type=endpoint" in head.replace(" ", "") or "type=auth" in head.replace(" ", ""):
        return "pjsip"
    if "exten" in head and "=>" in head:
        return "extensions"
    if "[general]" in head and ("allowguest" in head or "type=friend" in head.replace(" ", "")):
        return "sip"
    return None


def _walk(paths: Iterable[Path]) -> list[tuple[Path, str]]:
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    p = Path(root) / name
                    kind = _kind(p)
                    if kind:
                        found.append((p, kind))
                    if len(found) >= MAX_FILES:
                        return found
        else:
            kind = _kind(path) or _sniff(path)
            found.append((path, kind or "unknown"))
    return found


def audit_paths(paths: Iterable[Path]) -> AuditReport:
    """Audit every PBX configuration file in `paths` (files or directories)."""
    report = AuditReport()
    asterisk: dict[Path, AsteriskConfig] = {}
    freeswitch: dict[Path, FreeswitchConfig] = {}
    for path, kind in _walk(paths):
        report.files.append(str(path))
        try:
            if kind in ASTERISK_FILES.values():
                conf = parse_conf(path)
                # Files of one directory belong to one installation: guests in sip.conf, dial plan in extensions.conf.
                setattr(asterisk.setdefault(path.parent, AsteriskConfig()), kind, conf)
                for file, line, problem in conf.problems:
                    report.findings.append(finding("config-unreadable", file, max(line, 1), problem,
                                                   "fix the file so Asterisk reads what you think it reads"))  # fmt: skip
            elif kind == "fs-vars":
                read_vars(path, freeswitch.setdefault(path.parent, FreeswitchConfig()))
            elif kind == "fs-directory":
                root = next((p for p in path.parents if p.name == "directory"), path.parent)
                freeswitch.setdefault(root.parent, FreeswitchConfig()).directory.append(path)
            elif kind == "proxy":
                report.findings += check_proxy(path)
            else:
                report.findings.append(finding("config-unreadable", str(path), 1, "not a configuration file sipwarden knows",
                                               "pass sip.conf, pjsip.conf, iax.conf, extensions.conf, manager.conf, "
                                               "vars.xml, directory/*.xml, kamailio.cfg or opensips.cfg", Severity.INFO))  # fmt: skip
        except (OSError, UnicodeError) as exc:
            report.findings.append(finding("config-unreadable", str(path), 1, f"cannot read: {exc}", "check the path"))
    for cfg in asterisk.values():
        report.findings += check_asterisk(cfg)
    for fs in freeswitch.values():
        report.findings += check_freeswitch(fs)
    report.findings.sort(key=lambda f: (f.file, f.line, f.rule.id))
    return report
