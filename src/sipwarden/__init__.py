"""sipwarden: protects SIP/VoIP servers from scanners, password brute force and toll fraud."""

__version__ = "0.1.0"
