"""Router Advertisements with generated fields and option bytes (some well formed, some
not) never raise out of the receive path: each is processed or dropped with a reason."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.sim import SimNet, WireTap
from pystack.testing import examples
from pystack.wire import icmpv6 as icmp6
from pystack.wire.ipv6 import Ipv6Packet

NET = SimNet(1, ipv6=True, dad_transmits=1)
TAP = WireTap(NET)
ROUTER = "fe80::99"


def _option(kind: int, body: bytes) -> bytes:
    return bytes((kind, (len(body) + 2) // 8)) + body


prefix_options = st.builds(
    lambda plen, flags, valid, preferred, prefix: _option(
        3, bytes((plen, flags)) + valid.to_bytes(4, "big") + preferred.to_bytes(4, "big")
        + bytes(4) + prefix
    ),
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.sampled_from([bytes.fromhex("20010db8000100000000000000000000"), bytes(16),
                     bytes.fromhex("fe800000000000000000000000000000")])
    | st.binary(min_size=16, max_size=16),
)  # fmt: skip
options = st.one_of(
    prefix_options,
    st.builds(lambda mtu: _option(5, bytes(2) + mtu.to_bytes(4, "big")), st.integers(0, 2**32 - 1)),
    st.builds(lambda mac: _option(1, mac), st.binary(min_size=6, max_size=6)),
    st.binary(max_size=24),  # anything: bad lengths, truncation, unknown kinds
)


@settings(max_examples=examples(ci=300, dev=60), deadline=None)
@given(
    st.integers(0, 255), st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1), st.lists(options, max_size=4), st.sampled_from([0, 0, 1]),
    st.sampled_from([ROUTER, ROUTER, "2001:db8::99"]), st.sampled_from([255, 255, 64]),
)  # fmt: skip
def test_generated_router_advertisements_never_raise(
    hop: int, flags: int, lifetime: int, reachable: int, retrans: int, opts: list[bytes],
    code: int, src: str, hop_limit: int,
) -> None:  # fmt: skip
    stats = NET.a.stats
    before = stats.total_drops(), stats.get("IPv6", "router_advertisements_received")
    rest = (hop << 24) | (flags << 16) | lifetime
    body = reachable.to_bytes(4, "big") + retrans.to_bytes(4, "big") + b"".join(opts)
    data = icmp6.emit(icmp6.Icmpv6Message(134, code, rest, body), src, "ff02::1")
    TAP.inject(Ipv6Packet(src, "ff02::1", 58, data, hop_limit=hop_limit),
               dst_mac="33:33:00:00:00:01")  # fmt: skip
    after = stats.total_drops(), stats.get("IPv6", "router_advertisements_received")
    assert after[0] > before[0] or after[1] > before[1]
    NET.advance(3)  # lifetimes, DAD and solicitations run without raising either
    assert 1 <= NET.a.ipv6.hop_limit <= 255
    assert NET.a.ipv6.link_mtu is None or 1280 <= NET.a.ipv6.link_mtu <= 1500
