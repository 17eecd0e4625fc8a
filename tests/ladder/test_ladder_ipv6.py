"""The ladder decoder draws IPv6 frames on their hosts' lanes: neighbour discovery,
ICMPv6 echo, TCP over IPv6; any IPv6 frame becomes an arrow, never an exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pystack.ladder.decode import Decoder, frames_from_pcap
from pystack.sim import SimNet
from pystack.wire import ethernet


def test_ipv6_frames_go_on_the_hosts_lanes(tmp_path: Path) -> None:
    pcap = tmp_path / "a.pcap"
    with SimNet(2, ipv6=True, pcap_files=[str(pcap)]) as net:
        net.wait(net.a.ping_deferred("198.18.0.2"))  # ARP: the capture learns both MACs
        net.wait(net.a.ping_deferred("2001:db8::2"))
        client, _server = net.connect_tcp(80, far_address="2001:db8::2")
        client.send(b"x")
        net.advance(0.1)
    frames, _ = frames_from_pcap(str(pcap))
    six = [f for f in frames if f.lines[0].startswith(("NS ", "NA ", "ICMPv6"))]
    assert {(f.src, f.dst) for f in frames} <= {("198.18.0.1", "198.18.0.2"),
                                                ("198.18.0.2", "198.18.0.1")}  # fmt: skip
    assert [f.lines[0] for f in six[:2]] == ["NS who-has 2001:db8::2", "NA 2001:db8::2"]
    assert six[0].broadcast and not six[1].broadcast
    assert any(f.lines[0].startswith("[SYN] ") for f in frames if f.kind == "tcp")


@given(st.binary(max_size=120), st.sampled_from(["33:33:ff:00:00:02", "02:00:00:00:00:02"]))
def test_any_ipv6_frame_becomes_an_arrow(payload: bytes, dst: str) -> None:
    data = b"\x60" + payload if payload else payload
    frame = ethernet.emit(ethernet.EthernetFrame(dst, "02:00:00:00:00:01", 0x86DD, data))
    arrow = Decoder().ethernet(0.0, frame)
    assert arrow.lines
