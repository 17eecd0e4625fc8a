"""TCP (RFC 9293), a protocol of several modules, each owning one part.

- :mod:`~pystack.tcp.layer`: the TCP layer (``stack.tcp``): checksums, demultiplexing to
  connections and listeners, resets for segments nobody owns, TIME_WAIT records.
- :mod:`~pystack.tcp.session`: :class:`TCPSession`, one connection or listening socket,
  the machine of ``machines/tcp.toml``; the class to subclass to change behaviour. Its
  public hooks (``check_*``, ``choose_isn``, ``send_synack``, ``deliver_data``,
  ``on_segment_in/out``, the hooks and conditions the TOML names) are methods of it.
- :mod:`~pystack.tcp.host`: :class:`TcpHost`, the declared interface of a session's host.
- :mod:`~pystack.tcp.listener`: a listener's passive open: the SYN queue and SYN cookies.
  :class:`Listener` (``session.listen_side``, class setting ``listener_class``) spawns a
  child for a SYN or a valid cookie's ACK, reaching the listening session through the
  ``ListenerOwner`` protocol; the hooks (``send_syncookie``, ``accept_queue_room``,
  ``is_passive_child``, ``take_cookie_ack``) stay session methods.
- :mod:`~pystack.tcp.receive`: SEGMENT ARRIVES as a pipeline of the session's public
  ``check_*`` hooks.
- :mod:`~pystack.tcp.receiver`: :class:`Receiver`, the receive side (``session.receiver``,
  class setting ``receiver_class``): in-order delivery, the reorder queue and its SACK
  report, a FIN behind a hole, delayed ACKs. Its methods take the session as an argument
  typed ``ReceiverOwner``; like the sender it holds no state, shared by a class.
- :mod:`~pystack.tcp.send`: the session's send hooks (``send_ack``, ``send_data``, the
  segment builder); what they send and when is the sender's.
- :mod:`~pystack.tcp.sender`: :class:`Sender`, the send side (``session.sender``, class
  setting ``sender_class``): segmentation, Nagle and SWS avoidance, what the windows let
  out now, SACK loss recovery, the window to advertise. Its methods take the session as
  an argument typed ``SenderOwner`` (a ``typing.Protocol``): it holds no reference back
  and no state, so the connections of a class share one.
- :mod:`~pystack.tcp.timers`: :class:`Timers`, the part each session owns
  (``session.timers``): retransmission, persist, delayed ACK, keep-alive, 2*MSL, user
  timeout; it reaches the session only through the ``TimerOwner`` protocol.
- :mod:`~pystack.tcp.tcb`: the transmission control block's fields.
- :mod:`~pystack.tcp.config`: :class:`TcpConfig`, drop reasons and close reasons.
- :mod:`~pystack.tcp.congestion`: congestion control behind a pluggable interface.
- :mod:`~pystack.tcp.sack`: the SACK sender's scoreboard.
- :mod:`~pystack.tcp.reorder`: the receiver's out-of-order queue.
- :mod:`~pystack.tcp.buffers`: the send and receive byte buffers.
- :mod:`~pystack.tcp.rtt`: the retransmission timeout estimator.
- :mod:`~pystack.tcp.isn`: initial sequence numbers.
- :mod:`~pystack.tcp.syncookies`: the SYN cookie encoding.
- :mod:`~pystack.tcp.time_wait`: compact TIME_WAIT records.
- :mod:`~pystack.tcp.scapy_view`: the scapy view of a segment, for hooks that ask for it.

The names most programs need are importable from here:
``from pystack.tcp import TCPSession, TcpConfig, TCPLayer``.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # imported on first use, so the parts import each other freely

_EXPORTS = {
    "TCPLayer": "pystack.tcp.layer",
    "TCPSession": "pystack.tcp.session",
    "TcpConfig": "pystack.tcp.config",
}

__all__ = ["TCPLayer", "TCPSession", "TcpConfig"]

if TYPE_CHECKING:
    from typing import Any

    from pystack.tcp.config import TcpConfig
    from pystack.tcp.layer import TCPLayer
    from pystack.tcp.session import TCPSession


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pystack.tcp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
