"""TCP knobs, drop reasons and close reasons: the small vocabulary the TCP modules share."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONGESTION_CONTROLS", "FASTOPEN_MODES", "MAX_WSCALE", "SYN_COOKIE_MODES", "CloseReason",
    "ConnectionTimedOut", "TcpConfig", "TcpDrop",
]  # fmt: skip

# RFC 7323 §2.3: the largest shift count; a larger one received is used as 14.
MAX_WSCALE = 14
# TcpConfig.syn_cookies: never, once the SYN queue is full (Linux's default), for every SYN.
SYN_COOKIE_MODES = ("off", "overflow", "always")
# TcpConfig.fastopen: the values it takes, with the bits of Linux's tcp_fastopen sysctl
# they stand for (1: client, 2: server).
FASTOPEN_MODES: dict[bool | str, int] = {False: 0, "client": 1, "server": 2, True: 3}
# TcpConfig.congestion: the controllers known by name (pystack.tcp.cubic resolves them).
CONGESTION_CONTROLS = ("newreno", "cubic")


# An IPv6 header is 20 bytes longer than an IPv4 one: the MSS over IPv6 is that much
# smaller for the same MTU (RFC 8200 §8.3).
IPV6_EXTRA = 20


@dataclass(frozen=True, slots=True)
class TcpConfig:
    """Every TCP knob, with RFC defaults. Pass one to `PyStack(tcp=...)` or to a session.

    Times are in seconds of the injected clock.
    """

    mss: int = 1460
    """MSS we announce (RFC 9293 §3.7.1); the link MTU minus 40 by default."""
    rcv_buf: int = 256 * 1024
    """Receive buffer: the largest window we ever advertise. It fills on demand, so an idle
    connection costs nothing for it; above 65535 it needs window scaling."""
    snd_buf: int = 256 * 1024
    """Send buffer: bytes the application may queue before send() refuses more."""
    msl: float = 30.0
    """Maximum segment lifetime; TIME_WAIT lasts 2*MSL (RFC 9293 §3.4.2)."""
    initial_rto: float = 1.0
    """RTO before any RTT sample (RFC 6298 §2.1)."""
    min_rto: float = 1.0
    """Lower bound of the RTO (RFC 6298 §2.4)."""
    max_rto: float = 60.0
    """Upper bound of the RTO, backoff included (RFC 6298 §2.5)."""
    r1: int = 3
    """Retransmissions of one segment before the IP layer is told (RFC 9293 MUST-20)."""
    r2: float = 100.0
    """Seconds of retransmission of one data segment before we give up (MUST-20, >= 100 s)."""
    syn_r2: float = 180.0
    """Seconds of SYN retransmission before we give up (MUST-20, >= 3 minutes)."""
    delayed_ack: float = 0.2
    """Delayed-ACK timeout; MUST be under 0.5 s (RFC 9293 §3.8.6.3, MUST-40)."""
    nodelay: bool = False
    """Disable Nagle's algorithm (RFC 9293 §3.7.4, MUST-17 lets the user do so)."""
    keepalive: bool = False
    """Keep-alives are off by default (RFC 9293 §3.8.4, MUST-24)."""
    keepalive_idle: float = 7200.0
    """Idle time before the first keep-alive; MUST default to >= 2 hours (MUST-28)."""
    keepalive_interval: float = 75.0
    """Interval between unanswered keep-alives."""
    keepalive_count: int = 9
    """Unanswered keep-alives before the connection is declared dead."""
    ooo_limit: int = 256 * 1024
    """Bytes of out-of-order data kept for reassembly; beyond it segments are dropped."""
    initial_window_segments: int = 10
    """Initial congestion window in segments (RFC 6928 allows 10; RFC 5681 says <= 4)."""
    isn_clock_hz: float = 250_000.0
    """Rate of the ISN clock (RFC 6528: a 4 µs timer)."""
    window_scaling: bool = True
    """Offer the window scale option (RFC 7323 §2) on SYN and SYN,ACK; the shift covers
    ``rcv_buf``. Off, the window field caps every window at 65535 bytes."""
    timestamps: bool = True
    """Offer the timestamps option (RFC 7323 §3) on SYN and SYN,ACK; once both SYNs carry
    it, every segment but an RST carries TSval/TSecr and the send MSS is 12 bytes less."""
    sack: bool = True
    """Offer SACK-permitted (RFC 2018 §2) on SYN and SYN,ACK, as Linux does; once both
    SYNs carry it, our ACKs report out-of-order data in SACK blocks (§4) and loss recovery
    resends only the holes the peer reports (RFC 6675). Off, or with a peer that does not
    offer it, recovery is NewReno's (RFC 6582)."""
    compact_time_wait: bool = True
    """Keep a connection's TIME_WAIT as a compact record in the TCP layer, as Linux does
    (:mod:`pystack.tcp.time_wait`): the session goes to CLOSED (``time_wait_handoff``)
    as soon as it enters TIME_WAIT, and the record answers the peer for 2*MSL. Off, the
    whole session stays in TIME_WAIT for 2*MSL and ends with ``timeout_2msl``."""
    challenge_ack_limit: int | None = 1000
    """RFC 5961 §7: challenge ACKs the TCP layer sends per second, all its connections
    together; beyond it they are counted (``tcp.challenge_acks_limited``), not sent. The
    budget of each second is drawn at random around this mean, as Linux does since
    CVE-2016-5696 (whose ``net.ipv4.tcp_challenge_ack_limit`` was 1000 from 4.7 to 5.19).
    None: no limit."""
    invalid_ack_interval: float = 0.5
    """Linux's ``tcp_invalid_ratelimit``: a connection answers segments without data that
    fail the sequence test or PAWS with at most one ACK per this many seconds; the others
    are counted (Tcp.invalid_acks_limited), not answered, so two ends knocked out of step
    cannot ACK each other without end. Segments with data are always answered. 0: every
    one answered."""
    syn_backlog: int = 256
    """Half-open connections (SYN_RECEIVED) a listener keeps, besides its accept queue of
    ``backlog`` established ones (Linux's SYN queue); beyond it, ``syn_cookies`` decides."""
    syn_cookies: str = "overflow"
    """SYN cookies (RFC 4987 §3.6, :mod:`pystack.tcp.syncookies`): ``"overflow"``
    answers a SYN with a cookie and keeps no state once the SYN queue is full (Linux's
    ``tcp_syncookies=1``); ``"always"`` does so for every SYN (``=2``); ``"off"`` drops
    SYNs beyond ``syn_backlog`` (``=0``). Counted as Tcp.syncookies_sent, _validated,
    _failed."""
    synack_retries: int = 5
    """Retransmissions of a SYN,ACK before a half-open connection is dropped, silently
    (Linux's ``tcp_synack_retries``: with a 1 s initial RTO, gone after 63 s)."""
    fastopen: bool | str = False
    """TCP Fast Open (RFC 7413, :mod:`pystack.tcp.fastopen`), off by default: ``False``;
    ``"client"``: our SYNs ask for a cookie and, once the stack holds one for a server,
    carry the cookie and the first data (Linux's ``tcp_fastopen=1``); ``"server"``: a
    listener gives cookies and takes the data of a SYN with a valid one (``=2``);
    ``True``: both (``=3``). A stack with it on makes its connections `FastOpenSession`s.
    Counted as Tcp.fastopen_active, _active_fail, _passive, _passive_fail,
    _cookie_sent."""

    congestion: str | Callable[[int], Any] = "cubic"
    """Congestion control: ``"cubic"`` (RFC 9438 with HyStart++, RFC 9406; the default,
    as in Linux), ``"newreno"`` (RFC 5681 with RFC 6582), or a factory called with the
    sender MSS that returns a :class:`~pystack.tcp.congestion.CongestionControl`
    (a subclass itself will do). Both named ones start with a 10-segment window and
    recover per RFC 6675 when SACK is on."""

    @property
    def rcv_wscale(self) -> int:
        """The shift we announce: the smallest that lets the window field cover
        ``rcv_buf`` (RFC 7323 §2.3: at most 14); 0 when scaling is off."""
        if not self.window_scaling:
            return 0
        shift = 0
        while shift < MAX_WSCALE and self.rcv_buf >> shift > 0xFFFF:
            shift += 1
        return shift

    def __post_init__(self) -> None:
        if not 0 < self.min_rto <= self.max_rto:
            raise ValueError("need 0 < min_rto <= max_rto")
        if not 0 <= self.delayed_ack < 0.5:
            raise ValueError("delayed_ack MUST be below 0.5 s (RFC 9293 MUST-40)")
        if not 88 <= self.mss <= 65495:
            raise ValueError(f"mss out of range: {self.mss}")
        if self.rcv_buf < 1 or self.snd_buf < 1:
            raise ValueError("buffers must hold at least one byte")
        if self.challenge_ack_limit is not None and self.challenge_ack_limit < 0:
            raise ValueError("challenge_ack_limit must be >= 0 (or None: no limit)")
        if self.invalid_ack_interval < 0:
            raise ValueError("invalid_ack_interval must be >= 0 seconds")
        if self.syn_cookies not in SYN_COOKIE_MODES:
            modes = ", ".join(SYN_COOKIE_MODES)
            raise ValueError(f"syn_cookies must be one of {modes}, not {self.syn_cookies!r}")
        if isinstance(self.congestion, str):
            if self.congestion not in CONGESTION_CONTROLS:
                names = ", ".join(CONGESTION_CONTROLS)
                raise ValueError(
                    f"congestion must be one of {names} or a factory, not {self.congestion!r}"
                )
        elif not callable(self.congestion):
            raise TypeError(
                "congestion must be a name or a callable taking the MSS and returning a "
                f"CongestionControl, not {self.congestion!r}"
            )
        if self.fastopen not in FASTOPEN_MODES or type(self.fastopen) not in (bool, str):
            raise ValueError(
                f'fastopen must be False, "client", "server" or True, not {self.fastopen!r}'
            )
        if self.syn_backlog < 0 or self.synack_retries < 0:
            raise ValueError("syn_backlog and synack_retries must be >= 0")


