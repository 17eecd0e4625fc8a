"""RFC 9293 Appendix B rows no other test shows: the floors the default TcpConfig keeps
(how long a SYN and data are retransmitted, MUST-23 and SHLD-11; when keep-alives start
and give up, MUST-28 and MUST-29) and where PSH goes when SEND takes no PUSH (MUST-61)."""

from __future__ import annotations

import pytest

from pystack.tcp.config import CloseReason, TcpConfig
from pystack.testing.harness import TcpHarness


@pytest.mark.requirement("RFC9293:MUST-23")
def test_a_syn_is_retransmitted_for_at_least_three_minutes_by_default() -> None:
    h = TcpHarness("SYN_SENT")
    h.advance(179.9)
    assert h.state == "SYN_SENT"
    h.advance(61.0)  # the retransmission after 180 s gives up (backoff capped at 60 s)
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.TIMED_OUT


@pytest.mark.requirement("RFC9293:SHLD-11")
def test_data_is_retransmitted_for_at_least_100_seconds_by_default() -> None:
    h = TcpHarness()
    h.session.send(b"x")
    h.advance(99.9)
    assert h.state == "ESTABLISHED"
    h.advance(61.0)
    assert h.state == "CLOSED"
    assert h.session.close_reason is CloseReason.TIMED_OUT


@pytest.mark.requirement("RFC9293:MUST-28", "RFC9293:MUST-29")
def test_keepalives_start_after_two_idle_hours_and_survive_a_lost_answer() -> None:
    h = TcpHarness(config=TcpConfig(keepalive=True))
    h.session.keepalive_reset()
    h.advance(7199.0)
    h.recv_nothing()
    h.advance(1.0)
    h.recv(h.expect(".", seq=h.local(0), ack=h.remote(1)))
    # No answer to the first probe: the connection stays and probes again.
    h.advance(75.0)
    h.recv(h.expect(".", seq=h.local(0), ack=h.remote(1)))
    assert h.state == "ESTABLISHED"
    h.send(".", seq=h.remote(1), ack=h.local(1))
    h.advance(7199.0)
    h.recv_nothing()
    assert h.state == "ESTABLISHED"


@pytest.mark.requirement("RFC9293:MUST-61", "RFC9293:SHLD-28")
def test_a_send_goes_out_in_full_sized_segments_with_psh_on_the_last() -> None:
    h = TcpHarness()
    h.session.send(b"a" * 3000)
    h.recv(
        h.expect(".", seq=h.local(1), payload=b"a" * 1460),
        h.expect(".", seq=h.local(1461), payload=b"a" * 1460),
    )
    # Nagle holds the small tail until the ACK; it then goes out, and it empties the
    # send buffer, so it carries PSH.
    h.send(".", seq=h.remote(1), ack=h.local(2921))
    h.recv(h.expect("P.", seq=h.local(2921), payload=b"a" * 80))
