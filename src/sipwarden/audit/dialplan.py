"""Which dialplan contexts can reach international or premium numbers (Asterisk extensions.conf)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from sipwarden.audit.asterisk_conf import ConfFile

#: Dial strings of toll-fraud calls as attackers send them, with each outside-line and
#: international prefix they cycle through when a call fails (00, 011, 9011, 900, 9 + 00...).
TOLL_SAMPLES: Final = (
    "0023276123456", "01123276123456", "901123276123456", "90023276123456", "9001123276123456",
    "00881612345678", "+23276123456", "23276123456", "19005550100", "919005550100", "09001234567",
)  # fmt: skip
#: Contexts followed through `include =>`, to stop include loops and absurd depth.
MAX_INCLUDE_HOPS: Final = 32


@lru_cache(maxsize=4096)
def pattern_regex(exten: str) -> re.Pattern[str]:
    """A regex equivalent to an Asterisk extension (`_NXX.`, `_[2-9]!`, or a literal)."""
    if not exten.startswith("_"):
        return re.compile(re.escape(exten))
    out = []
    body = exten[1:]
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "X":
            out.append("[0-9]")
        elif ch == "Z":
            out.append("[1-9]")
        elif ch == "N":
            out.append("[2-9]")
        elif ch == ".":
            out.append(".+")
        elif ch == "!":
            out.append(".*")
        elif ch == "[":
            end = body.find("]", i)
            if end < 0:
                out.append(re.escape(body[i:]))
                break
            inner = body[i + 1 : end]
            out.append("[" + inner.replace("\\", "\\\\").replace("^", "\\^") + "]" if inner else "")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out))


def toll_sample(exten: str) -> str | None:
    """A toll-fraud dial string the extension pattern accepts, or None."""
    try:
        regex = pattern_regex(exten.strip())
    except re.error:
        return None
    for sample in TOLL_SAMPLES:
        if regex.fullmatch(sample):
            return sample
    return None


@dataclass(frozen=True, slots=True)
class TollRoute:
    """An extension in a context (maybe an included one) that dials toll numbers."""

    context: str  # the context asked about
    via: tuple[str, ...]  # included contexts walked to get there
    exten: str
    sample: str
    file: str
    line: int


def toll_routes(extensions: ConfFile, context: str) -> list[TollRoute]:
    """Every extension reachable from `context` (following includes) that accepts a toll dial string."""
    out: list[TollRoute] = []
    seen: set[str] = set()
    queue: list[tuple[str, tuple[str, ...]]] = [(context, ())]
    while queue and len(seen) < MAX_INCLUDE_HOPS:
        name, via = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for section in extensions.by_name(name):
            for entry in section.all("exten"):
                exten = entry.value.split(",", 1)[0].strip()
                sample = toll_sample(exten)
                if sample:
                    out.append(TollRoute(context, via, exten, sample, entry.file, entry.line))
            for inc in section.all("include"):
                target = inc.value.split(",", 1)[0].strip()
                queue.append((target, (*via, target)))
    return out
