"""The exceptions PyStack raises for what a user can fix, and the checks behind them.

- :class:`PrivilegeError` (a :class:`PermissionError`): an attachment needs a privilege
  the process lacks. Its message is one line naming the attachment and the privilege::

      opening TAP device 'tap0' needs root or CAP_NET_ADMIN

- ``ValueError``: an argument is malformed (an address without a prefix, an MTU out of
  range, ...). ``PyStack(...)`` checks its arguments with the functions below before it
  opens anything, so a mistake creates no device and no netfilter rule.
"""

from __future__ import annotations

import errno
import ipaddress
import re

MIN_MTU = 68  # RFC 791 §3.2: every IPv4 module must forward a 68-octet datagram
MAX_MTU = 65535  # the IPv4 Total Length field's largest value
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class PrivilegeError(PermissionError):
    """Opening an attachment needs a privilege (root or a capability) this process lacks.

    ``attachment`` says what was being opened, ``privilege`` what it needs; ``str()`` is
    the one-line message. ``errno`` is the kernel's (EPERM or EACCES).
    """

    def __init__(self, attachment: str, privilege: str, code: int | None = errno.EPERM) -> None:
        super().__init__(code or errno.EPERM, f"{attachment} needs {privilege}")
        self.attachment = attachment
        self.privilege = privilege

    def __str__(self) -> str:
        return f"{self.attachment} needs {self.privilege}"


def check_port(port: object) -> int:
    """``port`` as an int when it is a TCP/UDP port (1-65535), else ValueError."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"{port!r} is not a port (1-65535)")
    return port


def check_cidr(ip: str) -> str:
    """``ip`` when it is ``"a.b.c.d/prefix"``, else ValueError saying what is wrong."""
    if not isinstance(ip, str) or "/" not in ip:
        raise ValueError(f"{ip!r} is not an IPv4 address with a prefix (a.b.c.d/prefix)")
    try:
        ipaddress.IPv4Interface(ip)
    except ValueError:
        raise ValueError(f"{ip!r} is not an IPv4 address with a prefix (a.b.c.d/prefix)") from None
    return ip


def check_cidr6(ip: str) -> str:
    """``ip`` when it is a unicast ``"2001:db8::2/64"``, else ValueError saying what is wrong."""
    message = f"{ip!r} is not a unicast IPv6 address with a prefix (2001:db8::2/64)"
    if not isinstance(ip, str) or "/" not in ip:
        raise ValueError(message)
    try:
        iface = ipaddress.IPv6Interface(ip)
    except ValueError:
        raise ValueError(message) from None
    if iface.ip.is_multicast or iface.ip.is_unspecified or iface.ip.is_loopback:
        raise ValueError(message)
    return ip


def check_ip(address: str) -> str:
    """``address`` when it is a plain IPv4 or IPv6 address, else ValueError."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IPv4 or IPv6 address") from None
    return address


def check_address(address: str) -> str:
    """``address`` when it is a plain IPv4 address (``"a.b.c.d"``), else ValueError."""
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise ValueError(f"{address!r} is not an IPv4 address (a.b.c.d)") from None
    return address


def check_mtu(mtu: object) -> int:
    """``mtu`` when it lies in 68-65535 (RFC 791's minimum to the largest datagram)."""
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        raise ValueError(f"{mtu!r} is not an MTU ({MIN_MTU}-{MAX_MTU})")
    return mtu


def check_mac(mac: str) -> str:
    """``mac`` (lower-cased) when it is a unicast MAC ``"xx:xx:xx:xx:xx:xx"``."""
    text = mac.lower() if isinstance(mac, str) else ""
    if not _MAC.match(text):
        raise ValueError(f"{mac!r} is not a MAC address (xx:xx:xx:xx:xx:xx)")
    if int(text[:2], 16) & 1:
        raise ValueError(f"{mac!r} is a multicast MAC: a stack needs a unicast one")
    return text
