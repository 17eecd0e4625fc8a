"""Pure packet codecs: ``parse(bytes) -> repr`` and ``emit(repr) -> bytes`` per protocol.

Every parser raises :class:`Malformed` and nothing else on any input; the reason is a
short snake_case string a layer can count drops under. Reprs are frozen, slotted
dataclasses; the modules import nothing of pystack outside this package and do no I/O.
"""

from __future__ import annotations

__all__ = ["Malformed"]


class Malformed(ValueError):
    """Input bytes that do not form a valid packet of the protocol being parsed.

    ``reason`` is a short snake_case tag (``"truncated"``, ``"bad_header_length"``, ...)
    suitable as a drop-counter key; the optional ``detail`` is for humans.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
