"""issue 4: 10 MB each way at once through MemoryWire(loss=0.1, duplicate=0.05,
reorder=0.1) arrives with identical sha256, within bounded simulated time."""

from __future__ import annotations

import hashlib
import random
import time

import pytest

from pystack.apps.tcp_application import TCPApplication
from pystack.sim import SimNet
from pystack.testing.harness import TcpHarness

SIZE = 10_000_000
# Simulated seconds allowed for both transfers: about 240 s here (220-330 s for seeds 1-4),
# bound by retransmission timeouts (minimum RTO 1 s) when losses hit small windows.
MAX_SIMULATED = 900.0


def connect(net: SimNet) -> tuple[TCPApplication, TCPApplication]:
    return net.connect_tcp(5001, max_time=60)


def test_ten_megabytes_both_ways_at_once_through_loss_duplication_and_reordering() -> None:
    net = SimNet(2, seed=11, loss=0.1, duplicate=0.05, reorder=0.1)
    client, server = connect(net)
    data = [random.Random(side).randbytes(SIZE) for side in (0, 1)]
    apps = (client, server)
    sent = [0, 0]
    got = [bytearray(), bytearray()]
    start_real, start_sim = time.perf_counter(), net.now()

    def step() -> bool:
        for side in (0, 1):
            if sent[side] < SIZE:
                sent[side] += apps[side].send(data[side][sent[side] : sent[side] + 65536])
            got[side].extend(apps[side].fetch_data())
        return len(got[0]) >= SIZE and len(got[1]) >= SIZE

    while not step():
        net.advance(0.05)
        assert net.now() - start_sim < MAX_SIMULATED, (len(got[0]), len(got[1]))
    simulated, real = net.now() - start_sim, time.perf_counter() - start_real
    print(f"\n20 MB (10 MB each way): {simulated:.1f} s simulated, {real:.1f} s real")
    for side in (0, 1):
        received = bytes(got[1 - side])
        assert hashlib.sha256(received).digest() == hashlib.sha256(data[side]).digest()
    counters = net.wire.counters
    assert counters.lost and counters.duplicated and counters.reordered


@pytest.mark.requirement("RFC3042:2")
def test_limited_transmit_sends_new_data_on_the_first_two_duplicate_acks() -> None:
    # RFC 5681 §3.2 step 1 / RFC 3042: a two-segment window that loses its first segment
    # still gets three duplicate ACKs, so fast retransmit, not a timeout, repairs the loss.
    h = TcpHarness("ESTABLISHED", iss=1000, irs=5000)
    mss = h.session.snd_mss
    h.session.cc.cwnd = 2 * mss
    h.session.send(bytes(5 * mss))
    assert [s.seq for s in h.take()] == [h.local(1), h.local(1 + mss)]
    for n in (2, 3):  # first and second duplicate ACK: one new segment each
        h.send(".", seq=h.remote(1), ack=h.local(1))
        assert [(s.seq, len(s.payload)) for s in h.take()] == [(h.local(1 + n * mss), mss)]
        assert h.session.cc.cwnd == 2 * mss  # RFC 3042 §2: cwnd itself is unchanged
    h.send(".", seq=h.remote(1), ack=h.local(1))  # the third: fast retransmit
    assert h.take()[0].seq == h.local(1)
