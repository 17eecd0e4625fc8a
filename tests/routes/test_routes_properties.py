"""Properties of the routing table's lookup: the longest matching prefix, then the lowest
metric, whatever order the routes were added in, and the cache never stale."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from pystack.routes import RouteEntry, RoutingTable


def _network(n: int, length: int) -> str:
    return str(ipaddress.ip_network(f"{ipaddress.IPv4Address(n)}/{length}", strict=False))


_prefixes = st.builds(_network, st.integers(0xC6120000, 0xC613FFFF), st.integers(0, 32))
_routes = st.lists(st.tuples(_prefixes, st.integers(0, 3)), max_size=12, unique=True)
_dsts = st.lists(st.integers(0xC6120000, 0xC613FFFF).map(lambda n: str(ipaddress.IPv4Address(n))),
                 min_size=1, max_size=5)  # fmt: skip


def _brute(routes: list[RouteEntry], dst: str) -> tuple[int, int] | None:
    ip = ipaddress.ip_address(dst)
    matches = [(r.network.prefixlen, -r.metric) for r in routes if ip in r.network]
    return max(matches) if matches else None


def _table(routes: list[tuple[str, int]]) -> RoutingTable:
    table = RoutingTable(lambda: [], dev="link0", state=lambda: 0)
    for prefix, metric in routes:
        try:
            table.add(prefix, via="198.18.0.254", metric=metric)
        except ValueError:  # the same prefix and metric twice
            pass
    return table


@given(_routes, _dsts)
def test_lookup_is_the_longest_prefix_then_the_lowest_metric(
    routes: list[tuple[str, int]], dsts: list[str]
) -> None:
    table = _table(routes)
    for dst in dsts:
        got = table.lookup(dst)
        want = _brute(list(table), dst)
        assert (None if got is None else (got.network.prefixlen, -got.metric)) == want


@given(_routes, _dsts, st.data())
def test_deleting_a_route_is_seen_by_the_next_lookup(
    routes: list[tuple[str, int]], dsts: list[str], data: st.DataObject
) -> None:
    table = _table(routes)
    for dst in dsts:
        table.lookup(dst)  # fill the cache
    entries = list(table)
    if not entries:
        return
    gone = data.draw(st.sampled_from(entries))
    table.delete(str(gone.network), metric=gone.metric)
    rest = list(table)
    assert gone not in rest and len(rest) == len(entries) - 1
    for dst in dsts:
        got = table.lookup(dst)
        want = _brute(rest, dst)
        assert (None if got is None else (got.network.prefixlen, -got.metric)) == want
