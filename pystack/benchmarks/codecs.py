"""``pystack bench codecs``: wire codecs against scapy on one Ethernet+IPv4+TCP frame.

The frame is a full-sized data segment as Linux sends it: Ethernet, IPv4 (DF), TCP with
ACK+PSH and the NOP,NOP,timestamps options, and 1448 bytes of payload.

- parse: ``ethernet.parse`` -> ``ipv4.parse`` -> ``tcp.parse``, and the TCP checksum
  verified with ``tcp.checksum_ok``, against scapy's dissection ``Ether(raw)``;
- emit: ``tcp.emit`` (checksum computed), ``ipv4.emit`` of a new ``Ipv4Packet`` and
  ``ethernet.emit`` of a new ``EthernetFrame``, against scapy's build ``bytes(pkt)`` of a
  prepared ``Ether/IP/TCP/Raw`` whose lengths and checksums scapy computes.

Each figure is the best of many short rounds: a round short enough to run between two
preemptions measures the code rather than the other processes on the machine.
Targets on the reference machine: parse <= 5 us, emit <= 8 us, >= 20x scapy.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from pystack.wire import ethernet, ipv4, tcp
from pystack.wire.tcp_options import NOP, Timestamp

PARSE_TARGET_US = 5.0
EMIT_TARGET_US = 8.0
SPEEDUP_TARGET = 20.0
SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
SRC_IP, DST_IP = "198.18.0.1", "198.18.0.2"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench codecs``."""
    parser.add_argument("--frames", type=int, default=500, help="frames per round (ours)")
    parser.add_argument("--rounds", type=int, default=100, help="rounds; the best one counts")
    parser.add_argument("--payload", type=int, default=1448, help="TCP payload bytes")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed (for scripts)"
    )


def _segment(payload_len: int) -> tcp.TcpSegment:
    payload = random.Random(1).randbytes(payload_len)
    return tcp.TcpSegment(
        40000, 80, 0x12345678, 0x9ABCDEF0, tcp.ACK | tcp.PSH, 502, payload,
        (NOP, NOP, Timestamp(1_000_000, 2_000_000)),
    )  # fmt: skip


def _ours(seg: tcp.TcpSegment) -> tuple[Callable[[], Any], Callable[[], Any], bytes]:
    def emit() -> bytes:
        segment = tcp.emit(seg, SRC_IP, DST_IP)
        packet = ipv4.emit(ipv4.Ipv4Packet(SRC_IP, DST_IP, 6, segment, 64, 0, 0x1234, 2))
        return ethernet.emit(ethernet.EthernetFrame(DST_MAC, SRC_MAC, 0x0800, packet))

    frame = emit()

    def parse() -> tcp.TcpSegment:
        eth = ethernet.parse(frame)
        ip = ipv4.parse(eth.payload)
        segment = tcp.parse(ip.payload)
        if not tcp.checksum_ok(ip.payload, ip.src, ip.dst):
            raise AssertionError("checksum")
        return segment

    if parse() != seg:
        raise AssertionError("parse(emit(frame)) differs from the frame")
    return parse, emit, frame


def _scapy(frame: bytes, seg: tcp.TcpSegment) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    pkt = (
        Ether(dst=DST_MAC, src=SRC_MAC)
        / IP(src=SRC_IP, dst=DST_IP, id=0x1234, flags=2, ttl=64)
        / TCP(
            sport=seg.src_port, dport=seg.dst_port, seq=seg.seq, ack=seg.ack, flags="PA",
            window=seg.window, options=[("NOP", None), ("NOP", None), ("Timestamp", seg.timestamp)],
        )
        / Raw(seg.payload)
    )  # fmt: skip
    if bytes(pkt) != frame:
        raise AssertionError("scapy builds a different frame: the comparison would be unfair")
    return (lambda: Ether(frame)), (lambda: bytes(pkt))


def _best_us(func: Callable[[], Any], number: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, time.perf_counter() - start)
    return best / number * 1e6


def run(args: argparse.Namespace) -> int:
    """Measure and print ours and scapy's side by side; with --check, 1 if a target is missed."""
    seg = _segment(args.payload)
    parse, emit, frame = _ours(seg)
    scapy_parse, scapy_emit = _scapy(frame, seg)
    scapy_frames = max(5, args.frames // 100)
    ours = {"parse": _best_us(parse, args.frames, args.rounds)}
    ours["emit"] = _best_us(emit, args.frames, args.rounds)
    theirs = {"parse": _best_us(scapy_parse, scapy_frames, args.rounds)}
    theirs["emit"] = _best_us(scapy_emit, scapy_frames, args.rounds)
    targets = {"parse": PARSE_TARGET_US, "emit": EMIT_TARGET_US}
    print(f"Ethernet+IPv4+TCP frame, {len(frame)} bytes ({args.payload} bytes of payload)")
    print(f"best of {args.rounds} rounds; {args.frames} frames/round (scapy: {scapy_frames})")
    print(f"{'':6} {'pystack':>12} {'scapy':>12} {'speed-up':>9}   target")
    ok = True
    for op in ("parse", "emit"):
        speedup = theirs[op] / ours[op]
        met = ours[op] <= targets[op] and speedup >= SPEEDUP_TARGET
        ok &= met
        print(
            f"{op:6} {ours[op]:9.2f} µs {theirs[op]:9.1f} µs {speedup:8.1f}x   "
            f"<= {targets[op]:g} µs, >= {SPEEDUP_TARGET:g}x: {'met' if met else 'MISSED'}"
        )
    return 0 if ok or not args.check else 1
