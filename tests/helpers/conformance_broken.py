"""Deliberately broken TCPSession subclasses: `pystack conformance` must catch each one."""

from __future__ import annotations

from typing import Any

from pystack.layers.tcp_session import TCPSession
from pystack.tcp.rtt import RttEstimator
from pystack.tcp.timers import Timers
from pystack.wire import tcp as tcpwire

SYNCHRONIZED = ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
                "TIME_WAIT")  # fmt: skip


class RstAnswersRst(TCPSession):
    """Answers an RST outside the receive window with an RST of its own (RFC 9293
    §3.10.7.4 and RFC 5961 §3.2 say: drop it silently; never answer an RST)."""

    def segment_arrives(self, seg: tcpwire.TcpSegment, meta: Any) -> None:
        if seg.flags & tcpwire.RST and self.state in SYNCHRONIZED:
            offset = (seg.seq - int(self.rcv_nxt)) % (1 << 32)
            if offset >= max(int(self.rcv_adv - self.rcv_nxt), 1):
                self.emit_segment(self.make_segment(self.snd_max, tcpwire.RST))
                return
        super().segment_arrives(seg, meta)


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


# -- one per user-call and timeout property (tests/tcp/test_conformance_properties.py) --


class SynWithoutOptions(TCPSession):
    """Sends its SYN with no options at all (RFC 9293 §3.7.1: MSS SHOULD be sent)."""

    def syn_segment(self) -> tcpwire.TcpSegment:
        return self.make_segment(self.iss, tcpwire.SYN)


class IgnoresPeerWindow(TCPSession):
    """Sends as if the peer's window were always 64 KiB."""

    def output(self, force_one: bool = False) -> None:
        self.snd_wnd = max(self.snd_wnd, 65535)
        super().output(force_one)


class NoWindowUpdate(TCPSession):
    """Never announces the window the application opens by reading."""

    def announce_window(self) -> None:
        pass


class SilentAbort(TCPSession):
    """ABORT forgets the connection without telling the peer."""

    def send_rst(self, **kw: Any) -> None:
        pass


class ResetsOnAbortAnywhere(TCPSession):
    """ABORT sends an RST in every state that has a peer, SYN_SENT and TIME_WAIT too."""

    def abort(self) -> None:
        if self.remote_port is not None and self.state != "CLOSED":
            self.emit_segment(self.make_segment(self.snd_max, tcpwire.RST))
        super().abort()


class StatusLies(TCPSession):
    """STATUS says nothing is queued."""

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "send_queued": 0, "recv_queued": 0}


class ShortTimeWait(TCPSession):
    """Waits MSL, not 2*MSL, in TIME_WAIT."""

    def start_time_wait_timer(self, **kw: Any) -> None:
        for timer in (self.rexmit_timer, self.persist_timer, self.keepalive_timer):
            timer.stop()
        self.time_wait_timer.arm(self.config.msl)


class _ForeverTimers(Timers):
    __slots__ = ()

    def on_rexmit_timeout(self, s: Any) -> None:
        s.rexmit_since = None
        super().on_rexmit_timeout(s)
        s.rexmit_since = None


class NeverGivesUp(TCPSession):
    """Retransmits forever: no user timeout (RFC 9293 §3.8.3 R2)."""

    timers_class = _ForeverTimers
