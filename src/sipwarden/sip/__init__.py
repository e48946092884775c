"""Sans-I/O SIP: bytes in, frozen dataclasses out, and back. No sockets, no clock."""
