"""Connection ladders: the transition log a stack writes (``trace=``), the pcap reader,
the labels (relative seq/ack, flags, options), the SVG and HTML pictures, ``pystack
trace`` and the demo's ladder."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pystack.cli import main
from pystack.dns.transport import TinyDnsServer, resolver_for_stack
from pystack.ladder import (
    Decoder,
    Frame,
    Transition,
    TransitionLog,
    frames_from_pcap,
    read_transitions,
    render_ladder,
    render_ladder_html,
)
from pystack.layers.tcp_application import TCPApplication
from pystack.links.pcap import PcapWriter, read_pcap
from pystack.stack import PyStack
from pystack.testing.twostack import SimNet
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import Mss, Sack, SackPermitted, Timestamp, WindowScale

SVG = "{http://www.w3.org/2000/svg}"
A, B = "198.18.0.1", "198.18.0.2"


def handshake_and_close(net: SimNet) -> None:
    """A connects to B:9, sends 3000 bytes, both close (TIME_WAIT ends)."""
    server, client = TCPApplication(), TCPApplication()
    net.b.register_tcp_application(server)
    net.a.register_tcp_application(client)
    server.bind(9)
    server.listen(1)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    assert net.wait(client.connect_deferred(B, 9), max_time=5)
    net.run_until(lambda: bool(accepted), 5)
    client.send(b"x" * 3000)
    client.close()
    net.run_until(lambda: accepted[0].eof, 5)
    accepted[0].close()
    net.advance(61)


@pytest.fixture(name="traced")
def traced_run(tmp_path: Path) -> tuple[Path, Path]:
    """A's capture and both stacks' transitions of a TCP exchange on a SimNet."""
    pcap, log = tmp_path / "a.pcap", TransitionLog(tmp_path / "both.trace.jsonl")
    net = SimNet(2, seed=3, delay=0.0005, pcap_files=[str(pcap)], trace=log)
    handshake_and_close(net)
    net.close()
    log.close()
    return pcap, Path(log.path)


# ------------------------------------------------------------------ the transition log


def test_trace_true_writes_every_machine_beside_the_capture(tmp_path: Path) -> None:
    net = SimNet(2, seed=1, pcap_dir=str(tmp_path), trace=True)
    handshake_and_close(net)
    net.close()
    records = [json.loads(line) for line in (tmp_path / "0.trace.jsonl").read_text().splitlines()]
    assert {r["host"] for r in records} == {A}
    assert {r["machine"] for r in records} >= {"arp", "tcp"}
    tcp = [r for r in records if r["machine"] == "tcp"]
    assert [(r["old"], r["new"], r["trigger"]) for r in tcp[:2]] == [
        ("CLOSED", "SYN_SENT", "app_active_open"),
        ("SYN_SENT", "ESTABLISHED", "rcv_synack"),
    ]
    port = tcp[0]["local"].split(":")[1]
    assert tcp[0]["local"] == f"{A}:{port}" and tcp[0]["remote"] == f"{B}:9"
    assert tcp[0]["label"] == f"tcp port {port} (peer {B}:9)"
    assert tcp[-1]["new"] == "CLOSED"
    times = [r["time"] for r in records]  # the stack's (simulated) clock
    assert times == sorted(times) and 0 < times[-1] < 60
    # B's log: the listener (no remote) and its child, which says it was spawned.
    b_tcp = [json.loads(x) for x in (tmp_path / "1.trace.jsonl").read_text().splitlines()]
    listener = [r for r in b_tcp if r["label"] == "tcp port 9 (listener)"]
    assert listener and "remote" not in listener[0] and listener[0]["local"] == f"{B}:9"
    assert any(r["trigger"] == "spawned" for r in b_tcp)


def test_the_log_records_reassembly_and_dns_queries(tmp_path: Path) -> None:
    from pystack.apps.udp_application import UDPApplication

    net = SimNet(2, seed=1, trace=str(tmp_path / "t.jsonl"))
    dns = TinyDnsServer({"www.lab": ["198.18.0.10"]})
    net.b.register_udp_application(dns)
    dns.bind(53)
    resolver = resolver_for_stack(net.a, servers=[B])
    assert net.wait(resolver.resolve("www.lab"), max_time=5).values == ("198.18.0.10",)
    sink = UDPApplication()
    net.b.register_udp_application(sink)
    sink.bind(7)
    sender = UDPApplication()
    net.a.register_udp_application(sender)
    sender.sendto(bytes(4000), (B, 7))  # three fragments: B reassembles
    net.run_until(lambda: sink.data, 2)
    net.close()
    transitions, macs = read_transitions(tmp_path / "t.jsonl")
    dns_query = [t for t in transitions if t.machine == "dns_query www.lab"]
    assert dns_query and dns_query[-1].new == "ANSWERED" and dns_query[0].host == A
    assert any(t.machine.startswith("ipv4_reassembly") and t.host == B for t in transitions)
    assert macs == {A: net.a.mac, B: net.b.mac}


def test_without_trace_the_observer_is_the_users_own(tmp_path: Path) -> None:
    seen: list[str] = []

    def observer(obj: Any, old: str, trigger: str, new: str) -> None:
        seen.append(new)

    plain = SimNet(2, seed=1, observer=observer)
    assert plain.a.ethernet._context().observer is observer  # no wrapper, no extra call
    traced = SimNet(2, seed=1, observer=observer, pcap_dir=str(tmp_path), trace=True)
    traced.wait(traced.a.ping_deferred(B))
    traced.a.set_observer(None)  # the user's observer goes; the log stays
    traced.a.ping_deferred("198.18.0.9", timeout=5).addErrback(lambda failure: None)
    traced.advance(10)  # ARP gives up on .9
    traced.close()
    log = (tmp_path / "0.trace.jsonl").read_text()
    assert "REACHABLE" in seen and "198.18.0.9" not in "".join(seen)
    assert '"label":"arp 198.18.0.9"' in log and '"new":"FAILED"' in log


def test_trace_arguments_are_checked() -> None:
    from twisted.internet.task import Clock

    from pystack.links.memory import MemoryWire

    wire = MemoryWire(Clock())
    with pytest.raises(ValueError, match="give pcap= too"):
        PyStack(link=wire.attach(), ip="198.18.0.1/24", clock=Clock(), trace=True)
    with pytest.raises(TypeError, match="trace= takes"):
        PyStack(link=wire.attach(), ip="198.18.0.1/24", clock=Clock(), trace=3)


# ------------------------------------------------------------------ reading captures


@given(st.lists(st.tuples(st.integers(0, 2**31), st.binary(min_size=14, max_size=200))))
def test_read_pcap_gives_back_what_the_writer_wrote(records: list[tuple[int, bytes]]) -> None:
    import tempfile

    class At:
        now = 0.0

        def seconds(self) -> float:
            return self.now

    clock = At()
    with tempfile.TemporaryDirectory() as tmp:
        writer = PcapWriter(f"{tmp}/x.pcap", clock)
        for usec, frame in records:
            clock.now = usec / 1e6
            writer.write(frame)
        writer.close()
        got = read_pcap(f"{tmp}/x.pcap")
    assert [frame for _, frame in got] == [frame for _, frame in records]
    assert [round(t * 1e6) for t, _ in got] == [usec for usec, _ in records]


def test_read_pcap_refuses_what_is_not_an_ethernet_capture(tmp_path: Path) -> None:
    (tmp_path / "x.pcap").write_bytes(b"not a capture at all, nothing like one")
    with pytest.raises(ValueError, match="not a pcap file"):
        read_pcap(str(tmp_path / "x.pcap"))
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # raw IP
    (tmp_path / "raw.pcap").write_bytes(header)
    with pytest.raises(ValueError, match="only Ethernet"):
        read_pcap(str(tmp_path / "raw.pcap"))


# ------------------------------------------------------------------ labels


def seg(sport: int, dport: int, seq: int, ack: int, flags: int, **kw: Any) -> tcpwire.TcpSegment:
    return tcpwire.TcpSegment(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, flags,
                              kw.pop("window", 1000), **kw)  # fmt: skip


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
       st.lists(st.integers(1, 1460), max_size=8))  # fmt: skip
def test_seq_and_ack_are_relative_to_each_sides_isn(
    isn_a: int, isn_b: int, lengths: list[int]
) -> None:
    d = Decoder()
    S, SA, AK = tcpwire.SYN, tcpwire.SYN | tcpwire.ACK, tcpwire.ACK
    assert d.tcp(0, A, B, seg(1, 2, isn_a, 0, S)).lines[1].startswith("Seq=0 Win=")
    assert "Seq=0 Ack=1 " in d.tcp(0, B, A, seg(2, 1, isn_b, isn_a + 1, SA)).lines[1]
    sent = 1
    for n in lengths:
        line = d.tcp(0, A, B, seg(1, 2, isn_a + sent, isn_b + 1, AK, payload=bytes(n))).lines[1]
        assert line.startswith(f"Seq={sent} Ack=1 ") and line.endswith(f"Len={n}")
        sent += n
        back = d.tcp(0, B, A, seg(2, 1, isn_b + 1, isn_a + sent, AK)).lines[1]
        assert back.startswith(f"Seq=1 Ack={sent} ")


def test_flags_window_scaling_and_options_are_labelled() -> None:
    d = Decoder()
    syn = seg(1, 2, 100, 0, tcpwire.SYN, window=65535,
              options=(Mss(1460), SackPermitted(), Timestamp(7, 0), WindowScale(7)))  # fmt: skip
    assert d.tcp(0, A, B, syn).lines == (
        "[SYN] 1 → 2", "Seq=0 Win=65535 Len=0", "MSS=1460 SACK_PERM TSval=7 TSecr=0 WS=128",
    )  # fmt: skip
    synack = seg(2, 1, 500, 101, tcpwire.SYN | tcpwire.ACK, window=65535,
                 options=(WindowScale(2),))  # fmt: skip
    assert d.tcp(0, B, A, synack).lines[:2] == ("[SYN, ACK] 2 → 1", "Seq=0 Ack=1 Win=65535 Len=0")
    # After the handshake the window is scaled by the sender's own shift (RFC 7323 §2.2);
    # SACK blocks are relative to the other side's ISN, like the ack.
    ack = seg(2, 1, 501, 101, tcpwire.ACK | tcpwire.PSH | tcpwire.FIN, window=100,
              options=(Sack(((1101, 2101),)),))  # fmt: skip
    assert d.tcp(0, B, A, ack).lines == (
        "[FIN, PSH, ACK] 2 → 1", "Seq=1 Ack=1 Win=400 Len=0", "SACK 1001-2001",
    )  # fmt: skip


def test_arp_icmp_udp_and_fragments_are_labelled() -> None:
    d = Decoder()
    from pystack.wire import arp, ethernet, icmp, ipv4, udp

    def eth(dst: str, ethertype: int, payload: bytes) -> bytes:
        return ethernet.emit(ethernet.EthernetFrame(dst, "02:00:00:00:00:01", ethertype, payload))

    who = arp.emit(arp.ArpPacket(arp.OP_REQUEST, "02:00:00:00:00:01", A, "00:00:00:00:00:00", B))
    f = d.ethernet(0, eth(ethernet.BROADCAST, ethernet.ETHERTYPE_ARP, who))
    assert (f.src, f.dst, f.kind, f.broadcast) == (A, B, "arp", True)
    assert f.lines == (f"ARP who-has {B}? tell {A}",)
    echo = icmp.emit(icmp.echo_request(5, 1, b"abc"))
    f = d.ipv4(0, ipv4.emit(ipv4.Ipv4Packet(A, B, ipv4.PROTO_ICMP, echo)))
    assert f.lines == ("ICMP echo request id=5 seq=1 len=3",) and f.kind == "icmp"
    dgram = udp.emit(udp.UdpDatagram(5000, 7, b"hi"), B, A)
    err = icmp.emit(icmp.dest_unreachable(3, icmp.quote(ipv4.emit(
        ipv4.Ipv4Packet(A, B, ipv4.PROTO_UDP, dgram)))))  # fmt: skip
    f = d.ipv4(0, ipv4.emit(ipv4.Ipv4Packet(B, A, ipv4.PROTO_ICMP, err)))
    assert f.lines == ("ICMP destination unreachable (port)", f"about UDP {A} → {B}")
    f = d.ipv4(0, ipv4.emit(ipv4.Ipv4Packet(A, B, ipv4.PROTO_UDP, dgram)))
    assert f.lines == ("UDP 5000 → 7 Len=2",) and f.kind == "udp"
    frag = ipv4.Ipv4Packet(A, B, ipv4.PROTO_UDP, bytes(16), ident=9, frag_offset=1480)
    assert d.ipv4(0, ipv4.emit(frag)).lines == ("IPv4 fragment id=9 off=1480 len=16",)
    # Garbage is a labelled arrow, never an exception.
    assert "malformed" in d.ethernet(0, b"\x00" * 5).lines[0]
    assert (
        "malformed IPv4"
        in d.ethernet(0, eth("02:00:00:00:00:02", ethernet.ETHERTYPE_IPV4, b"\x45")).lines[0]
    )


# ------------------------------------------------------------------ the picture


def parse_svg(text: str) -> ElementTree.Element:
    root = ElementTree.fromstring(text)
    assert root.tag == f"{SVG}svg"
    return root


def texts(element: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{SVG}text")]


def lane_x(root: ElementTree.Element) -> dict[str, float]:
    lanes = root.findall(f"{SVG}g[@class='lane']")
    return {g.get("data-host", ""): float(g.find(f"{SVG}line").get("x1")) for g in lanes}  # type: ignore[union-attr]


def test_svg_has_a_lane_per_host_an_arrow_per_frame_and_the_transitions(
    traced: tuple[Path, Path],
) -> None:
    pcap, log = traced
    frames, macs = frames_from_pcap(str(pcap))
    transitions, _ = read_transitions(log)
    root = parse_svg(render_ladder(frames, transitions, macs=macs))
    xs = lane_x(root)
    assert set(xs) == {A, B}
    lane_labels = [texts(g) for g in root.findall(f"{SVG}g[@class='lane']")]
    assert sorted(lane_labels) == sorted([[A, macs[A]], [B, macs[B]]])
    arrows = root.findall(f"{SVG}g[@class='frame']")
    assert len(arrows) == len(read_pcap(str(pcap)))
    tcp = [a for a in arrows if a.get("data-kind") == "tcp"]
    first = [texts(a) for a in tcp[:3]]
    assert first[0][0].startswith("[SYN] ") and first[0][1].startswith("Seq=0 Win=")
    assert "MSS=1460" in first[0][2]
    assert first[1][0].startswith("[SYN, ACK] 9 → ") and first[1][1].startswith("Seq=0 Ack=1 ")
    assert first[2][0] == f"[ACK] {first[0][0].split()[1]} → 9"
    assert first[2][1].startswith("Seq=1 Ack=1 ")
    assert [(a.get("data-src"), a.get("data-dst")) for a in tcp[:3]] == [(A, B), (B, A), (A, B)]
    # Each arrow runs from its sender's lane to its receiver's.
    line = tcp[1].find(f"{SVG}line")
    assert line is not None and float(line.get("x1", 0)) == xs[B]
    boxes = root.findall(f"{SVG}g[@class='transition']")
    assert len(boxes) == len(transitions)
    for box in boxes:
        rect = box.find(f"{SVG}rect")
        assert rect is not None
        centre = float(rect.get("x", 0)) + float(rect.get("width", 0)) / 2
        assert abs(centre - xs[box.get("data-host", "")]) < 0.2
    established = [b for b in boxes if "SYN_SENT -> ESTABLISHED (rcv_synack)" in texts(b)]
    assert len(established) == 1 and established[0].get("data-host") == A
    spawned = [b for b in boxes if any("CLOSED -> LISTEN (spawned)" in t for t in texts(b))]
    assert spawned and spawned[0].get("data-host") == B


def test_transitions_sit_between_the_frames_around_them(traced: tuple[Path, Path]) -> None:
    pcap, log = traced
    frames, _ = frames_from_pcap(str(pcap))
    root = parse_svg(render_ladder(frames, read_transitions(log)[0]))
    order = []
    for g in root.iter(f"{SVG}g"):
        words = texts(g)
        if g.get("class") == "frame" and words[0].startswith("[SYN"):
            order.append(words[0].split()[0])
        elif g.get("class") == "transition" and g.get("data-host") == A and "tcp" in words[0]:
            order.append(words[1])
    assert order[:4] == [
        "CLOSED -> SYN_SENT (app_active_open)", "[SYN]", "[SYN,",
        "SYN_SENT -> ESTABLISHED (rcv_synack)",
    ]  # fmt: skip


def test_long_captures_are_cut_with_a_note() -> None:
    frames = [Frame(i * 0.001, A, B, (f"f{i}",), "udp") for i in range(30)]
    late = Transition(1.0, B, "arp x", "A", "B", "t")
    root = parse_svg(render_ladder(frames, [late], max_frames=10))
    assert len(root.findall(f"{SVG}g[@class='frame']")) == 10
    assert not root.findall(f"{SVG}g[@class='transition']")
    assert any(t.startswith("... 20 more frames and 1 transitions not drawn") for t in texts(root))


def test_svg_renders_to_a_picture(
    traced: tuple[Path, Path], tmp_path: Path, require_tool: Callable[[str, str], str]
) -> None:
    rsvg = require_tool("rsvg-convert", "librsvg2-bin")
    pcap, log = traced
    frames, macs = frames_from_pcap(str(pcap))
    svg = tmp_path / "l.svg"
    svg.write_text(render_ladder(frames, read_transitions(log)[0], macs=macs))
    done = subprocess.run([rsvg, "-o", str(tmp_path / "l.png"), str(svg)], capture_output=True)
    assert done.returncode == 0, done.stderr
    width, height, bpp, rows = png_rows((tmp_path / "l.png").read_bytes())
    assert width > 600 and height > 30 * len(frames)
    assert dark_pixels(rows, bpp) > width * height // 300


def dark_pixels(rows: list[bytes], step: int) -> int:
    return sum(1 for row in rows for i in range(0, len(row), step) if max(row[i : i + 3]) < 96)


def png_rows(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and unfiltered rows of an 8-bit RGB or RGBA PNG."""
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        header, idat = (
            (body if kind == b"IHDR" else header),
            idat + (body if kind == b"IDAT" else b""),
        )
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a, b, c = line[i - bpp] if i >= bpp else 0, prev[i], prev[i - bpp] if i >= bpp else 0
            p = a + b - c
            paeth = (
                a
                if abs(p - a) <= min(abs(p - b), abs(p - c))
                else b
                if abs(p - b) <= abs(p - c)
                else c
            )
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_html_is_self_contained(traced: tuple[Path, Path]) -> None:
    pcap, log = traced
    frames, macs = frames_from_pcap(str(pcap))
    page = render_ladder_html(frames, read_transitions(log)[0], macs=macs, title="a <b> run")
    assert "http://" not in page and "https://" not in page
    assert " src=" not in page and " href=" not in page and "@import" not in page
    assert "<svg " in page and "<style>" in page and "a &lt;b&gt; run" in page


