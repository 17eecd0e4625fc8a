"""The default overlap policy ("linux") against this host's Linux kernel: the same
fragmented echo requests, overlaps, duplicates and all, are sent to the kernel of a lab
namespace and given to the stack's reassembler; the kernel answers exactly those the stack
reassembles."""

from __future__ import annotations

import itertools
import json
import random
import socket
import time

import pytest
from twisted.internet.task import Clock

from pystack import netns
from pystack.lab import Lab
from pystack.layers.ip_reassembly import Reassembler
from pystack.wire import icmp, ipv4
from pystack.wire.ipv4 import Ipv4Packet

pytestmark = pytest.mark.root
SIZE = 64  # the echo request: 8 units of 8 bytes
UNITS = SIZE // 8
ICMP_ID = 0x5A5A


# Cases the documentation states, with the kernel's answer: (spans in arrival order, answered).
STATED = [
    ([(0, 16), (8, 24), (0, 32), (32, 64)], True),  # overlap; then all sent again: a new queue
    ([(0, 16), (16, 32), (8, 24), (32, 64)], True),  # inside the run [0, 32): a duplicate
    ([(16, 32), (0, 16), (8, 24), (32, 64)], False),  # two runs: the same [8, 24) overlaps
    ([(0, 32), (0, 32), (32, 64)], True),  # an exact copy is a duplicate
]


def fragment_sequence(rng: random.Random) -> list[tuple[int, int]]:
    """A partition of the datagram in random order, with one to three more fragments
    (overlapping, inside or duplicating others) at random places; never the whole
    datagram in one piece (that is no fragment)."""
    cuts = sorted(rng.sample(range(1, UNITS), rng.randint(1, 4)))
    bounds = [0, *cuts, UNITS]
    spans = [(a * 8, b * 8) for a, b in itertools.pairwise(bounds)]
    rng.shuffle(spans)
    for _ in range(rng.randint(1, 3)):
        a = rng.randrange(UNITS)
        b = rng.randint(a + 1, UNITS)
        if (a, b) != (0, UNITS):
            spans.insert(rng.randint(0, len(spans)), (a * 8, b * 8))
    return spans


def fragments(seq: int, spans: list[tuple[int, int]], src: str, dst: str) -> list[Ipv4Packet]:
    data = icmp.emit(icmp.echo_request(ICMP_ID, seq, bytes(range(SIZE - 8))))
    return [
        Ipv4Packet(src, dst, 1, data[s:e], ident=0x1000 + seq, flags=int(e < SIZE),
                   frag_offset=s)
        for s, e in spans
    ]  # fmt: skip


def stack_reassembles(frags: list[Ipv4Packet]) -> bool:
    out: list[Ipv4Packet] = []
    r = Reassembler(Clock(), deliver=out.append)  # the default policy
    for f in frags:
        r.add(f)
    return bool(out)


def mac_of(namespace: str, interface: str) -> bytes:
    out = netns.ip("-n", namespace, "-j", "link", "show", interface)
    return bytes.fromhex(json.loads(out.stdout)[0]["address"].replace(":", ""))


def kernel_answers(veth_lab: Lab, sequences: list[list[Ipv4Packet]]) -> set[int]:
    """Send every sequence's fragments to the lab's kernel from s0; the echo sequence
    numbers it answered."""
    info = veth_lab.info
    ours, theirs = mac_of(info.stack_ns, "s0"), mac_of(info.kernel_ns, "k0")
    netns.ip("-n", info.kernel_ns, "neigh", "replace", veth_lab.stack_ip, "lladdr",
             ours.hex(":"), "dev", "k0", "nud", "permanent")  # fmt: skip
    with veth_lab.stack_side():
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    answered: set[int] = set()
    with sock:
        sock.bind(("s0", 0))
        for frags in sequences:
            for f in frags:
                sock.send(theirs + ours + b"\x08\x00" + ipv4.emit(f))
        deadline = time.monotonic() + 2.0
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                frame = sock.recv(2048)
            except TimeoutError:
                break
            try:
                packet = ipv4.parse(frame[14:])
                msg = icmp.parse(packet.payload)
            except ValueError:
                continue
            if packet.src == veth_lab.kernel_ip and msg.type == 0 and msg.ident == ICMP_ID:
                answered.add(msg.seq)
    return answered


def test_the_stack_reassembles_what_linux_reassembles(veth_lab: Lab) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    src, dst = veth_lab.stack_ip, veth_lab.kernel_ip
    spans = [case for case, _ in STATED] + [fragment_sequence(rng) for _ in range(200)]
    sequences = [fragments(seq, s, src, dst) for seq, s in enumerate(spans)]
    ours = {seq for seq, frags in enumerate(sequences) if stack_reassembles(frags)}
    theirs = kernel_answers(veth_lab, sequences)
    assert [seq in theirs for seq in range(len(STATED))] == [ok for _, ok in STATED]
    differ = sorted(ours ^ theirs)
    assert differ == [], [(seq, spans[seq]) for seq in differ[:5]]
    # Both outcomes occur, so the comparison says something either way.
    assert 0 < len(ours) < len(sequences)
