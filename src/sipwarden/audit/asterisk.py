"""Checks of Asterisk configuration: sip.conf, pjsip.conf, iax.conf, extensions.conf, manager.conf."""

from __future__ import annotations

from dataclasses import dataclass, field

from sipwarden.audit.asterisk_conf import ConfFile, Section
from sipwarden.audit.dialplan import toll_routes
from sipwarden.audit.findings import Finding, Severity, finding
from sipwarden.audit.secrets import Credential, secret_findings, weakness

_ACL_KEYS = frozenset({"permit", "deny", "acl", "contactpermit", "contactdeny", "contactacl"})
_PJSIP_ACL_KEYS = frozenset({"acl", "permit", "deny", "contact_acl", "contact_permit", "contact_deny"})
_ALL_ADDRESSES = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 - values read from configs


def _yes(value: str) -> bool:
    return value.strip().lower() in {"yes", "true", "y", "t", "1", "on"}


def _type(section: Section) -> str:
    entry = section.get("type")
    return entry.value.lower() if entry else ""


@dataclass(slots=True)
class AsteriskConfig:
    """The parsed files of one Asterisk installation (any may be missing)."""

    sip: ConfFile | None = None
    pjsip: ConfFile | None = None
    iax: ConfFile | None = None
    extensions: ConfFile | None = None
    manager: ConfFile | None = None
    credentials: list[Credential] = field(default_factory=list)


def _peers(conf: ConfFile) -> list[Section]:
    return [
        s for s in conf.sections
        if not s.template and s.name.lower() != "general"
        and (_type(s) in {"friend", "peer", "user"} or s.get("secret") is not None)
    ]  # fmt: skip


def _guest_contexts(cfg: AsteriskConfig) -> list[tuple[str, str, int, str]]:
    """(context, file, line, why) for every context callers reach without a password."""
    out = []
    if cfg.sip:
        for general in cfg.sip.by_name("general"):
            guest = general.get("allowguest")
            if guest is None or _yes(guest.value):
                ctx = general.get("context")
                where = ctx or guest
                out.append((
                    ctx.value if ctx else "default", where.file if where else general.file,
                    where.line if where else general.line, "chan_sip guests (allowguest)",
                ))  # fmt: skip
    if cfg.pjsip:
        for section in cfg.pjsip.sections:
            if section.name == "anonymous" and _type(section) == "endpoint" and not section.template:
                ctx = section.get("context")
                out.append(
                    (ctx.value if ctx else "default", section.file, section.line, "the pjsip anonymous endpoint")
                )
    if cfg.iax:
        for section in _peers(cfg.iax):
            if _type(section) in {"user", "friend"} and section.get("secret") is None and section.get("auth") is None:
                ctx = section.get("context")
                out.append(
                    (ctx.value if ctx else "default", section.file, section.line, f"IAX guest user {section.name}")
                )
    return out


def check_asterisk(cfg: AsteriskConfig) -> list[Finding]:
    """Every finding about one Asterisk installation."""
    out: list[Finding] = []
    if cfg.sip:
        out += _check_sip(cfg.sip, cfg)
    if cfg.pjsip:
        out += _check_pjsip(cfg.pjsip, cfg)
    if cfg.iax:
        out += _check_iax(cfg.iax, cfg)
    if cfg.extensions:
        for context, file, line, why in _guest_contexts(cfg):
            for route in toll_routes(cfg.extensions, context):
                via = f" via {' -> '.join(route.via)}" if route.via else ""
                out.append(finding(
                    "guest-reaches-international", route.file, route.line,
                    f"context {context} is open to {why} ({file}:{line}) and{via} dials {route.exten} "
                    f"(accepts {route.sample})",
                    "put guests in a context that only reaches local extensions (e.g. context=guest-only with "
                    "no outbound patterns), or allowguest=no; never include outbound contexts there",
                ))  # fmt: skip
    if cfg.manager:
        out += _check_manager(cfg.manager)
    out += secret_findings(cfg.credentials)
    return out


def _check_sip(conf: ConfFile, cfg: AsteriskConfig) -> list[Finding]:
    out = []
    generals = conf.by_name("general")
    general = generals[0] if generals else None
    if general is not None:
        guest = general.get("allowguest")
        if guest is not None and _yes(guest.value):
            out.append(finding("allowguest", guest.file, guest.line, "allowguest=yes accepts calls without a password",
                               "set allowguest=no in [general]"))  # fmt: skip
        elif guest is None:
            out.append(finding("allowguest", general.file, general.line,
                               "allowguest is not set and chan_sip defaults to yes",
                               "add allowguest=no to [general]", Severity.MEDIUM))  # fmt: skip
        reject = general.get("alwaysauthreject")
        if reject is not None and not _yes(reject.value):
            out.append(finding("alwaysauthreject-off", reject.file, reject.line,
                               "alwaysauthreject=no answers unknown accounts differently (svwar enumerates them)",
                               "set alwaysauthreject=yes in [general]"))  # fmt: skip
    tls = general is not None and (e := general.get("tlsenable")) is not None and _yes(e.value)
    if not tls:
        where = general or (conf.sections[0] if conf.sections else None)
        out.append(finding("no-tls", conf.path, where.line if where else 1, "chan_sip offers no TLS (tlsenable)",
                           "set tlsenable=yes with tlscertfile, and transport=tls on the peers"))  # fmt: skip
    peers = _peers(conf)
    for peer in peers:
        if not any(peer.all(k) for k in _ACL_KEYS):
            out.append(finding("account-without-acl", peer.file, peer.line,
                               f"peer {peer.name} may register and call from any address",
                               f"add deny=0.0.0.0/0.0.0.0 and permit=<the phone's network> to [{peer.name}]"))  # fmt: skip
        secret = peer.get("secret")
        if secret is not None:
            user = peer.get("defaultuser") or peer.get("username")
            cfg.credentials.append(Credential(f"sip peer {peer.name}", user.value if user else peer.name,
                                              secret.value, secret.file, secret.line))  # fmt: skip
    if peers and not any((e := p.get("encryption")) is not None and _yes(e.value) for p in peers):
        out.append(finding("no-srtp", conf.path, peers[0].line, "no peer uses SRTP (encryption=yes)",
                           "set encryption=yes on the peers (with TLS, so the keys are not sent in clear)"))  # fmt: skip
    return out


