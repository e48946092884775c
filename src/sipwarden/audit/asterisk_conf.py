"""A reader of Asterisk `.conf` files: sections, templates and inheritance, `#include`.

Grammar (Asterisk config.c): `;` starts a comment (`\\;` is a literal), `;-- ... --;` is a block
comment, `[name]` opens a section, `[name](!)` a template, `[name](tmpl1,tmpl2)` inherits from
templates (and `(!,tmpl)` does both), `key = value` and `key => value` are entries, `#include file`
and `#tryinclude file` insert files (relative to the including file's directory; globs allowed).
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: Include depth limit (Asterisk itself stops at a similar depth to break include loops).
MAX_INCLUDE_DEPTH: Final = 16
#: Files read for one top-level file, so a glob include of a huge directory stays bounded.
MAX_FILES: Final = 2000

_SECTION = re.compile(r"^\[([^\]]+)\]\s*(?:\(([^)]*)\))?")
_INCLUDE = re.compile(r'^#\s*(include|tryinclude)\s+"?([^"]+?)"?\s*$')
_ENTRY = re.compile(r"^([^=]+?)\s*=>?\s*(.*)$")


@dataclass(frozen=True, slots=True)
class Entry:
    """One `key = value` line."""

    key: str
    value: str
    file: str
    line: int


@dataclass(slots=True)
class Section:
    """A section as written; `entries` holds its own lines, `effective()` adds inherited ones."""

    name: str
    file: str
    line: int
    template: bool = False
    bases: tuple[str, ...] = ()
    entries: list[Entry] = field(default_factory=list)
    resolved: list[Entry] | None = None

    def get(self, key: str) -> Entry | None:
        """The last effective entry named `key` (later lines override earlier and inherited ones)."""
        found = None
        for entry in self.resolved if self.resolved is not None else self.entries:
            if entry.key == key:
                found = entry
        return found

    def all(self, key: str) -> list[Entry]:
        """Every effective entry named `key` (permit/deny, include, exten repeat)."""
        return [e for e in (self.resolved if self.resolved is not None else self.entries) if e.key == key]


@dataclass(slots=True)
class ConfFile:
    """A parsed configuration: its sections in order, and problems met while reading."""

    path: str
    sections: list[Section] = field(default_factory=list)
    problems: list[tuple[str, int, str]] = field(default_factory=list)

    def by_name(self, name: str) -> list[Section]:
        """Sections called `name` (a name may repeat; Asterisk merges them for some modules)."""
        return [s for s in self.sections if s.name == name]


def _strip_comment(line: str, in_block: bool) -> tuple[str, bool]:
    if not in_block and ";" not in line:
        return line, False  # the common case: nothing to strip
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if in_block:
            end = line.find("--;", i)
            if end < 0:
                return "".join(out), True
            i, in_block = end + 3, False
            continue
        ch = line[i]
        if ch == "\\" and i + 1 < n and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            if line.startswith(";--", i):
                in_block, i = True, i + 3
                continue
            break
        out.append(ch)
        i += 1
    return "".join(out), in_block


def parse_conf(path: Path) -> ConfFile:
    """Read `path` and its includes into sections, then resolve template inheritance."""
    conf = ConfFile(str(path))
    files_read = [0]
    current: list[Section | None] = [None]

    def read(file: Path, depth: int) -> None:
        if depth > MAX_INCLUDE_DEPTH:
            conf.problems.append((str(file), 0, "includes nested too deeply (a loop?)"))
            return
        if files_read[0] >= MAX_FILES:
            conf.problems.append((str(file), 0, f"more than {MAX_FILES} files included"))
            return
        files_read[0] += 1
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            conf.problems.append((str(file), 0, f"cannot read: {exc.strerror}"))
            return
        in_block = False
        for lineno, raw in enumerate(text.splitlines(), 1):
            line, in_block = _strip_comment(raw, in_block)
            line = line.strip()
            if not line:
                continue
            inc = _INCLUDE.match(line)
            if inc:
                target = inc.group(2).strip()
                full = target if target.startswith("/") else str(file.parent / target)
                matches = sorted(glob.glob(full)) if glob.has_magic(full) else [full]
                for m in matches:
                    if not Path(m).exists():
                        if inc.group(1) == "include":
                            conf.problems.append((str(file), lineno, f"included file {target} not found"))
                        continue
                    read(Path(m), depth + 1)
                continue
            if line.startswith("#"):
                continue  # #exec and other directives are not followed
            sec = _SECTION.match(line)
            if sec:
                opts = [o.strip() for o in (sec.group(2) or "").split(",") if o.strip()]
                section = Section(
                    sec.group(1).strip(), str(file), lineno, "!" in opts, tuple(o for o in opts if o not in ("!", "+"))
                )
                if "+" in opts:
                    # [name](+) adds to an earlier section of the same name.
                    earlier = conf.by_name(section.name)
                    if earlier:
                        current[0] = earlier[-1]
                        continue
                conf.sections.append(section)
                current[0] = section
                continue
            entry = _ENTRY.match(line)
            section_now = current[0]
            if entry and section_now is not None:
                section_now.entries.append(
                    Entry(entry.group(1).strip().lower(), entry.group(2).strip(), str(file), lineno)
                )
            elif section_now is None:
                conf.problems.append((str(file), lineno, "entry outside any section"))

    read(path, 0)
    _resolve(conf)
    return conf


def _resolve(conf: ConfFile) -> None:
    by_name: dict[str, Section] = {}
    for section in conf.sections:
        by_name.setdefault(section.name, section)

    def effective(section: Section, seen: frozenset[str]) -> list[Entry]:
        if section.resolved is not None:
            return section.resolved
        out: list[Entry] = []
        for base in section.bases:
            parent = by_name.get(base)
            if parent is None:
                conf.problems.append((section.file, section.line, f"template {base} not found"))
            elif base in seen:
                conf.problems.append((section.file, section.line, f"template loop through {base}"))
            else:
                out.extend(effective(parent, seen | {base}))
        out.extend(section.entries)
        section.resolved = out
        return out

    for section in conf.sections:
        effective(section, frozenset({section.name}))
