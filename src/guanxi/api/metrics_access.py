"""Who may read `/metrics`: a scraper that sends `GUANXI_METRICS_TOKEN` as a Bearer token, from
anywhere, or any client inside `GUANXI_METRICS_NETWORKS` (loopback only by default).

The metrics name routes, rates and error counts: enough to map the API and watch its load, so they
are not for the internet. The client address is the one the trusted proxies reported (see
security_headers), so a request relayed by a proxy counts as its original client, not as loopback.
Why these defaults, and how to set up a scraper, is in docs/security.md.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from functools import lru_cache

from fastapi import Request

from guanxi.config import get_settings
from guanxi.kit.errors import NotAuthenticated, PermissionDenied

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def networks(setting: str) -> tuple[Network, ...]:
    """The setting's networks; an entry that is not a network is logged and left out (refusing more,
    never less)."""
    found: list[Network] = []
    for item in (part.strip() for part in setting.split(",")):
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            log.warning("GUANXI_METRICS_NETWORKS: %r is not an address or network; ignored", item)
    return tuple(found)


def client_allowed(host: str | None, setting: str) -> bool:
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an address (a test client's name, a Unix socket)
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks(setting))


def _bearer(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def require_metrics_reader(request: Request) -> None:
    """Let the request through, or raise: 401 when a token would help, 403 when none is configured."""
    settings = get_settings()
    token = _bearer(request)
    if token is not None and settings.metrics_token:
        if hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
            return
        raise NotAuthenticated(message="the metrics token is not valid", key="problem.metrics.bad_token")
    host = request.client.host if request.client else None
    if client_allowed(host, settings.metrics_networks):
        return
    if settings.metrics_token:
        raise NotAuthenticated(
            message="the metrics need a Bearer token from this address", key="problem.metrics.token_required"
        )
    raise PermissionDenied(
        message="the metrics are readable only from the configured networks", key="problem.metrics.network_only"
    )
