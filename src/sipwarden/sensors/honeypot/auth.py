"""Check digest credentials against the bait policy and learn the password an attacker tried.

The tried password is known exactly when it opens the account, or when svcrack wrote it into its
From tag and it verifies; otherwise it is searched for offline among likely candidates (the user
name, top weak passwords, numbers up to six digits) within a CPU budget per source address.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Final, Literal

from sipwarden.sensors.honeypot.bait import BaitPolicy
from sipwarden.sensors.honeypot.tools import svcrack_password
from sipwarden.sip.digest import TOP_PASSWORDS, Credentials, candidate_passwords, recover_password, verify
from sipwarden.sip.errors import RemoteProtocolError

#: Guesses tried while answering one request: ~20k MD5 triples is ~30 ms of one core, so a flood of
#: bad credentials cannot stall the SIP loop; it covers the user name, the top list and 0..9999.
#: Longer searches go on in slices from the timer (`resume`), and their event waits for the result.
MAX_TRIES_PER_REQUEST: Final = 20_000
#: Sources whose remaining budget is remembered (LRU); a forgotten source starts over, bounded anyway.
MAX_BUDGET_SOURCES: Final = 10_000
#: Longest numeric candidate (svcrack's default ranges are numeric; 6 digits is 1.1M candidates).
MAX_DIGITS: Final = 6

Outcome = Literal["ok", "bad", "unknown_user"]


@dataclass(slots=True)
class Search:
    """A password search that did not finish within one request; `Authenticator.resume` goes on."""

    creds: Credentials
    method: str
    source: str
    candidates: Iterator[str]


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The verdict on one set of credentials, and the password tried when it is known."""

    outcome: Outcome
    username: str
    password: str | None
    recovered_by: str | None  # "policy", "tool_tag", "search" or None
    #: Set when the password is not known yet but more candidates remain within the source's budget.
    search: Search | None = None


class Authenticator:
    """Verdicts on digest credentials for the bait accounts of one persona realm."""

    def __init__(self, policy: BaitPolicy, realm: str, *, budget_per_source: int) -> None:
        self.policy = policy
        self.realm = realm
        self.budget_per_source = budget_per_source
        self._budgets: OrderedDict[str, int] = OrderedDict()

    def check(
        self, creds: Credentials, method: str, *, source: str, from_tag: str | None, accept: bool = True
    ) -> AuthResult:
        """Verify `creds` for `method`; on success the account is marked cracked.

        `accept=False` (the nonce was stale or not ours) refuses even right credentials; the password
        behind them is still learnt as for any refusal.
        """
        username = creds.username
        if not self.policy.exists(username):
            return self._refused("unknown_user", creds, method, source, from_tag)
        if accept and creds.realm == self.realm:
            for password in self.policy.passwords(username):
                if verify(creds, password, method):
                    self.policy.mark_cracked(username, password)
                    return AuthResult("ok", username, password, "policy")
        return self._refused("bad", creds, method, source, from_tag)

    def resume(self, search: Search, tries: int) -> tuple[str | None, bool]:
        """Try up to `tries` more candidates: (password or None, finished)."""
        return self._search(search, tries)

    def _refused(
        self, outcome: Outcome, creds: Credentials, method: str, source: str, from_tag: str | None
    ) -> AuthResult:
        """The verdict for refused credentials, with the password behind them if it can be learnt."""
        claimed = svcrack_password(from_tag, creds.username)
        if claimed is not None and verify(creds, claimed, method):
            return AuthResult(outcome, creds.username, claimed, "tool_tag")
        search = Search(
            creds, method, source, candidate_passwords(creds.username, TOP_PASSWORDS, max_digits=MAX_DIGITS)
        )
        found, finished = self._search(search, MAX_TRIES_PER_REQUEST)
        if found is not None:
            return AuthResult(outcome, creds.username, found, "search")
        return AuthResult(outcome, creds.username, None, None, None if finished else search)

    def _search(self, search: Search, tries: int) -> tuple[str | None, bool]:
        budget = self._budgets.pop(search.source, self.budget_per_source)
        tries = min(budget, tries)
        found: str | None = None
        exhausted = True
        if tries > 0:
            # islice, so that stopping at the bound does not consume a candidate the next slice needs.
            chunk = list(islice(search.candidates, tries))
            exhausted = len(chunk) < tries
            try:
                found = recover_password(search.creds, search.method, chunk, max_tries=len(chunk))
            except RemoteProtocolError:
                exhausted = True
            # A hit costs at most `tries`; charging all of it keeps the bound simple and safe.
            budget -= tries
        self._budgets[search.source] = budget
        if len(self._budgets) > MAX_BUDGET_SOURCES:
            self._budgets.popitem(last=False)
        return found, found is not None or exhausted or budget <= 0
