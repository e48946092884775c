"""Firewall feeds: an nftables script (`nft -f`), an ipset restore file, iptables-restore rules."""

from __future__ import annotations

from typing import Final

from sipwarden.hub.formats.base import FeedData, split_families

#: Names the feeds create; a reload replaces exactly these and nothing else of the host's rules.
NFT_TABLE: Final = "sipwarden_hub"
IPSET_V4: Final = "sipwarden-hub-v4"
IPSET_V6: Final = "sipwarden-hub-v6"
IPTABLES_CHAIN: Final = "SIPWARDEN-HUB"
#: ipset's default maxelem is 65536; the hub's list can be far longer.
IPSET_MIN_MAXELEM: Final = 65536


def _nft_set(name: str, kind: str, ips: list[str]) -> str:
    lines = [f"\tset {name} {{", f"\t\ttype {kind}"]
    if ips:
        lines.append("\t\telements = {")
        lines.append(",\n".join("\t\t\t" + ip for ip in ips))
        lines.append("\t\t}")
    lines.append("\t}")
    return "\n".join(lines)


class NftFormat:
    """An nftables script: a table of its own with two sets and a drop chain, replaced atomically."""

    name: Final = "nft"
    media_type: Final = "text/plain; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """`nft -f` input; declaring then deleting the table first makes the reload idempotent."""
        v4, v6 = split_families(feed.ips)
        return "\n".join(
            [
                f"# sipwarden hub blocklist, cursor {feed.cursor}, {len(v4) + len(v6)} addresses",
                f"table inet {NFT_TABLE}",
                f"delete table inet {NFT_TABLE}",
                f"table inet {NFT_TABLE} {{",
                _nft_set("blocklist_v4", "ipv4_addr", v4),
                _nft_set("blocklist_v6", "ipv6_addr", v6),
                "\tchain input {",
                # Before conntrack (raw, -300) so a flood from a listed source costs no state.
                "\t\ttype filter hook prerouting priority -300; policy accept;",
                "\t\tip saddr @blocklist_v4 drop",
                "\t\tip6 saddr @blocklist_v6 drop",
                "\t}",
                "}",
                "",
            ]
        )


class IpsetFormat:
    """`ipset restore` input: two hash:ip sets, flushed and refilled."""

    name: Final = "ipset"
    media_type: Final = "text/plain; charset=utf-8"

    def render(self, feed: FeedData) -> str:
        """create/flush/add lines for both families."""
        v4, v6 = split_families(feed.ips)
        out: list[str] = []
        for name, family, ips in ((IPSET_V4, "inet", v4), (IPSET_V6, "inet6", v6)):
            maxelem = max(IPSET_MIN_MAXELEM, len(ips))
            out.append(f"create {name} hash:ip family {family} hashsize 1024 maxelem {maxelem} -exist")
            out.append(f"flush {name}")
            out.extend(f"add {name} {ip} -exist" for ip in ips)
        return "\n".join(out) + "\n"


class _IptablesBase:
    media_type: Final = "text/plain; charset=utf-8"
    family: int = 4

    def render(self, feed: FeedData) -> str:
        """A filter-table chain of DROP rules; load with `iptables-restore --noflush`."""
        v4, v6 = split_families(feed.ips)
        ips, bits = (v4, 32) if self.family == 4 else (v6, 128)
        out = ["*filter", f":{IPTABLES_CHAIN} - [0:0]"]
        out.extend(f"-A {IPTABLES_CHAIN} -s {ip}/{bits} -j DROP" for ip in ips)
        out.append("COMMIT")
        return "\n".join(out) + "\n"


class IptablesFormat(_IptablesBase):
    """IPv4 rules for `iptables-restore --noflush` (jump to the chain from INPUT yourself)."""

    name: Final = "iptables"
    family = 4


class Ip6tablesFormat(_IptablesBase):
    """IPv6 rules for `ip6tables-restore --noflush`."""

    name: Final = "ip6tables"
    family = 6
