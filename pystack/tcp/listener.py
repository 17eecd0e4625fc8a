"""A listening session's part of the passive open: the SYN queue and SYN cookies.

A SYN for a listener spawns a child session of the same class in SYN_RECEIVED; the
listener's half-open children are its SYN queue, at most ``TcpConfig.syn_backlog``, kept
apart from the accept queue of ``backlog`` established ones (as Linux). A half-open child
resends its SYN,ACK ``TcpConfig.synack_retries`` times, then goes without a word.

Once the SYN queue is full (``TcpConfig.syn_cookies = "overflow"``, Linux's
``tcp_syncookies=1``), or for every SYN (``"always"``), the listener answers with a SYN
cookie (RFC 4987 §3.6, :mod:`pystack.tcp.syncookies`) and keeps nothing: the
``rcv_syn_stateless`` edge. The final ACK whose SEG.ACK - 1 is a valid cookie spawns the
child straight into ESTABLISHED with the options the cookie carries: ``rcv_cookie_ack``.
Any other ACK to a listener gets <SEQ=SEG.ACK><CTL=RST> (RFC 9293 §3.10.7.2), as Linux.
"""

from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from pystack.layers.ip_meta import IpMeta
from pystack.tcp.config import IPV6_EXTRA, TcpConfig, TcpDrop
from pystack.tcp.host import CookieHost
from pystack.tcp.receive import DEFAULT_MSS, TS_OPTION_LEN, seg_tsval
from pystack.tcp.sender import MAX_WINDOW
from pystack.tcp.states import TCP
from pystack.tcp.syncookies import (
    MAX_AGE,
    MSS_TABLE,
    PERIOD,
    CookieOptions,
    check_cookie,
    counter,
    decode_ts,
    encode_ts,
    make_cookie,
    mss_index,
)
from pystack.tcp.tcb import Tcb
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import NOP, Mss, SackPermitted, TcpOption, Timestamp, WindowScale

__all__ = ["Listener", "ListenerMixin", "ListenerOwner", "ReplyTo", "syn_options", "synack_window"]

SYN, ACK, FIN = tcpwire.SYN, tcpwire.ACK, tcpwire.FIN
_MASK = 0xFFFFFFFF


class ReplyTo(NamedTuple):
    """The addresses of a reply sent by a listener, which has no remote address itself."""

    local_ip: str
    remote_ip: str | None


def syn_options(
    mss: int, tsopt: tuple[int, int] | None, sack: bool, wscale: int | None
) -> tuple[TcpOption, ...]:
    """The options of a SYN or SYN,ACK in Linux's layout: MSS, SACK-permitted in the two
    bytes TSopt leaves for alignment (else two NOPs), then NOP + window scale: 20 bytes
    with all four."""
    head, tail = _syn_layout(mss, tsopt is not None, sack, wscale)
    if tsopt is None:
        return head + tail
    return (*head, Timestamp(*tsopt), *tail)


@functools.lru_cache(maxsize=64)
def _syn_layout(
    mss: int, timestamps: bool, sack: bool, wscale: int | None
) -> tuple[tuple[TcpOption, ...], tuple[TcpOption, ...]]:
    """`syn_options` around the timestamps option, the only one that changes from one
    connection to the next (the options are frozen: every SYN may share them)."""
    head: tuple[TcpOption, ...] = (Mss(mss),)
    if timestamps:
        head += (SackPermitted(),) if sack else (NOP, NOP)
    elif sack:
        head += (NOP, NOP, SackPermitted())
    tail: tuple[TcpOption, ...] = () if wscale is None else (NOP, WindowScale(wscale))
    return head, tail


def synack_window(config: TcpConfig) -> int:
    """The window of our SYN,ACK (never scaled, RFC 7323 §2.2): an empty receive buffer."""
    return min(config.rcv_buf, MAX_WINDOW)


