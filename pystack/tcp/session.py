"""`TCPSession`: one TCP connection (or listening socket), the machine of machines/tcp.toml.

The control plane (open, SYN, FIN, RST, timers, user calls) goes through the declared
machine; data in the synchronized states goes through plain methods. Behaviour changes by
overriding hooks, each a method below with a documented default::

    class MySession(TCPSession):
        def choose_isn(self, **kw):
            self.iss = SeqNum(5555)

The session talks to its `host` (the TCP layer, or a test harness) through the declared
`pystack.tcp.host.TcpHost` protocol: ``host.clock``, ``host.transmit(session, segment)``,
``host.transmit_bytes(session, tcp_bytes)``, ``host.isn(...)``, ``host.count_drop(reason)``,
``host.forget(session)``, ``host.adopt(session)``, and the optional members that module
lists (``listener_for``, ``syncookie_secret``, ``count_event``...).
It owns its timers as a part, ``session.timers`` (`pystack.tcp.timers.Timers`).

Hooks get the same values whether or not they are overridden: `on_segment_in` the
`TcpSegment` and its `IpMeta`, `on_segment_out` the `TcpSegment` (``self.to_scapy(seg)``
for a scapy view). No behaviour depends on which methods a subclass overrides; the class
settings `fast_receive_path` and `compact_time_wait_syn_path` say it explicitly.
Segments come in through ``segment_arrives(segment, meta)`` with the `IpMeta` IP
delivered them with; a listener learns each new peer from it.
Its `user` (a `TCPApplication`, or anything with the same ``tcp_*`` methods) is told of
establishment, readable data, end of data and the close with its `CloseReason`.
"""

from __future__ import annotations

import collections
import logging
from typing import Any

from pystack.fsm import StateMachine
from pystack.layers.ip_meta import IpMeta
from pystack.tcp.ack import AckMixin
from pystack.tcp.buffers import RecvBuffer, SendBuffer
from pystack.tcp.config import CloseReason, TcpConfig, TcpDrop
from pystack.tcp.congestion import NewReno
from pystack.tcp.cubic import congestion_factory
from pystack.tcp.host import TcpHost
from pystack.tcp.listener import Listener, ListenerMixin, ReplyTo, syn_options
from pystack.tcp.receive import InputMixin, syn_reopens_time_wait
from pystack.tcp.receiver import NO_BLOCKS, Receiver
from pystack.tcp.reorder import ReorderQueue
from pystack.tcp.rtt import RttEstimator
from pystack.tcp.sack import Scoreboard
from pystack.tcp.send import OutputMixin
from pystack.tcp.sender import MAX_WINDOW, Sender
from pystack.tcp.states import TCP, S
from pystack.tcp.timers import IDLE_TIMERS, NO_TIMER, Timers, TimeWaitTimers
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import TcpOption

__all__ = ["TCPSession"]

SYN, ACK, RST = tcpwire.SYN, tcpwire.ACK, tcpwire.RST
_ZERO = SeqNum(0)
_MASK = 0xFFFFFFFF
_HALF = 1 << 31  # ((a - b + _HALF) & _MASK) - _HALF: SeqNum(a) - SeqNum(b) on ints
_FSM_LOG = logging.getLogger("pystack.fsm")  # where StateMachine.on_state_change logs
_NEVER = float("-inf")  # one object for every connection's "not yet" time
# States in which the application may still queue data (RFC 9293 §3.10.2).


