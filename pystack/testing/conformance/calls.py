"""Properties of the user calls: what OPEN, SEND, RECEIVE, CLOSE, ABORT and STATUS must
put on the wire (RFC 9293 §3.10.1-§3.10.6)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from pystack.layers.tcp_session import TCPSession
from pystack.tcp.config import TcpConfig
from pystack.testing.conformance.recording import RecordedHarness
from pystack.testing.conformance.registry import SEQUENCE, expect, prop, segment_lines
from pystack.testing.conformance.segment import Recorder
from pystack.testing.harness import LOCAL, REMOTE
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum

FIN, SYN, RST, ACK = tcpwire.FIN, tcpwire.SYN, tcpwire.RST, tcpwire.ACK
MOD = 1 << 32
PATIENCE = 60  # rounds of "take, acknowledge" before a transfer counts as stalled


def _data(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def opened(cls: type[TCPSession], iss: int, irs: int, **kwargs: Any) -> RecordedHarness:
    """A session that did an active OPEN and sent its SYN (taken)."""
    h = RecordedHarness("CLOSED", iss=iss, irs=irs, session_class=cls, **kwargs)
    h.session.open_active()
    h.take()
    return h


# ------------------------------------------------------------------------------ OPEN


@prop(
    "open.active_sends_syn",
    "RFC 9293 §3.10.1, §3.7.1 (MUST-14), RFC 7323 §2.2, §3.2, RFC 2018 §2",
    "an active OPEN sends one SYN with SEQ = ISS and the MSS option, plus window scale, "
    "timestamps and SACK-permitted exactly when configured, and enters SYN_SENT",
    iss=SEQUENCE, wscale=st.booleans(), timestamps=st.booleans(), sack=st.booleans(),
)  # fmt: skip
def active_open(cls: type[TCPSession], data: st.DataObject, iss: int, wscale: bool,
                timestamps: bool, sack: bool) -> None:  # fmt: skip
    config = TcpConfig(window_scaling=wscale, timestamps=timestamps, sack=sack)
    h = RecordedHarness("CLOSED", iss=iss, session_class=cls, config=config)
    h.session.open_active()
    sent, snap = h.take(), h.session.snapshot()
    want = f"one SYN, seq {snap['iss']} (the ISS), options mss"
    expect(len(sent) == 1 and sent[0].flags == SYN and sent[0].seq == snap["iss"],
           want, segment_lines(sent))  # fmt: skip
    syn = sent[0]
    expect(syn.mss is not None, want, segment_lines(sent))
    expect((syn.wscale is not None) == wscale, f"window scale option: {wscale}",
           segment_lines(sent))  # fmt: skip
    expect((syn.timestamp is not None) == timestamps, f"timestamps option: {timestamps}",
           segment_lines(sent))  # fmt: skip
    expect(syn.sack_permitted == sack, f"SACK-permitted option: {sack}", segment_lines(sent))
    expect(h.state == "SYN_SENT", "state SYN_SENT", f"state {h.state}")


@prop(
    "open.passive_listens_silently", "RFC 9293 §3.10.1, §3.10.7.2",
    "a passive OPEN sends nothing and enters LISTEN; a SYN is then answered by one "
    "SYN,ACK acknowledging it",
    irs=SEQUENCE, backlog=st.integers(1, 16),
)  # fmt: skip
def passive_open(cls: type[TCPSession], data: st.DataObject, irs: int, backlog: int) -> None:
    h = RecordedHarness("CLOSED", irs=irs, session_class=cls)
    h.session = cls(h.host, local_ip=LOCAL[0], local_port=LOCAL[1])
    h.session.open_passive(backlog)
    sent = h.take()
    expect(not sent and h.state == "LISTEN", "nothing sent, state LISTEN",
           f"{segment_lines(sent)}, state {h.state}")  # fmt: skip
    h.send("S", seq=irs, mss=1460)
    sent = h.take()
    expect(len(sent) == 1 and sent[0].flags == SYN | ACK and sent[0].ack == (irs + 1) % MOD,
           f"one SYN,ACK with ack {(irs + 1) % MOD}", segment_lines(sent))  # fmt: skip


# ------------------------------------------------------------------------------ SEND


def _transfer(h: RecordedHarness, window: int) -> tuple[bytes, list[str]]:
    """Play a peer that acknowledges everything at once with ``window``; returns the bytes
    received in order and the checks that failed on the way."""
    snd = h.session.snapshot()["snd_una"]
    got, fin_at, right = bytearray(), None, window
    wrong: list[str] = []
    queued = h.session.snapshot()["send_queued"]
    for _ in range(PATIENCE + 2 * queued // min(window, h.session.snd_mss)):
        sent = _wait_for_segments(h)
        reset = next((seg for seg in sent if seg.flags & RST), None)
        if reset is not None:  # the connection is gone: nothing more will come
            return bytes(got), [*wrong[:2], f"an RST: {segment_lines([reset])}"]
        if not sent:
            break
        for seg in sent:
            wrong += _check_data_segment(h, seg, snd, len(got), right)
            if (seg.seq - snd) % MOD == len(got):
                got += seg.payload
            if seg.flags & FIN:
                fin_at = len(got)
        ack = (snd + len(got) + (1 if fin_at is not None else 0)) % MOD
        right = len(got) + window
        h.send(".", seq=h.session.snapshot()["rcv_nxt"], ack=ack, window=window)
    if fin_at is not None and fin_at != len(got):
        wrong.append(f"FIN after {fin_at} of {len(got)} bytes")
    return bytes(got), wrong[:3]


def _wait_for_segments(h: RecordedHarness) -> list[tcpwire.TcpSegment]:
    """What the session sends now, else within the next 3.5 s (RFC 9293 §3.8.6.2.1 lets
    a sender hold a small segment back for up to a second)."""
    sent = h.take()
    for _ in range(35):
        if sent:
            break
        h.advance(0.1)
        sent = h.take()
    return sent


def _check_data_segment(h: RecordedHarness, seg: tcpwire.TcpSegment, snd: int,
                        acked: int, right: int) -> list[str]:  # fmt: skip
    line = segment_lines([seg])
    wrong = []
    if not seg.flags & ACK or seg.flags & (RST | SYN):
        wrong.append(f"a data segment without ACK or with RST/SYN: {line}")
    offset = (seg.seq - snd) % MOD
    if seg.payload and offset > acked:  # below it: a retransmission, allowed
        wrong.append(f"out of order (byte {offset}, {acked} received): {line}")
    if seg.payload and offset + len(seg.payload) > right:
        wrong.append(f"beyond the peer's window (right edge at byte {right}): {line}")
    if len(seg.payload) > h.session.snd_mss:
        wrong.append(f"larger than the peer's MSS {h.session.snd_mss}: {line}")
    return wrong


@prop(
    "send.data_within_window_in_order", "RFC 9293 §3.10.2, §3.8.6, §3.7.1 (MUST-14)",
    "SEND in ESTABLISHED sends every byte once, in order, with ACK, within the peer's "
    "window and MSS",
    iss=SEQUENCE, irs=SEQUENCE, window=st.integers(256, 65535), mss=st.integers(64, 1460),
    size=st.integers(1, 20_000),
)  # fmt: skip
def send_in_window(cls: type[TCPSession], data: st.DataObject, iss: int, irs: int,
                   window: int, mss: int, size: int) -> None:  # fmt: skip
    h = RecordedHarness("ESTABLISHED", iss=iss, irs=irs, session_class=cls,
                        peer_window=window, peer_mss=mss, user=Recorder())  # fmt: skip
    h.take()
    payload = _data(size)
    taken = h.session.send(payload)
    got, wrong = _transfer(h, window)
    expect(not wrong, "data segments in order, within the window", "; ".join(wrong))
    expect(
        got == payload[:taken],
        f"the {taken} bytes queued arrive",
        f"{len(got)} bytes arrived{'' if payload.startswith(got) else ', not those sent'}",
    )


@prop(
    "send.queued_in_syn_sent", "RFC 9293 §3.10.2",
    "SEND in SYN_SENT queues the data (nothing sent) and sends it after the SYN,ACK, "
    "starting at ISS+1",
    iss=SEQUENCE, irs=SEQUENCE, size=st.integers(1, 4000),
)  # fmt: skip
def send_in_syn_sent(cls: type[TCPSession], data: st.DataObject, iss: int, irs: int,
                     size: int) -> None:  # fmt: skip
    h = opened(cls, iss, irs, user=Recorder())
    payload = _data(size)
    taken = h.session.send(payload)
    sent = h.take()
    expect(not sent, "nothing sent before the handshake completes", segment_lines(sent))
    own = h.session.snapshot()["iss"]
    h.send("S.", seq=irs, ack=own + 1, mss=1460)
    got, wrong = _transfer(h, 65535)
    expect(not wrong and got == payload[:taken],
           f"the {taken} queued bytes from seq {(own + 1) % MOD}, in order",
           "; ".join(wrong) or f"{len(got)} bytes arrived")  # fmt: skip


# --------------------------------------------------------------------------- RECEIVE


@prop(
    "receive.window_update_when_app_reads", "RFC 9293 §3.10.3, §3.8.6.2.2",
    "when the application reads a full receive buffer, the window it opens is announced "
    "within 0.5 s",
    irs=SEQUENCE, buffer=st.integers(1000, 16_000),
)  # fmt: skip
def window_update(cls: type[TCPSession], data: st.DataObject, irs: int, buffer: int) -> None:
    user = Recorder()
    user.paused = True
    config = TcpConfig(rcv_buf=buffer, window_scaling=False)
    h = RecordedHarness("ESTABLISHED", irs=irs, session_class=cls, config=config, user=user)
    h.take()
    window = h.session.snapshot()["rcv_wnd"]
    for _ in range(PATIENCE):
        snap = h.session.snapshot()
        if snap["rcv_wnd"] == 0 or not window:
            break
        chunk = min(536, window)
        h.send(".", seq=snap["rcv_nxt"], ack=h.local(1), payload=_data(chunk))
        h.advance(0.5)
        acks = [s for s in h.take() if s.flags & ACK]
        window = acks[-1].window if acks else max(window - chunk, 0)
    expect(window == 0, "the window closes while the application does not read",
           f"window still {window}")  # fmt: skip
    h.session.read()
    h.advance(0.5)
    sent = h.take()
    rcv_nxt = h.session.snapshot()["rcv_nxt"]
    expect(any(s.flags & ACK and s.ack == rcv_nxt and s.window > 0 for s in sent),
           f"an ACK {rcv_nxt} with a window above 0", segment_lines(sent))  # fmt: skip


# ----------------------------------------------------------------------------- CLOSE


@prop(
    "close.fin_after_queued_data", "RFC 9293 §3.10.4",
    "CLOSE in ESTABLISHED sends the queued data, then one FIN after it (no RST), and "
    "reaches FIN_WAIT_2 once the FIN is acknowledged",
    iss=SEQUENCE, irs=SEQUENCE, window=st.integers(1, 65535), size=st.integers(0, 8000),
)  # fmt: skip
def close_sends_fin(cls: type[TCPSession], data: st.DataObject, iss: int, irs: int,
                    window: int, size: int) -> None:  # fmt: skip
    h = RecordedHarness("ESTABLISHED", iss=iss, irs=irs, session_class=cls,
                        peer_window=window, user=Recorder())  # fmt: skip
    h.take()
    payload = _data(size)
    taken = h.session.send(payload) if size else 0
    h.session.close()
    got, wrong = _transfer(h, window)
    segs = [e.seg for e in h.trace.events if e.seg is not None and e.src == LOCAL[0]]
    fins = [s for s in segs if s.flags & FIN]
    expect(bool(fins) and not wrong and got == payload[:taken],
           f"the {taken} bytes, then a FIN at seq {(h.local(1) + taken) % MOD}",
           "; ".join(wrong) or f"{len(got)} bytes, then {segment_lines(segs[-1:])}")  # fmt: skip
    fin = fins[0]
    expect((fin.seq + len(fin.payload) - h.local(1)) % MOD == taken, f"FIN at byte {taken}",
           segment_lines(fins[:1]))  # fmt: skip
    expect(h.state == "FIN_WAIT_2", "state FIN_WAIT_2", f"state {h.state}")


@prop(
    "close.unsynchronized_deletes_silently", "RFC 9293 §3.10.4",
    "CLOSE in LISTEN or SYN_SENT sends nothing (then or later) and enters CLOSED",
    iss=SEQUENCE, state=st.sampled_from(["LISTEN", "SYN_SENT"]),
)  # fmt: skip
def close_unsynchronized(cls: type[TCPSession], data: st.DataObject, iss: int,
                         state: str) -> None:  # fmt: skip
    h = (RecordedHarness("LISTEN", iss=iss, session_class=cls) if state == "LISTEN"
         else opened(cls, iss, 0))  # fmt: skip
    h.take()
    h.session.close()
    h.advance(200.0)
    sent = h.take()
    expect(not sent and h.state == "CLOSED", "nothing sent, state CLOSED",
           f"{segment_lines(sent)}, state {h.state}")  # fmt: skip


# ----------------------------------------------------------------------------- ABORT

RST_STATES = ("SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT")


@prop(
    "abort.synchronized_sends_rst", "RFC 9293 §3.10.5",
    "ABORT in SYN_RECEIVED, ESTABLISHED, FIN_WAIT_1/2 or CLOSE_WAIT sends one RST at "
    "SND.NXT, enters CLOSED, and the queued data is never sent",
    iss=SEQUENCE, irs=SEQUENCE, state=st.sampled_from(RST_STATES), queued=st.integers(0, 5000),
)  # fmt: skip
def abort_sends_rst(cls: type[TCPSession], data: st.DataObject, iss: int, irs: int,
                    state: str, queued: int) -> None:  # fmt: skip
    h = RecordedHarness(state, iss=iss, irs=irs, session_class=cls, peer_window=0,
                        user=Recorder())  # fmt: skip
    if queued and state in ("ESTABLISHED", "CLOSE_WAIT"):
        h.session.send(_data(queued))
    h.take()
    snap = h.session.snapshot()
    h.session.abort()
    sent = h.take()
    ok = len(sent) == 1 and sent[0].flags & (RST | SYN | FIN) == RST and not sent[0].payload
    expect(ok and sent[0].seq in (snap["snd_nxt"], snap["snd_max"]),
           f"one RST, seq {snap['snd_nxt']}", segment_lines(sent))  # fmt: skip
    h.advance(300.0)
    later = h.take()
    expect(h.state == "CLOSED" and not later, "state CLOSED, nothing sent afterwards",
           f"state {h.state}, then {segment_lines(later)}")  # fmt: skip


@prop(
    "abort.unsynchronized_sends_nothing", "RFC 9293 §3.10.5",
    "ABORT in LISTEN, SYN_SENT, CLOSING, LAST_ACK or TIME_WAIT sends nothing and enters CLOSED",
    iss=SEQUENCE, state=st.sampled_from(["LISTEN", "SYN_SENT", "CLOSING", "LAST_ACK",
                                         "TIME_WAIT"]),
)  # fmt: skip
def abort_silent(cls: type[TCPSession], data: st.DataObject, iss: int, state: str) -> None:
    h = (opened(cls, iss, 0) if state == "SYN_SENT"
         else RecordedHarness(state, iss=iss, session_class=cls))  # fmt: skip
    h.take()
    h.session.abort()
    h.advance(300.0)
    sent = h.take()
    expect(not sent and h.state == "CLOSED", "nothing sent, state CLOSED",
           f"{segment_lines(sent)}, state {h.state}")  # fmt: skip


# ---------------------------------------------------------------------------- STATUS


@prop(
    "status.snapshot_reports_tcb", "RFC 9293 §3.10.6",
    "STATUS (snapshot()) reports the state, both sockets, the windows and the bytes "
    "queued to send and waiting to be read",
    state=st.sampled_from(["LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
                           "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]),
    sending=st.integers(0, 3000), receiving=st.integers(0, 3000),
)  # fmt: skip
def status(cls: type[TCPSession], data: st.DataObject, state: str, sending: int,
           receiving: int) -> None:  # fmt: skip
    user = Recorder()
    user.paused = True
    h = RecordedHarness(state, session_class=cls, peer_window=0, user=user)
    if state in ("ESTABLISHED", "CLOSE_WAIT") and sending:
        h.session.send(_data(sending))
    else:
        sending = 0
    if state in ("ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2") and receiving:
        h.send(".", seq=h.session.snapshot()["rcv_nxt"], ack=h.session.snapshot()["snd_una"],
               payload=_data(receiving), window=0)  # fmt: skip
    else:
        receiving = 0
    snap = h.session.snapshot()
    remote = (None, None) if state == "LISTEN" else REMOTE
    want = {"state": h.state, "local": LOCAL, "remote": remote, "send_queued": sending,
            "recv_queued": receiving}  # fmt: skip
    wrong = {k: snap.get(k, "<absent>") for k, v in want.items() if snap.get(k) != v}
    expect(not wrong, f"{want}", f"{wrong}")
    absent = [k for k in ("snd_una", "snd_nxt", "rcv_nxt", "rcv_wnd", "snd_wnd") if k not in snap]
    expect(not absent, "the send and receive sequence variables", f"{absent} absent")
    expect(SeqNum(snap["snd_una"]) <= SeqNum(snap["snd_nxt"]), "SND.UNA <= SND.NXT", snap)
