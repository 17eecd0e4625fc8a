"""Address selection for ``getaddrinfo`` with AF_UNSPEC: ask for A and AAAA records and
order the answers in the spirit of RFC 6724's destination address selection (§6), for a
host with at most a few addresses of each family."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Set
from typing import Any

from pystack.dns.resolver import DNSError

_V4_LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")


def usable_families(addresses: Iterable[Any]) -> set[int]:
    """The families this host has a usable source address for: assigned (not tentative,
    RFC 4862 §5.4), not loopback and not link-local, as a global destination needs
    (RFC 6724 §6 rule 1 and rule 2: a source of the destination's scope)."""
    families: set[int] = set()
    for entry in addresses:
        ip = entry.interface.ip
        if entry.state == "tentative" or ip.is_loopback or ip.is_link_local:
            continue
        if ip.version == 4 and ip in _V4_LINK_LOCAL:
            continue
        families.add(entry.family)
    return families


def order_destinations(addresses: list[str], usable: Set[int]) -> list[str]:
    """Sort ``addresses`` (stable, so the DNS order decides ties: RFC 6724 §6 rule 10):
    first those of a family we have a usable source for (rule 1, avoid unusable
    destinations), then IPv6 before IPv4 (rule 6: the default policy table gives ::/0
    precedence 40 and IPv4's ::ffff:0:0/96 precedence 35)."""

    def key(address: str) -> tuple[int, int]:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return (0 if family in usable else 1, 0 if family == socket.AF_INET6 else 1)

    return sorted(addresses, key=key)


def resolve_unspec(resolver: Any, name: str) -> tuple[list[str], str]:
    """The A and AAAA addresses of ``name`` and its canonical name. A family without
    records is left out; when neither has any, the error of the A question is raised."""
    found: list[str] = []
    canonical = ""
    errors: list[DNSError] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = resolver.resolve_blocking(name, rdtype)
        except DNSError as exc:
            errors.append(exc)
            continue
        found.extend(str(v) for v in answer.values)
        canonical = canonical or answer.canonical_name
    if not found:
        raise errors[0]
    return found, canonical


def port_number(port: int | str | bytes | None, proto: str) -> int:
    """A getaddrinfo port: a number, a numeric string, or a service name looked up for
    ``proto`` ("tcp" or "udp"); None is 0."""
    if port is None:
        return 0
    if isinstance(port, int):
        return port
    text = port.decode() if isinstance(port, bytes) else str(port)
    return int(text) if text.isdigit() else socket.getservbyname(text, proto)
