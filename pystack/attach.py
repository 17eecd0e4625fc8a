"""Attaching a stack to a real device: what ``PyStack(tap=..., interface=...)`` opens.

:func:`open_link` picks the attachment mode (DESIGN.md "Links and attachment modes") and
returns an :class:`Attachment` holding everything the stack needs: the link, the stack's
address and prefix, its MAC, its gateway, and in shared-address mode the kernel filter.

- ``tap="tap0"``: a :class:`TapLink` (created if missing); ``ip`` is required; the MAC is
  ``mac`` or a random locally administered one (the kernel side has its own).
  Offloads are on unless ``offloads=False``: the TAP opens with ``IFF_VNET_HDR`` and
  checksum + TCPv4 and TCPv6 segmentation offload, so the kernel hands over
  checksum-partial TCP super-segments of up to 64 KB, which the stack takes whole, and
  the stack's TCP sends super-segments of up to 64 KB that the kernel cuts into
  MSS-sized segments (TSO): fewer, larger frames per byte both ways. A device that
  refuses offloads gets plain frames (a warning is logged).
- ``interface="eth1", ip="a.b.c.d/n"``: own address on an existing interface through a
  :class:`PacketSocketLink`, with its own MAC (``mac`` or random) and the interface in
  promiscuous mode for that socket; the kernel ignores traffic for an address it lacks.
  Offloads are on here too unless ``offloads=False``: the socket asks for
  ``PACKET_VNET_HDR`` and takes and sends super-segments as a TAP does; where the kernel
  refuses it, or with ``offloads=False``, the interface's offloads are turned off instead
  (``ethtool``) and frames stay MTU-sized.
- ``interface="eth1"`` without ``ip``: shared address: the interface's IPv4 address, MAC
  and default gateway, and a :class:`KernelFilter` that silences the kernel for the ports
  the stack uses.
- neither: the default-route interface, shared address (the 2013 PyStack's default
  stack, what ``PyStack()`` attaches), or own address when ``ip`` is given.

Arguments are checked before anything is opened. A missing privilege raises
:class:`pystack.errors.PrivilegeError` naming the attachment and what it needs: root or
CAP_NET_ADMIN for a TAP, root or CAP_NET_RAW for a packet socket (a shared address also
writes netfilter rules: CAP_NET_ADMIN).
"""

from __future__ import annotations

import fcntl
import ipaddress
import random
import socket
import struct
from dataclasses import dataclass
from typing import Any

from pystack import errors
from pystack.errors import PrivilegeError
from pystack.kernel_filter import KernelFilter
from pystack.links import netdev

SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
_ROUTES = "/proc/thread-self/net/route"
# A shared address needs a packet socket and netfilter rules (the kernel filter).
SHARED_PRIVILEGE = "root, or CAP_NET_RAW and CAP_NET_ADMIN"


@dataclass
class Attachment:
    """What :func:`open_link` opened; ``close()`` releases all of it (idempotent)."""

    link: Any
    ip: str  # "a.b.c.d/prefix"
    mac: str
    gateway: str | None
    mtu: int
    mode: str  # "tap", "own", "shared"
    interface: str
    kernel_filter: KernelFilter | None = None

    def close(self) -> None:
        # The filter goes last: the link stops first, so no segment is answered
        # by the kernel in between.
        self.link.close()
        if self.kernel_filter is not None:
            self.kernel_filter.close()


def random_mac(rng: random.Random | None = None) -> str:
    """A random locally administered unicast MAC."""
    octets = [(rng or random.SystemRandom()).randrange(256) for _ in range(6)]
    octets[0] = (octets[0] & 0xFC) | 0x02
    return ":".join(f"{o:02x}" for o in octets)


def default_route() -> tuple[str, str] | None:
    """``(interface, gateway)`` of this thread's namespace's IPv4 default route."""
    try:
        with open(_ROUTES) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            gateway = socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
            return fields[0], gateway
    return None


def interface_address(interface: str) -> str:
    """The interface's first IPv4 address as ``a.b.c.d/prefix``."""
    try:
        addr = _ifreq_addr(SIOCGIFADDR, interface)
        mask = _ifreq_addr(SIOCGIFNETMASK, interface)
    except OSError as exc:
        raise ValueError(f"interface {interface!r} has no IPv4 address; pass ip=") from exc
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{mask}").prefixlen
    return f"{addr}/{prefix}"


