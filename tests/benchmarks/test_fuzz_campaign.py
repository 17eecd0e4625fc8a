"""The fuzz campaign (``python -m pystack.benchmarks.fuzz``): a CI-sized run finds nothing
escaping and leaves the transfer exact; the campaign itself catches what escapes, is
reproducible from its seed, and keeps the checked transfer out of harm a correct stack
must allow."""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys

import pytest

from pystack.benchmarks import fuzz
from pystack.benchmarks._fuzz_frames import (
    DnsWait,
    Endpoint,
    FrameFactory,
    Guard,
    LiveView,
    Target,
)
from pystack.layers.icmp import ICMPProtocol
from pystack.wire import ethernet, ipv4
from pystack.wire import tcp as tcpwire

# About 4 s here on a quiet machine and 20 s on a busy one: a wide margin under a minute.
CI_FRAMES = 20_000
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
IP_A, IP_B = "198.18.0.1", "198.18.0.2"


def test_a_ci_sized_campaign_lets_nothing_escape_and_the_transfer_stays_exact() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "pystack.benchmarks.fuzz", "--frames", str(CI_FRAMES),
           "--seed", "7", "--json", "--loop-runs", "0"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["frames"] >= CI_FRAMES
    assert result["exceptions"] == 0, result["first_exceptions"]
    assert result["transfer"]["exact"] and result["transfer"]["received"] == 4_000_000
    assert result["new_connection"] is True
    # The frames reached every layer, and deep: drops are named in each of them.
    layers = {key.split(".")[0] for key in result["drops_both"]}
    assert {"Ether", "Arp", "Ip", "Icmp", "Udp", "Dns", "Tcp"} <= layers
    assert result["drops_both"]["Tcp.unacceptable_seq"] > 0
    assert result["drops_both"]["Tcp.rst_challenged"] > 0


@pytest.mark.parametrize("tcp", ["plain", "sessions"])
def test_other_tcp_settings_hold_up_too(tcp: str) -> None:
    result = fuzz.run_campaign(3000, seed=2, megabytes=0.5, tcp=tcp)
    assert result["exceptions"] == 0, result["first_exceptions"]
    assert result["ok"] and result["transfer"]["exact"]


def test_an_exception_in_the_receive_path_is_caught_recorded_and_fails_the_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(self: object, payload: bytes, meta: object) -> None:
        raise KeyError("planted")

    monkeypatch.setattr(ICMPProtocol, "datagram_received", broken)
    campaign = fuzz.Campaign(seed=3, megabytes=0.1)
    campaign.run(3000)
    assert campaign.escaped["receive"] > 0
    (kind,) = campaign.signatures
    assert kind.startswith("KeyError at test_fuzz_campaign.py")
    (first,) = campaign.recorded
    frame = bytes.fromhex(first["frame_hex"])
    assert ipv4.parse(ethernet.parse(frame).payload).proto == ipv4.PROTO_ICMP
    assert "planted" in first["traceback"]
    args = argparse.Namespace(frames=3000, seed=3, megabytes=0.1, tcp="default", json=True,
                              loop_runs=0)  # fmt: skip
    assert fuzz.run(args) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["exceptions"] > 0 and result["ok"] is False


