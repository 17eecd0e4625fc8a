"""Two (or more) stacks on a simulated wire under a deterministic clock.

::

    net = SimNet(2, seed=1, loss=0.2)
    a, b = net.stacks
    rtt = net.wait(a.ping_deferred(b.address), max_time=5)
    net.run_until(lambda: server.data, max_time=10)

Time only moves inside :meth:`SimNet.run_until` / :meth:`SimNet.advance` / :meth:`SimNet.wait`,
jumping from one scheduled event to the next, so a minute of protocol time costs only the
events in it. The same seed gives the same frames at the same times (and the same pcaps).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.python.failure import Failure

from pystack.links.memory import MemoryWire
from pystack.stack import PyStack
from pystack.wire import ethernet as eth_wire
from pystack.wire import ipv4, ipv6, ndp
from pystack.wire.ethernet import ETHERTYPE_IPV4, ETHERTYPE_IPV6
from pystack.wire.ipv4 import Ipv4Packet
from pystack.wire.ipv6 import Ipv6Packet


class SimNet:
    """``n`` stacks at 198.18.0.1, .2, ... /24 on one :class:`MemoryWire`.

    Wire impairments (``loss``, ``duplicate``, ``reorder``, ``delay``, ``mtu``) are keyword
    arguments; ``pcap_dir`` captures each stack's frames to ``<dir>/<index>.pcap`` (or
    ``pcap_files`` lists a path, or None, per stack); other
    keywords go to every :class:`PyStack` (``observer``, ``overlap_policy``, ``tcp``, ...).
    With ``ipv6=True`` stack ``i`` also has 2001:db8::``i + 1``/64. ``offloads=True``
    makes the wire carry TCP super-segments whole, as a veth between namespaces does.
    Duplicate address detection and router solicitations are off unless given
    (``dad_transmits=1``, ``router_solicitations=3``): the addresses are usable at once and
    the wire stays quiet.
    """

    def __init__(
        self,
        n: int = 2,
        *,
        seed: int = 0,
        loss: float = 0.0,
        duplicate: float = 0.0,
        reorder: float = 0.0,
        delay: float = 0.001,
        mtu: int = 1500,
        pcap_dir: str | None = None,
        pcap_files: list[str | None] | None = None,
        clock: Clock | None = None,
        ipv6: bool = False,
        offloads: bool = False,
        **stack_options: Any,
    ) -> None:
        if not 1 <= n <= 250:
            raise ValueError("between 1 and 250 stacks")
        self.clock = clock if clock is not None else Clock()
        self.wire = MemoryWire(self.clock, loss=loss, duplicate=duplicate, reorder=reorder,
                               delay=delay, mtu=mtu, seed=seed, offloads=offloads)  # fmt: skip
        self.stacks: list[PyStack] = []
        stack_options.setdefault("dad_transmits", 0)
        stack_options.setdefault("router_solicitations", 0)
        stack_options.setdefault("mld", False)
        for i in range(n):
            pcap = f"{pcap_dir}/{i}.pcap" if pcap_dir else None
            if pcap_files is not None and i < len(pcap_files):
                pcap = pcap_files[i]
            rng = random.Random(seed * 1000 + i)
            ip = f"198.18.0.{i + 1}/24"
            if ipv6:
                stack_options["ip6"] = f"2001:db8::{i + 1:x}/64"
            stack = PyStack(link=self.wire.attach(), ip=ip, clock=self.clock, rng=rng,
                            pcap=pcap, **stack_options)  # fmt: skip
            self.stacks.append(stack)

    @property
    def a(self) -> PyStack:
        """The first stack (198.18.0.1)."""
        return self.stacks[0]

    @property
    def b(self) -> PyStack:
        """The second stack (198.18.0.2)."""
        return self.stacks[1]

    def now(self) -> float:
        """The simulated time in seconds."""
        return float(self.clock.seconds())

    def run_until(self, predicate: Callable[[], object], max_time: float = 10.0) -> bool:
        """Run events until ``predicate()`` is true (True) or ``max_time`` seconds pass (False)."""
        deadline = self.clock.seconds() + max_time
        while not predicate():
            calls = self.clock.getDelayedCalls()
            if not calls:
                return False
            upcoming = min(call.getTime() for call in list(calls))  # type: ignore[misc]
            if upcoming > deadline:
                self.clock.advance(deadline - self.clock.seconds())
                return bool(predicate())
            self.clock.advance(max(0.0, upcoming - self.clock.seconds()))
        return True

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass, running every event in them."""
        self.run_until(lambda: False, seconds)

    def wait(self, deferred: Any, max_time: float = 10.0) -> Any:
        """Run until ``deferred`` fires; return its result or raise its error.

        Raises :class:`TimeoutError` if it has not fired within ``max_time``.
        """
        box: list[Any] = []
        deferred.addBoth(box.append)
        if not self.run_until(lambda: box, max_time):
            raise TimeoutError(f"nothing happened within {max_time} simulated seconds")
        result = box[0]
        if isinstance(result, Failure):
            result.raiseException()
        return result

    def connect_tcp(
        self,
        port: int,
        *,
        client: int = 0,
        server: int = 1,
        max_time: float = 10.0,
        far_address: str | None = None,
    ) -> tuple[Any, Any]:
        """A TCP connection from stack ``client`` to a new listener on stack ``server``'s
        ``port``: ``(client application, accepted application)``, both plain
        ``TCPApplication``s. Raises :class:`TimeoutError` if it is not established within
        ``max_time`` simulated seconds. ``far_address`` is the server's address to connect
        to (default: its IPv4 one)."""
        from pystack.apps.tcp_application import TCPApplication

        near, far = self.stacks[client], self.stacks[server]
        listening, connecting = TCPApplication(), TCPApplication()
        far.register_tcp_application(listening)
        listening.bind(port)
        listening.listen(1)
        near.register_tcp_application(connecting)
        connected: list[bool] = []
        accepted: list[Any] = []
        connecting.connect_deferred(str(far_address or far.address), port).addCallback(
            connected.append
        )
        listening.accept_deferred().addCallback(accepted.append)
        if not self.run_until(lambda: connected and accepted, max_time) or connected != [True]:
            raise TimeoutError(f"no TCP connection to port {port} within {max_time} s")
        return connecting, accepted[0]

    def close(self) -> None:
        """Stop every stack."""
        for stack in self.stacks:
            stack.stop()

    def __enter__(self) -> SimNet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WireTap:
    """One more port on a :class:`SimNet`'s wire: records every frame, injects IP datagrams.

    ``inject`` hands a datagram straight to stack ``a``'s receive path in a frame from
    a made-up station, as if it came from the wire.
    """

    def __init__(self, net: SimNet, mac: str = "02:00:00:00:00:99") -> None:
        self.net = net
        self.mac = mac
        self.link = net.wire.attach()
        self.frames: list[eth_wire.EthernetFrame] = []
        self.link.set_receiver(lambda f: self.frames.append(eth_wire.parse(f)))

    def ip(self) -> list[Ipv4Packet]:
        """The IPv4 datagrams seen so far."""
        return [ipv4.parse(f.payload) for f in self.frames if f.ethertype == ETHERTYPE_IPV4]

    def ip6(self) -> list[Ipv6Packet]:
        """The IPv6 datagrams seen so far."""
        return [ipv6.parse(f.payload) for f in self.frames if f.ethertype == ETHERTYPE_IPV6]

    def nd(self, cls: type) -> list[tuple[Ipv6Packet, Any]]:
        """The neighbour discovery messages of type ``cls`` (e.g.
        ``pystack.wire.ndp.RouterSolicitation``) seen so far, each with its datagram."""
        out = []
        for pkt in self.ip6():
            if pkt.proto == ipv6.NH_ICMPV6 and pkt.payload[0] in range(133, 138):
                msg = ndp.parse(pkt.payload, pkt.src, pkt.dst)
                if isinstance(msg, cls):
                    out.append((pkt, msg))
        return out

    def inject(
        self, pkt: Ipv4Packet | Ipv6Packet | bytes, dst_mac: str | None = None,
        ethertype: int | None = None,
    ) -> None:  # fmt: skip
        """Deliver ``pkt`` (a repr, or raw bytes: IPv4 unless ``ethertype`` says) to stack
        ``a`` now."""
        if isinstance(pkt, Ipv6Packet):
            data, ethertype = ipv6.emit(pkt), ETHERTYPE_IPV6
        else:
            data = pkt if isinstance(pkt, bytes) else ipv4.emit(pkt)
            ethertype = ethertype or ETHERTYPE_IPV4
        frame = eth_wire.EthernetFrame(dst_mac or self.net.a.mac, self.mac, ethertype, data)
        self.net.a.ethernet.packet_received(eth_wire.emit(frame))
