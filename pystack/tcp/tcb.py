"""The transmission control block's fields, declared once for the TCP session's mixins.

The TCB lives on the `TCPSession` object. Its receive side, send side and listener
modules are base classes of it that subclass `Tcb`, so that the fields and the
cross-module methods are typed in one place; the timers are an owned part
(`pystack.tcp.timers.Timers`, typed against its own `TimerOwner` protocol).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pystack.tcp.buffers import RecvBuffer, SendBuffer
from pystack.tcp.config import IPV6_EXTRA, TcpConfig, TcpDrop
from pystack.tcp.rtt import RttEstimator
from pystack.wire.seqnum import SeqNum

if TYPE_CHECKING:
    from pystack.layers.ip_meta import IpMeta
    from pystack.tcp.congestion import CongestionControl
    from pystack.tcp.host import TcpHost
    from pystack.tcp.reorder import ReorderQueue
    from pystack.tcp.sack import Scoreboard
    from pystack.tcp.sender import Sender
    from pystack.tcp.timers import Timers
    from pystack.wire.tcp import TcpSegment

__all__ = ["Tcb"]


class Tcb:
    """Field declarations (RFC 9293 §3.3.1 names) shared by the session's parts, and the
    slots that hold them (set in `TCPSession.__init__`): a server holds tens of thousands
    of idle connections, and an instance dict of this many fields costs about 1.5 KB."""

    __slots__ = (
        "_cc_factory", "_fsm_queue", "_last_cookie_at", "ack_pending", "backlog", "cc",
        "clock", "config", "dupacks", "fin_queued", "fin_received", "half_open", "host", "irs",
        "iss", "keepalive_probes", "last_ack_sent", "last_invalid_ack", "local_ip",
        "local_port", "max_snd_wnd", "ooo_fin", "passive", "persist_backoffs", "probe_since",
        "rcv_adv", "rcv_nxt", "rcv_shut", "rcv_wscale", "rcvbuf", "remote_ip", "remote_port",
        "reorder", "rexmit_bytes", "rexmit_since", "rtt", "rtt_seq", "rtt_time", "sack_ok",
        "sack_recent", "scoreboard", "snd_fin", "snd_max", "snd_mss", "snd_nxt", "snd_una",
        "snd_wl1", "snd_wl2", "snd_wnd", "snd_wscale", "sndbuf", "state", "timers",
        "ts_offset", "ts_ok", "ts_recent", "ts_recent_age", "wscale_ok",
    )  # fmt: skip

    state: str
    config: TcpConfig
    host: TcpHost
    clock: Any
    local_ip: str
    local_port: int
    remote_ip: str | None
    remote_port: int | None
    # RFC 9293 §3.3.1, send sequence variables.
    iss: SeqNum
    snd_una: SeqNum
    snd_nxt: SeqNum
    snd_max: SeqNum
    snd_wnd: int
    snd_wl1: SeqNum
    snd_wl2: SeqNum
    max_snd_wnd: int
    snd_mss: int
    # RFC 7323 §2.2: the peer's shift (applied to SEG.WND) and ours (to RCV.WND).
    snd_wscale: int
    rcv_wscale: int
    wscale_ok: bool
    ts_ok: bool
    ts_recent: int
    ts_offset: int
    last_ack_sent: int
    sack_ok: bool
    sack_recent: list[SeqNum]
    scoreboard: Scoreboard
    rexmit_bytes: int
    # RFC 9293 §3.3.1, receive sequence variables.
    irs: SeqNum
    rcv_nxt: SeqNum
    rcv_adv: SeqNum
    sndbuf: SendBuffer
    rcvbuf: RecvBuffer
    rtt: RttEstimator
    cc: CongestionControl
    reorder: ReorderQueue
    fin_queued: bool
    snd_fin: SeqNum
    fin_received: bool
    ooo_fin: SeqNum | None
    rcv_shut: bool  # the application reads no more (a half-duplex close, RFC 9293 §3.6.1)
    passive: bool
    # A listening session's queues (pystack.tcp.listener).
    half_open: int
    backlog: int
    _cc_factory: Any
    _last_cookie_at: float | None
    dupacks: int
    ack_pending: int
    timers: Timers
    rexmit_since: float | None
    # Zero-window probing (RFC 9293 §3.8.6.1): probes sent in this persist period, and
    # when the oldest probe no ACK has answered yet was sent.
    persist_backoffs: int
    probe_since: float | None
    rtt_seq: SeqNum | None
    rtt_time: float
    keepalive_probes: int
    ts_recent_age: float
    last_invalid_ack: float
    _fsm_queue: Any

    if TYPE_CHECKING:
        accept_queue: Any
        user: Any  # the application the session reports to (``TCPSession.user``)
        sender: Sender

        def ts_val(self) -> int: ...
        def sack_space(self) -> int: ...

        def fire(self, trigger: str, **kwargs: Any) -> bool: ...
        def count_drop(self, reason: TcpDrop) -> None: ...
        def emit_segment(self, seg: TcpSegment, gso_size: int = 0) -> None: ...
        def deliver_data(self, data: bytes, **kw: Any) -> None: ...
        def deliver_eof(self) -> None: ...
        def send_ack(self, **kw: Any) -> None: ...
        def send_synack(self, **kw: Any) -> None: ...
        def send_data(self, seq: SeqNum, data: bytes, flags: int) -> None: ...
        def output(self, force_one: bool = False) -> None: ...
        def syn_segment(self) -> TcpSegment: ...
        def sndbuf_seq(self) -> SeqNum: ...
        def enter_persist(self) -> None: ...
        def make_segment(self, seq: SeqNum, flags: int, payload: bytes = b"") -> TcpSegment: ...
        def send_rst_reply(self, seg: TcpSegment, meta: IpMeta | None = None) -> None: ...
        def arm_rexmit(self) -> None: ...
        def on_ack_advanced(self, acked: int, seg: TcpSegment) -> None: ...
        def keepalive_reset(self) -> None: ...
        def fin_seq(self) -> SeqNum: ...
        def take_fin_from_queue(self) -> None: ...
        def window_to_advertise(self) -> int: ...
        def new_cc(self, smss: int) -> CongestionControl: ...
        def on_dupack(self, seg: TcpSegment) -> None: ...
        def sack_update(self, seg: TcpSegment, ack: SeqNum) -> int: ...

    @property
    def local_mss(self) -> int:
        """The MSS this end offers and accepts: ``TcpConfig.mss`` is IPv4's, and an IPv6
        header is 20 bytes longer (RFC 8200 §8.3: MTU minus 60)."""
        ip = self.remote_ip or self.local_ip
        return self.config.mss - (IPV6_EXTRA if ":" in ip else 0)
