"""Fill the ownership cache from RDAP: `RdapRefresher.refresh(ips, now)`.

A batch job (`sipwarden hub abuse refresh`, from cron or a timer), never part of a page view. For
each address it skips what the cache already answers (a fresh network holding it, or a recent
failure), asks the registry named by the IANA bootstrap (RFC 9224) or a configured base URL, and
stores the answer with a time to live. Registries rate-limit RDAP (RIPE and ARIN answer 429 to
bursts), so queries are spaced by `interval_seconds` and a run does at most `max_lookups`.

Why not an RDAP client library: `ipwhois` queries ARIN's fixed bootstrap and Team Cymru's DNS, and
`whoisit` accepts only HTTPS service URLs and refuses documentation ranges; neither can be pointed
at a loopback fixture. RDAP is small (one GET, RFC 9082), so httpx does it here, with the parsing
in `intel.rdap` where it is tested without a network.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from sipwarden.intel.owner_cache import StoreOwnership
from sipwarden.intel.rdap import Bootstrap, RdapError, ip_query_url, parse_bootstrap, parse_ip_network

log = logging.getLogger(__name__)

#: Largest RDAP answer read (bytes). Real ip network answers are 5-50 KB; the bound keeps a broken
#: or hostile server from filling memory.
MAX_RDAP_BYTES: Final = 1_000_000
#: Redirects followed: RFC 7480 section 5.2 lets a server send the client to the authoritative
#: registry (ARIN -> RIPE), one hop in practice.
MAX_REDIRECTS: Final = 3
#: Media type of RDAP answers (RFC 7480 section 4.2).
RDAP_MEDIA: Final = "application/rdap+json"
#: Bootstrap files under the bootstrap base URL (RFC 9224 section 3).
BOOTSTRAP_FILES: Final = ("ipv4.json", "ipv6.json")
#: Longest Retry-After we honour from a registry (seconds): beyond this we try in the next run.
MAX_RETRY_AFTER: Final = 3600

#: Ranges no registry can say anything useful about: private, CGNAT, loopback, link-local, multicast.
#: (Documentation ranges are left in: registries answer for them, and tests use them.)
_UNASKABLE: Final = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
        "::/127",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


#: Pause (seconds) after a 429 without a usable Retry-After (RFC 6585 4 leaves it optional).
DEFAULT_RETRY_AFTER: Final = 60


class RateLimited(RdapError):
    """A registry answered 429 (RFC 6585): ask it nothing more in this run."""

    def __init__(self, server: str, wait: int) -> None:
        super().__init__(f"rate limited by {server} (retry after {wait} s)")
        self.server = server
        self.wait = wait


@dataclass(frozen=True, slots=True)
class RdapConfig:
    """Where and how politely to ask (built from `[hub.abuse]` by the hub)."""

    bootstrap_url: str = "https://data.iana.org/rdap/"
    base_url: str = ""  # when set, every query goes here and the bootstrap is not used
    timeout_seconds: float = 15.0
    cache_days: float = 30.0
    missing_retry_hours: float = 24.0 * 7
    error_retry_hours: float = 6.0
    max_lookups: int = 500
    interval_seconds: float = 1.0
    user_agent: str = "sipwarden"


@dataclass(slots=True)
class RefreshResult:
    """What one refresh run did, per address."""

    looked_up: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    cached: int = 0  # answered by a fresh cached network
    waiting: int = 0  # a recent failure: asked again after its retry time
    skipped: int = 0  # not an address, or a range no registry knows
    deferred: int = 0  # over `max_lookups`, or its registry rate-limited us: left for the next run


class RdapRefresher:
    """Looks addresses up over RDAP and stores the answers in the ownership cache."""

    def __init__(
        self,
        cache: StoreOwnership,
        config: RdapConfig,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Write to `cache`; `client` and `sleep` are parameters so tests can bound and observe them."""
        self.cache = cache
        self.config = config
        self.client = client or httpx.Client(
            timeout=config.timeout_seconds,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"Accept": f"{RDAP_MEDIA}, application/json", "User-Agent": config.user_agent},
        )
        self.sleep = sleep
        self._bootstrap: Bootstrap | None = None
        self._limited: set[str] = set()  # servers that answered 429 in this run

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()

    def refresh(self, ips: Iterable[str], now: datetime) -> RefreshResult:
        """Look up every address of `ips` the cache cannot answer, up to `max_lookups`."""
        result = RefreshResult()
        wanted: list[str] = []
        for text in dict.fromkeys(ips):
            addr = _askable(text)
            if addr is None:
                result.skipped += 1
            elif (hit := self.cache.cached(addr)) is not None and hit.expires_at > now:
                result.cached += 1
            else:
                wanted.append(addr)
        outcomes = self.cache.outcomes(wanted)
        if any(o is None or o.retry_at <= now for o in (outcomes.get(a) for a in wanted)):
            self.load_bootstrap()
        for addr in wanted:
            known = outcomes.get(addr)
            if known is not None and known.retry_at > now:
                result.waiting += 1
                continue
            # A network stored earlier in this run may already hold this address.
            hit = self.cache.cached(addr)
            if hit is not None and hit.expires_at > now:
                result.cached += 1
                continue
            if len(result.looked_up) >= self.config.max_lookups or self._all_limited(addr):
                result.deferred += 1
                continue
            if result.looked_up and self.config.interval_seconds > 0:
                self.sleep(self.config.interval_seconds)
            result.looked_up.append(addr)
            self._lookup(addr, now, result)
        if result.looked_up:
            log.info(
                "rdap: %d looked up (%d found, %d unknown, %d failed), %d cached, %d deferred",
                len(result.looked_up),
                len(result.found),
                len(result.missing),
                len(result.errors),
                result.cached,
                result.deferred,
            )
        return result

    def _all_limited(self, ip: str) -> bool:
        urls = self._base_urls(ip)
        return bool(urls) and all(urlsplit(u).netloc in self._limited for u in urls)

    def _lookup(self, ip: str, now: datetime, result: RefreshResult) -> None:
        cfg = self.config
        try:
            urls = self._base_urls(ip)
            if not urls:
                raise RdapError("no RDAP service covers this address in the bootstrap")
            status, doc, source = self._get_first(urls, ip)
        except RateLimited as exc:
            # Asking again at once would only prolong the block: this address waits as long as the
            # registry asked, and every other address of that registry waits for the next run.
            self._limited.add(exc.server)
            result.errors[ip] = str(exc)
            self.cache.save_failure(ip, "error", str(exc), now=now, retry_at=now + timedelta(seconds=exc.wait))
            log.warning("rdap: %s", exc)
            return
        except (httpx.HTTPError, RdapError, OSError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            result.errors[ip] = detail
            self.cache.save_failure(ip, "error", detail, now=now, retry_at=now + timedelta(hours=cfg.error_retry_hours))
            log.warning("rdap: lookup of %s failed: %s", ip, detail)
            return
        if status == 404:
            result.missing.append(ip)
            retry = now + timedelta(hours=cfg.missing_retry_hours)
            self.cache.save_failure(ip, "missing", "no registry knows this address", now=now, retry_at=retry)
            return
        try:
            net = parse_ip_network(doc, ip)
        except RdapError as exc:
            result.errors[ip] = str(exc)
            retry = now + timedelta(hours=cfg.error_retry_hours)
            self.cache.save_failure(ip, "error", f"{source}: {exc}", now=now, retry_at=retry)
            log.warning("rdap: unusable answer for %s from %s: %s", ip, source, exc)
            return
        self.cache.save_network(ip, net, source=source, now=now, expires=now + timedelta(days=cfg.cache_days))
        result.found.append(ip)

    def _get_first(self, bases: tuple[str, ...], ip: str) -> tuple[int, Any, str]:
        """(status, JSON document, URL) from the first base URL that answers 200 or 404."""
        last: Exception | None = None
        for base in bases:
            if urlsplit(base).netloc in self._limited:
                continue
            url = ip_query_url(base, ip)
            try:
                status, doc = self._get_json(url)
            except (httpx.HTTPError, RdapError) as exc:
                last = exc
                continue
            return status, doc, url
        raise last or RdapError("every RDAP server for this address rate-limited us in this run")

    def _get_json(self, url: str) -> tuple[int, Any]:
        with self.client.stream("GET", url) as response:
            if response.status_code == 404:
                return 404, None
            if response.status_code == 429:
                wait = response.headers.get("retry-after", "")
                seconds = min(int(wait), MAX_RETRY_AFTER) if wait.isdigit() else DEFAULT_RETRY_AFTER
                raise RateLimited(urlsplit(url).netloc, seconds)
            if response.status_code != 200:
                raise RdapError(f"HTTP {response.status_code} from {response.url}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_RDAP_BYTES:
                    raise RdapError(f"answer larger than {MAX_RDAP_BYTES} bytes from {response.url}")
        try:
            return 200, json.loads(bytes(body))
        except (ValueError, RecursionError):
            # RecursionError: a megabyte of "[[[[..." nests deeper than the parser's stack.
            raise RdapError(f"answer from {url} is not JSON (or nests too deep)") from None

    def load_bootstrap(self) -> None:
        """Fetch the bootstrap files once per refresher (not needed with a base URL).

        Raises RdapError or httpx.HTTPError: without the bootstrap no address can be asked, so the
        run stops with one clear error instead of one failure per address.
        """
        if self.config.base_url or self._bootstrap is not None:
            return
        docs = []
        for name in BOOTSTRAP_FILES:
            url = self.config.bootstrap_url.rstrip("/") + "/" + name
            status, doc = self._get_json(url)
            if status != 200:
                raise RdapError(f"bootstrap file not found: {url}")
            docs.append(doc)
        self._bootstrap = parse_bootstrap(*docs)

    def _base_urls(self, ip: str) -> tuple[str, ...]:
        if self.config.base_url:
            return (self.config.base_url,)
        if self._bootstrap is None:
            raise RdapError("the bootstrap is not loaded")
        return self._bootstrap.base_urls(ip)


def _askable(text: str) -> str | None:
    """The canonical address in `text` when a registry could know it, else None."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr.version == n.version and addr in n for n in _UNASKABLE):
        return None
    return str(addr)
