"""The IPv6 address machine (machines/ipv6_address.toml) under generated event sequences:
the IPv6 layer uses an address exactly when the machine says it may, DUPLICATE and INVALID
are final, and only the declared states are ever reached."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pystack.layers.autoconf import AddressState, Ipv6Address
from pystack.sim import SimNet
from pystack.testing import examples

EVENTS = ["dad_timeout", "rcv_conflict", "preferred_timeout", "preferred_renewed",
          "valid_timeout", "advance"]  # fmt: skip
USABLE = {AddressState.PREFERRED, AddressState.DEPRECATED}
DECLARED = {v for k, v in vars(AddressState).items() if k.isupper()}


@settings(max_examples=examples(ci=300, dev=60), deadline=None)
@given(st.integers(0, 3), st.lists(st.sampled_from(EVENTS), max_size=12))
def test_the_layer_uses_an_address_exactly_when_its_machine_allows(
    transmits: int, events: list[str]
) -> None:
    net = SimNet(1, dad_transmits=transmits)
    ip6 = net.a.ipv6
    entry = Ipv6Address(ip6.autoconf, ipaddress.IPv6Interface("2001:db8::7/64"))
    ip6.autoconf.entries[entry.address] = entry
    entry.fire("start")
    seen = [entry.state]
    for event in events:
        if event == "advance":
            net.advance(1.0)
        else:
            entry.fire(event, why="test") if event == "rcv_conflict" else entry.fire(event)
        seen.append(entry.state)
        assert entry.state in DECLARED
        assert ip6.is_ours(entry.address) == (entry.state in USABLE)
        deprecated = entry.address in {a for a in ip6.addresses_deprecated()}
        assert deprecated == (entry.state == AddressState.DEPRECATED)
    for final in (AddressState.DUPLICATE, AddressState.INVALID):
        if final in seen:
            assert seen[seen.index(final) :] == [final] * (len(seen) - seen.index(final))
    if transmits == 0:
        assert seen[0] == AddressState.PREFERRED  # no DAD: usable at once


def test_dad_passes_through_tentative_to_preferred_on_the_clock() -> None:
    net = SimNet(1, ipv6=True, dad_transmits=1)
    assert net.a.ipv6.autoconf.state_of("2001:db8::1") == AddressState.TENTATIVE
    net.advance(3)
    assert net.a.ipv6.autoconf.state_of("2001:db8::1") == AddressState.PREFERRED
