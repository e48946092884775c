"""The call record every CDR format is read into, and what its destination is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sipwarden.intel.risk import RiskClass


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call, as a PBX's CDR wrote it. Times are aware UTC."""

    start: datetime
    account: str  # who placed the call: accountcode, else the channel's peer, else the caller number
    dst: str  # the dialled string as written
    src: str = ""  # caller number
    end: datetime | None = None
    duration: int = 0  # seconds from start to end
    billsec: int = 0  # seconds answered
    disposition: str = ""  # ANSWERED, NO ANSWER, BUSY, FAILED; FreeSWITCH hangup cause
    context: str = ""
    channel: str = ""
    src_ip: str | None = None  # only when the PBX wrote it (cdr_custom column, FreeSWITCH network_addr)
    uniqueid: str = ""
    origin: str = ""  # file:line, for reports

    @property
    def answered(self) -> bool:
        """Whether the call was answered (so it cost money)."""
        return self.billsec > 0 or self.disposition.upper() == "ANSWERED"

    @property
    def stop(self) -> datetime:
        """When the call ended (start + duration when the end was not written)."""
        if self.end is not None:
            return self.end
        return self.start + timedelta(seconds=self.duration)


@dataclass(frozen=True, slots=True)
class Destination:
    """What a dialled string reaches."""

    dialled: str
    e164: str | None  # None when the string is not a callable number (an extension, a feature code)
    country: str | None  # ISO 3166-1 alpha-2; satellite/global services get a pseudo-code (XS, XN, XV)
    number_type: str  # phonenumbers type name in lower case: mobile, fixed_line, premium_rate, unknown...
    international: bool  # outside the PBX's home country
    risk: RiskClass

    @property
    def external(self) -> bool:
        """Whether the call leaves the PBX (anything with an E.164 form)."""
        return self.e164 is not None
