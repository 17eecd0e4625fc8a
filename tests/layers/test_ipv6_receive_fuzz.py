"""Generated IPv6 datagrams (any extension-header chain, any upper layer, some addressed to
the stack, some mangled) fed to the stack never raise, and each one is either counted as a
drop under a named reason or accepted by a layer."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.sim import SimNet, WireTap
from pystack.testing import examples
from pystack.testing.strategies import ipv6_packets
from pystack.wire import icmpv6 as icmp6
from pystack.wire import ipv6

NET = SimNet(2, ipv6=True)
TAP = WireTap(NET)
OURS = ["2001:db8::1", "ff02::1", str(NET.a.ipv6.link_local)]
ACCEPTED = [("IPv6", "datagrams_received")]


@st.composite
def datagrams(draw: st.DrawFn) -> bytes:
    pkt = draw(ipv6_packets())
    if draw(st.booleans()):  # addressed to the stack, from a plausible peer
        dst = draw(st.sampled_from(OURS))
        pkt = ipv6.Ipv6Packet("2001:db8::99", dst, pkt.proto, pkt.payload, pkt.hop_limit,
                              headers=pkt.headers)  # fmt: skip
        if draw(st.booleans()):
            body = icmp6.emit(icmp6.Icmpv6Message(draw(st.integers(0, 255)), 0, 0, b"x"),
                              pkt.src, dst)  # fmt: skip
            pkt = ipv6.Ipv6Packet(pkt.src, dst, 58, body, draw(st.sampled_from([64, 255])),
                                  headers=pkt.headers)  # fmt: skip
    data = bytearray(ipv6.emit(pkt))
    for _ in range(draw(st.integers(0, 2))):  # a few mangled bytes
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _tally() -> tuple[int, int]:
    stats = NET.a.stats
    return stats.total_drops(), sum(stats.get(layer, name) for layer, name in ACCEPTED)


@settings(max_examples=examples(ci=400, dev=100), deadline=None)
@given(st.lists(datagrams(), min_size=1, max_size=4))
def test_generated_ipv6_datagrams_never_raise_and_every_drop_is_counted(batch: list[bytes]) -> None:
    for data in batch:
        drops, accepted = _tally()
        TAP.inject(data, dst_mac=NET.a.mac, ethertype=0x86DD)
        after_drops, after_accepted = _tally()
        assert after_drops > drops or after_accepted > accepted, data.hex()
    NET.advance(61)  # reassembly and neighbour timers run without raising either
    for key in NET.a.stats.drops():
        layer, reason = key.split(".")
        assert layer in {"Ether", "Ipv6", "Icmpv6", "Ndp", "Udp", "Tcp"}, key
        assert reason.isidentifier()
