"""A listener under a flood of spoofed SYNs (RFC 4987) on a simulated wire: its SYN queue
stays bounded, SYN cookies answer the overflow, and a real client still gets in at once."""

from __future__ import annotations

import random
from typing import Any

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet, WireTap
from pystack.tcp.config import TcpConfig
from pystack.wire import ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import Mss

PORT = 80


def spoofed_syn(rng: random.Random, dst: str) -> ipv4.Ipv4Packet:
    """A SYN from a random address off the wire (its SYN,ACK goes nowhere), like
    ``hping3 -S --rand-source``."""
    src = f"198.19.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    seg = tcpwire.TcpSegment(
        rng.randrange(1024, 65536), PORT, rng.getrandbits(32), 0, tcpwire.SYN, 512, b"",
        (Mss(1460),),
    )  # fmt: skip
    return ipv4.Ipv4Packet(src, dst, tcpwire.PROTO, tcpwire.emit(seg, src, dst))


def flood(net: SimNet, rate: int, seconds: float, seed: int = 7) -> None:
    """Send ``rate`` spoofed SYNs per second for ``seconds`` at stack ``a``, a batch each
    millisecond (one pending call, so the clock's queue stays short)."""
    tap, rng = WireTap(net), random.Random(seed)
    dst = str(net.a.address)
    per_ms = rate // 1000
    left = int(rate * seconds)

    def burst() -> None:
        nonlocal left
        for _ in range(min(per_ms, left)):
            tap.inject(spoofed_syn(rng, dst))
        left -= per_ms
        if left > 0:
            net.clock.callLater(0.001, burst)

    burst()


def serve(net: SimNet, backlog: int = 16) -> TCPApplication:
    server = TCPApplication()
    net.a.register_tcp_application(server)
    server.bind(PORT)
    server.listen(backlog)
    return server


def connect_once(net: SimNet, server: TCPApplication, limit: float) -> tuple[float | None, Any]:
    """Connect from stack ``b``: (simulated seconds to ESTABLISHED or None, (client
    application, the server's session of that connection or None))."""
    client = TCPApplication()
    net.b.register_tcp_application(client)
    done: list[Any] = []
    accepted: list[Any] = []
    start = net.clock.seconds()
    client.connect_deferred(str(net.a.address), PORT).addCallback(done.append)
    server.accept_deferred().addCallback(accepted.append)
    net.run_until(lambda: done and accepted, max_time=limit)
    if done != [True] or not accepted:
        return None, (client, None)
    local = client.session
    key = (str(net.a.address), PORT, str(net.b.address), local.local_port)
    return net.clock.seconds() - start, (client, net.a.tcp.connections[key])


def test_a_client_connects_within_a_second_while_spoofed_syns_flood_the_listener() -> None:
    net = SimNet(2, seed=3)
    server = serve(net)
    listener = net.a.tcp.listeners[("0.0.0.0", PORT)]
    flood(net, rate=2000, seconds=4.0)
    net.advance(0.5)  # 1000 spoofed SYNs in: the SYN queue is full
    assert listener.half_open == TcpConfig().syn_backlog
    times = []
    for _ in range(8):
        took, (client, accepted) = connect_once(net, server, limit=1.0)
        assert took is not None and took < 1.0, "connect did not complete within 1 s"
        times.append(took)
        snap = accepted.snapshot()  # the cookie brought the options back
        assert snap["ts_ok"] and snap["sack_ok"] and snap["snd_wscale"] == snap["rcv_wscale"]
        client.send(b"x" * 50_000)
        net.run_until(lambda a=accepted: a.readable >= 50_000, max_time=1.0)
        assert accepted.read() == b"x" * 50_000
        assert listener.half_open <= TcpConfig().syn_backlog
    stats = net.a.stats
    assert stats.get("tcp", "syncookies_sent") > 1000 - TcpConfig().syn_backlog
    assert stats.get("tcp", "syncookies_validated") >= 8
    assert stats.get("tcp", "syncookies_failed") == 0


def test_the_syn_queue_is_bounded_whatever_the_flood_and_drains_after_it() -> None:
    config = TcpConfig(syn_backlog=32)
    net = SimNet(2, seed=4, tcp=config)
    serve(net)
    listener = net.a.tcp.listeners[("0.0.0.0", PORT)]
    flood(net, rate=1000, seconds=3.0)
    most = 0
    for _ in range(30):
        net.advance(0.1)
        most = max(most, listener.half_open, len(net.a.tcp.connections))
    assert most == 32  # every other SYN got a cookie and left nothing behind
    assert net.a.stats.get("tcp", "syncookies_sent") == 3000 - 32
    net.advance(64.0)  # five SYN,ACK retransmissions, then the half-open children go
    assert listener.half_open == 0 and not net.a.tcp.connections


def test_with_cookies_off_a_full_syn_queue_locks_the_client_out() -> None:
    net = SimNet(2, seed=5, tcp=TcpConfig(syn_cookies="off", syn_backlog=32))
    server = serve(net)
    flood(net, rate=1000, seconds=2.0)
    net.advance(0.5)
    took, _ = connect_once(net, server, limit=1.0)
    assert took is None  # what "overflow" (the default) prevents
    assert net.a.stats.dropped("tcp", "syn_queue_full") > 0
