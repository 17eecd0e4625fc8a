"""``pystack bench fuzz``: malformed and mutated frames into two live stacks; nothing may raise.

Two stacks share a simulated wire under a deterministic clock. While stack A sends
stack B a few megabytes over TCP, the campaign hands frames straight to the stacks'
link receive points: random bytes, Ethernet, ARP, IPv4 with options and fragments,
ICMP, UDP (answers to a DNS query in flight among them), and TCP with options, aimed at
listening ports, at the transfer itself, at another established connection, at one
half-closed (FIN_WAIT_2 on A, CLOSE_WAIT on B) and at one in SYN_SENT, with sequence
and acknowledgment numbers around their windows, then mutated
(bit flips, field values, truncation, wrong or recomputed checksums).

It reports frames per second, every exception that escaped a stack (there must be
none: malformed input is dropped and counted under a named reason), the drops by reason
of both stacks, and afterwards whether the transfer's bytes arrived exactly (SHA-256)
and whether a new connection works. The exit status is 0 only if all of that holds.
The same ``--seed`` gives the same frames and the same counts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import struct
import sys
import time
import traceback
from collections import Counter
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.benchmarks._fuzz_frames import (
    DnsWait,
    Endpoint,
    FrameFactory,
    Guard,
    LiveView,
    Target,
    ip_bytes,
    mac_bytes,
)
from pystack.benchmarks._machine import add_machine_arguments, loop_line, machine_info
from pystack.benchmarks._machine import python_loop_s as python_loop_s
from pystack.benchmarks.memory import HeapClock
from pystack.dns.resolver import DnsQuery, DNSResolver
from pystack.dns.transport import StackTcp, StackUdp
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig
from pystack.tcp.states import TCP

__all__ = ["Campaign", "add_arguments", "main", "python_loop_s", "run", "run_campaign"]

PORT_LIVE, PORT_VICTIM, PORT_CLOSING, PORT_LISTEN, PORT_UDP, PORT_NEW = (
    5001, 5002, 5003, 80, 53, 6000,
)  # fmt: skip
TCP_PROFILES = {
    "default": TcpConfig(),
    "plain": TcpConfig(timestamps=False, sack=False, window_scaling=False),
    "sessions": TcpConfig(compact_time_wait=False),
}
SILENT_NEIGHBOUR = "198.18.0.77"  # on the wire's subnet, and nobody answers for it
BATCH = 64  # frames between two steps of the clock
STEP = 0.01  # simulated seconds per step
TRICKLE = b"." * 64  # what the other connections send each step, both ways
MAX_RECORDED = 5  # exceptions kept in full (traceback and frame)
_BLOCK = bytes(range(256)) * 256


class _WatchedResolver(DNSResolver):
    """A resolver that remembers its latest query, so that answers can be aimed at it."""

    last: DnsQuery | None = None

    def start_query(self, question: Any) -> DnsQuery:
        query = super().start_query(question)
        self.last = query
        return query


class _HalfCloser(TCPApplication):
    """Keeps its side open after the peer's FIN: the connection stays in CLOSE_WAIT."""

    def eof_received(self) -> bool:
        return True


def _listener(app: TCPApplication) -> Any:
    """The listening session of a listening application."""
    assert app.session is not None
    return app.session