class TCPSession(ListenerMixin, InputMixin, AckMixin, OutputMixin, StateMachine, machine="tcp"):
    """One TCP connection. See the module docstring for the host and user interfaces.

    Its fields live in slots (a server holds tens of thousands of idle connections; an
    instance dict of this many fields costs about 1.5 KB each), all set in ``__init__``.
    Other attributes, a subclass's fields included, go to an instance dict made when the
    first one is set."""

    # Its TCB fields are `Tcb`'s slots; these are the session's own. "__dict__": any
    # other attribute (a test's instance-level hook, a subclass's field) still works, the
    # dict made only when one is set.
    __slots__ = (
        "__dict__", "__weakref__", "_accept_queue", "_isn_floor", "awaiting_accept",
        "close_reason", "listener", "user",
    )  # fmt: skip

    compact_time_wait_syn_path = True
    """Class setting: whether the TCP layer may take a SYN that reopens a compact TIME_WAIT
    record straight to the listener (as Linux's TCP_TW_SYN), without reviving a session of
    this class to run `segment_arrives`, `on_segment_in`, `reopen_from_time_wait`,
    `take_reopening_syn` and `take_syn_after_time_wait`. Set it False in a subclass that
    overrides any of those for such a SYN: the record is then revived and the SYN goes
    through this class's methods."""
    timers_class: type[Timers] = Timers
    """Class setting: the `Timers` part each connection owns (a subclass of `Timers`
    changes what a timer's expiry does)."""
    sender_class: type[Sender] = Sender
    """Class setting: the `Sender` part, the send side (a subclass of `Sender` changes
    segmentation, Nagle, what may be sent now or the window advertised)."""
    listener_class: type[Listener] = Listener
    """Class setting: the `Listener` part, a listening socket's passive open (a subclass of
    `Listener` changes when a SYN gets a cookie or how a child is spawned)."""
    listen_side: Listener = Listener()
    """The passive open, an instance of ``listener_class``, shared by the sessions of a
    class as ``sender`` is (it keeps no state of its own)."""
    receiver_class: type[Receiver] = Receiver
    """Class setting: the `Receiver` part, the receive side (a subclass of `Receiver`
    changes how accepted text is delivered or queued and when it is acknowledged)."""
    receiver: Receiver = Receiver()
    """The receive side, an instance of ``receiver_class``, shared by the connections of
    a class as ``sender`` is (it keeps no state of its own)."""
    sender: Sender = Sender()
    """The send side, an instance of ``sender_class``. It keeps no state of its own (the
    TCB is the session's, passed to each of its methods), so the connections of a class
    share one: a connection pays nothing for it. A subclass of `Sender` that keeps
    per-connection state is set per connection instead (``self.sender = ...`` in
    ``__init__``)."""
    awaiting_accept: bool
    """True while this connection waits in its listener's accept queue."""
    _isn_floor: SeqNum | None
    """Set on a connection that replaces one in TIME_WAIT: its ISS must lie beyond this."""

    def __init__(
        self,
        host: TcpHost,
        *,
        local_ip: str = "0.0.0.0",
        local_port: int = 0,
        remote_ip: str | None = None,
        remote_port: int | None = None,
        config: TcpConfig | None = None,
        user: Any = None,
        cc_factory: Any = None,
    ) -> None:
        self.state = self.fsm.spec.initial
        self._fsm_queue = None
        self.host = host
        self.clock = host.clock
        self.config = config = config or TcpConfig()
        self.local_ip, self.local_port = local_ip, local_port
        self.remote_ip, self.remote_port = remote_ip, remote_port
        self.user = user
        self.listener: TCPSession | None = None
        self._accept_queue: collections.deque[TCPSession] | None = None
        self.half_open = 0
        self.backlog = 0
        self.passive = self.awaiting_accept = False
        self._isn_floor = self._last_cookie_at = None
        self.last_invalid_ack = _NEVER
        self.close_reason: CloseReason | None = None
        self._cc_factory = cc_factory
        self.iss = self.irs = self.snd_una = self.snd_nxt = self.snd_max = _ZERO
        self.snd_wl1 = self.snd_wl2 = self.rcv_nxt = self.rcv_adv = _ZERO
        self.snd_wnd = self.max_snd_wnd = 0
        self.snd_mss = min(config.mss, 536)
        self._init_options(config)
        self.rexmit_bytes = 0
        self.sndbuf = SendBuffer(config.snd_buf)
        self.rcvbuf = RecvBuffer(config.rcv_buf)
        self.rtt = RttEstimator(
            initial_rto=config.initial_rto, min_rto=config.min_rto, max_rto=config.max_rto
        )
        self.cc = self.new_cc(self.snd_mss)
        self.reorder = ReorderQueue(config.ooo_limit)
        self.ooo_fin: SeqNum | None = None
        self.fin_queued = self.fin_received = False
        self.rcv_shut = False
        self.snd_fin = _ZERO
        self.dupacks = self.ack_pending = self.keepalive_probes = 0
        self.rexmit_since: float | None = None
        self.persist_backoffs = 0
        self.probe_since: float | None = None
        self.rtt_seq: SeqNum | None = None
        self.rtt_time = 0.0
        self.timers = self.timers_class(self)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if type(cls.__dict__.get("sender")) is not cls.sender_class:
            cls.sender = cls.sender_class()
        if type(cls.__dict__.get("receiver")) is not cls.receiver_class:
            cls.receiver = cls.receiver_class()
        if type(cls.__dict__.get("listen_side")) is not cls.listener_class:
            cls.listen_side = cls.listener_class()

    def queue_for_accept(self, child: TCPSession) -> None:
        """Put an established ``child`` in this listener's accept queue."""
        child.awaiting_accept = True
        self.accept_queue.append(child)

    def next_accepted(self) -> TCPSession:
        """Take the oldest connection from the accept queue (IndexError when empty)."""
        child = self.accept_queue.popleft()
        child.awaiting_accept = False
        return child

    def unqueue(self, child: TCPSession) -> None:
        """Withdraw ``child`` from the accept queue, if it is there."""
        if child.awaiting_accept and child in self.accept_queue:
            self.accept_queue.remove(child)
        child.awaiting_accept = False

    def _init_options(self, config: TcpConfig) -> None:
        """The state of the options both SYNs negotiate, before they do."""
        # RFC 7323 §2.2: Snd.Wind.Shift (the peer's) and Rcv.Wind.Shift (ours); both stay
        # 0 unless both SYNs carry the option.
        self.snd_wscale = 0
        self.rcv_wscale = config.rcv_wscale
        self.wscale_ok = False
        # RFC 7323 §3.2, §4.3: TS.Recent (and when it was set, for PAWS's 24-day limit,
        # §5.5), Last.ACK.sent, and the TSval offset (§7.1).
        self.ts_ok = False
        self.ts_recent = self.ts_offset = self.last_ack_sent = 0
        self.ts_recent_age = 0.0
        # RFC 2018: on only if both SYNs carry SACK-permitted; the receiver's SACK
        # blocks, most recently reported first, and the sender's scoreboard (RFC 6675).
        self.sack_ok = False
        self.sack_recent = NO_BLOCKS
        self.scoreboard = Scoreboard()

    @property
    def accept_queue(self) -> collections.deque[TCPSession]:
        """A listener's established connections waiting for accept() (made on first use:
        a connection never needs one, and an empty deque costs ~600 bytes)."""
        queue = self._accept_queue
        if queue is None:
            queue = self._accept_queue = collections.deque()
        return queue

    def new_cc(self, smss: int) -> Any:
        """A congestion controller for ``smss``: the factory given, else the one
        ``TcpConfig.congestion`` names; it reads time from this session's clock."""
        factory = self._cc_factory or congestion_factory(self.config.congestion)
        cc = factory(smss)
        if getattr(cc, "clock", None) is None:
            cc.clock = self.clock.seconds
        return cc

    # ======================================================================= user calls

    def open_passive(self, backlog: int = 5) -> None:
        """LISTEN on ``local_ip:local_port`` with an accept queue of ``backlog``."""
        self.backlog = max(int(backlog), 1)
        if not self.fire("app_passive_open"):
            raise RuntimeError(f"cannot listen in state {self.state}")

    def open_active(self) -> None:
        """Connect to ``remote_ip:remote_port``: send SYN (RFC 9293 §3.10.1)."""
        if self.remote_ip is None or self.remote_port is None:
            raise ValueError("an active open needs remote_ip and remote_port")
        if not self.fire("app_active_open"):
            raise RuntimeError(f"cannot connect in state {self.state}")

    def send(self, data: bytes) -> int:
        """Queue ``data``; returns how many bytes fit in the send buffer (RFC 9293 §3.10.2)."""
        if self.state not in S.may_send:
            raise ConnectionError(f"cannot send in state {self.state} (connection closing)")
        if self.fin_queued:
            raise ConnectionError("cannot send after close/shutdown")
        taken = self.sndbuf.append(data)
        self.output()
        return taken

    @property
    def send_space(self) -> int:
        """Bytes `send` would accept now."""
        free = self.sndbuf.free
        return free if free is not None else 1 << 30

    def read(self, n: int | None = None, *, after: int = 0, announce: bool = True) -> bytes:
        """Take up to ``n`` received bytes (all by default) that follow the first
        ``after`` ones, which stay for a later read; the window opens accordingly, and is
        announced unless ``announce`` is False (the caller then calls `announce_window`)."""
        data = self.rcvbuf.read(n, after)
        if data and announce:
            self.announce_window()
        return data

    def announce_window(self) -> None:
        """Send a window update if reading opened the window by a useful amount."""
        if self.state not in S.may_receive:
            return
        offered = max(self.rcv_adv - self.rcv_nxt, 0)
        # RFC 9293 §3.8.6.2.2: announce a window that opened by a useful amount, when the
        # peer's view of it has fallen below half the buffer (else the next ACK, delayed or
        # not, carries the update).
        if offered < min(self.rcvbuf.capacity, MAX_WINDOW << self.rcv_wscale) // 2 and (
            self.rcvbuf.window_update_due(offered, self.config.mss)
        ):
            self.send_ack()

    def peek(self, n: int | None = None, *, after: int = 0) -> bytes:
        """Up to ``n`` received bytes (all by default) after the first ``after``, left in
        the buffer."""
        return self.rcvbuf.peek(n, after)

    def unread(self, data: bytes) -> None:
        """Put bytes just taken with `read` back at the end of the receive buffer, for a
        later read; the window they take is not offered again until then."""
        self.rcvbuf.store(data)

    @property
    def readable(self) -> int:
        """Bytes received in order and not read yet."""
        return len(self.rcvbuf)

    def close(self) -> None:
        """CLOSE (RFC 9293 §3.10.4): FIN after the queued data; idempotent."""
        if self.state in (TCP.CLOSED, TCP.FIN_WAIT_1, TCP.FIN_WAIT_2, TCP.CLOSING, TCP.LAST_ACK):
            return
        if self.state == TCP.TIME_WAIT:
            return
        self.fire("app_close", reason=CloseReason.CLOSED)

    def shutdown_read(self) -> None:
        """The application reads no more (a socket's SHUT_RD). Once our FIN is sent too,
        new data is answered with RST (RFC 9293 §3.6.1 SHLD-3, as Linux)."""
        self.rcv_shut = True

    def close_both(self, unread: int = 0) -> None:
        """Close both directions, as a socket's close() (RFC 9293 §3.6.1's half-duplex
        close, MAY-1): the application reads no more. With received data it has not read
        (the receive buffer, plus ``unread`` bytes it holds itself) the data is discarded
        and the connection reset, RST rather than FIN (SHLD-3, RFC 1122 §4.2.2.13, RFC
        2525 §2.17), and the user hears `CloseReason.RESET`; else CLOSE, after which new
        data from the peer is answered with RST."""
        self.rcv_shut = True
        unread += len(self.rcvbuf)
        if unread:
            self.rcvbuf.read()  # lost, as Linux's tcp_close empties the receive queue
            if self.fire("app_close", unread=unread, reason=CloseReason.RESET):
                return
        self.close()

    def abort(self) -> None:
        """ABORT (RFC 9293 §3.10.5): RST where the RFC says so, then forget the TCB."""
        if self.state != TCP.CLOSED:
            self.fire("app_abort", reason=CloseReason.ABORTED)

    def icmp_error(self, hard: bool) -> None:
        """An ICMP error about this connection (RFC 1122 §4.2.3.9): a hard one (port or
        protocol unreachable) aborts an opening connection; soft ones are only counted."""
        if hard and self.state == TCP.SYN_SENT:
            self.fire("rcv_hard_error", reason=CloseReason.UNREACHABLE)

    # ============================================================================ hooks

    def choose_isn(self, **kw: Any) -> None:
        """Hook: pick the ISS (RFC 9293 §3.4.1; RFC 6528 via ``host.isn``). An override
        only sets ``self.iss``: SND.UNA, SND.NXT and SND.MAX follow from it in `send_syn`
        and `send_synack`."""
        self.iss = SeqNum(self.host.isn(self.local_ip, self.local_port, self.remote_ip,
                                        self.remote_port))  # fmt: skip
        floor = self._isn_floor
        if floor is not None and not self.iss > floor:
            # RFC 1122 §4.2.2.13, RFC 6191 §2: a connection reopened from TIME_WAIT starts
            # above the old one's highest sequence number (Linux: SND.NXT + 65535 + 2).
            self.iss = floor + 65537
        if self.config.timestamps:
            self.ts_offset = self._choose_ts_offset()

    def _choose_ts_offset(self) -> int:
        """RFC 7323 §5.4, §7.1: a random TSval offset keeps TSval from revealing the
        host's uptime. The host's ``ts_offset(local_ip, remote_ip)`` gives one per pair
        of addresses (as Linux), else the host's rng one per connection, else 0."""
        per_pair = getattr(self.host, "ts_offset", None)
        if per_pair is not None:
            return int(per_pair(self.local_ip, self.remote_ip))
        rng = getattr(self.host, "rng", None)
        return rng.getrandbits(32) if rng is not None else 0

    def syn_segment(self) -> tcpwire.TcpSegment:
        """Our SYN (with the MSS option, RFC 9293 §3.7.1 / MUST-14, and the window scale,
        timestamps and SACK-permitted options unless turned off in `TcpConfig`, RFC 7323
        §2.2, §3.2, RFC 2018 §2)."""
        config = self.config
        seg = self.make_segment(self.iss, SYN)
        return self._with_syn_options(seg, config.window_scaling, config.timestamps, config.sack)

    def _with_syn_options(
        self, seg: tcpwire.TcpSegment, wscale: bool, timestamps: bool, sack: bool
    ) -> tcpwire.TcpSegment:
        # RFC 7323 §3.2: TSecr is zero on a SYN (it echoes nothing yet).
        tsopt = (self.ts_val(), self.ts_recent) if timestamps else None
        options = syn_options(self.local_mss, tsopt, sack, self.rcv_wscale if wscale else None)
        options += self.extra_syn_options(seg.flags)
        return tcpwire.TcpSegment(
            seg.src_port, seg.dst_port, seg.seq, seg.ack, seg.flags, seg.window, b"", options,
        )  # fmt: skip

    def extra_syn_options(self, flags: int) -> tuple[TcpOption, ...]:
        """Override point: options to append to our SYN (``flags`` is SYN) or SYN,ACK
        (SYN|ACK) after the standard ones; none by default. All of them must fit in 40
        bytes (RFC 9293 §3.1): 20 go to MSS, SACK-permitted, timestamps and window scale.
        A hook or condition reads the peer's options from ``segment.options``."""
        return ()

    def send_syn(self, **kw: Any) -> None:
        """Hook: send our SYN <SEQ=ISS><CTL=SYN> with the MSS option."""
        self.snd_una = self.iss  # RFC 9293 §3.10.1: SND.UNA = ISS, SND.NXT = ISS+1
        self.emit_segment(self.syn_segment())
        self.snd_nxt = self.snd_max = self.iss + 1
        self.rtt_seq, self.rtt_time = self.snd_nxt, self.clock.seconds()
        self.arm_rexmit()

    def send_synack(self, **kw: Any) -> None:
        """Hook: send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> with the MSS option, and the
        window scale, timestamps and SACK-permitted options only if the SYN carried them
        (RFC 7323 §2.2, §3.2, RFC 2018 §2)."""
        # The first SYN,ACK: SND.UNA = ISS (RFC 9293 §3.10.7.2).
        if self.snd_una.value != self.iss.value:
            self.snd_una = self.snd_nxt = self.snd_max = self.iss
        seg = self.make_segment(self.iss, SYN | ACK)
        self.emit_segment(self._with_syn_options(seg, self.wscale_ok, self.ts_ok, self.sack_ok))
        if self.snd_max.value == self.iss.value:
            self.snd_nxt = self.snd_max = self.iss + 1
            self.rtt_seq, self.rtt_time = self.snd_nxt, self.clock.seconds()
        self.arm_rexmit()

    def send_fin(self, **kw: Any) -> None:
        """Hook: queue our FIN after the queued data and send what may be sent."""
        if not self.fin_queued:
            self.snd_fin = self.sndbuf_seq() + len(self.sndbuf)
            self.fin_queued = True
        self.output()

    def send_rst(self, **kw: Any) -> None:
        """Hook (ABORT): send <SEQ=SND.NXT><CTL=RST> (RFC 9293 §3.10.5), SND.NXT read as
        SND.MAX: after a timeout rewound SND.NXT, the peer's RCV.NXT may be past it and an
        RST there would be dropped (RFC 5961 §3.2), leaving the peer's side open."""
        self.emit_segment(self.make_segment(self.snd_max, RST))

    def send_rst_reply(self, seg: tcpwire.TcpSegment, meta: IpMeta | None = None) -> None:
        """Reset in answer to ``seg`` (RFC 9293 §3.10.7.1), never to an RST. A session
        without a peer (a listener) answers the sender ``meta`` names."""
        if seg.flags & RST:
            return
        to: Any = self
        if self.remote_ip is None:
            if meta is None:
                return  # nobody to answer
            to = ReplyTo(meta.dst, meta.src)
        self.host.transmit(to, reset_for(seg))

    def deliver_data(self, data: bytes, **kw: Any) -> None:
        """Hook: in-order bytes for the application (buffered until it reads them)."""
        self.rcvbuf.store(data)
        if self.user is not None:
            self.user.tcp_readable(self)

    def deliver_eof(self) -> None:
        """Hook: the peer sent FIN; the application sees the end of the data."""
        if self.user is not None:
            self.user.tcp_eof(self)

    def accept_connection(self, **kw: Any) -> bool:
        """Condition on a passive open: room in the listener's accept queue and SYN queue
        (``TcpConfig.syn_backlog``; beyond it the listener sends SYN cookies instead)."""
        listener = self.listener
        if listener is None:
            return True
        if len(listener.accept_queue) >= listener.backlog:
            return False
        return listener.half_open <= self.config.syn_backlog  # this one counted already

    def unread_data(self, **kw: Any) -> bool:
        """Condition on CLOSE: the application closes with received data unread
        (``unread=`` bytes, given by `close_both`)."""
        return bool(kw.get("unread"))

    def reset_sender(self, **kw: Any) -> None:
        """Hook: answer the segment that brought data after the close with RST."""
        self.send_rst_reply(kw["segment"])

    def listening(self, **kw: Any) -> None:
        """Hook on entering LISTEN; a child reset in SYN_RECEIVED leaves the stage here."""
        if self.listener is not None:
            self.listener.half_open -= 1
            self.cancel_timers()
            self.host.forget(self)
            self.listener = None

    def connection_established(self, **kw: Any) -> None:
        """Hook on entering ESTABLISHED: queue for accept() or tell the application."""
        self.keepalive_reset()
        listener = self.listener
        if listener is not None:
            listener.half_open -= 1
            self.listener = None
            if listener.user is not None:
                listener.user.tcp_accepted(listener, self)
        if self.user is not None:
            self.user.tcp_established(self)

    def connection_closed(self, **kw: Any) -> None:
        """Hook on entering CLOSED: stop timers, leave the demux, tell the application."""
        self.cancel_timers()
        reason = kw.get("reason") or CloseReason.CLOSED
        if self.close_reason is None:
            self.close_reason = reason
        if self.listener is not None:
            self.listener.half_open -= 1
            self.listener = None
        self.host.forget(self)
        if self.user is not None:
            self.user.tcp_closed(self, self.close_reason)
        self._release_after_close()

    def _release_after_close(self) -> None:
        """Break the reference cycles of a finished connection (its timers' bound methods,
        its user's reference back to it), so that reference counting frees it at once
        rather than the cyclic GC later: a server closes thousands a second. A connection
        still waiting for accept() keeps its user, which accept() hands out."""
        self.timers = IDLE_TIMERS
        if not self.awaiting_accept:
            self.user = None

    def on_segment_out(self, segment: tcpwire.TcpSegment) -> Any:
        """Hook: sees (and may rewrite or drop) every segment this session sends.

        ``segment`` is the `TcpSegment` about to be sent, whether or not a subclass
        overrides this hook. Return it, another `TcpSegment` (e.g. built with
        ``dataclasses.replace``), or None to drop it. For a scapy view call
        ``self.to_scapy(segment)``; a scapy packet returned is accepted too: its TCP
        header and payload are sent as they are (checksum recomputed when unset), while
        the IP header is built by IP as for any segment (its TTL, TOS and identification
        are IP's, not the scapy packet's). The default returns ``segment``.
        """
        return segment

    def on_segment_in(self, segment: tcpwire.TcpSegment, meta: IpMeta) -> None:
        """Hook: sees every incoming segment of this session before it is processed.

        ``segment`` is the `TcpSegment` and ``meta`` the `IpMeta` IP delivered it with
        (addresses, TTL, TOS), whether or not a subclass overrides this hook; for a scapy
        view call ``self.to_scapy(segment, meta)``. The return value is ignored (the
        segment is then processed as usual). The default does nothing.
        """

    def to_scapy(self, segment: tcpwire.TcpSegment, meta: IpMeta | None = None) -> Any:
        """``segment`` as a scapy ``IP()/TCP()`` packet with checksums and lengths unset:
        an incoming one with the `IpMeta` it came with (its IP header shows the sender,
        TTL and TOS), an outgoing one (no ``meta``) from our address to the peer's."""
        from pystack.tcp.scapy_view import to_scapy_tcp

        return to_scapy_tcp(self, segment, meta)

    def emit_segment(self, seg: tcpwire.TcpSegment, gso_size: int = 0) -> None:
        """Send a segment of this connection through `on_segment_out` to the host; with
        ``gso_size``, a super-segment the link's device cuts (see `tso_max`)."""
        out = self.on_segment_out(seg)
        if out is seg or type(out) is tcpwire.TcpSegment:
            if gso_size and len(out.payload) > gso_size:
                self.host.transmit_super(self, out, gso_size)  # type: ignore[attr-defined]
            else:
                self.host.transmit(self, out)
        elif out is not None:
            from pystack.tcp.scapy_view import tcp_bytes_of

            self.host.transmit_bytes(self, tcp_bytes_of(out))

    def segment_arrives(self, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
        """Process one incoming segment (RFC 9293 §3.10.7), which IP delivered with
        ``meta`` (its addresses, TTL, TOS: a listener's peer is ``meta.src``)."""
        self.on_segment_in(seg, meta)
        self.keepalive_reset()
        handler = _BY_STATE.get(self.state)
        if handler is None:
            self._in_synchronized(seg)
        else:
            handler(self, seg, meta)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        """After every transition: log it and tell the host's observer, if it has one."""
        if _FSM_LOG.isEnabledFor(logging.DEBUG):  # the log line is all the base one does
            super().on_state_change(old, trigger, new)
        notify = getattr(self.host, "notify", None)
        if notify is not None:
            notify(self, old, trigger, new)

    def count_drop(self, reason: TcpDrop) -> None:
        """Count a dropped segment under its reason (``stack.stats``)."""
        self.host.count_drop(reason)

    # ====================================================================== reassembly

    def take_fin_from_queue(self) -> None:
        """A FIN that waited in the reorder queue became the next byte."""
        seg = tcpwire.TcpSegment(
            self.remote_port or 0, self.local_port, self.rcv_nxt.value, self.snd_una.value,
            tcpwire.FIN | ACK, self.snd_wnd,
        )  # fmt: skip
        self.take_fin(seg)

    # ====================================================================== TIME_WAIT

    def _in_time_wait(self, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
        if seg.flags & SYN and self.reopen_from_time_wait(seg):
            return
        self._in_synchronized(seg)

    def reopen_from_time_wait(self, seg: tcpwire.TcpSegment) -> bool:
        """A new SYN for this 4-tuple in TIME_WAIT (no ACK, no RST) that
        `syn_reopens_time_wait` accepts (RFC 1122 §4.2.2.13 and RFC 6191 §2: a newer
        TSval, else SEG.SEQ > RCV.NXT, as Linux): the TIME_WAIT session closes and the
        listener on our port takes the SYN as a new connection. Otherwise (or with no
        listener, or a host without ``listener_for``) returns False: RFC 7323 §5.3, RFC
        9293 §3.10.7.4 and RFC 5961 §4 apply."""
        ts_recent = self.ts_recent if self.ts_ok else None
        now = self.clock.seconds()
        if not syn_reopens_time_wait(seg, self.rcv_nxt.value, ts_recent, self.ts_recent_age, now):
            return False
        listener_for = getattr(self.host, "listener_for", None)
        listener = listener_for(self.local_ip, self.local_port) if listener_for else None
        if listener is None:
            return False
        self.fire("rcv_syn_reopen", segment=seg, reason=CloseReason.CLOSED)
        listener.take_reopening_syn(seg, self)
        return True

    def release_for_time_wait(self) -> None:
        """In TIME_WAIT both FINs are acknowledged: nothing is sent but ACKs and nothing is
        received but retransmitted FINs. Keep the 2*MSL timer and what the peer's segments
        are checked against; swap the buffers (unless unread data remains), reorder queue,
        congestion and RTT state and the other timers for shared idle ones, and let equal
        sequence numbers share one object, so that the thousands of TIME_WAIT sessions a
        busy server holds are a handful of objects each for the cyclic GC."""
        timers = self.timers
        if timers.rexmit is NO_TIMER:
            return  # already released (a retransmitted FIN restarted 2*MSL)
        timers.release_for_time_wait()
        self.timers = TimeWaitTimers(self, timers.time_wait_deadline())
        self.sndbuf = _IDLE.sndbuf
        if not len(self.rcvbuf):
            self.rcvbuf = _IDLE.rcvbuf
        self.reorder = _IDLE.reorder
        # Never written in TIME_WAIT: no data arrives, and no SACK block fits in
        # (SND.UNA, SND.MAX] once both are equal.
        self.scoreboard = _IDLE.scoreboard
        self.sack_recent = _IDLE.sack_recent
        self.ooo_fin = self.rtt_seq = None
        self.rtt = _IDLE.rtt
        self.cc = _IDLE.cc
        self._cc_factory = None
        self.snd_nxt = self.snd_wl2 = self.snd_una = self.snd_max

    # ========================================================================= timers

    def start_time_wait_timer(self, **kw: Any) -> None:
        """Hook: (re)start the 2*MSL timeout on entering TIME_WAIT (RFC 9293 §3.10.7.4,
        §3.4.2), then drop what the connection no longer needs (`release_for_time_wait`).
        A host keeping compact TIME_WAIT records runs the wait itself."""
        self.release_for_time_wait()
        self.timers.start_time_wait(self)

    def arm_rexmit(self) -> None:
        """Run the retransmission timer while data is outstanding (RFC 6298 §5.1)."""
        self.timers.arm_rexmit(self)

    def enter_persist(self) -> None:
        """Probe a zero window (RFC 9293 §3.8.6.1)."""
        self.timers.enter_persist(self)

    def keepalive_reset(self) -> None:
        """Any segment from the peer proves it alive (RFC 9293 §3.8.4)."""
        self.timers.keepalive_reset(self)

    def cancel_timers(self) -> None:
        """Stop every timer (the connection is gone)."""
        self.timers.cancel_all()

    @property
    def rexmit_timer(self) -> Any:
        """The retransmission timer (``timers.rexmit``)."""
        return self.timers.rexmit

    @property
    def persist_timer(self) -> Any:
        """The persist timer (``timers.persist``)."""
        return self.timers.persist

    @property
    def delack_timer(self) -> Any:
        """The delayed ACK timer (``timers.delack``)."""
        return self.timers.delack

    @property
    def keepalive_timer(self) -> Any:
        """The keep-alive timer (``timers.keepalive``)."""
        return self.timers.keepalive

    @property
    def time_wait_timer(self) -> Any:
        """The 2*MSL timer (``timers.time_wait``)."""
        return self.timers.time_wait

    # ======================================================================= snapshot

    def snapshot(self) -> dict[str, Any]:
        """The TCB as a plain dict (RFC 9293 §3.3.1 names) for tests and debugging."""
        return {
            "state": self.state,
            "local": (self.local_ip, self.local_port),
            "remote": (self.remote_ip, self.remote_port),
            "iss": int(self.iss), "irs": int(self.irs),
            "snd_una": int(self.snd_una), "snd_nxt": int(self.snd_nxt),
            "snd_max": int(self.snd_max), "snd_wnd": self.snd_wnd,
            "snd_wl1": int(self.snd_wl1), "snd_wl2": int(self.snd_wl2),
            "snd_mss": self.snd_mss, "rcv_nxt": int(self.rcv_nxt),
            "snd_wscale": self.snd_wscale, "rcv_wscale": self.rcv_wscale,
            "ts_ok": self.ts_ok, "ts_recent": self.ts_recent,
            "ts_recent_age": self.ts_recent_age,
            "sack_ok": self.sack_ok, "rexmit_bytes": self.rexmit_bytes,
            "rcv_wnd": max(self.rcv_adv - self.rcv_nxt, 0),
            "rto": self.rtt.rto, "srtt": self.rtt.srtt,
            "cwnd": self.cc.cwnd, "ssthresh": self.cc.ssthresh,
            "send_queued": len(self.sndbuf), "recv_queued": len(self.rcvbuf),
            "ooo_queued": len(self.reorder),
            "fin_queued": self.fin_queued, "fin_received": self.fin_received,
            "timers": {
                name: timer.deadline
                for name, timer in (
                    ("rexmit", self.timers.rexmit), ("persist", self.timers.persist),
                    ("delack", self.timers.delack), ("keepalive", self.timers.keepalive),
                    ("time_wait", self.timers.time_wait),
                )
                if timer.active
            },
        }  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.local_ip}:{self.local_port} -> "
            f"{self.remote_ip}:{self.remote_port} {self.state}>"
        )


