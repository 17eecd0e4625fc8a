"""`stack.stats`: one name per layer, printed as ``netstat -s`` prints its sections."""

from __future__ import annotations

import enum

from hypothesis import given
from hypothesis import strategies as st

from pystack.sim import SimNet
from pystack.stats import Stats, layer_name


class Reason(enum.Enum):
    BAD_CHECKSUM = enum.auto()


def test_every_layer_of_a_stack_prints_in_one_style() -> None:
    net = SimNet(2)
    net.wait(net.a.ping_deferred("198.18.0.2"))
    a, _ = net.connect_tcp(9)
    a.send(b"x")
    net.advance(1)
    headers = [line[:-1] for line in str(net.a.stats).splitlines() if line.endswith(":")]
    assert {"Arp", "Ether", "Icmp", "Ip", "Tcp"} <= set(headers)
    assert all(h[0].isupper() and h[1:].islower() for h in headers), headers


def test_names_given_in_any_case_are_the_same_counter() -> None:
    stats = Stats()
    stats.incr("IP", "datagrams_sent")
    stats.incr("ip", "datagrams_sent", 2)
    stats.drop("tcp", Reason.BAD_CHECKSUM)
    stats.drop("TCP", Reason.BAD_CHECKSUM)
    assert stats.get("Ip", "datagrams_sent") == 3
    assert stats.counters("IP") == {"datagrams_sent": 3}
    assert stats.dropped("Tcp", Reason.BAD_CHECKSUM) == 2
    assert stats.drops() == {"Tcp.bad_checksum": 2}
    assert str(stats) == "Ip:\n    3 datagrams sent\nTcp:\n    2 dropped: bad checksum"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1),
       st.integers(1, 1000))  # fmt: skip
def test_any_spelling_of_a_layer_reads_what_was_counted(layer: str, n: int) -> None:
    stats = Stats()
    stats.incr(layer, "events", n)
    for spelling in (layer, layer.upper(), layer.lower(), layer.swapcase()):
        assert stats.get(spelling, "events") == n
    assert str(stats).splitlines()[0] == layer_name(layer) + ":"
    assert layer_name(layer_name(layer)) == layer_name(layer)
