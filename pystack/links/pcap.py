"""Capture every frame of a link to a classic libpcap file (tcpdump -r, Wireshark).

Format: the original pcap ("libpcap 2.4") with microsecond timestamps, linktype 1
(Ethernet). Timestamps come from the injected clock, so a capture taken under
``twisted.internet.task.Clock`` is byte-identical from one run to the next.
"""

from __future__ import annotations

import struct
import time
from typing import Any, BinaryIO

from pystack.links.base import Link, LinkWrapper

PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144


class PcapWriter:
    """Writes pcap records; the file is flushed after each so a reader can follow it."""

    def __init__(self, path: str, clock: Any = None) -> None:
        self.path = path
        self.clock = clock
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, 1))
        self._file.flush()

    def _now(self) -> float:
        # Links may read real time when no clock is injected (they are not layers).
        return self.clock.seconds() if self.clock is not None else time.time()

    def write(self, frame: bytes) -> None:
        """Append one record stamped with the clock's time (nothing once closed)."""
        if self._file is None:
            return
        usec_total = round(self._now() * 1_000_000)
        sec, usec = divmod(usec_total, 1_000_000)
        data = frame[:SNAPLEN]
        self._file.write(struct.pack("<IIII", sec, usec, len(data), len(frame)) + data)
        self._file.flush()

    def close(self) -> None:
        """Close the file; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None


class PcapCapture(LinkWrapper):
    """A link that records what it sends and receives to ``path``."""

    def __init__(self, link: Link, path: str, clock: Any = None) -> None:
        super().__init__(link)
        self.writer = PcapWriter(path, clock)

    def send(self, frame: bytes) -> None:
        """Record ``frame``, then send it."""
        self.writer.write(frame)
        self.inner.send(frame)

    @property
    def tso_max(self) -> int:
        """The inner link's: a super-segment is recorded whole, as tcpdump shows one on
        a host whose device segments."""
        return getattr(self.inner, "tso_max", 0)

    def send_gso(self, frame: bytes, gso_size: int) -> None:
        """Record the super-segment ``frame`` whole, then send it (see `SegmentingLink`)."""
        self.writer.write(frame)
        self.inner.send_gso(frame, gso_size)  # type: ignore[attr-defined]

    def _on_frame(self, frame: bytes) -> None:
        self.writer.write(frame)
        self._deliver(frame)

    def close(self) -> None:
        """Close the link, then the capture file."""
        self.inner.close()
        self.writer.close()


_MAGICS = {  # magic as read little-endian -> (byte order, ticks per second)
    0xA1B2C3D4: ("<", 1_000_000),
    0xD4C3B2A1: (">", 1_000_000),
    0xA1B23C4D: ("<", 1_000_000_000),
    0x4D3CB2A1: (">", 1_000_000_000),
}


def read_pcap(path: str) -> list[tuple[float, bytes]]:
    """The ``(time in seconds, frame)`` records of a classic pcap file of Ethernet frames
    (either byte order, micro- or nanosecond stamps), as :class:`PcapWriter` writes them.

    Raises ValueError for a file that is not such a capture; a record cut short at the
    end (a capture still being written) is left out.
    """
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError(f"{path}: not a pcap file (too short)")
    (magic,) = struct.unpack_from("<I", data)
    if magic not in _MAGICS:
        raise ValueError(f"{path}: not a pcap file (magic {magic:#010x}; pcapng is not read)")
    order, ticks = _MAGICS[magic]
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{path}: link type {linktype}, only Ethernet (1) is read")
    record = struct.Struct(order + "IIII")
    out, pos = [], 24
    while pos + record.size <= len(data):
        sec, frac, caplen, _ = record.unpack_from(data, pos)
        pos += record.size
        if pos + caplen > len(data):
            break
        out.append((sec + frac / ticks, data[pos : pos + caplen]))
        pos += caplen
    return out
