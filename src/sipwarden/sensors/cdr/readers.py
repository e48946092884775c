"""CDR formats -> CallRecord: Asterisk cdr-csv and cdr_custom, FreeSWITCH mod_cdr_csv and mod_json_cdr.

CSV formats are column mappings (data, not code): a tuple naming what each column holds, with the
canonical Asterisk names. A malformed record raises `CdrFormatError`; readers turn it into a count
and a message, never an exception that stops a scan or a follower.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Final
from urllib.parse import unquote

from sipwarden.fraud.records import CallRecord

#: Asterisk cdr_csv.c column order (Master.csv); loguniqueid/loguserfield add the last two.
ASTERISK_COLUMNS: Final = (
    "accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel", "lastapp", "lastdata",
    "start", "answer", "end", "duration", "billsec", "disposition", "amaflags", "uniqueid", "userfield",
)  # fmt: skip
#: FreeSWITCH mod_cdr_csv "example" template (the default-template of cdr_csv.conf.xml):
#: caller_id_name, caller_id_number, destination_number, context, start_stamp, answer_stamp,
#: end_stamp, duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode, read_codec, write_codec.
FREESWITCH_COLUMNS: Final = (
    "clid", "src", "dst", "dcontext", "start", "answer", "end", "duration", "billsec", "disposition",
    "uniqueid", "-", "accountcode", "-", "-",
)  # fmt: skip
#: Names a column mapping may use ('-' ignores a column).
KNOWN_COLUMNS: Final = frozenset({*ASTERISK_COLUMNS, "src_ip", "-"})
FORMATS: Final = ("asterisk-csv", "asterisk-custom", "freeswitch-csv", "freeswitch-json")
#: Longest CDR line accepted (a CSV line with a long lastdata dial string is a few hundred bytes).
MAX_RECORD_CHARS: Final = 16_384
#: Longest call accepted as a duration: a week. Anything larger is a broken record, not a call.
MAX_DURATION_SECONDS: Final = 7 * 86400

_PEER = re.compile(r"^(?:SIP|PJSIP|IAX2|DAHDI|sofia/[^/]+)/([^-/@]+)")


class CdrFormatError(ValueError):
    """A CDR record that cannot be read (the PBX or an attacker wrote something unexpected)."""


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """Validate a column mapping; ValueError names unknown columns or missing required ones."""
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown:
        raise ValueError(f"unknown CDR column name(s): {', '.join(unknown)}")
    missing = [c for c in ("start", "dst") if c not in columns]
    if missing:
        raise ValueError(f"a CDR column mapping needs {', '.join(missing)}")
    return tuple(columns)


def parse_time(text: str, zone: tzinfo) -> datetime | None:
    """A CDR time (`YYYY-MM-DD HH:MM:SS`, ISO-8601, or epoch seconds) as aware UTC; None when empty."""
    text = text.strip()
    if not text or text == "0":
        return None
    try:
        if text[4:5] == "-":  # the usual case first: Asterisk and FreeSWITCH stamps
            ts = datetime.fromisoformat(text)
        else:
            if not text.replace(".", "", 1).isdigit():
                raise ValueError(text)
            value = float(text)
            if value > 1e14:  # microseconds (FreeSWITCH *_uepoch)
                value /= 1e6
            return datetime.fromtimestamp(value, UTC) if value > 0 else None
    except (ValueError, OverflowError, OSError):
        raise CdrFormatError(f"bad time {text[:40]!r}") from None
    if ts.tzinfo is None:
        if zone is UTC:
            return ts.replace(tzinfo=UTC)
        ts = ts.replace(tzinfo=zone)
    return ts.astimezone(UTC)


def _seconds(text: str, name: str) -> int:
    text = text.strip()
    if not text:
        return 0
    if not text.isdecimal() or int(text) > MAX_DURATION_SECONDS:  # int() takes exactly the decimal digits
        raise CdrFormatError(f"bad {name} {text[:20]!r}")
    return int(text)


_CHANNEL_TECHS: Final = frozenset({"SIP", "PJSIP", "IAX2", "DAHDI"})


def account_of(accountcode: str, channel: str, src: str) -> str:
    """Who placed the call: the account code, else the peer in the channel name, else the caller number."""
    if accountcode.strip():
        return accountcode.strip()
    tech, slash, rest = channel.partition("/")
    if slash and tech in _CHANNEL_TECHS:
        # PJSIP/1001-0000002a: the peer ends at the last "-" (peer names may contain dashes).
        peer = rest.rpartition("-")[0] or rest
        if peer and "/" not in peer and "@" not in peer:
            return peer
    match = _PEER.match(channel)
    if match:
        return match.group(1)
    return src.strip() or "?"


_FIELDS: Final = ("start", "dst", "end", "duration", "billsec", "disposition", "dcontext", "channel", "src",
                  "accountcode", "src_ip", "uniqueid")  # fmt: skip


def _build(fields: dict[str, str], zone: tzinfo, origin: str) -> CallRecord:
    return _record(*(fields.get(name, "") for name in _FIELDS), zone=zone, origin=origin)


def _record(
    start_text: str, dst: str, end: str, duration: str, billsec: str, disposition: str, context: str,
    channel: str, src: str, accountcode: str, src_ip: str, uniqueid: str, *, zone: tzinfo, origin: str,
) -> CallRecord:  # fmt: skip
    start = parse_time(start_text, zone)
    if start is None:
        raise CdrFormatError("record has no start time")
    dst = dst.strip()
    if not dst:
        raise CdrFormatError("record has no destination")
    return CallRecord(
        start=start,
        account=account_of(accountcode, channel, src),
        dst=dst,
        src=src,
        end=parse_time(end, zone),
        duration=_seconds(duration, "duration"),
        billsec=_seconds(billsec, "billsec"),
        disposition=disposition,
        context=context,
        channel=channel,
        src_ip=src_ip.strip() or None,
        uniqueid=uniqueid,
        origin=origin,
    )


def row_parser(columns: Sequence[str], zone: tzinfo) -> Callable[[Sequence[str], str], CallRecord]:
    """A function turning one CSV row (a list of strings) into a CallRecord for this mapping."""
    names = check_columns(columns)
    index = {name: i for i, name in enumerate(names) if name != "-"}
    # Column of each _FIELDS entry, or -1 when the mapping does not have it.
    where = tuple(index.get(name, -1) for name in _FIELDS)
    needed = max(index["start"], index["dst"]) + 1

    def parse(row: Sequence[str], origin: str) -> CallRecord:
        n = len(row)
        if n < needed:
            raise CdrFormatError(f"{n} columns, expected at least {needed}")
        return _record(*(row[i] if 0 <= i < n else "" for i in where), zone=zone, origin=origin)

    return parse


def parse_csv_line(line: str, columns: Sequence[str], zone: tzinfo, origin: str = "") -> CallRecord:
    """Parse one CSV line with a column mapping."""
    if len(line) > MAX_RECORD_CHARS:
        raise CdrFormatError(f"record longer than {MAX_RECORD_CHARS} characters")
    try:
        row = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        raise CdrFormatError("not a CSV record") from None
    return row_parser(columns, zone)(row, origin)


def _var(variables: dict[str, Any], *names: str) -> str:
    for name in names:
        value = variables.get(name)
        if value not in (None, ""):
            # mod_json_cdr url-encodes values by default (encode-values=true).
            return unquote(str(value))
    return ""


def parse_json_cdr(doc: Any, zone: tzinfo, origin: str = "") -> CallRecord:
    """Parse one FreeSWITCH mod_json_cdr document (`variables.*`, `callflow[].caller_profile`)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("variables"), dict):
        raise CdrFormatError("JSON CDR without a variables object")
    v: dict[str, Any] = doc["variables"]
    callflow: Any = doc.get("callflow")
    if isinstance(callflow, list):
        callflow = callflow[0] if callflow else None
    found: Any = callflow.get("caller_profile") if isinstance(callflow, dict) else None
    profile: dict[str, Any] = found if isinstance(found, dict) else {}
    fields = {
        "start": _var(v, "start_uepoch", "start_epoch", "start_stamp"),
        "end": _var(v, "end_uepoch", "end_epoch", "end_stamp"),
        "dst": _var(v, "destination_number", "sip_req_user", "sip_to_user") or _var(profile, "destination_number"),
        "src": _var(v, "caller_id_number", "sip_from_user") or _var(profile, "caller_id_number"),
        "accountcode": _var(v, "accountcode", "user_name", "sip_auth_username") or _var(profile, "username"),
        "duration": _var(v, "duration"),
        "billsec": _var(v, "billsec"),
        "disposition": _var(v, "hangup_cause"),
        "dcontext": _var(v, "user_context") or _var(profile, "context"),
        "channel": _var(v, "channel_name") or _var(profile, "chan_name"),
        "src_ip": _var(v, "sip_received_ip", "sip_network_ip", "network_addr") or _var(profile, "network_addr"),
        "uniqueid": _var(v, "uuid") or _var(profile, "uuid"),
    }
    return _build(fields, zone, origin)


