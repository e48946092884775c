"""A small Asterisk Manager Interface client: Login, an action or two, Logoff.

The codec is sans-I/O (`serialize_action`, `AmiParser`); `ami_session` is the asyncio wrapper. AMI
is line based, `Key: Value` pairs ended by an empty line, after a one-line banner
("Asterisk Call Manager/x.y.z"). Values must not contain CR or LF: one stray newline in an account
name taken from a CDR would let it inject a whole action, so such values are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Final

#: Longest AMI message accepted from the server; Command output of `core show channels` on a busy
#: system is a few hundred KiB, 1 MiB leaves room without letting a peer fill memory.
MAX_MESSAGE_BYTES: Final = 1024 * 1024
#: Characters allowed in an account used to build a channel pattern (peer names are tame).
_SAFE_ACCOUNT: Final = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")

Message = dict[str, str]


class AmiError(Exception):
    """The AMI server refused an action or broke the protocol."""


def serialize_action(action: str, fields: Mapping[str, str], action_id: str) -> bytes:
    """One AMI action as bytes; ValueError for a CR/LF in any name or value."""
    lines = [("Action", action), ("ActionID", action_id), *fields.items()]
    for key, value in lines:
        if any(c in key + value for c in "\r\n") or ":" in key:
            raise ValueError(f"AMI field {key!r} contains a line break or colon")
    return "".join(f"{k}: {v}\r\n" for k, v in lines).encode() + b"\r\n"


class AmiParser:
    """Bytes from the server in, messages (dicts) out."""

    def __init__(self) -> None:
        self._buf = b""
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes; return every message now complete."""
        self._buf += data
        out: list[Message] = []
        if self.banner is None:
            end = self._buf.find(b"\r\n")
            if end < 0:
                if len(self._buf) > MAX_MESSAGE_BYTES:
                    raise AmiError("no AMI banner")
                return out
            self.banner = self._buf[:end].decode("utf-8", "replace")
            self._buf = self._buf[end + 2 :]
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_MESSAGE_BYTES:
                    raise AmiError("AMI message too long")
                return out
            block, self._buf = self._buf[:end].decode("utf-8", "replace"), self._buf[end + 4 :]
            message: Message = {}
            for line in block.split("\r\n"):
                key, sep, value = line.partition(":")
                if sep:
                    # Repeated keys (Output: lines of a Command response) are joined.
                    value = value.strip()
                    message[key.strip()] = f"{message[key.strip()]}\n{value}" if key.strip() in message else value
            if message:
                out.append(message)


def hangup_fields(account: str) -> dict[str, str]:
    """Hangup action fields matching every channel of `account` (Asterisk 13+ accepts /regex/)."""
    if not _SAFE_ACCOUNT.match(account):
        raise ValueError(f"refusing to build a channel pattern from account {account!r}")
    return {"Channel": f"/^(PJSIP|SIP|IAX2)\\/{re.escape(account)}-.*$/", "Cause": "21"}


async def ami_session(
    host: str,
    port: int,
    username: str,
    secret: str,
    actions: Sequence[tuple[str, Mapping[str, str]]],
    *,
    timeout: float = 5.0,
) -> list[Message]:
    """Log in, run `actions` in order, log off; the responses to `actions`. AmiError on refusal."""
    ids = (str(n) for n in itertools.count(1))
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    parser = AmiParser()
    pending: list[Message] = []

    async def response(action_id: str) -> Message:
        while True:
            for i, message in enumerate(pending):
                if message.get("ActionID") == action_id and "Response" in message:
                    return pending.pop(i)
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                raise AmiError("AMI connection closed")
            pending.extend(m for m in parser.feed(data) if "Response" in m)  # skip unsolicited events

    async def run(action: str, fields: Mapping[str, str]) -> Message:
        action_id = next(ids)
        writer.write(serialize_action(action, fields, action_id))
        await writer.drain()
        return await response(action_id)

    try:
        login = await run("Login", {"Username": username, "Secret": secret})
        if login.get("Response") != "Success":
            raise AmiError(f"AMI login refused: {login.get('Message', '')}")
        results = [await run(name, fields) for name, fields in actions]
        # The server may close the connection before answering Logoff.
        with contextlib.suppress(AmiError, OSError, TimeoutError):
            await run("Logoff", {})
        return results
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