class Campaign:
    """The two stacks, their connections, and the frames thrown at them."""

    def __init__(self, seed: int = 1, megabytes: float = 4.0, tcp: str = "default") -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.clock = HeapClock()
        config = TCP_PROFILES[tcp]
        self.net = SimNet(2, seed=seed, delay=0.0005, clock=self.clock, tcp=config)  # type: ignore[arg-type]
        self.stacks = self.net.stacks
        self.factory = FrameFactory(self.rng)
        truth = {ip_bytes(str(s.address)): mac_bytes(s.mac) for s in self.stacks}
        self.guard = Guard(truth)
        self.injected = 0
        self.escaped: Counter[str] = Counter()
        self.signatures: Counter[str] = Counter()
        self.recorded: list[dict[str, str]] = []
        self.reconnects: Counter[str] = Counter()
        self._injecting = False
        for stack in self.stacks:
            stack.link.set_receiver(self._guarded(stack.ethernet.packet_received))
        self.total = int(megabytes * 1_000_000)
        self.sent = self.received = 0
        self.digest_out, self.digest_in = hashlib.sha256(), hashlib.sha256()
        self._open_services()
        self.live_client, self.live_a, self.live_b = self._open_live()
        self.victims: dict[str, Any] = {"victim": None, "closing": None}
        self.children: dict[str, list[Any]] = {"victim": [], "closing": []}
        self.syn_sent: Any = None
        a = self.stacks[0]
        self.resolver = _WatchedResolver(StackUdp(a), clock=self.clock, rng=random.Random(seed),
                                         stats=a.stats, servers=[str(self.stacks[1].address)],
                                         tcp=StackTcp(a), timeout=0.5)  # fmt: skip
        a.dns = self.resolver
        self.questions = 0

    # -- receiving, with every escaping exception caught and recorded ------------------------

    def _guarded(self, receive: Any) -> Any:
        def guarded(frame: bytes) -> None:
            try:
                receive(frame)
            except Exception:  # what the campaign looks for
                self._record("receive" if self._injecting else "wire", frame)

        return guarded

    def _record(self, origin: str, frame: bytes) -> None:
        exc_type, exc, tb = sys.exc_info()
        self.escaped[origin] += 1
        last = traceback.extract_tb(tb)[-1] if tb is not None else None
        where = f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else "?"
        name = exc_type.__name__ if exc_type else "?"
        signature = f"{name} at {where}"
        self.signatures[signature] += 1
        if self.signatures[signature] == 1 and len(self.recorded) < MAX_RECORDED:
            self.recorded.append({
                "origin": origin, "exception": f"{name}: {exc}", "frame_hex": frame.hex(),
                "traceback": "".join(traceback.format_exception(exc_type, exc, tb)),
            })  # fmt: skip

    def inject(self, index: int, frame: bytes) -> None:
        """Hand ``frame`` to stack ``index`` where its link delivers (as the wire does)."""
        self._injecting = True
        try:
            self.stacks[index].link.deliver(frame)
        finally:
            self._injecting = False
        self.injected += 1

    def advance(self, seconds: float) -> None:
        """Run the clock; an exception escaping a timer or the wire is recorded."""
        target = self.clock.seconds() + seconds
        while self.clock.seconds() < target:
            try:
                self.clock.advance(target - self.clock.seconds())
            except Exception:  # a timer's or the wire's: recorded the same way
                self._record("timer", b"")

    # -- the sockets the frames aim at ----------------------------------------------------

    def _open_services(self) -> None:
        """On each stack: a listener (accepted connections are reset), a UDP port; on B the
        listeners of the other connections."""
        self.listeners = []
        self.udp = []
        for stack in self.stacks:
            app = TCPApplication()
            stack.register_tcp_application(app)
            app.bind(PORT_LISTEN)
            app.listen(8)
            self.listeners.append(app)
            udp = UDPApplication()
            stack.register_udp_application(udp)
            udp.bind(PORT_UDP)
            self.udp.append(udp)
        b = self.stacks[1]
        self.servers = {"victim": TCPApplication(), "closing": _HalfCloser()}
        for name, app in self.servers.items():
            b.register_tcp_application(app)
            app.bind(PORT_VICTIM if name == "victim" else PORT_CLOSING)
            app.listen(4)

    def _open_live(self) -> tuple[TCPApplication, Any, Any]:
        client, _ = self.net.connect_tcp(PORT_LIVE)
        a, b = self.stacks
        session_a = client.session
        key_b = (str(b.address), PORT_LIVE, str(a.address), session_a.local_port)
        return client, session_a, b.tcp.connections[key_b]

    def _tend_other(self, name: str) -> None:
        """Keep the victim (established) or closing (FIN_WAIT_2 / CLOSE_WAIT) connection
        alive: reconnect it when frames killed it, trickle data both ways, read it all."""
        client = self.victims[name]
        session = client.session if client is not None else None
        if session is None or session.state == TCP.CLOSED:
            client = self.victims[name] = TCPApplication()
            self.stacks[0].register_tcp_application(client)
            port = PORT_VICTIM if name == "victim" else PORT_CLOSING
            client.connect_deferred(str(self.stacks[1].address), port)
            self.reconnects[name] += 1
        elif session.state == TCP.ESTABLISHED:
            if name == "closing":
                client.shutdown(1)
            elif self.rng.random() < 0.01:
                client.close()  # now and then through LAST_ACK and TIME_WAIT
            else:
                client.send(TRICKLE)
        if session is not None:
            session.read()
        listener = _listener(self.servers[name])
        children = self.children[name]
        while listener.accept_queue:
            children.append(listener.next_accepted())
        children[:] = [c for c in children if c.state != TCP.CLOSED]
        while len(children) > 2:
            children.pop(0).abort()
        for child in children:
            child.read()
            if child.state in (TCP.ESTABLISHED, TCP.CLOSE_WAIT):
                child.send(TRICKLE)

    def _tend_syn_sent(self) -> None:
        """Keep a connection of A in SYN_SENT: to a neighbour that never answers, so only
        the campaign's frames (SYN,ACKs, RSTs from its address) reach it."""
        session = self.syn_sent
        if session is not None and session.state == TCP.SYN_SENT:
            return
        if session is not None:
            session.abort()
            self.reconnects["syn_sent"] += 1
        self.syn_sent = self.stacks[0].tcp.connect(SILENT_NEIGHBOUR, 9)

    def _tend_dns(self) -> None:
        """Keep a DNS query of A waiting for its answer (a new name each time, so that
        nothing comes from the cache)."""
        query = self.resolver.last
        if query is not None and not query.result.called:
            return
        self.questions += 1
        rdtype = self.rng.choice(("A", "AAAA", "CNAME", "MX", "TXT", "SOA", "NS", "PTR"))
        answer = self.stacks[0].dns.resolve(f"h{self.questions}.fuzz.example", rdtype)
        answer.addErrback(lambda failure: None)  # unanswered or refused: both expected

    def _dns_wait(self) -> DnsWait | None:
        query = self.resolver.last
        if query is None or query.result.called or not query.outstanding:
            return None
        port = query.outstanding[-1].port
        local = port.get_self_addr() if isinstance(port, UDPApplication) else ("", 0)
        return DnsWait(local[1], query.ident, query.question.name, query.question.qtype)

    def _tend(self, share: float) -> None:
        """Between batches: the transfer keeps to its schedule (``share`` of it written),
        the other connections and services are looked after."""
        want = min(self.total, int(self.total * share))
        while self.sent < want and self.live_a.state == TCP.ESTABLISHED:
            n = self.live_client.send(_BLOCK[: min(len(_BLOCK), want - self.sent)])
            if n == 0:
                break
            self.digest_out.update(_BLOCK[:n])
            self.sent += n
        data = self.live_b.read()
        self.received += len(data)
        self.digest_in.update(data)
        for name in self.victims:
            self._tend_other(name)
        self._tend_syn_sent()
        self._tend_dns()
        for app in self.listeners:
            listener = _listener(app)
            while listener.accept_queue:
                listener.next_accepted().abort()
        for udp in self.udp:
            while udp.fetch_data():
                pass
        self.live_client.fetch_data()

    # -- aiming ------------------------------------------------------------------------------

    def _endpoint(self, session: Any, kind: str) -> Endpoint:
        snap = session.snapshot()
        return Endpoint(
            snap["local"][1], ip_bytes(snap["remote"][0]), snap["remote"][1], snap["rcv_nxt"],
            snap["rcv_wnd"], snap["snd_una"], snap["snd_max"], snap["ts_recent"], kind,
        )  # fmt: skip

    def _time_wait_endpoints(self, stack: Any) -> list[Endpoint]:
        records = stack.tcp.time_wait_records()
        return [
            Endpoint(r.local_port, ip_bytes(r.remote_ip), r.remote_port, r.rcv_nxt,
                     (r.rcv_adv - r.rcv_nxt) & 0xFFFFFFFF, r.snd_nxt, r.snd_nxt, r.ts_recent)
            for r in self.rng.sample(records, min(2, len(records)))
        ]  # fmt: skip

    def targets(self) -> list[Target]:
        """What each stack offers to aim at now (its connections read between batches)."""
        known = {id(self.live_a): "live", id(self.live_b): "live", id(self.syn_sent): "syn_sent"}
        for name, client in self.victims.items():
            if client is not None and client.session is not None:
                known[id(client.session)] = name
            for child in self.children[name]:
                known[id(child)] = name
        out = []
        for i, stack in enumerate(self.stacks):
            peer = self.stacks[1 - i]
            sessions = list(stack.tcp.connections.values())
            chosen = [s for s in sessions if id(s) in known]
            others = [s for s in sessions if id(s) not in known]
            chosen += self.rng.sample(others, min(4, len(others)))
            endpoints = [self._endpoint(s, known.get(id(s), "other")) for s in chosen]
            endpoints += self._time_wait_endpoints(stack)
            dns = self._dns_wait() if i == 0 else None
            out.append(Target(
                mac_bytes(stack.mac), ip_bytes(str(stack.address)), mac_bytes(peer.mac),
                ip_bytes(str(peer.address)), (PORT_LISTEN, PORT_LIVE, PORT_VICTIM, PORT_CLOSING)
                if i else (PORT_LISTEN,), (PORT_UDP,),
                endpoints, dns,
            ))  # fmt: skip
        self._update_guard()
        return out

    def _update_guard(self) -> None:
        views = {}
        for i, (mine, peer) in enumerate(((self.live_a, self.live_b), (self.live_b, self.live_a))):
            if mine.state == TCP.CLOSED:
                continue
            snap, peer_snap = mine.snapshot(), peer.snapshot()
            views[i] = LiveView(
                self.stacks[i].mac, mine.local_ip, mine.remote_ip,
                struct.pack("!HH", mine.remote_port, mine.local_port), snap["rcv_nxt"],
                snap["rcv_wnd"], snap["snd_max"], snap["ts_ok"], snap["ts_recent"],
                peer_snap["rcv_nxt"],
            )  # fmt: skip
        self.guard.views = views

    # -- the campaign ------------------------------------------------------------------------

    def run(self, frames: int, progress: Any = None) -> None:
        """Inject ``frames`` frames, ``BATCH`` at a time between steps of the clock."""
        rng = self.rng
        next_report = 0.0
        while self.injected < frames:
            targets = self.targets()
            stop = min(frames, self.injected + BATCH)
            while self.injected < stop:
                index = 1 if rng.random() < 0.6 else 0
                for frame in self.factory.frames(targets[index]):
                    self.inject(index, self.guard.check(index, frame))
            self._tend(self.injected / frames)
            self.advance(STEP)
            if progress is not None and time.monotonic() >= next_report:
                progress(self.injected)
                next_report = time.monotonic() + 10.0

    def finish_transfer(self, max_time: float = 900.0) -> dict[str, Any]:
        """Let the transfer complete (everything written, everything read); its figures."""
        deadline = self.clock.seconds() + max_time
        while self.received < self.total and self.clock.seconds() < deadline:
            self._tend(1.0)
            if self.live_a.state != TCP.ESTABLISHED or self.live_b.state != TCP.ESTABLISHED:
                break
            self.advance(STEP)
        exact = self.received == self.total and self.digest_in.digest() == self.digest_out.digest()
        return {
            "bytes": self.total, "received": self.received, "exact": exact,
            "state_a": self.live_a.state, "state_b": self.live_b.state,
            "simulated_s": round(self.clock.seconds(), 3),
        }  # fmt: skip

    def new_connection_works(self) -> bool:
        """A fresh connection after the campaign carries 100 kB each way intact."""
        try:
            client, server = self.net.connect_tcp(PORT_NEW, max_time=30.0)
        except TimeoutError:
            return False
        up, down = random.Random(self.seed).randbytes(100_000), b"\x5a" * 100_000
        client.send(up)
        server.send(down)
        got_up, got_down = bytearray(), bytearray()
        deadline = self.clock.seconds() + 60.0
        while (len(got_up) < len(up) or len(got_down) < len(down)) and (
            self.clock.seconds() < deadline
        ):
            self.advance(STEP)
            got_up += server.fetch_data()
            got_down += client.fetch_data()
        return bytes(got_up) == up and bytes(got_down) == down

    def drops(self) -> dict[str, dict[str, int]]:
        """Drops by reason of each stack (``"layer.reason": count``)."""
        return {
            name: dict(sorted(s.stats.drops().items()))
            for name, s in zip("ab", self.stacks, strict=True)
        }


