"""ControlledWire: the test decides the fate of every frame in flight."""

from __future__ import annotations

import pytest

from pystack.testing.controlled_wire import ControlledWire


def make() -> tuple[ControlledWire, list[bytes], list[bytes]]:
    wire = ControlledWire()
    a, b = wire.attach(), wire.attach()
    got_a: list[bytes] = []
    got_b: list[bytes] = []
    a.set_receiver(got_a.append)
    b.set_receiver(got_b.append)
    a.send(b"one")
    a.send(b"two")
    b.send(b"three")
    return wire, got_a, got_b


def test_frames_wait_until_delivered_and_reach_only_the_other_ports() -> None:
    wire, got_a, got_b = make()
    assert got_a == got_b == []
    assert wire.deliver_all() == 3
    assert got_b == [b"one", b"two"]
    assert got_a == [b"three"]


def test_drop_duplicate_and_reorder() -> None:
    wire, got_a, got_b = make()
    wire.drop(0)  # "one" lost
    wire.duplicate(0)  # a second "two" at the end
    wire.deliver(1)  # "three" overtakes "two"
    wire.deliver_all()
    assert got_b == [b"two", b"two"]
    assert got_a == [b"three"]
    assert (wire.counters.dropped, wire.counters.duplicated, wire.counters.delivered) == (1, 1, 3)


def test_frames_sent_during_delivery_queue_behind() -> None:
    wire = ControlledWire()
    a, b = wire.attach(), wire.attach()
    got: list[bytes] = []
    a.set_receiver(got.append)
    b.set_receiver(lambda frame: b.send(frame + b"!"))
    a.send(b"ping")
    wire.deliver()
    assert got == [] and len(wire.in_flight) == 1
    wire.deliver()
    assert got == [b"ping!"]


def test_empty_wire_operations_raise_and_closed_ports_receive_nothing() -> None:
    wire = ControlledWire()
    with pytest.raises(IndexError):
        wire.deliver()
    with pytest.raises(IndexError):
        wire.duplicate()
    a, b = wire.attach(), wire.attach()
    got: list[bytes] = []
    b.set_receiver(got.append)
    b.close()
    a.send(b"x" * 2000)  # too big for the MTU: never in flight
    a.send(b"y")
    wire.deliver_all()
    assert got == []
    assert wire.counters.too_big == 1


def test_observers_see_every_frame_as_it_is_sent() -> None:
    wire = ControlledWire()
    a, _b = wire.attach(), wire.attach()
    seen: list[bytes] = []
    wire.observers.append(lambda sender, frame: seen.append(frame))
    a.send(b"one")
    assert seen == [b"one"] and len(wire.in_flight) == 1
