"""Replace a policy: a congestion control of your own, compared with the default (CUBIC).

``Aimd`` is additive increase, multiplicative decrease with its own constants: slow start,
then ``increase`` segments more per window of data acknowledged, and the window times
``decrease`` on a loss. A stack uses it with ``TcpConfig(congestion=Aimd)`` (or a factory
taking the sender MSS, for other constants). On a simulated wire that loses 2% of the
frames and delays each by 10 ms, no root needed::

    python examples/aimd_congestion.py

sends the same bytes once with each controller and prints, per controller, the simulated
time the transfer took and the bytes the sender sent again.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pystack.links.pcap import read_pcap
from pystack.sim import SimNet
from pystack.tcp.config import TcpConfig
from pystack.tcp.congestion import Action, CongestionControl
from pystack.wire import ethernet, ipv4
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

DUPACK_THRESHOLD = 3  # RFC 5681 §3.2: the third duplicate ACK signals a loss


class Aimd(CongestionControl):
    """Slow start to the first loss, then +``increase`` segments per window acknowledged;
    on a loss the window is multiplied by ``decrease`` (0.5 is Reno's, CUBIC uses 0.7)."""

    def __init__(self, smss: int, *, increase: int = 1, decrease: float = 0.7,
                 initial_segments: int = 4) -> None:  # fmt: skip
        self.smss, self.increase, self.decrease = smss, increase, decrease
        self.initial_segments = initial_segments
        self.cwnd = initial_segments * smss
        self.ssthresh = 1 << 30  # slow start until the first loss (RFC 5681 §3.1)
        self.dupacks = 0
        self.recover: SeqNum | None = None
        self.acked_in_window = 0
        self.recovering = False

    @property
    def in_recovery(self) -> bool:
        return self.recovering

    def set_smss(self, smss: int) -> None:
        self.smss = smss
        self.cwnd = max(self.cwnd, smss)
        self.ssthresh = max(self.ssthresh, 2 * smss)

    def on_ack(self, ack: SeqNum, acked: int, snd_nxt: SeqNum) -> Action:
        self.dupacks = 0
        if self.recovering:
            assert self.recover is not None
            if ack >= self.recover:
                self.recovering = False  # every byte outstanding at the loss is acknowledged
                return Action.NONE
            # A partial ACK: the next hole is lost too. With SACK the session finds it.
            return Action.NONE if self.sack else Action.RETRANSMIT
        if self.cwnd < self.ssthresh:
            self.cwnd += min(acked, self.smss)
            return Action.NONE
        self.acked_in_window += acked
        if self.acked_in_window >= self.cwnd:
            self.acked_in_window -= self.cwnd
            self.cwnd += self.increase * self.smss
        return Action.NONE

    def on_dupack(self, ack: SeqNum, snd_nxt: SeqNum) -> Action:
        if self.recovering:
            return Action.NONE
        self.dupacks += 1
        if self.dupacks != DUPACK_THRESHOLD:
            return Action.NONE
        self.recovering, self.recover = True, snd_nxt
        self.decrease_window(snd_nxt - ack)
        return Action.RETRANSMIT  # fast retransmit of the first unacknowledged segment

    def on_retransmit_timeout(self, snd_una: SeqNum, snd_nxt: SeqNum, repeated: bool) -> None:
        if not repeated:
            self.decrease_window(snd_nxt - snd_una)
        self.cwnd, self.recovering = self.smss, False  # RFC 5681 §3.1: LW is one segment

    def restart_after_idle(self) -> None:
        self.cwnd = min(self.cwnd, self.initial_segments * self.smss)  # RFC 5681 §4.1

    def decrease_window(self, flight: int) -> None:
        """A loss with ``flight`` bytes outstanding: ssthresh and cwnd to ``decrease`` of it."""
        self.ssthresh = max(int(flight * self.decrease), 2 * self.smss)
        self.cwnd = self.ssthresh


def transfer(congestion: str | Callable[[int], CongestionControl], size: int = 1_000_000,
             loss: float = 0.02, seed: int = 1, delay: float = 0.01) -> dict[str, Any]:  # fmt: skip
    """Send ``size`` bytes from one stack to another over a wire that loses ``loss`` of
    the frames: the simulated seconds it took and the payload bytes the sender sent more
    than once (read from the sender's capture)."""
    payload = bytes(range(256)) * (size // 256)
    with tempfile.TemporaryDirectory() as tmp:
        pcap = str(Path(tmp) / "sender.pcap")
        with SimNet(2, seed=seed, loss=loss, delay=delay, pcap_files=[pcap, None],
                    tcp=TcpConfig(congestion=congestion)) as net:  # fmt: skip
            client, server = net.connect_tcp(5001)
            start = net.now()
            client.send_packet(payload)
            got = bytearray()
            done = net.run_until(
                lambda: got.extend(server.fetch_data()) or len(got) >= len(payload), 600
            )
            seconds = net.now() - start
            sender = str(net.a.address)
        sent = 0
        for _, frame in read_pcap(pcap):
            eth = ethernet.parse(frame)
            if eth.ethertype != ethernet.ETHERTYPE_IPV4:
                continue
            packet = ipv4.parse(eth.payload)
            if packet.proto == 6 and packet.src == sender:
                sent += len(tcpwire.parse(packet.payload).payload)
    assert done and bytes(got) == payload, "the transfer did not complete"
    return {"seconds": round(seconds, 3), "retransmitted_bytes": sent - len(payload)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", type=float, default=0.02, help="frame loss (default 0.02)")
    parser.add_argument("--bytes", type=int, default=1_000_000, help="bytes to send")
    parser.add_argument("--seed", type=int, default=1, help="seed of the simulated wire")
    parser.add_argument("--delay", type=float, default=0.01, help="one-way delay, seconds")
    args = parser.parse_args(argv)
    controllers: dict[str, Any] = {
        "cubic (default)": "cubic",
        "Aimd()": Aimd,
        "Aimd(decrease=0.5)": functools.partial(Aimd, decrease=0.5),
    }
    for name, congestion in controllers.items():
        result = transfer(congestion, args.bytes, args.loss, args.seed, args.delay)
        print(f"{name:20} {result['seconds']:8.3f} s  "
              f"{result['retransmitted_bytes']:8} bytes retransmitted")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
