"""Evasion by fragmentation and segmentation: an outgoing-traffic policy that cuts IP
datagrams and TCP segments into chosen sizes, sends them in a chosen order and may add
overlapping decoy copies, for testing how targets and monitors reassemble (as fragroute
does). See "Evasion: fragmentation and segmentation" in docs/extending.md.

::

    evasion = Evasion(ip_fragment_size=16, ip_order="reverse", tcp_segment_size=8)
    evasion.install(stack)                          # everything the stack sends
    stack.tcp.connect(ip, 80, session_class=evasion.session_class())  # one connection
"""

from pystack.evasion.policy import DECOY_SENT, ORDERS, Evasion
from pystack.evasion.readers import readings, reassemble_as
from pystack.evasion.session import EvasiveSession

__all__ = ["DECOY_SENT", "ORDERS", "Evasion", "EvasiveSession", "readings", "reassemble_as"]
