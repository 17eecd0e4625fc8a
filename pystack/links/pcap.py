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

    def _on_frame(self, frame: bytes) -> None:
        self.writer.write(frame)
        self._deliver(frame)

    def close(self) -> None:
        """Close the link, then the capture file."""
        self.inner.close()
        self.writer.close()