class ListenerMixin(Tcb):
    """The passive-open hooks of a TCP session (``send_syncookie``, ``accept_queue_room``,
    ``is_passive_child``, ``take_cookie_ack``, ...); spawning children for SYNs and
    cookie ACKs is its `Listener` part's (``session.listen_side``)."""

    __slots__ = ()
    listener: Any
    _isn_floor: SeqNum | None
    _last_cookie_at: float | None
    """When this listener last sent a SYN cookie (Linux: the last SYN queue overflow)."""

    listen_side: Listener  # TCPSession.listen_side

    if TYPE_CHECKING:

        def new_cc(self, smss: int) -> Any: ...
        def take_syn(self, seg: tcpwire.TcpSegment) -> None: ...
        def _negotiate_wscale(self, shift: int | None) -> None: ...
        def _in_synchronized(self, seg: tcpwire.TcpSegment) -> None: ...

    # ----------------------------------------------------------------------- the SYN

    def send_syncookie(self, *, segment: tcpwire.TcpSegment, local_ip: str, remote_ip: str,
                       **kw: Any) -> None:  # fmt: skip
        """Hook (``rcv_syn_stateless``): answer ``segment`` with <SEQ=cookie><ACK=SEG.SEQ+1>
        <CTL=SYN,ACK> (RFC 4987 §3.6) and keep no state. The cookie encodes the peer's MSS;
        with timestamps, the TSval's low bits its window scale and SACK-permitted. Without
        timestamps the SYN,ACK offers neither, since nothing could bring them back (Linux)."""
        seg, config = segment, self.config
        now = self.clock.seconds()
        self._last_cookie_at = now
        local_mss = config.mss - (IPV6_EXTRA if ":" in remote_ip else 0)
        peer_mss = min(seg.mss or DEFAULT_MSS, local_mss)
        four = (local_ip, self.local_port, remote_ip, seg.src_port)
        secret = cast(CookieHost, self.host).syncookie_secret()
        iss = make_cookie(secret, four, seg.seq, mss_index(peer_mss), counter(now))
        tsval = seg_tsval(seg)
        tsopt = sack = wscale = None
        if tsval is not None and config.timestamps:
            sack = seg.sack_permitted and config.sack
            wscale = seg.wscale if config.window_scaling else None
            ts_now = (_ts_offset(self.host, local_ip, remote_ip) + int(now * 1000)) & _MASK
            tsopt = (encode_ts(ts_now, CookieOptions(wscale, bool(sack))), tsval)
        options = syn_options(
            local_mss, tsopt, bool(sack), None if wscale is None else config.rcv_wscale
        )
        synack = tcpwire.TcpSegment(
            self.local_port, seg.src_port, iss, (seg.seq + 1) & _MASK, SYN | ACK,
            synack_window(config), b"", options,
        )  # fmt: skip
        _count(self.host, "syncookies_sent")
        self.host.transmit(ReplyTo(local_ip, remote_ip), synack)

    # ------------------------------------------------------------------ the final ACK

    def take_cookie_ack(
        self, seg: tcpwire.TcpSegment, mss: int, options: CookieOptions, tsval: int | None
    ) -> None:
        """The TCB a SYN cookie rebuilds (RFC 4987 §3.6) from the final ACK: IRS = SEG.SEQ
        - 1, ISS = SEG.ACK - 1 (acknowledged), the MSS, window scale, SACK-permitted and
        timestamps the cookie carried, the peer's window from the ACK (scaled)."""
        config = self.config
        self.irs, self.iss = SeqNum(seg.seq - 1), SeqNum(seg.ack - 1)
        self.rcv_nxt = SeqNum(seg.seq)
        self.rcv_adv = self.rcv_nxt + synack_window(config)
        self.snd_una = self.snd_nxt = self.snd_max = SeqNum(seg.ack)
        self.ts_ok = tsval is not None
        mss = min(mss, self.local_mss)
        if tsval is not None:
            self.ts_recent, self.ts_recent_age = tsval, self.clock.seconds()
            self.ts_offset = _ts_offset(self.host, self.local_ip, self.remote_ip or "")
            self.last_ack_sent = seg.seq
            mss -= TS_OPTION_LEN  # RFC 7323 §3.2, RFC 6691 §2
        self.snd_mss = max(1, mss)
        self.sack_ok = options.sack and config.sack
        self.cc = self.new_cc(self.snd_mss)
        self.cc.sack = self.sack_ok
        self._negotiate_wscale(options.wscale)
        self.snd_wnd = self.max_snd_wnd = seg.window << self.snd_wscale
        self.snd_wl1, self.snd_wl2 = SeqNum(seg.seq), SeqNum(seg.ack)

    def accept_queue_room(self, **kw: Any) -> bool:
        """Condition (``rcv_cookie_ack``): room in the listener's accept queue; else the
        ACK is dropped and the peer's retransmission may find room (Linux)."""
        listener = self.listener
        return listener is None or len(listener.accept_queue) < listener.backlog

    # -------------------------------------------------------------- half-open children

    def take_reopening_syn(self, seg: tcpwire.TcpSegment, old: Any) -> None:
        """A SYN that closed ``old`` in TIME_WAIT (`reopen_from_time_wait`): a new child
        takes it, with an ISS above ``old``'s highest sequence number."""
        self.listen_side.spawn_child(self, seg, old.local_ip, old.remote_ip, old.snd_max)

    def take_syn_after_time_wait(
        self, seg: tcpwire.TcpSegment, local_ip: str, remote_ip: str, old_snd_max: SeqNum
    ) -> None:
        """As `take_reopening_syn`, for a connection the TCP layer kept as a TIME_WAIT
        record rather than a session."""
        self.listen_side.spawn_child(self, seg, local_ip, remote_ip, old_snd_max)

    def is_passive_child(self, **kw: Any) -> bool:
        """Condition (``spawned``; ``rcv_rst`` in SYN_RECEIVED): this session is a child a
        listener spawned for a SYN. RFC 9293 §3.10.7.4 sends a passive open's SYN_RECEIVED
        connection back to LISTEN on RST; here the listener never left LISTEN, so the child
        is discarded instead (to CLOSED, nobody told)."""
        return bool(self.passive)

    def synack_retries_spent(self) -> bool:
        """Whether a half-open child has resent its SYN,ACK ``TcpConfig.synack_retries``
        times: the next timeout drops it (Linux's tcp_synack_retries), not R2."""
        return (
            self.passive
            and self.state == TCP.SYN_RECEIVED
            and self.rtt.backoffs >= self.config.synack_retries
        )


