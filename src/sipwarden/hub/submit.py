"""What sensors submit: bounded, strictly validated events and decisions (JSON array or NDJSON)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sipwarden.events import MAX_RAW_CHARS, Decision, Event, EventKind, EventSource
from sipwarden.hub.policy import parse_address

#: Longest ordinary text field (User-Agent, usernames, dialled strings). SIP header lines longer than
#: this are already abuse; 1 KiB keeps a batch of thousands of events within a few megabytes.
MAX_FIELD_CHARS: Final = 1024
#: Largest `detail` mapping once serialised.
MAX_DETAIL_CHARS: Final = 4096
#: Key in an event's `detail` that keeps the sensor name the client claimed (the hub records the key's).
REPORTED_SENSOR: Final = "reported_sensor"
#: Content types read as one JSON document per line.
NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json-seq"}
)

M = TypeVar("M", bound=BaseModel)

_Text = Field(default=None, max_length=MAX_FIELD_CHARS)


class EventIn(BaseModel):
    """One submitted event: the Event record's fields, each bounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: datetime
    kind: EventKind
    source: EventSource
    sensor: str = Field(default="", max_length=MAX_FIELD_CHARS)
    src_ip: str | None = Field(default=None, max_length=64)
    src_port: int | None = Field(default=None, ge=0, le=65535)
    dst_ip: str | None = Field(default=None, max_length=64)
    dst_port: int | None = Field(default=None, ge=0, le=65535)
    transport: str | None = Field(default=None, max_length=16)
    method: str | None = _Text
    user_agent: str | None = _Text
    tool: str | None = _Text
    username: str | None = _Text
    password: str | None = _Text
    target: str | None = _Text
    target_e164: str | None = Field(default=None, max_length=32)
    target_country: str | None = Field(default=None, max_length=8)
    call_id: str | None = _Text
    raw: str | None = Field(default=None, max_length=MAX_RAW_CHARS)
    detail: dict[str, Any] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=1_000_000_000)
    id: str | None = Field(default=None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")

    @field_validator("src_ip", "dst_ip")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else str(parse_address(value))

    @field_validator("detail")
    @classmethod
    def _small_detail(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_DETAIL_CHARS:
            raise ValueError(f"detail is longer than {MAX_DETAIL_CHARS} characters as JSON")
        return value

    def to_event(self, sensor: str) -> Event:
        """The Event as the hub records it: `sensor` is the submitting key's name, whatever the client
        wrote there (a key may not speak for another sensor); the client's own name for itself is
        kept in `detail` as `reported_sensor`."""
        data = self.model_dump(exclude_none=True)
        if self.sensor and self.sensor != sensor:
            data["detail"] = {**self.detail, REPORTED_SENSOR: self.sensor}
        data["sensor"] = sensor
        return Event.from_dict(data)


class DecisionIn(BaseModel):
    """One submitted decision: a local ban with the ids of the events that prove it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: datetime
    scope: Literal["ip"]
    value: str = Field(max_length=64)
    action: Literal["ban", "watch", "notice"]
    scenario: str = Field(max_length=200)
    reason: str = Field(default="", max_length=MAX_FIELD_CHARS)
    until: datetime | None = None
    origin: str = Field(default="local", max_length=200)
    event_ids: list[str] = Field(default_factory=list, max_length=1000)
    id: str | None = Field(default=None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$")
    evidence: int | None = Field(default=None, ge=0, description="Ignored (derived from event_ids).")

    @field_validator("value")
    @classmethod
    def _address(cls, value: str) -> str:
        return str(parse_address(value))

    def to_decision(self) -> Decision:
        """The Decision record."""
        data = self.model_dump(exclude_none=True, exclude={"evidence"})
        data["ts"] = data["ts"].isoformat()
        if "until" in data:
            data["until"] = data["until"].isoformat()
        return Decision.from_dict(data)


class BatchError(Exception):
    """The batch is not acceptable; `errors` are FastAPI-style items naming the item and field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} invalid item(s)")
        self.errors = errors


def read_items(body: bytes, content_type: str, max_items: int) -> list[Any]:
    """The JSON values in a body: a JSON array, or one value per line for NDJSON content types."""
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchError([{"loc": ["body"], "msg": f"not UTF-8: {exc.reason}", "type": "value_error"}]) from None
    if media in NDJSON_TYPES:
        items: list[Any] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if len(items) >= max_items:
                raise BatchError([{"loc": ["body"], "msg": f"more than {max_items} items", "type": "too_long"}])
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BatchError(
                    [{"loc": ["body", f"line {number}"], "msg": exc.msg, "type": "json_invalid"}]
                ) from None
        return items
    if media not in {"application/json", ""}:
        raise BatchError(
            [{"loc": ["header", "content-type"], "msg": f"unsupported content type {media!r}", "type": "value_error"}]
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchError([{"loc": ["body"], "msg": exc.msg, "type": "json_invalid"}]) from None
    if not isinstance(data, list):
        raise BatchError([{"loc": ["body"], "msg": "expected a JSON array", "type": "list_type"}])
    if len(data) > max_items:
        raise BatchError([{"loc": ["body"], "msg": f"more than {max_items} items", "type": "too_long"}])
    return data


def validate_items(items: list[Any], model: type[M]) -> list[M]:
    """Every item validated by `model`; BatchError lists each bad item and field."""
    good: list[M] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            good.append(model.model_validate(item))
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False):
                errors.append({"loc": ["body", index, *err["loc"]], "msg": err["msg"], "type": err["type"]})
        if len(errors) >= 100:
            break
    if errors:
        raise BatchError(errors)
    return good
