"""Evasion by fragmentation: send an HTTP request to a Linux server in small, reordered
IP fragments with overlapping decoys, and show which bytes Linux's application received
and which bytes each reassembly policy would have kept from the same fragments.

    python examples/evasion_http.py --fragment-size 8 --order reverse --decoy-sent before

The program makes a lab (two network namespaces joined by a veth pair, 198.18.0.0/24),
runs a small socket server on the Linux side that records what its application reads,
and sends the request from a PyStack on the other side. The decoy of each fragment has
the same checksum sum as the real bytes, so a target that keeps it hands it to its
application: the table tells which targets (first, last, bsd, linux-legacy, windows:
the target-based models IDSes use; linux: Linux since 4.19; rfc5722) read the decoy.
It needs root (or CAP_NET_ADMIN); everything it creates is removed when it ends.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from pystack import netns
from pystack.apps.tcp_application import TCPApplication
from pystack.evasion import ORDERS, Evasion, readings
from pystack.lab import Lab
from pystack.stack import PyStack
from pystack.wire import tcp as tcpwire
from pystack.wire.ipv4 import Ipv4Packet

REQUEST = b"GET /admin/secret HTTP/1.0\r\nHost: 198.18.0.1\r\n\r\n"
PORT = 8080

# The Linux side: accept one connection, read the request's length (or until the client
# stops), answer, and print what the application read as JSON.
SERVER = r"""
import json, socket, sys
port, expected = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(1)
srv.settimeout(30)
print("ready", flush=True)
conn, _ = srv.accept()
conn.settimeout(5)
got = b""
try:
    while len(got) < expected:
        chunk = conn.recv(65536)
        if not chunk:
            break
        got += chunk
except socket.timeout:
    pass
conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
conn.close()
print(json.dumps({"received": got.hex()}), flush=True)
"""


class Recorder:
    """An IP shaper that sends what ``evasion`` shapes and keeps a copy of each datagram's
    pieces, to replay them through every reassembly policy afterwards."""

    def __init__(self, evasion: Evasion) -> None:
        self.evasion = evasion
        self.sent: list[list[Ipv4Packet]] = []

    def shape_datagram(self, pkt: Ipv4Packet, mtu: int) -> Sequence[Ipv4Packet]:
        pieces = list(self.evasion.shape_datagram(pkt, mtu))
        self.sent.append(pieces)
        return pieces


def stream_per_policy(sent: list[list[Ipv4Packet]], src: str, dst: str) -> dict[str, bytes]:
    """The bytes a TCP receiver's application would get from ``sent`` under each IP
    reassembly policy: each datagram as that policy reassembles it, kept when its TCP
    checksum holds, the first copy of each sequence number kept (as TCP receivers do)."""
    by_policy: dict[str, dict[int, bytes]] = {}
    for pieces in sent:
        for policy, payload in readings(pieces).items():
            stream = by_policy.setdefault(policy, {})
            if payload is None or not tcpwire.checksum_ok(payload, src, dst):
                continue
            seg = tcpwire.parse(payload)
            if seg.payload:
                stream.setdefault(seg.seq, seg.payload)
    return {p: b"".join(d for _, d in sorted(s.items())) for p, s in by_policy.items()}


def send_request(stack: PyStack, host: str, request: bytes, wait: float = 10.0) -> bytes:
    """Send ``request`` to ``host:PORT`` and return the answer (from another thread than
    the reactor's)."""
    conn = TCPApplication()
    stack.register_tcp_application(conn)
    if not conn.connect(host, PORT, timeout=wait):
        raise ConnectionError(f"could not connect to {host}:{PORT}")
    conn.send_packet(request)
    answer = bytearray()
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and not (conn.eof or conn.close_reason is not None):
        answer += conn.fetch_data()
        time.sleep(0.02)
    answer += conn.fetch_data()
    conn.close()
    return bytes(answer)


def shoot(lab: Lab, evasion: Evasion, tcp: Evasion | None = None,
          request: bytes = REQUEST) -> dict[str, Any]:  # fmt: skip
    """Send ``request`` through ``evasion`` (IP) and ``tcp`` (TCP) to a server on the
    Linux side of ``lab``; what Linux's application read, and each policy's reading."""
    server = netns.popen(lab.info.kernel_ns, [sys.executable, "-c", SERVER, str(PORT),
                                             str(len(request))], stdout=-1)  # fmt: skip
    stack = None
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError("the Linux-side server did not start")
        stack = PyStack(link=lab.open_link(), ip=lab.stack_cidr)
        recorder = Recorder(evasion)
        stack.ip.shaper = recorder
        if tcp is not None:
            stack.tcp.session_class = tcp.session_class()
        stack.run(doreactor=False)
        answer = send_request(stack, lab.kernel_ip, request)
        received = bytes.fromhex(json.loads(server.stdout.readline())["received"])
    finally:
        if stack is not None:
            stack.stop()
        server.kill()
        server.wait()
    return {
        "request": request,
        "answer": answer,
        "linux": received,
        "policies": stream_per_policy(recorder.sent, lab.stack_ip, lab.kernel_ip),
        "pieces": sum(len(p) for p in recorder.sent),
    }


def verdict(got: bytes | None, request: bytes) -> str:
    """Which copy: "real" (the request), "part" (some of its segments), "decoy", or "nothing"."""
    if not got:
        return "nothing"
    if got == request:
        return "real"
    return "part" if got in request else "decoy"


def report(result: dict[str, Any]) -> str:
    request = result["request"]
    lines = [
        f"request ({len(request)} bytes): {request!r}",
        f"sent as {result['pieces']} IP pieces (all datagrams of the connection)",
        f"Linux application received: {result['linux']!r} ({verdict(result['linux'], request)})",
        "",
        f"{'reassembly policy':<18} {'reads':<8} application would receive",
    ]
    for policy, got in result["policies"].items():
        lines.append(f"{policy:<18} {verdict(got, request):<8} {got!r}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragment-size", type=int, default=8, help="IP bytes per fragment")
    parser.add_argument("--order", choices=ORDERS, default="reverse", help="IP fragment order")
    parser.add_argument("--decoy", default="X", help="decoy bytes (repeated); empty: none")
    parser.add_argument("--decoy-sent", choices=("before", "after"), default="before")
    parser.add_argument("--tcp-segment-size", type=int, help="TCP payload bytes per segment")
    parser.add_argument("--tcp-order", choices=ORDERS, default="in-order")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    evasion = Evasion(ip_fragment_size=args.fragment_size, ip_order=args.order,
                      ip_overlap_decoy=args.decoy.encode() or None,
                      ip_decoy_sent=args.decoy_sent)  # fmt: skip
    tcp = None
    if args.tcp_segment_size:
        tcp = Evasion(tcp_segment_size=args.tcp_segment_size, tcp_order=args.tcp_order)
    with Lab() as lab:
        result = shoot(lab, evasion, tcp)
    if args.json:
        hexed = {k: v.hex() if isinstance(v, bytes) else v for k, v in result.items()}
        hexed["policies"] = {p: d.hex() for p, d in result["policies"].items()}
        print(json.dumps(hexed))
    else:
        print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