def detect_format(sample: str) -> str:
    """Guess the format from the first record of a file; CdrFormatError when nothing fits."""
    text = sample.lstrip()
    if text.startswith("{"):
        return "freeswitch-json"
    try:
        row = next(csv.reader([text.splitlines()[0] if text else ""]))
    except (csv.Error, StopIteration, IndexError):
        raise CdrFormatError("cannot detect the CDR format of an empty or non-CSV file") from None

    def looks(i_time: int, i_dur: int) -> bool:
        if len(row) <= i_dur + 1:
            return False
        try:
            datetime.fromisoformat(row[i_time])
        except ValueError:
            return False
        return row[i_dur].isdigit() and row[i_dur + 1].isdigit()

    if len(row) >= 16 and looks(9, 12):
        return "asterisk-csv"
    if len(row) >= 11 and looks(4, 7):
        return "freeswitch-csv"
    raise CdrFormatError(f"unrecognised CDR format ({len(row)} columns); pass --format")


def split_json_docs(text: str) -> tuple[list[tuple[int, Any | CdrFormatError]], str]:
    """Complete JSON documents in `text` (with line numbers) and the unfinished tail, if any.

    Documents may be one per file, one per line (NDJSON) or concatenated. A document cut off by
    the end of `text` is returned as the tail (a writer may still be writing it); a broken one
    becomes a CdrFormatError and reading resumes at the next line that opens an object.
    """
    decoder = json.JSONDecoder()
    out: list[tuple[int, Any | CdrFormatError]] = []
    pos, n = 0, len(text)
    line, counted = 1, 0
    while pos < n:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            break
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text.rstrip()):
                return out, text[pos:]
            out.append((line, CdrFormatError(f"bad JSON: {exc.msg}")))
            nxt = text.find("\n{", exc.pos)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        out.append((line, doc))
    return out, ""


def iter_json_docs(text: str) -> Iterator[tuple[int, Any | CdrFormatError]]:
    """Every JSON document of a whole file; an unfinished last one is an error."""
    docs, tail = split_json_docs(text)
    yield from docs
    if tail.strip():
        yield text.count("\n", 0, len(text) - len(tail)) + 1, CdrFormatError("JSON document cut off")
