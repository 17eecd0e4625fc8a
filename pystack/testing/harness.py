"""A single-connection TCP harness in the style of smoltcp's socket tests.

Build a session directly in any state with known ISS and IRS, inject segments, and assert
exactly the segments it answers, then nothing::

    h = TcpHarness("ESTABLISHED")
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"abc")
    h.advance(0.2)
    h.recv(h.expect(".", seq=h.local(1), ack=h.remote(4)))
    h.assert_tcb(rcv_nxt=h.remote(4))

Failures read like tcpdump lines of what was expected and what came. Time is a
`twisted.internet.task.Clock`; nothing here sleeps.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

from twisted.internet.task import Clock

from pystack.layers.ip_meta import IpMeta
from pystack.sim_tcp import PipeIP, PipeWire, TcpPair
from pystack.tcp.config import TcpConfig, TcpDrop
from pystack.tcp.session import TCPSession
from pystack.tcp.states import TCP
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import NOP, Mss, Timestamp

__all__ = [
    "PEER_META",
    "Expected",
    "HarnessHost",
    "PipeIP",
    "PipeWire",
    "TcpHarness",
    "TcpPair",
    "advance_clock",
    "flags_of",
    "tcpdump",
]  # fmt: skip

LOCAL = ("198.18.0.1", 80)
REMOTE = ("198.18.0.2", 49500)
PEER_META = IpMeta(REMOTE[0], LOCAL[0], 64, 0)
"""What IP tells the session of a segment from the peer."""
_LETTERS = {"F": tcpwire.FIN, "S": tcpwire.SYN, "R": tcpwire.RST, "P": tcpwire.PSH,
            "U": tcpwire.URG, ".": tcpwire.ACK, "E": tcpwire.ECE, "W": tcpwire.CWR}  # fmt: skip


def flags_of(text: str | int) -> int:
    """Flags from tcpdump notation ("S", "S.", "P.", "F.", "R", "R.") or an int."""
    if isinstance(text, int):
        return text
    value = 0
    for letter in text:
        if letter not in _LETTERS:
            raise ValueError(f"unknown flag letter {letter!r} in {text!r}")
        value |= _LETTERS[letter]
    return value


def tcpdump(seg: tcpwire.TcpSegment, src: str = "local", dst: str = "remote") -> str:
    """One tcpdump-like line for a segment."""
    named = [f"mss {seg.mss}"] if seg.mss else []
    if seg.wscale is not None:
        named.append(f"wscale {seg.wscale}")
    opts = f", options [{','.join(named)}]" if named else ""
    return (
        f"{src}.{seg.src_port} > {dst}.{seg.dst_port}: Flags [{seg.flags_str}], "
        f"seq {seg.seq}, ack {seg.ack}, win {seg.window}{opts}, length {len(seg.payload)}"
    )


@dataclass(frozen=True)
class Expected:
    """A pattern for an outgoing segment; None fields match anything."""

    flags: int
    seq: int | None = None
    ack: int | None = None
    window: int | None = None
    payload: bytes | None = b""
    mss: int | None = None
    wscale: int | None = None
    """The window scale option's shift; -1 expects no such option."""

    def matches(self, seg: tcpwire.TcpSegment) -> bool:
        """Whether ``seg`` fits this pattern."""
        checks = (
            (self.seq, seg.seq), (self.ack, seg.ack), (self.window, seg.window),
            (self.payload, seg.payload), (self.mss, seg.mss),
        )  # fmt: skip
        if self.wscale is not None and (-1 if seg.wscale is None else seg.wscale) != self.wscale:
            return False
        return seg.flags == self.flags and all(w is None or w == got for w, got in checks)

    def __str__(self) -> str:
        flags = tcpwire.TcpSegment(0, 0, 0, 0, self.flags, 0).flags_str
        parts = [f"Flags [{flags}]"]
        for name in ("seq", "ack", "window", "mss", "wscale"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{'win' if name == 'window' else name} {value}")
        if self.payload is not None:
            parts.append(f"length {len(self.payload)}")
        return "local > remote: " + ", ".join(parts)


def advance_clock(clock: Clock, seconds: float) -> None:
    """Advance ``clock`` by ``seconds``, stopping at each scheduled call on the way, so that
    a timer re-armed by a callback counts from the time it really fired."""
    target = clock.seconds() + seconds
    while True:
        calls: list[Any] = list(clock.getDelayedCalls())
        due = [c.getTime() for c in calls if c.getTime() <= target]
        if not due:
            break
        clock.advance(max(min(due) - clock.seconds(), 0.0))
    clock.advance(max(target - clock.seconds(), 0.0))


class HarnessHost:
    """Stands in for the TCP layer: records what sessions send, counts drops."""

    def __init__(self, clock: Clock, isn: int) -> None:
        self.clock = clock
        self.sent: list[tcpwire.TcpSegment] = []
        self.drops: collections.Counter[TcpDrop] = collections.Counter()
        self.children: list[TCPSession] = []
        self.forgotten: list[TCPSession] = []
        self.next_isn = isn
        self.events: collections.Counter[str] = collections.Counter()
        self.cookie_secret = bytes(range(16))

    def isn(self, local_ip: str, local_port: int, remote_ip: str, remote_port: int) -> int:
        return self.next_isn

    def count_drop(self, reason: TcpDrop) -> None:
        self.drops[reason] += 1

    def count_event(self, name: str) -> None:
        self.events[name] += 1

    def syncookie_secret(self) -> bytes:
        return self.cookie_secret

    def transmit(self, session: Any, seg: tcpwire.TcpSegment) -> None:
        self.sent.append(seg)

    def transmit_bytes(self, session: Any, data: bytes, **ip: Any) -> None:
        self.sent.append(tcpwire.parse(data))

    def adopt(self, session: TCPSession) -> None:
        self.children.append(session)

    def forget(self, session: TCPSession) -> None:
        self.forgotten.append(session)


class TcpHarness:
    """One session in a chosen state, with ISS ``iss`` and IRS ``irs``.

    ``h.local(n)`` is ISS + n and ``h.remote(n)`` is IRS + n, as ints.
    In LISTEN, the connection a SYN creates becomes ``h.session`` once answered.
    A session built in a state past LISTEN has the window shifts ``wscale`` = (SND.WIND.SHIFT,
    RCV.WIND.SHIFT) of RFC 7323 §2.2: no scaling unless asked, and timestamps (RFC 7323 §3)
    only when ``ts_recent`` is given (then TS.Recent, and Last.ACK.sent = RCV.NXT).
    """

    def __init__(
        self,
        state: str = TCP.ESTABLISHED,
        *,
        iss: int = 10_000,
        irs: int = 20_000,
        config: TcpConfig | None = None,
        session_class: type[TCPSession] = TCPSession,
        peer_window: int = 65535,
        peer_mss: int = 1460,
        user: Any = None,
        wscale: tuple[int, int] = (0, 0),
        ts_recent: int | None = None,
    ) -> None:
        self.clock = Clock()
        self.host = HarnessHost(self.clock, iss)
        self.iss, self.irs = iss, irs
        self.transitions: list[tuple[str, str, str]] = []
        passive = state in (TCP.LISTEN,)
        self.session = session_class(
            self.host,
            local_ip=LOCAL[0], local_port=LOCAL[1],
            remote_ip=None if passive else REMOTE[0],
            remote_port=None if passive else REMOTE[1],
            config=config, user=user,
        )  # fmt: skip
        self._watch(self.session)
        if state == TCP.LISTEN:
            self.session.open_passive()
        elif state != TCP.CLOSED:
            self.session.snd_wscale, self.session.rcv_wscale = wscale
            self.session.wscale_ok = wscale != (0, 0)
            self._build(state, peer_window, peer_mss)
            if ts_recent is not None:
                s = self.session
                s.ts_ok, s.ts_recent = True, ts_recent
                s.last_ack_sent = s.rcv_nxt.value

    # -------------------------------------------------------------------- construction

    def _build(self, state: str, peer_window: int, peer_mss: int) -> None:
        s = self.session
        s.iss, s.irs = SeqNum(self.iss), SeqNum(self.irs)
        s.snd_una = s.iss if state in (TCP.SYN_SENT, TCP.SYN_RECEIVED) else s.iss + 1
        s.snd_nxt = s.snd_max = s.iss + 1
        s.rcv_nxt = s.rcv_adv = s.irs + (0 if state == TCP.SYN_SENT else 1)
        s.snd_wnd = s.max_snd_wnd = peer_window
        s.snd_wl1, s.snd_wl2 = s.irs, s.iss
        s.snd_mss = min(peer_mss, s.config.mss)
        s.cc = s.new_cc(s.snd_mss)
        if state in (TCP.FIN_WAIT_1, TCP.FIN_WAIT_2, TCP.CLOSING, TCP.LAST_ACK, TCP.TIME_WAIT):
            s.fin_queued = True
            s.snd_fin = s.iss + 1
            s.snd_nxt = s.snd_max = s.iss + 2
            if state in (TCP.FIN_WAIT_2, TCP.TIME_WAIT):
                s.snd_una = s.iss + 2
        if state in (TCP.CLOSE_WAIT, TCP.CLOSING, TCP.LAST_ACK, TCP.TIME_WAIT):
            s.fin_received = True
            s.rcv_nxt = s.rcv_adv = s.irs + 2
        s.passive = state == TCP.SYN_RECEIVED
        s.set_state(state)
        s.window_to_advertise(s.rcv_wscale)
        if state in (TCP.SYN_SENT, TCP.SYN_RECEIVED, TCP.FIN_WAIT_1, TCP.CLOSING, TCP.LAST_ACK):
            s.arm_rexmit()
        if state == TCP.TIME_WAIT:
            s.start_time_wait_timer()

    def _watch(self, session: TCPSession) -> None:
        log = self.transitions
        original = session.on_state_change

        def record(old: str, trigger: str, new: str) -> None:
            log.append((old, trigger, new))
            original(old, trigger, new)

        session.on_state_change = record  # type: ignore[method-assign]

    # ----------------------------------------------------------------------- numbering

    def local(self, n: int) -> int:
        """ISS + n as a sequence number int."""
        return (self.iss + n) & 0xFFFFFFFF

    def remote(self, n: int) -> int:
        """IRS + n as a sequence number int."""
        return (self.irs + n) & 0xFFFFFFFF

    # ------------------------------------------------------------------------ stimulus

    def segment(
        self, flags: str | int, *, seq: int | None = None, ack: int = 0,
        window: int = 65535, payload: bytes = b"", mss: int | None = None,
        options: tuple[Any, ...] = (), tsval: int | None = None, tsecr: int = 0,
    ) -> tcpwire.TcpSegment:  # fmt: skip
        """A segment from the peer to our session (with NOP, NOP, TSopt when ``tsval``
        is given, RFC 7323 Appendix A)."""
        if tsval is not None:
            options = (*options, NOP, NOP, Timestamp(tsval, tsecr))
        if mss is not None:
            options = (Mss(mss), *options)
        return tcpwire.TcpSegment(
            REMOTE[1], LOCAL[1], self.remote(1) if seq is None else seq & 0xFFFFFFFF,
            ack & 0xFFFFFFFF, flags_of(flags), window, payload, options,
        )  # fmt: skip

    def send(
        self, flags: str | int | tcpwire.TcpSegment, *, meta: IpMeta | None = None,
        **fields: Any,
    ) -> None:  # fmt: skip
        """Inject a segment (a `TcpSegment`, or flags and fields for `segment`), as IP
        would deliver it from the peer (``meta``: from another address, TTL or TOS)."""
        seg = flags if isinstance(flags, tcpwire.TcpSegment) else self.segment(flags, **fields)
        listener = self.session if self.session.state == TCP.LISTEN else None
        before = len(self.host.children)
        self.session.segment_arrives(seg, meta or PEER_META)
        if listener is not None and len(self.host.children) > before:
            self.session = self.host.children[-1]
            self._watch(self.session)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of protocol time pass, timer by timer (each fires at its time)."""
        advance_clock(self.clock, seconds)

    # ----------------------------------------------------------------------- assertions

    def expect(
        self, flags: str | int, *, seq: int | None = None, ack: int | None = None,
        window: int | None = None, payload: bytes | None = b"", mss: int | None = None,
        wscale: int | None = None,
    ) -> Expected:  # fmt: skip
        """A pattern for a segment we expect the session to send (``wscale=-1``: without
        the window scale option)."""
        return Expected(flags_of(flags), seq, ack, window, payload, mss, wscale)

    @staticmethod
    def timestamp(seg: tcpwire.TcpSegment) -> tuple[int, int] | None:
        """(TSval, TSecr) of a segment we sent, or None without the timestamps option."""
        for opt in seg.options:
            if isinstance(opt, Timestamp):
                return opt.tsval, opt.tsecr
        return None

    def take(self) -> list[tcpwire.TcpSegment]:
        """Remove and return everything sent so far."""
        sent, self.host.sent = self.host.sent, []
        return sent

    def recv(self, *expected: Expected) -> list[tcpwire.TcpSegment]:
        """Assert the session sent exactly ``expected`` (in order), then nothing."""
        sent = self.take()
        ok = len(sent) == len(expected) and all(
            e.matches(s) for e, s in zip(expected, sent, strict=True)
        )
        if not ok:
            want = "\n  ".join(str(e) for e in expected) or "(nothing)"
            got = "\n  ".join(tcpdump(s) for s in sent) or "(nothing)"
            raise AssertionError(f"expected:\n  {want}\ngot:\n  {got}")
        return sent

    def recv_nothing(self) -> None:
        """Assert the session sent nothing."""
        self.recv()

    def assert_tcb(self, **fields: Any) -> None:
        """Assert TCB fields of `TCPSession.snapshot` (ints for sequence numbers)."""
        snap = self.session.snapshot()
        wrong = [
            f"{name}: expected {want!r}, got {snap.get(name, '<absent>')!r}"
            for name, want in fields.items()
            if snap.get(name, object()) != want
        ]
        if wrong:
            raise AssertionError("TCB mismatch:\n  " + "\n  ".join(wrong))

    @property
    def state(self) -> str:
        """The session's state."""
        return self.session.state

    @property
    def drops(self) -> collections.Counter[TcpDrop]:
        """Dropped segments by reason."""
        return self.host.drops