def run_campaign(frames: int, seed: int = 1, megabytes: float = 4.0, tcp: str = "default",
                 progress: Any = None) -> dict[str, Any]:  # fmt: skip
    """Run a whole campaign; returns its figures (``ok`` is the verdict)."""
    campaign = Campaign(seed, megabytes, tcp)
    start = time.perf_counter()
    campaign.run(frames, progress)
    seconds = time.perf_counter() - start
    transfer = campaign.finish_transfer()
    new_ok = campaign.new_connection_works()
    escaped = sum(campaign.escaped.values())
    drops = campaign.drops()
    both: Counter[str] = Counter()
    for by_reason in drops.values():
        both.update(by_reason)
    return {
        "frames": campaign.injected, "seed": seed, "tcp": tcp, "seconds": round(seconds, 3),
        "frames_per_s": round(campaign.injected / seconds, 1) if seconds else 0.0,
        "exceptions": escaped, "exceptions_by_origin": dict(campaign.escaped),
        "exception_kinds": dict(campaign.signatures), "first_exceptions": campaign.recorded,
        "drops": drops, "drops_both": dict(both.most_common()),
        "families": dict(sorted(campaign.factory.families.items())),
        "mutations": dict(sorted(campaign.factory.mutations.items())),
        "guarded": campaign.guard.spoiled, "reconnects": dict(campaign.reconnects),
        "wire_frames": campaign.net.wire.counters.sent,
        "transfer": transfer, "new_connection": new_ok,
        "ok": escaped == 0 and transfer["exact"] and new_ok,
    }  # fmt: skip