def _ifreq_addr(request: int, interface: str) -> str:
    ifreq = struct.pack("16s16x", interface.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        out = fcntl.ioctl(s.fileno(), request, ifreq)
    return socket.inet_ntoa(out[20:24])


def _gateway_for(interface: str) -> str | None:
    route = default_route()
    return route[1] if route is not None and route[0] == interface else None


def open_link(
    tap: str | None = None,
    interface: str | None = None,
    ip: str | None = None,
    gateway: str | None = None,
    mac: str | None = None,
    mtu: int | None = None,
    *,
    stack_id: str = "0",
    reactor: Any = None,
    rng: random.Random | None = None,
    offloads: bool | None = None,
) -> Attachment:
    """Open the link for an attachment mode (see the module docstring)."""
    if tap is not None and interface is not None:
        raise ValueError("give tap= or interface=, not both")
    if tap is not None:
        if ip is None:
            raise ValueError("a TAP attachment needs the stack's own ip='a.b.c.d/prefix'")
        # Validate every argument before a device exists, so misuse creates nothing.
        return _open_tap(tap, errors.check_cidr(ip), gateway, mac, mtu, reactor, rng,
                         offloads is not False)  # fmt: skip
    role = ""
    if interface is None:
        route = default_route()
        if route is None:
            raise ValueError("no default route: name a device (tap= or interface=)")
        interface, role = route[0], " (the default route's)"
    vnet_hdr = offloads is not False
    if ip is not None:
        return _open_own(interface, errors.check_cidr(ip), gateway, mac, mtu, reactor, rng,
                         vnet_hdr)  # fmt: skip
    try:
        return _open_shared(interface, gateway, mac, mtu, reactor, stack_id, vnet_hdr)
    except PrivilegeError as exc:  # say which attachment: the link only knows its socket
        what = f"sharing the address of interface {interface!r}{role}"
        raise PrivilegeError(what, SHARED_PRIVILEGE, exc.errno) from None


def _open_tap(tap: str, ip: str, gateway: str | None, mac: str | None, mtu: int | None,
              reactor: Any, rng: random.Random | None, offloads: bool) -> Attachment:  # fmt: skip
    from pystack.links.tap import OFFLOADS, TapLink

    link = TapLink(tap, create=True, reactor=reactor, mtu=mtu, vnet_hdr=offloads,
                   offload_flags=OFFLOADS if offloads else 0)  # fmt: skip
    return Attachment(link, ip, mac or random_mac(rng), gateway, link.mtu, "tap", tap)


def _open_own(interface: str, ip: str, gateway: str | None, mac: str | None,
              mtu: int | None, reactor: Any, rng: random.Random | None,
              vnet_hdr: bool) -> Attachment:  # fmt: skip
    from pystack.links.packet_socket import PacketSocketLink

    link = PacketSocketLink(interface, reactor=reactor, mtu=mtu, vnet_hdr=vnet_hdr)
    mac = mac or random_mac(rng)
    if mac != link.mac:
        link.set_promiscuous()
    gateway = gateway or _gateway_for(interface)
    return Attachment(link, ip, mac, gateway, link.mtu, "own", interface)


def _open_shared(interface: str, gateway: str | None, mac: str | None, mtu: int | None,
                 reactor: Any, stack_id: str, vnet_hdr: bool) -> Attachment:  # fmt: skip
    from pystack.links.packet_socket import PacketSocketLink

    ip = interface_address(interface)
    own_mac = netdev.mac(interface)
    if mac is not None and mac != own_mac:
        raise ValueError("a shared-address stack uses the interface's MAC; drop mac=")
    # The link first: it is what needs a privilege, and a filter with no rule yet has
    # nothing to undo when it fails.
    link = PacketSocketLink(interface, reactor=reactor, mtu=mtu, vnet_hdr=vnet_hdr)
    try:
        kernel_filter = KernelFilter(interface, stack_id)
    except BaseException:
        link.close()
        raise
    gateway = gateway or _gateway_for(interface)
    return Attachment(link, ip, own_mac, gateway, link.mtu, "shared", interface, kernel_filter)
