"""A TCP session whose outgoing segments go through an `Evasion` policy."""

from __future__ import annotations

from typing import Any

from pystack.evasion.policy import Evasion
from pystack.tcp.session import TCPSession
from pystack.wire import tcp as tcpwire


class EvasiveSession(TCPSession):
    """A `TCPSession` that reshapes what it sends by its ``evasion`` policy.

    Set ``evasion`` on the class (`Evasion.session_class` does) or on one connection
    (``session.evasion = ...``). The policy acts in `on_segment_out`, after the hook of any
    class below this one in the MRO: the connection's state (SND.NXT, the send buffer, the
    retransmission timer) never sees the pieces, so retransmission works as usual and its
    segments are reshaped again.
    """

    evasion: Evasion | None = None
    # The policy cuts and reorders segments itself: it must see each one the wire carries.
    segmentation_offload = False

    def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
        out = super().on_segment_out(segment)
        evasion = self.evasion
        if evasion is None or type(out) is not tcpwire.TcpSegment:
            return out
        pieces = evasion.shape_segment(out)
        if not evasion.shapes_ip:
            if len(pieces) == 1:
                return pieces[0]
            for piece in pieces:
                self.host.transmit(self, piece)
            return None
        assert self.remote_ip is not None
        for piece in pieces:
            data = tcpwire.emit(piece, self.local_ip, self.remote_ip)
            self.host.transmit_bytes(self, data, shaper=evasion)
        return None


def evasive_class(evasion: Evasion, base: type[TCPSession] = TCPSession) -> type[EvasiveSession]:
    """A subclass of ``base`` whose connections send through ``evasion`` (made once per
    policy and base, so a stack does not build a class per connection)."""
    made = evasion.session_classes.get(base)
    if made is None:
        bases = (base,) if issubclass(base, EvasiveSession) else (EvasiveSession, base)
        made = type(f"Evasive{base.__name__}", bases, {"evasion": evasion})
        evasion.session_classes[base] = made
    return made
