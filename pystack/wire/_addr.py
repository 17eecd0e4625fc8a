"""Address conversions shared by the codecs (dotted IPv4 strings, colon MAC strings)."""

from __future__ import annotations

import socket
from functools import lru_cache

_AF_INET = socket.AF_INET
_pton = socket.inet_pton
ip_to_str = socket.inet_ntoa


@lru_cache(maxsize=4096)
def ip_to_bytes(ip: str) -> bytes:
    """Pack a dotted-quad IPv4 address; a clear ``ValueError`` otherwise."""
    try:
        return _pton(_AF_INET, ip)
    except (OSError, TypeError):
        raise ValueError(f"not a dotted-quad IPv4 address: {ip!r}") from None


def mac_to_str(raw: bytes) -> str:
    """Six bytes as a lower-case colon string (``"02:00:00:00:00:01"``)."""
    return raw.hex(":")


@lru_cache(maxsize=1024)
def mac_to_bytes(mac: str) -> bytes:
    """Parse a colon (or dash) separated MAC string; a clear ``ValueError`` otherwise."""
    try:
        raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    except (ValueError, AttributeError):
        raw = b""
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw
