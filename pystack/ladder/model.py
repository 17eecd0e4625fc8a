"""What a ladder is drawn from: frames (arrows between hosts) and machine transitions
(boxes on a host's lane), as plain records, and the transition log a stack writes.

A stack started with ``PyStack(pcap="a.pcap", trace=True)`` writes every transition of
every machine (TCP connections, ARP entries, IPv4 reassemblies, DNS queries) to
``a.trace.jsonl``, one JSON object a line::

    {"time": 0.006, "host": "198.18.0.1", "mac": "02:..", "machine": "tcp",
     "label": "tcp port 56420 (peer 198.18.0.2:9)", "old": "SYN_SENT",
     "new": "ESTABLISHED", "trigger": "rcv_synack",
     "local": "198.18.0.1:56420", "remote": "198.18.0.2:9"}

``time`` is the stack's clock (seconds); ``local`` and ``remote`` are a TCP connection's
4-tuple (``remote`` is absent for a listener).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar


@dataclass(frozen=True, slots=True)
class Frame:
    """One arrow: ``src`` and ``dst`` name lanes (hosts, by IP address), ``lines`` is its
    label, ``kind`` its protocol ("tcp", "udp", "icmp", "arp", "ip", "other").
    ``broadcast`` draws it dashed (an ARP request asks everyone)."""

    time: float
    src: str
    dst: str
    lines: tuple[str, ...]
    kind: str = "other"
    broadcast: bool = False


@dataclass(frozen=True, slots=True)
class Transition:
    """One machine transition, drawn on ``host``'s lane: ``machine`` says which machine
    ("tcp port 56420 (peer 198.18.0.2:9)"), then ``old -> new (trigger)``."""

    time: float
    host: str
    machine: str
    old: str
    new: str
    trigger: str

    @property
    def text(self) -> str:
        """``old -> new (trigger)``."""
        return f"{self.old} -> {self.new} ({self.trigger})"


# -- labels of machines, as the demo prints them ------------------------------------------


def is_child(session: Any) -> bool:
    """A TCP connection a listener spawned for a SYN (a listener has no remote port)."""
    return bool(session.passive) and session.remote_port is not None


def tcp_label(session: Any) -> str:
    """``port P (listener)``, ``port P (peer IP:PORT)`` for a connection this stack
    opened, ``port P (child of listener P, peer IP:PORT)`` for one a listener spawned."""
    port = session.local_port
    if session.remote_port is None:
        return f"port {port} (listener)"
    peer = f"{session.remote_ip}:{session.remote_port}"
    if is_child(session):
        return f"port {port} (child of listener {port}, peer {peer})"
    return f"port {port} (peer {peer})"


def trigger_text(obj: Any, old: str, trigger: str) -> str:
    """The trigger as the machine declares it (a listener's child says ``spawned``)."""
    return trigger


def machine_label(obj: Any) -> str:
    """What a transition's machine is: ``tcp port ...``, ``arp 198.18.0.2``,
    ``ndp fe80::2``, ``ipv4_reassembly id=7``, ``dns_query example.com``."""
    name = obj.fsm.spec.name
    if getattr(obj, "local_port", None) is not None:
        return f"{name} {tcp_label(obj)}"
    question = getattr(obj, "question", None)
    if question is not None:
        return f"{name} {getattr(question, 'name', question)}"
    key = getattr(obj, "key", None)
    what = getattr(obj, "ip", None) or getattr(obj, "address", None)
    what = what or (f"id={key[3]}" if isinstance(key, tuple) else "")
    return f"{name} {what}".rstrip()


# -- the transition log -------------------------------------------------------------------


class TransitionLog:
    """Writes transitions as JSON lines to ``path``; several stacks may share one log
    (each line names its host). Each line is flushed, so a reader can follow it."""

    _by_path: ClassVar[dict[str, TransitionLog]] = {}

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._file: IO[str] | None = open(self.path, "w")  # noqa: SIM115 - closed in close()
        self._users = 1

    @classmethod
    def for_path(cls, path: str | os.PathLike[str]) -> TransitionLog:
        """The log open at ``path``, shared, else a new one: stacks given the same path
        write to one file instead of overwriting each other's lines. Each caller gives
        it back with :meth:`release`."""
        key = os.path.abspath(path)
        log = cls._by_path.get(key)
        if log is not None and log._file is not None:
            log._users += 1
            return log
        log = cls._by_path[key] = cls(path)
        return log

    def release(self) -> None:
        """One user is done: the file closes when the last one is."""
        self._users -= 1
        if self._users <= 0:
            self.close()

    def observer(self, stack: Any) -> Any:
        """An ``observer(machine, old, trigger, new)`` writing ``stack``'s transitions."""

        def observe(obj: Any, old: str, trigger: str, new: str) -> None:
            self.write(_record(stack, obj, old, trigger, new))

        return observe

    def write(self, record: dict[str, Any]) -> None:
        """Append one record (nothing once closed)."""
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        """Close the file; idempotent."""
        if self._file is not None:
            self._file.close()
            self._file = None
        key = os.path.abspath(self.path)
        if self._by_path.get(key) is self:
            del self._by_path[key]


def _record(stack: Any, obj: Any, old: str, trigger: str, new: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "time": float(stack.clock.seconds()),
        "host": stack.address,
        "mac": stack.mac,
        "machine": obj.fsm.spec.name,
        "label": machine_label(obj),
        "old": old,
        "new": new,
        "trigger": trigger_text(obj, old, trigger),
    }
    if getattr(obj, "local_port", None) is not None:
        local_ip = obj.local_ip if obj.local_ip not in (None, "0.0.0.0") else stack.address
        record["local"] = f"{local_ip}:{obj.local_port}"
        if obj.remote_port is not None:
            record["remote"] = f"{obj.remote_ip}:{obj.remote_port}"
    return record


def trace_path_for(pcap: str | Path) -> str:
    """Where a stack's transition log goes beside its capture: ``a.pcap`` ->
    ``a.trace.jsonl``."""
    path = Path(pcap)
    return str(path.with_name(path.stem + ".trace.jsonl"))


def read_transitions(path: str | Path) -> tuple[list[Transition], dict[str, str]]:
    """The transitions of a log, and each host's MAC. Lines that are not records (a
    line cut short while the log was written) are skipped."""
    transitions: list[Transition] = []
    macs: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
                transitions.append(Transition(float(rec["time"]), str(rec["host"]),
                                              str(rec["label"]), str(rec["old"]),
                                              str(rec["new"]), str(rec["trigger"])))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue
            if rec.get("mac"):
                macs[str(rec["host"])] = str(rec["mac"])
    return transitions, macs
