"""The TCP states and state groups, as declared in ``pystack/machines/tcp.toml``.

Code names a state through these constants, never a string literal, and tests a group
through ``S``, never a Python set of its own::

    from pystack.tcp.states import S, TCP

    if session.state == TCP.TIME_WAIT: ...
    if self.state in S.may_send: ...

Both are checked against the TOML when this module is imported: a state or group added to,
renamed in or removed from the TOML without the same change here fails at import (a
:class:`~pystack.fsm.SpecError`), so the constants and the machine cannot drift apart.
Each constant is the state's name (a ``str``), as ``session.state`` holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from pystack.fsm import GroupSpec, MachineSpec, bind_groups, bind_states, load_spec

__all__ = ["SPEC", "TCP", "S", "TcpGroups"]

SPEC: Final[MachineSpec] = load_spec("tcp")
"""The parsed ``tcp.toml`` (states, transitions, groups, hook docs)."""


@dataclass(frozen=True, slots=True)
class TcpGroups:
    """The ``[groups]`` of ``tcp.toml``: each a frozenset of state names (see the TOML for
    what each means and its RFC section; ``SPEC.groups[name].doc``)."""

    synchronized: frozenset[str]
    may_send: frozenset[str]
    may_receive: frozenset[str]
    may_send_data: frozenset[str]
    handshaking: frozenset[str]
    unconnected: frozenset[str]
    finished: frozenset[str]

    def doc(self, name: str) -> GroupSpec:
        """The declaration of group ``name`` (its doc line and RFC section)."""
        return SPEC.groups[name]


class TCP:
    """The TCP states of RFC 9293 §3.3.2: ``TCP.ESTABLISHED == "ESTABLISHED"``."""

    CLOSED: Final = "CLOSED"
    LISTEN: Final = "LISTEN"
    SYN_SENT: Final = "SYN_SENT"
    SYN_RECEIVED: Final = "SYN_RECEIVED"
    ESTABLISHED: Final = "ESTABLISHED"
    FIN_WAIT_1: Final = "FIN_WAIT_1"
    FIN_WAIT_2: Final = "FIN_WAIT_2"
    CLOSE_WAIT: Final = "CLOSE_WAIT"
    CLOSING: Final = "CLOSING"
    LAST_ACK: Final = "LAST_ACK"
    TIME_WAIT: Final = "TIME_WAIT"

    groups: ClassVar[TcpGroups]
    """The state groups, also exported as ``S``."""


bind_states(SPEC, TCP)
S: Final[TcpGroups] = bind_groups(SPEC, TcpGroups)
"""The state groups: ``S.synchronized``, ``S.may_send``, ``S.may_receive``,
``S.may_send_data``, ``S.handshaking``, ``S.unconnected``, ``S.finished``."""
TCP.groups = S
