"""Where frames enter and leave the stack.

A link carries whole Ethernet frames (see :class:`pystack.links.base.Link`).
Memory links connect stacks in one process on a simulated wire; wrappers
(:class:`PcapCapture`, :class:`LossyLink`) work around any link.
"""

from pystack.links.base import Link
from pystack.links.lossy import LossyLink
from pystack.links.memory import MemoryLink, MemoryWire
from pystack.links.pcap import PcapCapture, PcapWriter

__all__ = ["Link", "LossyLink", "MemoryLink", "MemoryWire", "PcapCapture", "PcapWriter"]