def reset_for(seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment:
    """The RST answering ``seg`` (RFC 9293 §3.10.7.1): <SEQ=SEG.ACK><CTL=RST> if it had an
    ACK, else <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>."""
    if seg.flags & ACK:
        return tcpwire.TcpSegment(seg.dst_port, seg.src_port, seg.ack, 0, RST, 0)
    ack = (seg.seq + seg.seg_len) & 0xFFFFFFFF
    return tcpwire.TcpSegment(seg.dst_port, seg.src_port, 0, ack, RST | ACK, 0)


class _Idle:
    """The shared, never-written state TIME_WAIT sessions point to (see
    `TCPSession.release_for_time_wait`)."""

    def __init__(self) -> None:
        self.sndbuf = SendBuffer(1)
        self.rcvbuf = RecvBuffer(1)
        self.reorder = ReorderQueue(1)
        self.scoreboard = Scoreboard()
        self.sack_recent = NO_BLOCKS
        self.rtt = RttEstimator()
        self.cc = NewReno(DEFAULT_SMSS)


DEFAULT_SMSS = 536
_IDLE = _Idle()


def _in_syn_sent(session: TCPSession, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
    session._in_syn_sent(seg)  # a connection in SYN_SENT knows its peer


_BY_STATE = {
    TCP.CLOSED: TCPSession._in_closed,
    TCP.LISTEN: TCPSession._in_listen,
    TCP.SYN_SENT: _in_syn_sent,
    TCP.TIME_WAIT: TCPSession._in_time_wait,
}