class TcpDrop(enum.Enum):
    """Why a TCP segment was dropped; counted in `stack.stats` under "tcp"."""

    BAD_CHECKSUM = "bad_checksum"
    MALFORMED = "malformed"
    NOT_UNICAST = "not_unicast"
    PTB_NOT_IN_FLIGHT = "ptb_not_in_flight"
    """Sent to a broadcast or multicast address: never answered (RFC 9293 §3.9.1
    MUST-57; Linux drops every such TCP segment)."""
    NO_LISTENER = "no_listener"
    LISTEN_NOT_SYN = "listen_not_syn"
    LISTEN_ACK = "listen_ack"
    BACKLOG_FULL = "backlog_full"
    SYN_QUEUE_FULL = "syn_queue_full"
    """A SYN beyond the listener's ``syn_backlog`` half-open connections, cookies off."""
    CLOSED_STATE = "closed_state"
    SYN_SENT_BAD_ACK = "syn_sent_bad_ack"
    SYN_SENT_NO_SYN = "syn_sent_no_syn"
    SYN_SENT_RST_NO_ACK = "syn_sent_rst_no_ack"
    UNACCEPTABLE_SEQ = "unacceptable_seq"
    RST_OUT_OF_WINDOW = "rst_out_of_window"
    RST_CHALLENGED = "rst_challenged"
    SYN_CHALLENGED = "syn_challenged"
    NO_ACK = "no_ack"
    ACK_TOO_OLD = "ack_too_old"
    ACK_UNSENT = "ack_unsent"
    BAD_ACK_SYN_RECEIVED = "bad_ack_syn_received"
    OUT_OF_ORDER_FULL = "out_of_order_full"
    DATA_AFTER_FIN = "data_after_fin"
    DATA_AFTER_CLOSE = "data_after_close"
    """Data after the application closed both directions; answered with RST (RFC 9293
    §3.6.1, RFC 1122 §4.2.2.13)."""
    TIME_WAIT_SEGMENT = "time_wait_segment"
    PAWS_REJECTED = "paws_rejected"
    """RFC 7323 §5.3: SEG.TSval older than TS.Recent (an old duplicate, or a wrapped
    sequence number); answered with an ACK."""


class CloseReason(enum.Enum):
    """Why a connection ended, as the application sees it (RFC 9293 MUST-12 asks to tell
    a graceful close from a reset)."""

    CLOSED = "closed"
    """Both sides closed cleanly."""
    RESET = "reset"
    """The peer reset the connection (or refused it), or we did: the application closed
    with received data unread, or data came after it closed (RFC 1122 §4.2.2.13)."""
    TIMED_OUT = "timed_out"
    """Retransmissions or keep-alives went unanswered for R2 (MUST-20, MUST-23)."""
    ABORTED = "aborted"
    """The local application aborted."""
    UNREACHABLE = "unreachable"
    """An ICMP hard error (port or protocol unreachable) during the open."""


class ConnectionTimedOut(TimeoutError):
    """Raised or reported when a connection gives up after R2 (RFC 9293 MUST-20)."""
