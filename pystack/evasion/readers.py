"""What a receiver makes of fragments: each overlap policy's reassembly of the same
pieces, to tell which targets would read the decoy."""

from __future__ import annotations

from collections.abc import Iterable

from twisted.internet.task import Clock

from pystack.layers.ip_reassembly import OverlapPolicy, Reassembler
from pystack.wire.ipv4 import Ipv4Packet


def reassemble_as(pieces: Iterable[Ipv4Packet], policy: OverlapPolicy | str) -> bytes | None:
    """The payload of the datagram a receiver with overlap ``policy`` delivers from
    ``pieces`` (received in this order), or None when it delivers none."""
    delivered: list[Ipv4Packet] = []
    reassembler = Reassembler(Clock(), deliver=delivered.append, policy=policy)
    for piece in pieces:
        if piece.is_fragment:
            reassembler.add(piece)
        else:
            delivered.append(piece)
    return delivered[0].payload if delivered else None


def readings(pieces: Iterable[Ipv4Packet]) -> dict[str, bytes | None]:
    """`reassemble_as` for every overlap policy the stack models, by policy name."""
    sent = list(pieces)
    return {policy.value: reassemble_as(sent, policy) for policy in OverlapPolicy}
