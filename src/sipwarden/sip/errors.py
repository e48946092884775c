"""Errors of the SIP core, named after who is at fault.

``RemoteProtocolError``: the peer sent something we cannot use; ``error_status_hint`` is the SIP
status a server would answer with (400 Bad Request, 413 Request Entity Too Large, 505 Version Not
Supported, 513 Message Too Large).  ``LocalProtocolError``: our own code tried to build or send an
invalid message -- a bug on this side, never the peer's fault.
"""

from __future__ import annotations

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """A SIP protocol violation; ``error_status_hint`` suggests the status code to answer with."""

    def __init__(self, msg: str, *, error_status_hint: int = 400) -> None:
        super().__init__(msg)
        self.error_status_hint = error_status_hint

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, error_status_hint={self.error_status_hint})"


class LocalProtocolError(ProtocolError):
    """We tried to build or send something invalid (a bug on our side)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something invalid (hostile or broken input)."""
