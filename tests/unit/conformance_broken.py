"""Deliberately broken TCPSession subclasses: `pystack conformance` must catch each one."""

from __future__ import annotations

from typing import Any

from pystack.layers.tcp_rtt import RttEstimator
from pystack.layers.tcp_session import TCPSession
from pystack.wire import tcp as tcpwire

SYNCHRONIZED = ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
                "TIME_WAIT")  # fmt: skip


class RstAnswersRst(TCPSession):
    """Answers an RST outside the receive window with an RST of its own (RFC 9293
    §3.10.7.4 and RFC 5961 §3.2 say: drop it silently; never answer an RST)."""

    def segment_arrives(self, seg: tcpwire.TcpSegment) -> None:
        if seg.flags & tcpwire.RST and self.state in SYNCHRONIZED:
            offset = (seg.seq - int(self.rcv_nxt)) % (1 << 32)
            if offset >= max(int(self.rcv_adv - self.rcv_nxt), 1):
                self.emit_segment(self.make_segment(self.snd_max, tcpwire.RST))
                return
        super().segment_arrives(seg)


class CloseResets(TCPSession):
    """close() resets the connection instead of sending FIN after the queued data."""

    def close(self) -> None:
        if self.state in ("ESTABLISHED", "CLOSE_WAIT", "SYN_RECEIVED"):
            self.abort()
            return
        super().close()


class _SameRto(RttEstimator):
    def backoff(self) -> float:
        return self.rto


class NoBackoff(TCPSession):
    """Retransmits at the same interval forever: no exponential backoff (RFC 6298 §5.5)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = self.config
        self.rtt = _SameRto(initial_rto=config.initial_rto, min_rto=config.min_rto,
                            max_rto=config.max_rto)  # fmt: skip


NotASession = dict
