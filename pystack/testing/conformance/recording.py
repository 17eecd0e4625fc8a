"""What a conformance example did, kept so that a failure can be shown as a packet ladder.

Each example starts a fresh `Trace` (`begin`); the harnesses and the two-stack machine
append to the current one every segment (both directions) and every transition as they
happen. Hypothesis runs the shrunk counterexample last, so when a property fails the
current trace is that counterexample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pystack.layers.tcp_session import TCPSession
from pystack.testing.harness import LOCAL, REMOTE, TcpHarness, tcpdump
from pystack.wire import tcp as tcpwire

__all__ = ["Event", "RecordedHarness", "Trace", "begin", "current"]

# Lane names in a ladder of one connection: the class under test and the suite's peer.
NAMES = {LOCAL[0]: "local", REMOTE[0]: "remote"}


@dataclass
class Event:
    """A segment (``seg`` set) from ``src`` to ``dst``, or a transition on ``host``."""

    time: float
    src: str = ""
    dst: str = ""
    seg: tcpwire.TcpSegment | None = None
    host: str = ""
    machine: str = ""
    old: str = ""
    new: str = ""
    trigger: str = ""

    def line(self, names: dict[str, str] = NAMES) -> str:
        """One tcpdump-like line (segments) or ``host: OLD -> NEW (trigger)``."""
        if self.seg is not None:
            src, dst = names.get(self.src, self.src), names.get(self.dst, self.dst)
            return tcpdump(self.seg, src, dst) + _payload_note(self.seg)
        host = names.get(self.host, self.host)
        return f"{host}: {self.old} -> {self.new} ({self.trigger})"

    def as_json(self, names: dict[str, str] = NAMES) -> dict[str, Any]:
        """The event as plain JSON values (see docs/conformance.md)."""
        if self.seg is None:
            return {"time": self.time, "kind": "transition", "host": self.host,
                    "machine": self.machine, "old": self.old, "new": self.new,
                    "trigger": self.trigger, "line": self.line(names)}  # fmt: skip
        s = self.seg
        return {"time": self.time, "kind": "segment", "src": self.src, "dst": self.dst,
                "src_port": s.src_port, "dst_port": s.dst_port, "flags": s.flags_str,
                "seq": s.seq, "ack": s.ack, "window": s.window, "length": len(s.payload),
                "options": [repr(o) for o in s.options], "line": self.line(names)}  # fmt: skip


def _payload_note(seg: tcpwire.TcpSegment) -> str:
    return f" {seg.payload[:12]!r}{'...' if len(seg.payload) > 12 else ''}" if seg.payload else ""


@dataclass
class Trace:
    """The events of one example, and each host's state when it began and ended."""

    events: list[Event] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)
    """Host -> the states it went through (the first is where the example put it)."""
    roles: dict[str, str] = field(default_factory=dict)
    """Host -> what it is in this example ("the class under test", ...)."""
    names: dict[str, str] = field(default_factory=lambda: dict(NAMES))
    """Host (IP address) -> the name lines give it."""

    def segment(self, time: float, src: str, dst: str, seg: tcpwire.TcpSegment) -> None:
        """Record a segment on the wire."""
        self.events.append(Event(time, src=src, dst=dst, seg=seg))

    def transition(self, time: float, host: str, machine: str,
                   old: str, new: str, trigger: str) -> None:  # fmt: skip
        """Record a transition of a machine on ``host``."""
        self.events.append(Event(time, host=host, machine=machine, old=old, new=new,
                                 trigger=trigger))  # fmt: skip
        states = self.states.setdefault(host, [old])
        states.append(new)

    def start_state(self, host: str, state: str, role: str) -> None:
        """``host`` begins the example in ``state``."""
        self.states[host] = [state]
        self.roles[host] = role

    def lines(self) -> list[str]:
        """The text ladder: one line per event, with its time."""
        return [f"{e.time:9.3f} s  {e.line(self.names)}" for e in self.events]

    def state_lines(self) -> list[str]:
        """Each host's states, first to last."""
        return [
            f"{self.names.get(host, host)} ({self.roles.get(host, 'peer')}): {' -> '.join(states)}"
            for host, states in self.states.items()
        ]


_current: list[Trace] = [Trace()]


def begin() -> Trace:
    """Start recording a new example."""
    _current[0] = Trace()
    return _current[0]


def current() -> Trace:
    """The example being recorded (the last one run, once a property has finished)."""
    return _current[0]


class RecordedHarness(TcpHarness):
    """A `TcpHarness` whose segments and transitions go to the current `Trace`: the
    session under test is ``local`` (198.18.0.1), the suite plays ``remote``."""

    def __init__(self, state: str = "ESTABLISHED", **kwargs: Any) -> None:
        super().__init__(state, **kwargs)
        trace = self.trace = current()
        trace.start_state(LOCAL[0], self.session.state, "the class under test")
        trace.start_state(REMOTE[0], _peer_state(state), "the suite, as its peer")
        host = self.host
        transmit = host.transmit

        def recorded(session: Any, seg: tcpwire.TcpSegment) -> None:
            trace.segment(self.clock.seconds(), LOCAL[0], REMOTE[0], seg)
            transmit(session, seg)

        host.transmit = recorded  # type: ignore[method-assign]
        host.notify = self._notify  # type: ignore[attr-defined]

    def _notify(self, session: TCPSession, old: str, trigger: str, new: str) -> None:
        machine = f"tcp port {session.local_port}"
        self.trace.transition(self.clock.seconds(), LOCAL[0], machine, old, new, trigger)

    def send(self, flags: str | int | tcpwire.TcpSegment, **fields: Any) -> None:
        """Inject a segment, recorded as sent by ``remote``."""
        seg = flags if isinstance(flags, tcpwire.TcpSegment) else self.segment(flags, **fields)
        self.trace.segment(self.clock.seconds(), REMOTE[0], LOCAL[0], seg)
        super().send(seg)


def _peer_state(state: str) -> str:
    """Where a peer of a connection in ``state`` would be (as the suite plays it)."""
    return {
        "CLOSED": "(no connection)", "LISTEN": "CLOSED", "SYN_SENT": "LISTEN",
        "SYN_RECEIVED": "SYN_SENT", "ESTABLISHED": "ESTABLISHED", "FIN_WAIT_1": "ESTABLISHED",
        "FIN_WAIT_2": "CLOSE_WAIT", "CLOSE_WAIT": "FIN_WAIT_2", "CLOSING": "CLOSING",
        "LAST_ACK": "FIN_WAIT_2", "TIME_WAIT": "LAST_ACK",
    }.get(state, "?")  # fmt: skip


def harness(state: str, session_class: type[TCPSession], **kwargs: Any) -> RecordedHarness:
    """A recorded harness for ``session_class`` in ``state`` (`TcpHarness` arguments)."""
    return RecordedHarness(state, session_class=session_class, **kwargs)
