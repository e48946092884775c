"""A loopback server that speaks enough of the Asterisk Manager Interface for the tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class FakeAmi:
    """Records the actions it receives; accepts one username/secret."""

    username: str = "sipwarden"
    secret: str = "s3cret-Long-enough"
    actions: list[dict[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    async def start(self) -> FakeAmi:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        authed = False
        try:
            while True:
                block = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                msg = dict(
                    (k.strip(), v.strip())
                    for k, _, v in (line.partition(":") for line in block.decode().split("\r\n") if line)
                )
                self.actions.append(msg)
                aid = msg.get("ActionID", "")
                action = msg.get("Action", "").lower()
                if action == "login":
                    authed = msg.get("Username") == self.username and msg.get("Secret") == self.secret
                    status = "Success" if authed else "Error"
                    text = "Authentication accepted" if authed else "Authentication failed"
                    writer.write(f"Response: {status}\r\nActionID: {aid}\r\nMessage: {text}\r\n\r\n".encode())
                    # Unsolicited events arrive between responses on a real Asterisk.
                    writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
                elif not authed:
                    writer.write(f"Response: Error\r\nActionID: {aid}\r\nMessage: Permission denied\r\n\r\n".encode())
                elif action == "logoff":
                    writer.write(f"Response: Goodbye\r\nActionID: {aid}\r\nMessage: Thanks\r\n\r\n".encode())
                    await writer.drain()
                    break
                elif action == "command":
                    writer.write(
                        f"Response: Success\r\nActionID: {aid}\r\nOutput: line one\r\nOutput: line two\r\n\r\n".encode()
                    )
                else:
                    writer.write(f"Response: Success\r\nActionID: {aid}\r\nMessage: Channel Hungup\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