def _check_pjsip(conf: ConfFile, cfg: AsteriskConfig) -> list[Finding]:
    out = []
    live = [s for s in conf.sections if not s.template]
    endpoints = [s for s in live if _type(s) == "endpoint"]
    auths = {s.name: s for s in live if _type(s) == "auth"}
    identified = {e.value.strip() for s in live if _type(s) == "identify" for e in s.all("endpoint")}
    global_acl = any(_type(s) == "acl" for s in live)
    if not any((p := s.get("protocol")) is not None and p.value.lower() in {"tls", "wss"}
               for s in live if _type(s) == "transport"):  # fmt: skip
        first = next((s for s in live if _type(s) == "transport"), live[0] if live else None)
        out.append(finding("no-tls", conf.path, first.line if first else 1, "no pjsip transport with protocol=tls",
                           "add a transport with protocol=tls (cert_file, priv_key_file) and use it on endpoints"))  # fmt: skip
    for ep in endpoints:
        if ep.name == "anonymous":
            continue
        if not global_acl and ep.name not in identified and not any(ep.all(k) for k in _PJSIP_ACL_KEYS):
            out.append(finding("account-without-acl", ep.file, ep.line,
                               f"endpoint {ep.name} may register and call from any address",
                               f"add acl=/deny=/permit= (or contact_acl) to [{ep.name}], or an identify section"))  # fmt: skip
    users_of: dict[str, list[str]] = {}
    for ep in endpoints:
        for a in ep.all("auth"):
            users_of.setdefault(a.value.strip(), []).append(ep.name)
    for name, auth in auths.items():
        password = auth.get("password")
        if password is None:
            continue
        user = auth.get("username")
        users = users_of.get(name, [])
        account = f"pjsip auth {name}" + (f" (endpoint {', '.join(users)})" if users else "")
        cfg.credentials.append(Credential(account, user.value if user else name, password.value,
                                          password.file, password.line, "password"))  # fmt: skip
    secure = [
        e for e in endpoints if (m := e.get("media_encryption")) is not None and m.value.lower() in {"sdes", "dtls"}
    ]
    if endpoints and not secure:
        out.append(finding("no-srtp", conf.path, endpoints[0].line, "no endpoint uses SRTP (media_encryption)",
                           "set media_encryption=sdes (over TLS) or dtls on the endpoints"))  # fmt: skip
    return out


def _check_iax(conf: ConfFile, cfg: AsteriskConfig) -> list[Finding]:
    out = []
    for peer in _peers(conf):
        secret = peer.get("secret")
        if secret is None and peer.get("auth") is None and _type(peer) in {"user", "friend"}:
            out.append(finding("allowguest", peer.file, peer.line, f"IAX user {peer.name} has no secret (a guest user)",
                               f"remove [{peer.name}] or give it a secret and auth=md5"))  # fmt: skip
        if not any(peer.all(k) for k in ("permit", "deny", "acl")):
            out.append(finding("account-without-acl", peer.file, peer.line,
                               f"IAX peer {peer.name} accepts any address",
                               f"add deny=0.0.0.0/0.0.0.0 and permit=<its network> to [{peer.name}]"))  # fmt: skip
        if secret is not None:
            user = peer.get("username")
            cfg.credentials.append(Credential(f"iax peer {peer.name}", user.value if user else peer.name,
                                              secret.value, secret.file, secret.line))  # fmt: skip
    return out


def _check_manager(conf: ConfFile) -> list[Finding]:
    out: list[Finding] = []
    generals = conf.by_name("general")
    general = generals[0] if generals else None
    enabled = general is not None and (e := general.get("enabled")) is not None and _yes(e.value)
    if not enabled:
        return out
    bind = general.get("bindaddr") if general else None
    open_to_all = bind is None or bind.value.strip() in _ALL_ADDRESSES
    for user in conf.sections:
        if user.name == "general" or user.template:
            continue
        secret = user.get("secret")
        weak = weakness(user.name, secret.value) if secret is not None else ("secret-short", "is empty")
        line = secret.line if secret is not None else user.line
        if open_to_all and weak:
            out.append(finding("ami-exposed", user.file, line,
                               f"AMI listens on all addresses ({bind.value if bind else 'default 0.0.0.0'}) and the "
                               f"secret of manager user {user.name} {weak[1]}",
                               "set bindaddr=127.0.0.1 in [general] and a random secret of 12+ characters"))  # fmt: skip
        elif weak:
            out.append(finding(weak[0], user.file, line, f"secret of manager user {user.name} {weak[1]}",
                               "set a random secret of 12+ characters", Severity.MEDIUM))  # fmt: skip
        if open_to_all and not any(user.all(k) for k in ("permit", "deny", "acl")):
            out.append(finding("ami-without-acl", user.file, user.line,
                               f"manager user {user.name} may log in from any address",
                               f"add deny=0.0.0.0/0.0.0.0 and permit=127.0.0.1/255.255.255.255 to [{user.name}]"))  # fmt: skip
    return out