@pytest.mark.needs_tool("chromium", "chromium")
def test_html_renders_in_a_headless_browser(traced: tuple[Path, Path], tmp_path: Path) -> None:
    pcap, log = traced
    frames, macs = frames_from_pcap(str(pcap))
    page = tmp_path / "l.html"
    page.write_text(render_ladder_html(frames, read_transitions(log)[0], macs=macs))
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,800", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    width, height, bpp, rows = png_rows(shot.read_bytes())
    assert (width, height) == (1200, 800)
    # Text and arrows: dark pixels; the protocols' colours: many distinct colours.
    assert dark_pixels(rows, bpp) > width * height // 400
    colours = {row[i : i + 3] for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    assert len(colours) > 20


# ------------------------------------------------------------------ the command and the demo


def test_pystack_trace_writes_svg_and_html_beside_the_capture(
    traced: tuple[Path, Path], tmp_path: Path, capsys: Any
) -> None:
    pcap, log = traced
    beside = pcap.with_name("a.trace.jsonl")
    log.rename(beside)  # found without --log
    assert main(["trace", str(pcap)]) == 0
    out = capsys.readouterr().out
    svg, html = pcap.with_name("a-ladder.svg"), pcap.with_name("a-ladder.html")
    assert f"transitions from {beside}" in out and str(svg) in out and str(html) in out
    root = parse_svg(svg.read_text())
    assert len(root.findall(f"{SVG}g[@class='transition']")) > 5
    assert "SYN_SENT -&gt; ESTABLISHED (rcv_synack)" in html.read_text()
    assert main(["trace", str(pcap), "--max-frames", "4", "-o", str(tmp_path / "x.svg")]) == 0
    short = parse_svg((tmp_path / "x.svg").read_text())
    assert len(short.findall(f"{SVG}g[@class='frame']")) == 4
    assert main(["trace", str(pcap), "--log", str(beside), "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "a-ladder.html").is_file()


def test_pystack_trace_errors_are_one_line(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "bad.pcap").write_bytes(b"nothing")
    assert main(["trace", str(tmp_path / "bad.pcap")]) == 1
    assert "pystack trace: error:" in capsys.readouterr().err
    assert main(["trace", str(tmp_path / "missing.pcap")]) == 1
    assert "missing.pcap" in capsys.readouterr().err
    assert main(["trace", str(tmp_path / "bad.pcap"), "-o", str(tmp_path / "x.png")]) == 1


def test_the_demo_writes_and_names_its_ladder(tmp_path: Path, capsys: Any) -> None:
    pcap = tmp_path / "demo.pcap"
    assert main(["demo", "--quiet", "--pcap", str(pcap)]) == 0
    last = capsys.readouterr().out.splitlines()[-2:]
    svg, html = tmp_path / "demo-ladder.svg", tmp_path / "demo-ladder.html"
    assert last[0] == f"wrote the run as a ladder: {svg} and {html} (open it in a browser)"
    assert f"pystack trace {pcap}" in last[1]
    root = parse_svg(svg.read_text())
    assert set(lane_x(root)) == {A, B}
    kinds = {g.get("data-kind") for g in root.findall(f"{SVG}g[@class='frame']")}
    assert kinds == {"arp", "icmp", "udp", "ip", "tcp"}
    boxes = [texts(g)[1] for g in root.findall(f"{SVG}g[@class='transition']")]
    assert "TIME_WAIT -> CLOSED (timeout_2msl)" in boxes
    assert "COLLECTING -> COMPLETE (last_byte_covered)" in boxes


# ------------------------------------------------------------------ any input


@given(st.binary(max_size=120), st.integers(0, 255), st.binary(max_size=80))
def test_any_frame_becomes_an_arrow_never_an_exception(
    raw: bytes, proto: int, payload: bytes
) -> None:
    from pystack.wire import ethernet, ipv4

    d = Decoder()
    assert d.ethernet(0.0, raw).lines
    for flags, offset in ((0, 0), (ipv4.FLAG_MF, 0), (0, 8)):
        pkt = ipv4.Ipv4Packet(A, B, proto, payload, flags=flags, frag_offset=offset)
        frame = ethernet.EthernetFrame("02:00:00:00:00:02", "02:00:00:00:00:01",
                                       ethernet.ETHERTYPE_IPV4, ipv4.emit(pkt))  # fmt: skip
        arrow = d.ethernet(0.0, ethernet.emit(frame))
        assert (arrow.src, arrow.dst) == (A, B) and arrow.lines


label = st.text(max_size=30)
hosts = st.sampled_from([A, B, "198.18.0.3"])


@given(
    st.lists(st.builds(Frame, st.floats(0, 100), hosts, hosts, st.lists(label, min_size=1,
             max_size=3).map(tuple), st.sampled_from(["tcp", "udp", "x"]), st.booleans()),
             max_size=12),
    st.lists(st.builds(Transition, st.floats(0, 100), hosts, label, label, label, label),
             max_size=8),
    st.integers(1, 20),
)  # fmt: skip
def test_any_records_make_well_formed_svg_and_html(
    frames: list[Frame], transitions: list[Transition], max_frames: int
) -> None:
    root = parse_svg(render_ladder(frames, transitions, title="\x00<t>", max_frames=max_frames))
    assert len(root.findall(f"{SVG}g[@class='frame']")) == min(len(frames), max_frames)
    drawn = {g.get("data-host") for g in root.findall(f"{SVG}g[@class='lane']")}
    assert {f.src for f in frames[:max_frames]} <= drawn or len(frames) > max_frames
    page = render_ladder_html(frames, transitions, title="\x00<t>", max_frames=max_frames)
    assert "http://" not in page and "<t>" not in page
