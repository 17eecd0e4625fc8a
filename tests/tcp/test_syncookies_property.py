"""Generated SYNs, cookie ACKs (good, tampered, late) and pauses against a listener: the SYN
queue never passes its bound, a cookie SYN,ACK leaves no state, and an ACK opens a
connection exactly when it returns a cookie less than two counter ticks old."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from pystack.layers.tcp_session import TCPSession
from pystack.tcp.config import TcpConfig
from pystack.tcp.syncookies import MSS_TABLE, counter, mss_index
from pystack.testing.harness import PEER_META, TcpHarness
from pystack.wire import tcp as tcpwire

SYN_BACKLOG = 2
MSS = st.sampled_from([None, 536, 1000, 1300, 1400, 1440, 1460, 9000])
EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("syn"), MSS, st.integers(0, 2**32 - 1)),
        # An ACK off by less than the MSS table's size would decode a neighbouring MSS (as
        # in Linux: the index is added in, under the hash): tampered ACKs are off by more.
        st.tuples(
            st.just("ack"), st.integers(0, 50), st.sampled_from([0, 0, 4, 77, 1 << 20, 1 << 24])
        ),
        st.tuples(st.just("wait"), st.sampled_from([0.5, 30.0, 59.0, 61.0])),
    ),
    max_size=30,
)


@dataclasses.dataclass
class Sent:
    port: int
    isn: int
    synack: tcpwire.TcpSegment
    mss: int
    at: float
    used: bool = False


@given(st.sampled_from(["overflow", "always"]), EVENTS)
def test_listener_under_generated_syns_and_acks(mode: str, events: list[tuple]) -> None:
    h = TcpHarness("LISTEN", config=TcpConfig(syn_cookies=mode, syn_backlog=SYN_BACKLOG))
    lst = h.session
    lst.backlog = 1000
    cookies: list[Sent] = []
    port = 20000
    for event in events:
        if event[0] == "syn":
            port += 1
            _, mss, isn = event
            children = len(h.host.children)
            seg = h.segment("S", seq=isn, mss=mss)
            lst.segment_arrives(dataclasses.replace(seg, src_port=port), PEER_META)
            (synack,) = [s for s in h.take() if s.dst_port == port]
            assert synack.flags == tcpwire.SYN | tcpwire.ACK and synack.ack == (isn + 1) % 2**32
            if len(h.host.children) == children:  # a cookie: nothing kept
                assert mode == "always" or lst.half_open == SYN_BACKLOG
                table_mss = MSS_TABLE[mss_index(min(mss or 536, 1460))]
                cookies.append(Sent(port, isn, synack, table_mss, h.clock.seconds()))
            else:
                assert mode == "overflow"
        elif event[0] == "ack" and cookies:
            _, pick, tamper = event
            sent = cookies[pick % len(cookies)]
            if sent.used:
                continue
            checked = mode == "always" or h.clock.seconds() - cookies[-1].at < 120
            check_ack(h, lst, sent, tamper, checked)
        elif event[0] == "wait":
            h.advance(event[1])
            h.take()  # half-open children's SYN,ACK retransmissions
        half_open = [c for c in h.host.children if c.state == "SYN_RECEIVED"]
        assert lst.half_open == len(half_open) <= SYN_BACKLOG


def check_ack(h: TcpHarness, lst: TCPSession, sent: Sent, tamper: int, checked: bool) -> None:
    """``checked``: a cookie was sent in the last 2 minutes (or "always"): the ACK is
    looked at as a cookie (Linux's tcp_synq_no_recent_overflow)."""
    seg = h.segment(".", seq=sent.isn + 1, ack=sent.synack.seq + 1 + tamper)
    children = len(h.host.children)
    failed = h.host.events["syncookies_failed"]
    lst.segment_arrives(dataclasses.replace(seg, src_port=sent.port), PEER_META)
    fresh = counter(h.clock.seconds()) - counter(sent.at) < 2
    if tamper == 0 and fresh:
        sent.used = True
        child = h.host.children[-1]
        assert len(h.host.children) == children + 1 and child.state == "ESTABLISHED"
        assert child.remote_port == sent.port and child.snd_mss == sent.mss
        assert h.take() == []
    else:
        assert len(h.host.children) == children
        (rst,) = h.take()
        assert rst.flags == tcpwire.RST and rst.seq == seg.ack
        assert h.host.events["syncookies_failed"] == failed + checked