def test_the_same_seed_gives_the_same_frames() -> None:
    target = Target(bytes(6), bytes(4), bytes(6), bytes(4), (80,), (53,))

    def draw(seed: int) -> list[bytes]:
        factory = FrameFactory(random.Random(seed))
        return [f for _ in range(500) for f in factory.frames(target)]

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_every_family_draws_without_failing() -> None:
    # The generators' own limits (a 64 KiB datagram, a full option space) are reached
    # within these draws; a generator that failed would stop the campaign.
    live = Endpoint(40000, bytes((198, 18, 0, 1)), 5001, 7, 65535, 1 << 31, 5, 99, "live")
    other = Endpoint(80, bytes((198, 18, 0, 9)), 1234, 0xFFFFFFF0, 0, 0xFFFFFFFF, 3, 0)
    target = Target(bytes(6), bytes(4), bytes(6), bytes(4), (80,), (53,), [live, other],
                    DnsWait(50000, 7, "h1.fuzz.example", 1))  # fmt: skip
    factory = FrameFactory(random.Random(11))
    frames = [f for _ in range(20_000) for f in factory.frames(target)]
    assert max(map(len, frames)) > 1400
    assert set(factory.families) == {
        "raw", "ethernet", "arp", "ipv4", "fragments", "icmp", "udp", "dns",
        "tcp_listener", "tcp_connection", "tcp_closed_port",
    }  # fmt: skip


def _live_view() -> LiveView:
    # Stack B's end of the checked transfer: A (port 40000) sends, B (port 5001) receives.
    ports = struct.pack("!HH", 40000, 5001)
    return LiveView(MAC_B, IP_B, IP_A, ports, rcv_nxt=1000, rcv_wnd=65535, snd_max=501,
                    ts_ok=False, ts_recent=0, peer_rcv_nxt=501)  # fmt: skip


def _frame(flags: str, seq: int, payload: bytes = b"", ack: int = 501) -> bytes:
    bits = sum({"F": 1, "S": 2, "R": 4, "P": 8, ".": 16}[c] for c in flags)
    seg = tcpwire.TcpSegment(40000, 5001, seq, ack, bits, 65535, payload)
    pkt = ipv4.Ipv4Packet(IP_A, IP_B, 6, tcpwire.emit(seg, IP_A, IP_B))
    return ethernet.emit(ethernet.EthernetFrame(MAC_B, MAC_A, 0x0800, ipv4.emit(pkt)))


def _delivered_intact(frame: bytes) -> bool:
    guard = Guard({})
    guard.views[1] = _live_view()
    out = guard.check(1, frame)
    assert (out == frame) == (guard.spoiled == 0)
    return out == frame


@pytest.mark.parametrize(
    ("frame", "intact"),
    [
        (_frame("R", 1000), False),  # an exact RST would reset the transfer (RFC 5961 §3.2)
        (_frame("R", 1001), True),  # in the window, not exact: a challenge ACK
        (_frame("P.", 1000, b"bad"), False),  # in-window data would corrupt the bytes
        (_frame("P.", 1000 + (1 << 31), b"bad"), True),  # far outside: dropped
        (_frame("S", 1000), True),  # a SYN: a challenge ACK (RFC 5961 §4)
        (_frame(".", 1000, ack=501), True),  # a duplicate ACK
        (_frame(".", 1000, ack=502), False),  # an ACK of bytes the peer never received
        (_frame(".", 1010), False),  # an acceptable ACK ahead of the peer moves SND.WL1
    ],
)
def test_the_guard_spoils_only_what_a_correct_stack_must_accept(frame: bytes, intact: bool) -> None:
    assert _delivered_intact(frame) is intact


def test_the_guard_spoils_a_frame_by_breaking_its_checksum() -> None:
    guard = Guard({})
    guard.views[1] = _live_view()
    out = guard.check(1, _frame("P.", 1000, b"bad"))
    pkt = ipv4.parse(ethernet.parse(out).payload)
    assert not tcpwire.checksum_ok(pkt.payload, pkt.src, pkt.dst)


def test_the_guard_keeps_arp_from_rebinding_a_stack_address() -> None:
    real = bytes.fromhex("02000000000a")
    guard = Guard({bytes((198, 18, 0, 1)): real})
    spoof = bytes.fromhex("02deadbeef01")
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, spoof, bytes((198, 18, 0, 1)),
                       bytes(6), bytes((198, 18, 0, 2)))  # fmt: skip
    frame = b"\xff" * 6 + spoof + b"\x08\x06" + body
    assert guard.check(1, frame)[22:28] == real
