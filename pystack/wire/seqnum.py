"""TCP sequence numbers: arithmetic modulo 2**32 and comparisons per RFC 9293 §3.4.

``SeqNum`` never compares with a raw ``int`` by order (that is the bug this type exists to
prevent); equality with an ``int`` is allowed (``SeqNum(7) == 7``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SEQ_MOD", "SeqNum"]

SEQ_MOD = 1 << 32
_MASK = SEQ_MOD - 1
_HALF = 1 << 31


class SeqNum:
    """A sequence number modulo 2**32 (RFC 9293 §3.4).

    ``a < b`` means ``a`` comes before ``b`` in sequence space: the signed 32-bit distance
    ``a - b`` is negative. Two numbers exactly 2**31 apart are each "before" the other;
    this is the same convention as Linux's ``before()`` (RFC 1982 §3.2 leaves it undefined).
    """

    __slots__ = ("value",)
    value: int

    def __new__(cls, value: int | SeqNum) -> SeqNum:
        self = _new(cls)
        _set_value(self, (value if type(value) is int else int(value)) & _MASK)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SeqNum is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SeqNum is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (SeqNum, (self.value,))

    def __int__(self) -> int:
        return self.value

    __index__ = __int__

    def __repr__(self) -> str:
        return f"SeqNum({self.value})"

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeqNum):
            return self.value == other.value
        if isinstance(other, int):
            return self.value == other  # no reduction: equal values must hash alike
        return NotImplemented

    def __add__(self, other: int) -> SeqNum:
        if type(other) is int:  # the common case, without a call through type()
            made = _new(SeqNum)
            _set_value(made, (self.value + other) & _MASK)
            return made
        if isinstance(other, SeqNum) or not isinstance(other, int):
            return NotImplemented
        return SeqNum(self.value + other)

    __radd__ = __add__

    def __sub__(self, other: Any) -> Any:
        """``SeqNum - int -> SeqNum``; ``SeqNum - SeqNum -> int``, the signed distance."""
        if isinstance(other, SeqNum):
            return ((self.value - other.value + _HALF) & _MASK) - _HALF
        if isinstance(other, int):
            made = _new(SeqNum)
            _set_value(made, (self.value - other) & _MASK)
            return made
        return NotImplemented

    def _distance(self, other: object) -> int:
        if not isinstance(other, SeqNum):
            raise TypeError(
                f"SeqNum compares only with SeqNum, not {type(other).__name__}: "
                "wrap the int in SeqNum() so the comparison is modular"
            )
        return ((self.value - other.value + _HALF) & _MASK) - _HALF

    def __lt__(self, other: object) -> bool:
        return self._distance(other) < 0

    def __le__(self, other: object) -> bool:
        return self._distance(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._distance(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._distance(other) >= 0

    def in_window(self, start: SeqNum, size: int) -> bool:
        """True when ``start <= self < start + size`` (the RFC 9293 §3.10.7.4 test)."""
        return (self.value - start.value) & _MASK < size


# A SeqNum is made without a trip through ``__setattr__`` (which refuses every write):
# the slot's own descriptor stores the value. Connection set-up alone makes dozens.
_new = object.__new__
_set_value = SeqNum.__dict__["value"].__set__
