"""Keep the kernel from answering for ports the stack owns (shared-address mode).

When the stack shares the host's address, the kernel sees the same segments and datagrams
and, having no socket for them, answers with a TCP RST or an ICMP port unreachable that
would kill the stack's connections. A :class:`KernelFilter` installs, in the filter table's
OUTPUT chain and scoped to the stack's interface and port:

- TCP: ``-o IF -p tcp --sport PORT --tcp-flags RST RST -j DROP``;
- UDP: ``-o IF -p icmp --icmp-type port-unreachable -m u32 <quoted UDP dport == PORT>
  -j DROP`` (the u32 expression reads the destination port of the datagram quoted in the
  ICMP message).

Every rule carries the comment ``pystack:<pid>:<stack id>``. Rules are removed by
:meth:`KernelFilter.close` (called by ``stack.stop()``), at interpreter exit, and on SIGTERM,
SIGHUP and SIGQUIT: a handler removes them, then the process ends exactly as it would have
without the stack (see :func:`_on_exit_signal`). SIGINT keeps Python's KeyboardInterrupt,
which unwinds through stop() and atexit. ``pystack cleanup`` removes the rules of owners
whose pid is gone (after a SIGKILL). Rules are written with python-iptables (``iptc``),
which talks to the kernel's x_tables ("legacy") interface; on hosts whose ``iptables`` is
the nf_tables variant, list them with ``iptables-legacy -S``.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pystack import netns

TAG_PREFIX = "pystack:"
CHAINS = ("OUTPUT",)
# Byte offsets as u32 reads them: skip the IP header, then the quoted IP header inside
# the ICMP message; +8 lands on the quoted UDP header, whose low 16 bits are the dport.
_U32_QUOTED_UDP_DPORT = "0>>22&0x3C@8>>22&0x3C@8&0xFFFF={port}"

_lock = threading.RLock()  # iptc (libiptc through ctypes) is not thread-safe
_live: weakref.WeakSet[KernelFilter] = weakref.WeakSet()


def _iptc() -> Any:
    import iptc

    return iptc


def make_tag(stack_id: str, pid: int | None = None) -> str:
    """The comment that marks a rule as owned by process ``pid`` and stack ``stack_id``."""
    return f"{TAG_PREFIX}{os.getpid() if pid is None else pid}:{stack_id}"


def parse_tag(comment: str) -> tuple[int, str] | None:
    """``(pid, stack_id)`` from a pystack tag, None for any other comment."""
    if not comment.startswith(TAG_PREFIX):
        return None
    pid, _, stack_id = comment[len(TAG_PREFIX) :].partition(":")
    return (int(pid), stack_id) if pid.isdigit() else None


@dataclass(frozen=True)
class TaggedRule:
    """One rule found in the filter table with a pystack tag."""

    chain: str
    tag: str
    pid: int
    stack_id: str
    text: str


def _rule_comment(rule: Any) -> str | None:
    for match in rule.matches:
        if match.name == "comment":
            return str(match.comment)
    return None


def _describe(rule: Any) -> str:
    parts = [f"-p {rule.protocol}", f"-o {rule.out_interface}"]
    for match in rule.matches:
        params = " ".join(f"--{k} {' '.join(v)}" for k, v in match.get_all_parameters().items())
        parts.append(f"-m {match.name} {params}")
    return " ".join(parts) + f" -j {rule.target.name}"


def tagged_rules() -> Iterator[TaggedRule]:
    """Every pystack-tagged rule in the current namespace's filter table."""
    iptc = _iptc()
    with _lock:
        table = iptc.Table(iptc.Table.FILTER)
        table.refresh()
        for chain in CHAINS:
            for rule in iptc.Chain(table, chain).rules:
                comment = _rule_comment(rule)
                parsed = parse_tag(comment) if comment else None
                if parsed and comment:
                    yield TaggedRule(chain, comment, parsed[0], parsed[1], _describe(rule))


def remove_tag(tag: str) -> int:
    """Delete every rule carrying ``tag`` in the current namespace; returns how many."""
    iptc = _iptc()
    removed = 0
    with _lock:
        table = iptc.Table(iptc.Table.FILTER)
        table.autocommit = False
        try:
            table.refresh()
            for chain_name in CHAINS:
                chain = iptc.Chain(table, chain_name)
                for rule in list(chain.rules):
                    if _rule_comment(rule) == tag:
                        chain.delete_rule(rule)
                        removed += 1
            table.commit()
        finally:
            table.autocommit = True
    return removed


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_rules() -> list[TaggedRule]:
    """Tagged rules whose owner process no longer exists."""
    return [r for r in tagged_rules() if not pid_alive(r.pid)]


def cleanup(dry_run: bool = False) -> list[TaggedRule]:
    """Remove (or, with ``dry_run``, only list) the rules of owners that are gone."""
    stale = stale_rules()
    if not dry_run:
        for tag in dict.fromkeys(r.tag for r in stale):
            remove_tag(tag)
    return stale


