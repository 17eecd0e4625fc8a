"""``pystack demo``: two stacks on a simulated wire, no root, no network, in a blink.

Under a deterministic clock, stack A (198.18.0.1) pings stack B (198.18.0.2), which makes
ARP resolve first; A and B exchange UDP datagrams, one of them fragmented; then A sends
100000 bytes over TCP to B's port 9 and both close. Every machine transition (ARP entries,
reassembly, TCP connections) is printed as it happens, with its simulated time, then each
stack's counters; every frame goes to a pcap file that tcpdump and Wireshark open.

A TCP connection is named by its local port and what it is: "(listener)", "(peer
IP:PORT)" for one this stack opened, "(child of listener PORT, peer IP:PORT)" for one a
listener spawned for a SYN. A child starts as a copy of its listener: its first
transition, CLOSED -> LISTEN (spawned), is that spawn, a declared edge of the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import random
from collections.abc import Callable
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.apps.udp_application import UDPApplication
from pystack.ladder.model import TransitionLog, machine_label, trace_path_for, trigger_text
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig

Say = Callable[[str], None]


class _Echo(UDPApplication):
    """Sends each datagram back to where it came from."""

    def packet_received(self, packet: Any, **kwargs: Any) -> None:
        self.sendto(packet, (kwargs["IP"].src, kwargs["UDP"].src_port))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack demo``."""
    parser = sub.add_parser(
        "demo",
        help="two stacks on a simulated wire: ARP, ping, UDP, TCP (no root needed)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,  # what it does
        epilog=__doc__.split("\n\n")[2] if __doc__ else None,  # how to read TCP's lines
    )
    parser.add_argument("--pcap", default="demo.pcap", help="capture file (default demo.pcap)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated wire")
    parser.add_argument("--quiet", action="store_true", help="do not print machine transitions")
    parser.set_defaults(func=run)


def _observer(net: SimNet, who: str, say: Say) -> Callable[[Any, str, str, str], None]:
    def observe(obj: Any, old: str, trigger: str, new: str) -> None:
        why = trigger_text(obj, old, trigger)
        say(f"  {net.now() * 1000:8.3f} ms  {who}  {machine_label(obj)}: {old} -> {new} ({why})")

    return observe


def run(args: argparse.Namespace) -> int:
    """Run the demo's sections on a fresh two-stack wire, printing as it goes."""
    say: Say = print
    # Whole sessions in TIME_WAIT (not the default compact records), so that the 2*MSL
    # wait shows as the machine's own transition.
    tcp = TcpConfig(compact_time_wait=False)
    # Both stacks' transitions go to one log beside A's capture: the ladder's boxes.
    log = TransitionLog(trace_path_for(args.pcap))
    net = SimNet(2, seed=args.seed, delay=0.0005, pcap_files=[args.pcap], tcp=tcp, trace=log,
                 ipv6=True)  # fmt: skip
    if not args.quiet:
        for who, stack in zip("AB", net.stacks, strict=True):
            stack.set_observer(_observer(net, who, say))
    a, b = net.a, net.b
    say(f"A = {a.address} {a.mac}    B = {b.address} {b.mac}    (simulated wire, 0.5 ms)")
    say("\n== ping B from A (ARP resolves first)")
    rtt = net.wait(a.ping_deferred(b.address or "", timeout=2))
    say(f"ping {b.address}: rtt {rtt * 1000:.3f} ms (ARP and echo)")
    rtt = net.wait(a.ping_deferred(b.address or "", timeout=2))
    say(f"ping {b.address}: rtt {rtt * 1000:.3f} ms (ARP cached)")
    _udp_section(net, say)
    tcp_section(net, say)
    _ipv6_section(net, say)
    net.close()
    frames = a.stats.get("Ether", "frames_sent") + a.stats.get("Ether", "frames_received")
    say(f"\nwrote {args.pcap} ({frames} frames seen by A): tcpdump -nr {args.pcap}")
    for who, stack in zip("AB", net.stacks, strict=True):
        say(f"\n== {who}'s counters (stack.stats, {stack.address})\n" + str(stack.stats))
    log.close()
    _ladder(args.pcap, log.path, say)
    return 0


