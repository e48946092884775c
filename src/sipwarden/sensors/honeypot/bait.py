"""Which accounts exist on the honeypot and which passwords open them.

Bait accounts are weak on purpose: until an account is first cracked it accepts its own number and a
short list of top weak passwords; after that only the password that cracked it (a real account has
one password), so an attacker who comes back with the cracked credentials is let in again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

#: A bait range wider than this is a configuration mistake (and would make `contains` slow to build).
MAX_BAIT_RANGE: Final = 1_000_000
#: User names whose range membership is remembered (a scan of 100,000 names costs at most ~10 MB here).
MAX_EXISTS_CACHE: Final = 65_536


@dataclass(frozen=True, slots=True)
class BaitRange:
    """Numeric accounts FIRST..LAST inclusive, keeping their width (`0100` differs from `100`)."""

    first: int
    last: int
    width: int

    def __contains__(self, username: object) -> bool:
        if not isinstance(username, str) or not username.isdigit() or not username.isascii():
            return False
        if self.width and len(username) != self.width:
            return False
        if not self.width and len(username) > 1 and username.startswith("0"):
            return False  # "0106" is another account than "106" on a PBX
        return self.first <= int(username) <= self.last


def parse_bait_ranges(specs: Iterable[str]) -> tuple[BaitRange, ...]:
    """Parse `100-199`, `1000-1099`, `42`; ValueError names a bad entry."""
    out = []
    for spec in specs:
        first_s, sep, last_s = spec.strip().partition("-")
        last_s = last_s if sep else first_s
        if not (first_s.isdigit() and last_s.isdigit()):
            raise ValueError(f"bait account {spec!r}: expected NUMBER or FIRST-LAST")
        first, last = int(first_s), int(last_s)
        if last < first or last - first > MAX_BAIT_RANGE:
            raise ValueError(f"bait account {spec!r}: range is empty or too wide")
        # Zero-padded ranges (0100-0199) keep their width; plain numbers match any width.
        width = len(first_s) if first_s.startswith("0") and len(first_s) > 1 else 0
        out.append(BaitRange(first, last, width))
    return tuple(out)


class BaitPolicy:
    """Knows the bait accounts, the passwords they accept, and which ones were cracked."""

    def __init__(self, ranges: Sequence[BaitRange], weak_passwords: Sequence[str], *, accept_own_number: bool) -> None:
        self._ranges = tuple(ranges)
        self._weak = tuple(weak_passwords)
        self._own = accept_own_number
        self._cracked: dict[str, str] = {}
        self._in_ranges: dict[str, bool] = {}

    def exists(self, username: str | None) -> bool:
        """True when `username` is a bait account (or was cracked)."""
        if not username:
            return False
        if username in self._cracked:
            return True
        # Remembered per name: this runs for every OPTIONS of a flood, which repeats one account.
        known = self._in_ranges.get(username)
        if known is None:
            known = any(username in bait_range for bait_range in self._ranges)
            if len(self._in_ranges) >= MAX_EXISTS_CACHE:
                self._in_ranges.clear()
            self._in_ranges[username] = known
        return known

    def passwords(self, username: str) -> tuple[str, ...]:
        """The passwords `username` accepts now (empty for accounts that do not exist)."""
        cracked = self._cracked.get(username)
        if cracked is not None:
            return (cracked,)
        if not self.exists(username):
            return ()
        own = (username,) if self._own else ()
        return own + tuple(p for p in self._weak if p != username)

    def mark_cracked(self, username: str, password: str) -> None:
        """Remember that `password` opened `username`; from now on it is the account's only password."""
        self._cracked.setdefault(username, password)

    def cracked(self) -> dict[str, str]:
        """Cracked accounts and their passwords."""
        return dict(self._cracked)