def _print(r: dict[str, Any]) -> None:
    t = r["transfer"]
    print(f"Fuzz campaign: {r['frames']:,} frames (--seed {r['seed']}, --tcp {r['tcp']}) "
          "into two stacks on a simulated wire")  # fmt: skip
    print(f"  frames/s           {r['frames_per_s']:12,.0f}   ({r['seconds']:.1f} s)")
    print(f"  exceptions escaped {r['exceptions']:12,d}   {r['exceptions_by_origin'] or ''}")
    for kind, n in r["exception_kinds"].items():
        print(f"      {n:8,d}  {kind}")
    for rec in r["first_exceptions"]:
        print(f"    --- {rec['origin']}: {rec['exception']}\n    frame {rec['frame_hex']}")
        print("    " + rec["traceback"].rstrip().replace("\n", "\n    "))
    print(f"  frames guarded     {r['guarded']:12,d}   (would rightly harm the checked transfer)")
    print(f"  reconnects         {r['reconnects']}")
    print(f"  frames the stacks sent each other {r['wire_frames']:,d}")
    totals = ", ".join(f"{k.upper()} {sum(v.values()):,d}" for k, v in r["drops"].items())
    print(f"  drops by reason, both stacks ({totals}; top 15 of {len(r['drops_both'])}):")
    for reason, n in list(r["drops_both"].items())[:15]:
        print(f"      {n:10,d}  {reason}")
    exact = "exact (sha256)" if t["exact"] else f"NOT exact: {t['received']:,} bytes received"
    print(f"  live transfer      {t['bytes']:12,d} bytes, {exact}; A {t['state_a']}, "
          f"B {t['state_b']}, {t['simulated_s']:.1f} simulated s")  # fmt: skip
    print(f"  new connection     {'ok' if r['new_connection'] else 'FAILED'}")
    if "machine" in r:
        print(f"  {loop_line(r['machine'])}")
    print(f"  result             {'OK' if r['ok'] else 'FAILED'}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench fuzz``."""
    parser.add_argument("--frames", type=int, default=100_000, help="frames to inject")
    parser.add_argument("--seed", type=int, default=1, help="the same seed gives the same frames")
    parser.add_argument("--megabytes", type=float, default=4.0,
                        help="size of the live transfer checked afterwards (MB)")  # fmt: skip
    parser.add_argument("--tcp", choices=sorted(TCP_PROFILES), default="default",
                        help="TCP settings of both stacks: the defaults; 'plain' without "
                        "timestamps, SACK and window scaling; 'sessions' with TIME_WAIT kept "
                        "as whole sessions")  # fmt: skip
    add_machine_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Run the campaign, print its figures; 0 only if nothing escaped and both checks pass."""
    if args.frames < 1:
        raise SystemExit("--frames must be at least 1")

    def progress(n: int) -> None:
        if not args.json:
            print(f"  ... {n:,} frames", file=sys.stderr, flush=True)

    result = run_campaign(args.frames, args.seed, args.megabytes, args.tcp, progress)
    result["machine"] = machine_info(args.loop_runs)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        _print(result)
    return 0 if result["ok"] else 1


def main() -> int:
    """``python -m pystack.benchmarks.fuzz``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].split("``: ")[-1])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
