"""Who is acting: a staff user, an API key, or the system itself (jobs, CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: str
    kind: str = "staff"  # staff | api_key | system
    region: str | None = None
    team: str | None = None
    scope: str = "all"  # all | region | team | own
    api_scopes: frozenset[str] | None = None  # an API key's own limits on top of its role
    ip: str | None = None
    language: str = "zh-CN"
    extra: dict[str, str] = field(default_factory=dict)

    def with_ip(self, ip: str | None) -> Principal:
        return replace(self, ip=ip)


SYSTEM = Principal(id="system", name="system", role="admin", kind="system")
