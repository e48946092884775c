"""RDAP, sans I/O: the IANA bootstrap (RFC 9224) and the ip network object (RFC 9083) as plain data.

Who owns an address is asked over RDAP (RFC 7480-7482/9082/9083): a JSON document per network with
its range, name, country and the entities behind it, among them the abuse contact (role `abuse`,
with an e-mail address in its jCard, RFC 7095). This module turns those documents into `RdapNetwork`
records and never touches the network; `rdap_refresh` does the HTTP and fills the cache.

The documents come from registries we do not control, so every field is checked: only addresses
become networks, only plain mailbox addresses become recipients (a CR or a comma in an "email"
would otherwise reach a To: header), and nesting and list sizes are bounded.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sipwarden.intel.ownership import Owner

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Entities nest (network -> organisation -> abuse role at RIPE and APNIC); real answers go 2-3 deep.
MAX_ENTITY_DEPTH: Final = 4
#: Entities looked at in one answer; registries send a handful, a hostile server could send millions.
MAX_ENTITIES: Final = 200
#: CIDR blocks one range may be stored as: an arbitrary IPv4 range needs at most 62 blocks
#: (`ipaddress.summarize_address_range`), a sane registry range one or two.
MAX_BLOCKS: Final = 64
#: Longest text kept from a name, handle or organisation.
MAX_TEXT: Final = 200
#: RFC 5321 4.5.3.1.3: a path (hence a mailbox) is at most 256 octets; 254 once the brackets go.
MAX_EMAIL: Final = 254
#: A mailbox we are willing to send to: local@domain, no spaces, quotes, commas or angle brackets.
_EMAIL: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
_COUNTRY: Final = re.compile(r"[A-Za-z]{2}")


class RdapError(ValueError):
    """An RDAP document we cannot use (the peer's fault: RemoteProtocolError in spirit)."""


@dataclass(frozen=True, slots=True)
class RdapNetwork:
    """What an RDAP ip network object says about the network that holds an address."""

    handle: str
    name: str
    org: str
    start: str
    end: str
    blocks: tuple[str, ...]  # the range as CIDR blocks
    asn: int | None
    country: str | None
    abuse_email: str | None

    def owner_of(self, ip: str) -> Owner:
        """The `Owner` record for `ip` (its CIDR block within this network)."""
        addr = ipaddress.ip_address(ip)
        network = next(
            (
                b
                for b in self.blocks
                if ipaddress.ip_network(b).version == addr.version and addr in ipaddress.ip_network(b)
            ),
            self.blocks[0],
        )
        return Owner(network=network, name=self.name, asn=self.asn, country=self.country, abuse_email=self.abuse_email)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """The RDAP services of an IANA bootstrap registry (RFC 9224): prefix -> base URLs."""

    services: tuple[tuple[IPNetwork, tuple[str, ...]], ...]

    def base_urls(self, ip: str) -> tuple[str, ...]:
        """The base URLs for `ip` from the most specific matching entry (empty: not covered)."""
        addr = ipaddress.ip_address(ip)
        best: tuple[int, tuple[str, ...]] = (-1, ())
        for net, urls in self.services:
            if net.version == addr.version and addr in net and net.prefixlen > best[0]:
                best = (net.prefixlen, urls)
        return best[1]


def parse_bootstrap(*documents: Mapping[str, Any]) -> Bootstrap:
    """Merge bootstrap documents (ipv4.json and ipv6.json) into one `Bootstrap`; RdapError if malformed.

    RFC 9224 section 5: each service is `[[prefixes...], [urls...]]`; HTTPS URLs are preferred
    when a service lists both (section 3), so they come first.
    """
    services: list[tuple[IPNetwork, tuple[str, ...]]] = []
    for doc in documents:
        entries = doc.get("services") if isinstance(doc, Mapping) else None
        if not isinstance(entries, list):
            raise RdapError("bootstrap document without a services list")
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], list)):
                raise RdapError("bootstrap service entry is not [[prefixes], [urls]]")
            urls = tuple(_base(u) for u in entry[1] if isinstance(u, str) and u.startswith(("https://", "http://")))
            urls = tuple(sorted(urls, key=lambda u: not u.startswith("https://")))
            if not urls:
                continue
            for prefix in entry[0]:
                try:
                    services.append((ipaddress.ip_network(str(prefix), strict=False), urls))
                except ValueError:
                    raise RdapError(f"bootstrap prefix is not a network: {str(prefix)[:60]!r}") from None
    return Bootstrap(tuple(services))


def _base(url: str) -> str:
    # RFC 9224 section 3: base URLs end with "/", to which the query path is appended.
    return url if url.endswith("/") else url + "/"


def ip_query_url(base: str, ip: str) -> str:
    """The RFC 9082 section 3.1.1 query URL of `ip` under a base URL."""
    return f"{_base(base)}ip/{ipaddress.ip_address(ip).compressed}"


