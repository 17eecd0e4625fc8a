"""Address conversions shared by the codecs (dotted IPv4 strings, colon MAC strings).

The stack sees few distinct addresses, so conversions are memoised; the caches are
bounded (cleared when full) so that hostile traffic with random addresses cannot grow them.
"""

from __future__ import annotations

import socket

_AF_INET = socket.AF_INET
_pton = socket.inet_pton
_ntoa = socket.inet_ntoa
_CACHE_MAX = 4096

_ip_str: dict[bytes, str] = {}
_addresses: dict[bytes, tuple[str, str]] = {}
_pseudo: dict[tuple[str, str], int] = {}
_ip_bytes: dict[str, bytes] = {}
_ip_sums: dict[str, int] = {}
_mac_bytes: dict[str, bytes] = {}


def ip_to_str(raw: bytes) -> str:
    """Four packed bytes as a dotted string."""
    text = _ip_str.get(raw)
    if text is None:
        if len(_ip_str) >= _CACHE_MAX:
            _ip_str.clear()
        text = _ip_str[raw] = _ntoa(raw)
    return text


def ip_pair_to_str(raw: bytes) -> tuple[str, str]:
    """Eight packed bytes (source then destination, as in an IPv4 header) as two strings."""
    pair = _addresses.get(raw)
    if pair is None:
        if len(_addresses) >= _CACHE_MAX:
            _addresses.clear()
        pair = _addresses[raw] = (_ntoa(raw[:4]), _ntoa(raw[4:]))
    return pair


def pseudo_sum(src: str, dst: str) -> int:
    """The two addresses' part of a pseudo-header sum (RFC 9293 §3.1), memoised per pair.

    IPv6 addresses work too: the IPv6 pseudo-header (RFC 8200 §8.1) adds the same upper-layer
    length and protocol to its 16-byte addresses, so TCP and UDP sum it unchanged.
    """
    total = _pseudo.get((src, dst))
    if total is None:
        total = ip_sum(src) + ip_sum(dst)
        if len(_pseudo) >= _CACHE_MAX:
            _pseudo.clear()
        _pseudo[(src, dst)] = total
    return total


def ip_to_bytes(ip: str) -> bytes:
    """Pack a dotted-quad IPv4 address; a clear ``ValueError`` otherwise."""
    raw = _ip_bytes.get(ip)
    if raw is None:
        try:
            raw = _pton(_AF_INET, ip)
        except (OSError, TypeError):
            raise ValueError(f"not a dotted-quad IPv4 address: {ip!r}") from None
        if len(_ip_bytes) >= _CACHE_MAX:
            _ip_bytes.clear()
        _ip_bytes[ip] = raw
    return raw


def ip_sum(ip: str) -> int:
    """The address's contribution to a pseudo-header sum (as one 32- or 128-bit number).

    A number is congruent to the sum of its 16-bit words modulo 0xFFFF, which is all that
    the checksum keeps of it.
    """
    total = _ip_sums.get(ip)
    if total is None:
        raw = _ip6_bytes(ip) if ":" in ip else ip_to_bytes(ip)
        total = int.from_bytes(raw, "big")
        if len(_ip_sums) >= _CACHE_MAX:
            _ip_sums.clear()
        _ip_sums[ip] = total
    return total


def _ip6_bytes(ip: str) -> bytes:
    try:
        return _pton(socket.AF_INET6, ip)
    except (OSError, TypeError):
        raise ValueError(f"not an IPv6 address: {ip!r}") from None


def mac_to_str(raw: bytes) -> str:
    """Six bytes as a lower-case colon string (``"02:00:00:00:00:01"``)."""
    return raw.hex(":")


def mac_to_bytes(mac: str) -> bytes:
    """Parse a colon (or dash) separated MAC string; a clear ``ValueError`` otherwise."""
    raw = _mac_bytes.get(mac)
    if raw is None:
        try:
            raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
        except (ValueError, AttributeError, TypeError):
            raw = b""
        if len(raw) != 6:
            raise ValueError(f"not a MAC address: {mac!r}")
        if len(_mac_bytes) >= _CACHE_MAX:
            _mac_bytes.clear()
        _mac_bytes[mac] = raw
    return raw
