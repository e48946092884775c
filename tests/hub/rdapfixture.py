"""A loopback RDAP server for the abuse desk tests: IANA-style bootstrap files and RFC 9083 ip
network answers for a few test networks, counting every request so tests can prove caching.

The networks are data only: nothing is ever sent to these addresses. Registry shapes follow what
real registries send: RIPE nests the abuse role inside the organisation entity, ARIN lists the
origin AS in `arin_originas0_originautnums`, some networks have no abuse contact at all.
"""

from __future__ import annotations

import ipaddress
import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def vcard(fn: str, email: str | None = None) -> list[Any]:
    """A jCard (RFC 7095) with a name and, optionally, an e-mail address."""
    props: list[Any] = [["version", {}, "text", "4.0"], ["fn", {}, "text", fn], ["kind", {}, "text", "org"]]
    if email is not None:
        props.append(["email", {"type": "work"}, "text", email])
    return ["vcard", props]


def network_doc(
    cidr: str,
    name: str,
    *,
    country: str | None = None,
    abuse: str | None = None,
    org: str = "Example Hosting Ltd",
    asn: int | None = None,
    nested: bool = True,
    end: str | None = None,
) -> dict[str, Any]:
    """An RFC 9083 ip network object for `cidr` (or from its first address to `end`)."""
    net = ipaddress.ip_network(cidr)
    abuse_entity = {
        "objectClassName": "entity",
        "handle": f"ABUSE-{name}",
        "roles": ["abuse"],
        "vcardArray": vcard("Abuse desk", abuse),
    }
    org_entity: dict[str, Any] = {
        "objectClassName": "entity",
        "handle": f"ORG-{name}",
        "roles": ["registrant"],
        "vcardArray": vcard(org),
    }
    entities: list[Any] = [org_entity]
    if abuse is not None:
        if nested:
            org_entity["entities"] = [abuse_entity]
        else:
            entities.append(abuse_entity)
    doc: dict[str, Any] = {
        "rdapConformance": ["rdap_level_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": f"NET-{name}",
        "startAddress": str(net.network_address),
        "endAddress": end or str(net.broadcast_address),
        "ipVersion": f"v{net.version}",
        "name": name,
        "type": "ASSIGNED PA",
        "entities": entities,
    }
    if country:
        doc["country"] = country
    if asn is not None:
        doc["arin_originas0_originautnums"] = [asn]
    return doc


@dataclass
class RdapFixture:
    """The server's state: networks served, requests seen, failures to inject."""

    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    status_for: dict[str, int] = field(default_factory=dict)  # address -> HTTP status to answer instead
    redirect: set[str] = field(default_factory=set)  # addresses answered with a redirect to /rir2/
    raw_for: dict[str, bytes] = field(default_factory=dict)  # address -> body to answer verbatim
    base: str = ""

    def add(self, doc: dict[str, Any]) -> None:
        """Serve `doc` for every address in its range."""
        self.networks[f"{doc['startAddress']}-{doc['endAddress']}"] = doc

    def lookups(self, ip: str) -> int:
        """How many ip queries asked about `ip` (on any path)."""
        return sum(n for path, n in self.requests.items() if path.endswith(f"/ip/{ip}"))

    def find(self, ip: str) -> dict[str, Any] | None:
        addr = ipaddress.ip_address(ip)
        best: tuple[int, dict[str, Any] | None] = (-1, None)
        for doc in self.networks.values():
            start = ipaddress.ip_address(doc["startAddress"])
            end = ipaddress.ip_address(doc["endAddress"])
            if start.version == addr.version and int(start) <= int(addr) <= int(end):
                size = int(end) - int(start)
                if best[1] is None or size < best[0]:
                    best = (size, doc)
        return best[1]

    def bootstrap(self, version: int) -> dict[str, Any]:
        prefixes = ["0.0.0.0/0"] if version == 4 else ["::/0"]
        return {
            "version": "1.0",
            "publication": "2026-11-25T00:00:00Z",
            "services": [[prefixes, [f"{self.base}/rdap/"]]],
        }


def _handler(state: RdapFixture) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def send(self, status: int, body: bytes, media: str = "application/rdap+json", **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            state.requests[self.path] += 1
            if self.path in ("/bootstrap/ipv4.json", "/bootstrap/ipv6.json"):
                version = 4 if "ipv4" in self.path else 6
                self.send(200, json.dumps(state.bootstrap(version)).encode(), "application/json")
                return
            prefix, _, ip = self.path.rpartition("/ip/")
            if prefix not in ("/rdap", "/rir2") or not ip:
                self.send(404, b'{"errorCode": 404}')
                return
            if ip in state.redirect and prefix == "/rdap":
                # RFC 7480 5.2: a registry that does not hold the network points to the one that does.
                self.send(301, b"", Location=f"{state.base}/rir2/ip/{ip}")
                return
            if ip in state.status_for:
                self.send(state.status_for[ip], b'{"errorCode": %d}' % state.status_for[ip], Retry_After="120")
                return
            if ip in state.raw_for:
                self.send(200, state.raw_for[ip])
                return
            doc = state.find(ip)
            if doc is None:
                self.send(404, b'{"errorCode": 404, "title": "Not Found"}')
                return
            self.send(200, json.dumps(doc).encode())

    return Handler


@contextmanager
def rdap_server(state: RdapFixture | None = None) -> Iterator[RdapFixture]:
    """Serve `state` on a free 127.0.0.1 port; `state.base` is its URL (no trailing slash)."""
    state = state or RdapFixture()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
