"""Closing with unread data, and data after a close (RFC 9293 §3.6.1 SHLD-3, RFC 1122
§4.2.2.13, RFC 2525 §2.17).

`close_both` is a socket's close(): the application reads no more. Received data it never
read is lost, so the connection is reset (RST, not FIN), and so is it when new data comes
after the close. `close()` alone is RFC 9293's CLOSE, a half-close: data still arrives.
"""

from __future__ import annotations

from typing import Any

import pytest

from pystack.tcp.config import CloseReason, TcpDrop
from pystack.testing.harness import TcpHarness


class User:
    """Records what the session tells its application."""

    def __init__(self) -> None:
        self.closed: list[CloseReason] = []

    def tcp_closed(self, session: Any, reason: CloseReason) -> None:
        self.closed.append(reason)

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None  # tcp_readable, tcp_eof, ...


def harness(state: str = "ESTABLISHED") -> tuple[TcpHarness, User]:
    user = User()
    return TcpHarness(state, user=user), user


def test_close_with_unread_data_sends_rst_not_fin() -> None:
    h, user = harness()
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"never read")
    h.take()
    h.session.close_both()
    h.recv(h.expect("R", seq=h.local(1)))  # <SEQ=SND.NXT><CTL=RST>, and no FIN
    assert h.state == "CLOSED"
    assert h.transitions[-1] == ("ESTABLISHED", "app_close", "CLOSED")
    assert h.session.close_reason is CloseReason.RESET
    assert user.closed == [CloseReason.RESET]
    assert h.session.readable == 0  # the data is discarded


def test_close_after_reading_everything_sends_fin() -> None:
    h, user = harness()
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"read")
    assert h.session.read() == b"read"
    h.take()
    h.session.close_both()
    h.recv(h.expect("F.", seq=h.local(1), ack=h.remote(5)))
    assert h.state == "FIN_WAIT_1"
    assert user.closed == []


def test_bytes_the_application_holds_unread_count_too() -> None:
    # A socket keeps bytes ahead of recv() in its own buffer: those are unread as well.
    h, _ = harness()
    h.session.close_both(unread=5)
    h.recv(h.expect("R", seq=h.local(1)))
    assert h.session.close_reason is CloseReason.RESET


def test_close_with_unread_data_in_close_wait_resets() -> None:
    h, _ = harness()
    h.send("FP.", seq=h.remote(1), ack=h.local(1), payload=b"bye")
    h.take()
    assert h.state == "CLOSE_WAIT"
    h.session.close_both()
    h.recv(h.expect("R", seq=h.local(1)))
    assert h.state == "CLOSED"


@pytest.mark.requirement("RFC9293:SHLD-3")
def test_close_with_unread_data_after_a_half_close_resets() -> None:
    h, _ = harness()
    h.session.close()  # shutdown(SHUT_WR)
    h.recv(h.expect("F.", seq=h.local(1)))
    h.send(".", seq=h.remote(1), ack=h.local(2), payload=b"kept")
    assert h.state == "FIN_WAIT_2"
    h.take()
    h.session.close_both()  # close() with "kept" unread
    h.recv(h.expect("R", seq=h.local(2)))
    assert h.session.close_reason is CloseReason.RESET


def data_after_close(state: str) -> tuple[TcpHarness, User]:
    h, user = harness()
    h.session.close_both()
    h.recv(h.expect("F.", seq=h.local(1)))
    if state == "FIN_WAIT_2":
        h.send(".", seq=h.remote(1), ack=h.local(2))
    assert h.state == state
    return h, user


@pytest.mark.requirement("RFC9293:SHLD-3")
def test_data_after_close_is_answered_with_rst_in_fin_wait_1() -> None:
    h, user = data_after_close("FIN_WAIT_1")
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"too late")
    # RST at SEG.ACK (RFC 9293 §3.10.7.1's reply), which the peer takes as exact (RFC 5961).
    h.recv(h.expect("R", seq=h.local(1)))
    assert h.state == "CLOSED"
    assert h.transitions[-1] == ("FIN_WAIT_1", "rcv_data_after_close", "CLOSED")
    assert user.closed == [CloseReason.RESET]
    assert h.drops[TcpDrop.DATA_AFTER_CLOSE] == 1


def test_data_after_close_is_answered_with_rst_in_fin_wait_2() -> None:
    h, user = data_after_close("FIN_WAIT_2")
    h.send("FP.", seq=h.remote(1), ack=h.local(2), payload=b"too late")
    h.recv(h.expect("R", seq=h.local(2)))
    assert h.state == "CLOSED"  # not TIME_WAIT: the FIN with the data is not taken
    assert user.closed == [CloseReason.RESET]


@pytest.mark.requirement("RFC9293:SHLD-3")
def test_data_out_of_order_after_close_resets_too() -> None:
    h, _ = data_after_close("FIN_WAIT_2")
    h.send("P.", seq=h.remote(100), ack=h.local(2), payload=b"ahead")
    h.recv(h.expect("R", seq=h.local(2)))
    assert h.state == "CLOSED"


def test_an_old_duplicate_after_close_is_only_acknowledged() -> None:
    h, _ = harness()
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"seen")
    h.session.read()
    h.session.close_both()
    h.take()
    h.send(".", seq=h.remote(5), ack=h.local(2))  # ACK of our FIN
    h.send("P.", seq=h.remote(1), ack=h.local(2), payload=b"seen")  # no new data
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(5)))
    assert h.state == "FIN_WAIT_2"
    h.send("F.", seq=h.remote(5), ack=h.local(2))  # and the peer's FIN closes normally
    assert h.state == "TIME_WAIT"


@pytest.mark.requirement("RFC9293:MAY-1")
def test_a_half_close_keeps_receiving() -> None:
    h, user = harness()
    h.session.close()  # shutdown(SHUT_WR): not a close
    h.recv(h.expect("F.", seq=h.local(1)))
    h.send(".", seq=h.remote(1), ack=h.local(2), payload=b"more")
    h.send(".", seq=h.remote(5), ack=h.local(2), payload=b" data")
    assert h.state == "FIN_WAIT_2"
    h.advance(0.2)
    h.recv(h.expect(".", seq=h.local(2), ack=h.remote(10)))
    assert h.session.read() == b"more data"
    assert user.closed == []


def test_shutdown_of_both_directions_resets_on_later_data() -> None:
    h, _ = harness()
    h.session.shutdown_read()  # shutdown(SHUT_RDWR): reading first ...
    assert h.state == "ESTABLISHED"
    h.send("P.", seq=h.remote(1), ack=h.local(1), payload=b"a")  # still ESTABLISHED
    h.session.read()
    h.session.close()  # ... then writing
    h.take()
    h.send("P.", seq=h.remote(2), ack=h.local(1), payload=b"b")
    h.recv(h.expect("R", seq=h.local(1)))
    assert h.session.close_reason is CloseReason.RESET