class KernelFilter:
    """The rules of one stack on one interface; ``close()`` removes them (idempotent).

    The filter remembers the network namespace it was created in and installs and removes
    its rules there, whichever thread calls it (Linux namespaces are per thread).
    """

    def __init__(self, interface: str, stack_id: str) -> None:
        self.interface = interface
        self.stack_id = stack_id
        self.tag = make_tag(stack_id)
        self.tcp_ports: set[int] = set()
        self.udp_ports: set[int] = set()
        self._ns_fd: int | None = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _live.add(self)
        _install_exit_hooks()

    @property
    def closed(self) -> bool:
        return self._ns_fd is None

    def block_tcp_port(self, port: int) -> None:
        """Drop the kernel's RSTs sent from ``port`` on this interface."""
        if port in self.tcp_ports:
            return
        self._insert(self._tcp_rule(port))
        self.tcp_ports.add(port)

    def block_udp_port(self, port: int) -> None:
        """Drop the kernel's ICMP port unreachable about datagrams to ``port``."""
        if port in self.udp_ports:
            return
        self._insert(self._udp_rule(port))
        self.udp_ports.add(port)

    def unblock_tcp_port(self, port: int) -> None:
        """Remove the TCP rule for ``port`` (when the stack no longer uses it)."""
        if port in self.tcp_ports:
            self.tcp_ports.discard(port)
            self._rebuild()

    def unblock_udp_port(self, port: int) -> None:
        """Remove the UDP rule for ``port``."""
        if port in self.udp_ports:
            self.udp_ports.discard(port)
            self._rebuild()

    def rules(self) -> list[TaggedRule]:
        """This filter's rules as installed."""
        with self._in_namespace():
            return [r for r in tagged_rules() if r.tag == self.tag]

    def close(self) -> None:
        """Remove every rule of this filter; safe to call any number of times."""
        if self._ns_fd is None:
            return
        self._remove_rules()
        os.close(self._ns_fd)
        self._ns_fd = None
        _live.discard(self)

    def __enter__(self) -> KernelFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _remove_rules(self) -> None:
        with self._in_namespace():
            remove_tag(self.tag)

    def _rebuild(self) -> None:
        self._remove_rules()
        for port in sorted(self.tcp_ports):
            self._insert(self._tcp_rule(port))
        for port in sorted(self.udp_ports):
            self._insert(self._udp_rule(port))

    def _base_rule(self, protocol: str) -> Any:
        rule = _iptc().Rule()
        rule.protocol = protocol
        rule.out_interface = self.interface
        return rule

    def _finish(self, rule: Any) -> Any:
        rule.create_match("comment").comment = self.tag
        rule.target = rule.create_target("DROP")
        return rule

    def _tcp_rule(self, port: int) -> Any:
        rule = self._base_rule("tcp")
        match = rule.create_match("tcp")
        match.sport = str(port)
        match.tcp_flags = ["RST", "RST"]
        return self._finish(rule)

    def _udp_rule(self, port: int) -> Any:
        rule = self._base_rule("icmp")
        rule.create_match("icmp").icmp_type = "port-unreachable"
        rule.create_match("u32").u32 = _U32_QUOTED_UDP_DPORT.format(port=port)
        return self._finish(rule)

    def _insert(self, rule: Any) -> None:
        if self._ns_fd is None:
            raise RuntimeError("KernelFilter is closed")
        iptc = _iptc()
        with self._in_namespace(), _lock:
            table = iptc.Table(iptc.Table.FILTER)
            table.refresh()
            iptc.Chain(table, "OUTPUT").insert_rule(rule)

    def _in_namespace(self) -> Any:
        if self._ns_fd is None:
            raise RuntimeError("KernelFilter is closed")
        return netns.enter_fd(self._ns_fd)


def close_all() -> None:
    """Remove the rules of every live filter of this process (exit paths call this)."""
    for live in list(_live):
        try:
            live.close()
        except Exception:  # an exit path must try every filter
            pass


# Signals whose default action ends the process. SIGINT is not among them: Python's own
# handler raises KeyboardInterrupt, which unwinds through stop() and atexit.
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_atexit_registered = False
_previous: dict[int, Any] = {}  # signal -> disposition found before ours


def _on_exit_signal(signum: int, frame: Any) -> None:
    """Remove every rule, then end the process as the previous disposition would have.

    A previous Python handler is called and decides (it may raise, exit or return); if it
    returns, the program goes on, so the rules go back in. Otherwise the default action is
    restored and the signal sent again, so the process dies of it (status "killed by
    SIGTERM", a core dump for SIGQUIT) even while non-daemon threads run; SIGQUIT's default
    skips atexit too, hence the removal here first.
    """
    filters = list(_live)
    for live in filters:
        _quietly(live._remove_rules)
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
        for live in filters:
            if not live.closed:
                _quietly(live._rebuild)
        return
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _quietly(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # a signal handler must reach the process's end whatever iptc does
        pass


def _install_exit_hooks() -> None:
    """atexit once; the signal handlers from the main thread (the only one Python lets set
    them), on the first filter created there."""
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(close_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in EXIT_SIGNALS:
        if sig in _previous:
            continue
        _previous[sig] = previous = signal.getsignal(sig)
        # An ignored signal must stay harmless (nohup, a daemon ignoring SIGHUP): a handler
        # would make it end the process. A handler set outside Python (None) cannot be
        # chained. Both are left alone; the rules then go at stop() or exit.
        if previous is not signal.SIG_IGN and previous is not None:
            signal.signal(sig, _on_exit_signal)