def parse_ip_network(doc: Mapping[str, Any], ip: str) -> RdapNetwork:
    """The network of an RFC 9083 section 5.4 `ip network` object; RdapError unless it holds `ip`."""
    if not isinstance(doc, Mapping):
        raise RdapError("the answer is not a JSON object")
    if doc.get("objectClassName") not in (None, "ip network"):
        raise RdapError(f"expected an ip network object, got {str(doc.get('objectClassName'))[:40]!r}")
    addr = ipaddress.ip_address(ip)
    start, end = _range(doc)
    if start.version != addr.version or not int(start) <= int(addr) <= int(end):
        raise RdapError(f"the network {start} - {end} does not hold {addr}")
    blocks = _blocks(start, end)
    entities = list(_walk_entities(doc.get("entities"), 0))
    abuse = next((e for roles, e in entities if "abuse" in roles and _email(e)), None)
    registrant = next((e for roles, e in entities if "registrant" in roles and _fn(e)), None)
    return RdapNetwork(
        handle=_text(doc.get("handle")),
        name=_text(doc.get("name")),
        org=_fn(registrant) if registrant else "",
        start=str(start),
        end=str(end),
        blocks=blocks,
        asn=_origin_asn(doc),
        country=_country(doc.get("country")),
        abuse_email=_email(abuse) if abuse else None,
    )


def _range(doc: Mapping[str, Any]) -> tuple[IPAddress, IPAddress]:
    try:
        start = ipaddress.ip_address(str(doc.get("startAddress", "")).strip())
        end = ipaddress.ip_address(str(doc.get("endAddress", "")).strip())
    except ValueError:
        raise RdapError("startAddress/endAddress are not addresses") from None
    if start.version != end.version or int(start) > int(end):
        raise RdapError(f"not a range: {start} - {end}")
    return start, end


def _blocks(start: IPAddress, end: IPAddress) -> tuple[str, ...]:
    blocks = []
    for net in ipaddress.summarize_address_range(start, end):
        blocks.append(str(net))
        if len(blocks) > MAX_BLOCKS:
            raise RdapError(f"the range {start} - {end} is too ragged to store ({MAX_BLOCKS}+ blocks)")
    return tuple(blocks)


def _walk_entities(value: Any, depth: int) -> Iterator[tuple[frozenset[str], Mapping[str, Any]]]:
    """Every entity (depth first, outer first) with its roles, bounded in depth and count."""
    if depth >= MAX_ENTITY_DEPTH or not isinstance(value, list):
        return
    for entity in value[:MAX_ENTITIES]:
        if not isinstance(entity, Mapping):
            continue
        roles = entity.get("roles")
        role_set = frozenset(str(r).lower() for r in roles[:20]) if isinstance(roles, list) else frozenset()
        yield role_set, entity
        yield from _walk_entities(entity.get("entities"), depth + 1)


def _vcard_props(entity: Mapping[str, Any], name: str) -> Iterator[Any]:
    """Values of one jCard property (RFC 7095: ["vcard", [[name, params, type, value], ...]])."""
    card = entity.get("vcardArray")
    if not (isinstance(card, list) and len(card) == 2 and isinstance(card[1], list)):
        return
    for prop in card[1][:MAX_ENTITIES]:
        if isinstance(prop, list) and len(prop) >= 4 and str(prop[0]).lower() == name:
            yield prop[3]


def _email(entity: Mapping[str, Any]) -> str | None:
    for value in _vcard_props(entity, "email"):
        text = str(value).strip()
        if len(text) <= MAX_EMAIL and _EMAIL.fullmatch(text):
            return text
    return None


def _fn(entity: Mapping[str, Any]) -> str:
    return next((_text(v) for v in _vcard_props(entity, "fn") if _text(v)), "")


def _text(value: Any) -> str:
    if not isinstance(value, str | int):
        return ""
    # Control characters (CR, LF, ESC...) have no place in a name shown on pages and in mail.
    return "".join(ch for ch in str(value) if ch.isprintable())[:MAX_TEXT].strip()


def _country(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and _COUNTRY.fullmatch(value) else None


def _origin_asn(doc: Mapping[str, Any]) -> int | None:
    """The origin AS when the registry says it: ARIN's `arin_originas0` extension lists it; RFC 9083
    itself has no such field, so other registries leave it unknown."""
    for key in ("arin_originas0_originautnums", "originAutnums"):
        values = doc.get(key)
        if isinstance(values, Sequence) and not isinstance(values, str):
            for v in values:
                if isinstance(v, int) and 0 < v < 2**32:
                    return v
                if isinstance(v, str) and v.upper().removeprefix("AS").isdigit():
                    number = int(v.upper().removeprefix("AS"))
                    if 0 < number < 2**32:
                        return number
    return None