def _ladder(pcap: str, log: str, say: Say) -> None:
    """Draw the run as a ladder beside the capture (what ``pystack trace`` draws)."""
    from pystack.clicmd.trace import outputs, write_ladder

    targets = outputs(pcap, None, None)
    write_ladder(pcap, [log], targets, title="pystack demo: A's capture, both stacks' machines")
    svg, html = targets
    say(f"\nwrote the run as a ladder: {svg} and {html} (open it in a browser)")
    say(f"(from {pcap} and the transition log {log}: pystack trace {pcap} draws it again)")


def _ipv6_section(net: SimNet, say: Say) -> None:
    a, b = net.a, net.b
    say(f"\n== ping B over IPv6 from A ({a.address6} -> {b.address6}: neighbour discovery first)")
    rtt = net.wait(a.ping_deferred(b.address6 or "", timeout=2))
    say(f"ping {b.address6}: rtt {rtt * 1000:.3f} ms (NS/NA and echo)")


def _udp_section(net: SimNet, say: Say) -> None:
    a, b = net.a, net.b
    say("\n== UDP: B echoes on port 7; A sends a small and a 4000-byte (fragmented) datagram")
    server, client = _Echo(), UDPApplication()
    b.register_udp_application(server)
    a.register_udp_application(client)
    server.bind(7)
    for payload in (b"hello over the simulated wire", bytes(range(250)) * 16):
        client.sendto(payload, (b.address or "", 7))
        net.run_until(lambda: client.data, 2)
        got = client.recvfrom()
        if got is None:
            say("no echo")
            continue
        data, peer = got
        ok = "same bytes" if data == payload else "DIFFERENT bytes"
        say(f"echo from {peer[0]}:{peer[1]}: {len(data)} bytes, {ok}")


def tcp_section(net: SimNet, say: Say) -> None:
    """The TCP transfer of the demo (:func:`demo_transfer`)."""
    demo_transfer(net, say)


def demo_transfer(net: Any, say: Any, size: int = 100_000) -> bool:
    """The TCP part of ``pystack demo``: on a `SimNet`, A sends ``size`` bytes to B's port
    9 and both close (TIME_WAIT included); transitions reach the stack's observer. Returns
    whether the bytes arrived intact."""
    a, b = net.stacks[0], net.stacks[1]
    say(f"\n== TCP: A connects to B:9, sends {size} bytes, both close")
    server, client = TCPApplication(), TCPApplication()
    b.register_tcp_application(server)
    a.register_tcp_application(client)
    server.bind(9)
    server.listen(1)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    if not net.wait(client.connect_deferred(str(b.address), 9), max_time=10):
        say("connection refused")
        return False
    net.run_until(lambda: bool(accepted), 5)
    peer = accepted[0]
    data = bytes(random.Random(4).randbytes(size))
    got = bytearray()
    sent = 0

    def done() -> bool:
        nonlocal sent
        if sent < size:
            sent += client.send(data[sent:])
            if sent == size:
                client.close()
        got.extend(peer.fetch_data())
        return len(got) >= size

    start = net.now()
    net.run_until(done, 60)
    ok = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    say(f"B received {len(got)} bytes in {(net.now() - start) * 1000:.1f} ms of simulated time, "
        f"sha256 {'equal' if ok else 'DIFFERENT'}")  # fmt: skip
    net.run_until(lambda: peer.eof, 5)
    # TCPApplication answered A's FIN with its own (CLOSE_WAIT -> LAST_ACK) by itself;
    # closing the server application now closes what is left: its listener.
    say("B closes its server application: its listener on port 9 stops")
    peer.close()
    net.advance(2 * 30.0 + 1)  # through A's TIME_WAIT (2*MSL)
    return ok