class ListenerOwner(Protocol):
    """What `Listener` needs from its listening session: its configuration, host and
    queues, the drop counter, and the trigger that takes a cookie's ACK."""

    config: TcpConfig
    host: Any
    clock: Any
    local_port: int
    half_open: int
    backlog: int
    accept_queue: Any
    _cc_factory: Any
    _last_cookie_at: float | None

    def fire(self, trigger: str, **kwargs: Any) -> bool: ...
    def count_drop(self, reason: TcpDrop) -> None: ...


class Listener:
    """A listening session's passive open (see the module docstring): it spawns a child
    session of the listener's class for a SYN (the SYN queue) or for the ACK of a valid
    SYN cookie. Like `Sender` and `Receiver`, its methods take the listening session as an
    argument typed `ListenerOwner`; it holds no state, so the listeners of a class share
    one. Replace it with ``TCPSession.listener_class``."""

    __slots__ = ()

    def syn(self, s: ListenerOwner, seg: tcpwire.TcpSegment, meta: IpMeta) -> None:
        """A SYN for this listener, from ``meta.src`` to ``meta.dst``: a child session of
        the same class takes it over, or, when `cookie_due`, a stateless SYN,ACK
        carries a cookie (``rcv_syn_stateless``)."""
        local_ip, remote_ip = meta.dst, meta.src
        if self.cookie_due(s):
            s.fire("rcv_syn_stateless", segment=seg, local_ip=local_ip, remote_ip=remote_ip)
            return
        self.spawn_child(s, seg, local_ip, remote_ip, None)

    def cookie_due(self, s: ListenerOwner) -> bool:
        """Whether a new SYN gets a cookie: the SYN queue is full (``"overflow"``) or
        cookies are ``"always"`` on, and the host keeps a cookie secret. Never while the
        accept queue is full: that SYN is dropped, as Linux's tcp_conn_request."""
        mode = s.config.syn_cookies
        if mode == "off" or getattr(s.host, "syncookie_secret", None) is None:
            return False
        if len(s.accept_queue) >= s.backlog:
            return False
        return mode == "always" or s.half_open >= s.config.syn_backlog

    def cookie_ack(self, s: ListenerOwner, seg: tcpwire.TcpSegment, meta: IpMeta) -> bool:
        """An ACK for this listener (RFC 9293 §3.10.7.2, second check): True when it
        carries a valid SYN cookie and was taken (spawned a connection, or was dropped for
        a full accept queue). False otherwise: the caller answers it with a reset. Cookies
        are only looked for within two minutes of the last one sent (unless ``"always"``),
        as Linux's tcp_synq_no_recent_overflow."""
        if seg.flags & SYN or not self.cookies_recent(s):
            return False
        local_ip, remote_ip = meta.dst, meta.src
        four = (local_ip, s.local_port, remote_ip, seg.src_port)
        now = s.clock.seconds()
        secret = cast(CookieHost, s.host).syncookie_secret()
        index = check_cookie(
            secret, four, (seg.seq - 1) & _MASK, (seg.ack - 1) & _MASK, counter(now)
        )
        if index is None:
            _count(s.host, "syncookies_failed")
            return False
        _count(s.host, "syncookies_validated")
        tsval = seg_tsval(seg) if s.config.timestamps else None
        options = CookieOptions(None, False)
        if tsval is not None:
            options = decode_ts(_tsecr(seg))
        self.spawn_cookie_child(s, seg, local_ip, remote_ip, (MSS_TABLE[index], options, tsval))
        return True

    def cookies_recent(self, s: ListenerOwner) -> bool:
        """Whether an ACK may carry a cookie: one was sent within two minutes."""
        mode = s.config.syn_cookies
        if mode == "off" or getattr(s.host, "syncookie_secret", None) is None:
            return False
        if mode == "always":
            return True
        last = s._last_cookie_at
        return last is not None and s.clock.seconds() - last < MAX_AGE * PERIOD

    def spawn_cookie_child(
        self, s: ListenerOwner, seg: tcpwire.TcpSegment, local_ip: str, remote_ip: str,
        decoded: tuple[int, CookieOptions, int | None],
    ) -> None:  # fmt: skip
        """A valid cookie's ACK: a child rebuilt from the cookie enters ESTABLISHED."""
        child = self.new_child(s, local_ip, remote_ip, seg.src_port)
        child.take_cookie_ack(seg, *decoded)
        s.half_open += 1
        s.host.adopt(child)
        if child.fire("rcv_cookie_ack", segment=seg):
            if seg.payload or seg.flags & FIN:
                child._in_synchronized(seg)  # its text and FIN, now in ESTABLISHED
            return
        s.half_open -= 1
        child.listener = None
        s.host.forget(child)
        s.count_drop(TcpDrop.BACKLOG_FULL)

    def new_child(
        self, s: ListenerOwner, local_ip: str, remote_ip: str | None, remote_port: int
    ) -> Any:
        """A child session of the listener's class, spawned (``spawned``) and owned by it."""
        # The addresses come from each segment's IP header, a new string per segment:
        # interned, the connections of one peer (and all of ours) share one each.
        local_ip = sys.intern(local_ip)
        remote_ip = None if remote_ip is None else sys.intern(remote_ip)
        child: Any = type(s)(
            s.host, local_ip=local_ip, local_port=s.local_port, remote_ip=remote_ip,
            remote_port=remote_port, config=s.config, cc_factory=s._cc_factory,
        )  # type: ignore[call-arg]  # fmt: skip
        child.passive = True
        child.fire("spawned")
        child.listener = s
        return child

    def spawn_child(
        self, s: ListenerOwner, seg: tcpwire.TcpSegment, local_ip: str, remote_ip: str | None,
        isn_floor: SeqNum | None,
    ) -> None:  # fmt: skip
        """A SYN: a child takes it into SYN_RECEIVED (``rcv_syn``) unless a queue is full;
        its ISS lies above ``isn_floor`` when it replaces a connection in TIME_WAIT."""
        child = self.new_child(s, local_ip, remote_ip, seg.src_port)
        if isn_floor is not None:
            child._isn_floor = isn_floor
        child.take_syn(seg)
        s.half_open += 1
        if child.fire("rcv_syn", segment=seg):
            if child.state != TCP.CLOSED:  # a hook may have closed it (an application
                s.host.adopt(child)  # that aborts on a Fast Open SYN's data)
            return
        s.half_open -= 1
        child.listener = None
        full = len(s.accept_queue) >= s.backlog
        s.count_drop(TcpDrop.BACKLOG_FULL if full else TcpDrop.SYN_QUEUE_FULL)


def _count(host: Any, name: str) -> None:
    count = getattr(host, "count_event", None)
    if count is not None:
        count(name)


def _ts_offset(host: Any, local_ip: str, remote_ip: str) -> int:
    """The TSval offset of a pair of addresses (RFC 7323 §7.1): the host's, else 0; the
    same for the cookie SYN,ACK and the connection it becomes."""
    per_pair = getattr(host, "ts_offset", None)
    return int(per_pair(local_ip, remote_ip)) if per_pair is not None else 0


def _tsecr(seg: tcpwire.TcpSegment) -> int:
    for opt in seg.options:
        if type(opt) is Timestamp:
            return opt.tsecr
    return 0
