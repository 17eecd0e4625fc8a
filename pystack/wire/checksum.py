"""The internet checksum (RFC 1071) and the TCP/UDP pseudo-header sum (RFC 9293 §3.1).

The ones'-complement sum of 16-bit words is the sum modulo 0xFFFF, and since
2**16 == 1 (mod 0xFFFF) the whole buffer read as one big-endian integer has the same
residue; CPython reduces that integer in C, which is far faster than summing words in
Python. The residue loses one distinction the ones'-complement sum keeps: a nonzero
buffer whose sum is "negative zero" (0xFFFF) has residue 0. :func:`ones_sum16` restores it.
Reducing a big integer costs a hardware division per 30-bit digit, so long buffers are
converted as four quarters whose sum (a quarter of the digits) is reduced instead.
"""

from __future__ import annotations

import socket

__all__ = [
    "checksum_from_sum",
    "internet_checksum",
    "ones_sum16",
    "pseudo_header",
    "raw_sum",
    "swapped_sum",
]

_from_bytes = int.from_bytes
# Below this size one conversion is cheaper than two.
_SPLIT_AT = 512


def swapped_sum(data: bytes | bytearray | memoryview) -> int:
    """An unreduced partial sum of ``data`` read as little-endian 16-bit words.

    Swapping a word's bytes multiplies it by 256 modulo 0xFFFF (RFC 1071 §2(B): the sum
    is byte-order independent), so this is congruent to 256 times the network-order sum.
    Reading little-endian is a little faster and needs no care for an odd length: the last
    byte lands in the low half of its word, as the zero padding wants. It is zero only for
    all-zero data.
    """
    size = len(data)
    if size < _SPLIT_AT:
        return _from_bytes(data, "little")
    # Quarters cut at even offsets add up to the same residue, and reducing their
    # quarter-size sum costs a quarter of reducing the whole (see the module notes).
    q1 = (size >> 3) << 1
    q2 = q1 + q1
    q3 = q2 + q1
    return (
        _from_bytes(data[:q1], "little")
        + _from_bytes(data[q1:q2], "little")
        + _from_bytes(data[q2:q3], "little")
        + _from_bytes(data[q3:], "little")
    )


def raw_sum(data: bytes | bytearray | memoryview) -> int:
    """An unreduced partial sum of ``data`` as network-order 16-bit words, zero-padded.

    It is zero only for all-zero data. Partial sums of pieces add up: ``raw_sum(a) +
    raw_sum(b)`` is congruent to the sum of ``a + b`` modulo 0xFFFF when ``len(a)`` is even.
    """
    # 256 * 256 == 1 (mod 0xFFFF): shifting the swapped sum by 8 swaps it back.
    return swapped_sum(data) << 8


def ones_sum16(total: int) -> int:
    """Fold a partial sum to the 16-bit ones'-complement sum (0 only for an all-zero sum)."""
    folded = total % 0xFFFF
    if folded == 0 and total:
        return 0xFFFF
    return folded


def checksum_from_sum(total: int) -> int:
    """The checksum field value for a partial sum: the complement of the folded sum."""
    return ~ones_sum16(total) & 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data``, starting from the partial sum ``initial``.

    Computed over a buffer whose checksum field is zero, it is the value to store; over
    a buffer with its checksum in place, it is 0 when the checksum is right.
    """
    return checksum_from_sum(initial + raw_sum(data))


def pseudo_header(src: str | bytes, dst: str | bytes, proto: int, length: int) -> int:
    """The partial sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768).

    ``src``/``dst`` are dotted strings (or 4 packed bytes); pass the result as
    ``initial`` to :func:`internet_checksum`.
    """
    if isinstance(src, str):
        src = socket.inet_aton(src)
    if isinstance(dst, str):
        dst = socket.inet_aton(dst)
    return _from_bytes(src, "big") + _from_bytes(dst, "big") + proto + length
