"""Small helpers on network devices for the real links: ioctls and offload handling.

Everything here works in the *calling thread's* network namespace (ioctls on a socket
created in it, ``ethtool`` forked from it), never through /sys, which shows the namespace
sysfs was mounted in.
"""

from __future__ import annotations

import fcntl
import shutil
import socket
import struct
import subprocess

from pystack.wire.checksum import checksum_from_sum, raw_sum

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCGIFMTU = 0x8921
SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
IFF_UP = 0x1
IFNAMSIZ = 16

# ethtool feature names turned off by disable_offloads(): checksums both ways and every
# segmentation/coalescing offload, so frames on the wire are exactly what the stack sees.
OFFLOAD_FEATURES = ("rx", "tx", "tso", "gso", "gro", "lro", "ufo", "sg")


def _ioctl(request: int, name: str, payload: bytes = b"") -> bytes:
    ifreq = struct.pack("16s", name.encode()[: IFNAMSIZ - 1]) + payload.ljust(24, b"\0")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        return fcntl.ioctl(s.fileno(), request, ifreq)


def exists(name: str) -> bool:
    """True when the device exists in the current thread's namespace."""
    try:
        _ioctl(SIOCGIFINDEX, name)
    except OSError:
        return False
    return True


def mtu(name: str) -> int:
    """The device's MTU."""
    return int(struct.unpack_from("i", _ioctl(SIOCGIFMTU, name), IFNAMSIZ)[0])


def mac(name: str) -> str:
    """The device's hardware address, lower-case colon form."""
    raw = _ioctl(SIOCGIFHWADDR, name)[IFNAMSIZ + 2 : IFNAMSIZ + 8]
    return ":".join(f"{b:02x}" for b in raw)


def set_up(name: str) -> None:
    """Bring the device administratively up."""
    flags = struct.unpack_from("H", _ioctl(SIOCGIFFLAGS, name), IFNAMSIZ)[0]
    _ioctl(SIOCSIFFLAGS, name, struct.pack("H", flags | IFF_UP))


def disable_offloads(name: str) -> bool:
    """Turn checksum and segmentation offloads off on ``name`` (best effort).

    Returns False when ``ethtool`` is missing or refused; the links then still complete
    partial checksums themselves (PACKET_AUXDATA / virtio header).
    """
    tool = shutil.which("ethtool")
    if tool is None:
        return False
    done = True
    for feature in OFFLOAD_FEATURES:
        # One feature per call: a device without (say) lro rejects the whole command.
        result = subprocess.run(
            [tool, "-K", name, feature, "off"], capture_output=True, check=False
        )
        done = done and result.returncode == 0
    return done


def _sum16(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def complete_checksum(frame: bytes) -> bytes:
    """Fill in the TCP/UDP checksum of an IPv4 (or IPv6) frame whose checksum is partial.

    A frame the kernel hands over with ``CHECKSUM_PARTIAL`` holds just the pseudo-header
    sum in the checksum field; the stack would drop it as corrupt. Frames that are not
    IPv4 TCP/UDP, fragments, or malformed are returned unchanged (the layers judge them).
    """
    if frame[12:14] == b"\x86\xdd":
        return _complete_checksum6(frame)
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    total = int.from_bytes(frame[16:18], "big")
    proto = frame[23]
    frag = int.from_bytes(frame[20:22], "big") & 0x3FFF
    offset = {6: 16, 17: 6}.get(proto)
    end = 14 + total
    if offset is None or frag or ihl < 20 or end > len(frame) or total < ihl + offset + 2:
        return frame
    start = 14 + ihl
    field = start + offset
    # Even-length pieces' partial sums add up, so the checksum field is skipped, not copied
    # out and zeroed: a 64 KB super-segment is summed in C (pystack.wire.checksum).
    pseudo = frame[26:34] + struct.pack("!BBH", 0, proto, end - start)
    total = raw_sum(pseudo) + raw_sum(frame[start:field]) + raw_sum(frame[field + 2 : end])
    checksum = checksum_from_sum(total)
    if proto == 17 and checksum == 0:
        checksum = 0xFFFF  # RFC 768: a computed zero is sent as all ones
    return frame[:field] + checksum.to_bytes(2, "big") + frame[field + 2 :]


def _complete_checksum6(frame: bytes) -> bytes:
    """As `complete_checksum`, for an IPv6 frame whose TCP or UDP header follows the fixed
    header (the IPv6 pseudo-header, RFC 8200 §8.1); any other is returned unchanged."""
    if len(frame) < 54:
        return frame
    proto = frame[20]
    offset = {6: 16, 17: 6}.get(proto)
    length = int.from_bytes(frame[18:20], "big")
    start, end = 54, 54 + length
    if offset is None or end > len(frame) or length < offset + 2:
        return frame
    field = start + offset
    pseudo = frame[22:54] + struct.pack("!IxxxB", length, proto)
    total = raw_sum(pseudo) + raw_sum(frame[start:field]) + raw_sum(frame[field + 2 : end])
    checksum = checksum_from_sum(total)
    if proto == 17 and checksum == 0:
        checksum = 0xFFFF
    return frame[:field] + checksum.to_bytes(2, "big") + frame[field + 2 :]
