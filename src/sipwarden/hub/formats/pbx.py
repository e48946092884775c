"""PBX-side feeds: a Kamailio permissions address file and an Asterisk named ACL (acl.conf)."""

from __future__ import annotations

from typing import Final

from sipwarden.hub.formats.base import FeedData, split_families

#: The permissions group the Kamailio file puts every address in: `allow_source_address("66")`.
KAMAILIO_GROUP: Final = 66
ASTERISK_ACL: Final = "sipwarden-hub"


class KamailioFormat:
    """A permissions-module `address_file`: `group address mask port tag` per line."""

    name: Final = "kamailio"
    media_type: Final = "text/plain; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """One record per address; reload with `kamcmd permissions.addressReload`."""
        v4, v6 = split_families(feed.ips)
        out = [f'# sipwarden hub blocklist, cursor {feed.cursor}: if (allow_source_address("{KAMAILIO_GROUP}")) drop']
        out.extend(f"{KAMAILIO_GROUP} {ip} 32 0 sipwarden-hub" for ip in v4)
        out.extend(f"{KAMAILIO_GROUP} {ip} 128 0 sipwarden-hub" for ip in v6)
        return "\n".join(out) + "\n"


class AsteriskFormat:
    """A named ACL for acl.conf (`acl = sipwarden-hub` in pjsip.conf or sip.conf)."""

    name: Final = "asterisk"
    media_type: Final = "text/plain; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """Asterisk applies the rules in order, the last match winning: permit all, then deny each."""
        v4, v6 = split_families(feed.ips)
        out = [
            f"; sipwarden hub blocklist, cursor {feed.cursor}",
            f"[{ASTERISK_ACL}]",
            "permit=0.0.0.0/0.0.0.0",
            "permit=::/0",
        ]
        out.extend(f"deny={ip}/255.255.255.255" for ip in v4)
        out.extend(f"deny={ip}/128" for ip in v6)
        return "\n".join(out) + "\n"
