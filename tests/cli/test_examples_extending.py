"""The three worked extensions of docs/extending.md: each example does what the guide says,
its machine renders and passes the conformance suite, and examples use only public names.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_examples import EXAMPLES, load

from pystack.fsm import SpecError
from pystack.sim import SimNet
from pystack.tcp.session import TCPSession
from pystack.testing.harness import TcpHarness
from pystack.wire import tcp as tcpwire
from pystack.wire.tcp_options import NOP, SackPermitted, UnknownOption

pytestmark = pytest.mark.timeout(300)
BIN = Path(sys.executable).parent


def pystack_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pystack ARGS`` with the examples importable, as docs/extending.md runs it."""
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES)}
    return subprocess.run([str(BIN / "pystack"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=280)  # fmt: skip


# ------------------------------------------------------------------- 1. change a value


def test_custom_isn_answers_every_syn_with_iss_5555() -> None:
    example = load("custom_isn")
    with SimNet(2) as net:
        net.b.tcp.session_class = example.FixedIsnSession
        client, _ = net.connect_tcp(9)
        assert client.session.irs == 5555
    with SimNet(2) as net:  # a stack left alone picks its ISS as RFC 6528 says
        client, _ = net.connect_tcp(9)
        assert client.session.irs != 5555


# --------------------------------------------------------------- 2. add a transition


def test_hello_is_on_the_wire_and_negotiated_on_both_ends() -> None:
    example = load("syn_hello")
    seen = example.handshake(example.HelloSession, example.HelloSession)
    assert seen == {"syn_has_hello": True, "synack_has_hello": True,
                    "client_negotiated": True, "server_negotiated": True,
                    "data": b"hello?"}  # fmt: skip


@pytest.mark.parametrize("hello_end", ["client", "server"])
def test_a_plain_peer_ignores_hello_and_the_connection_works(hello_end: str) -> None:
    example = load("syn_hello")
    hello, plain = example.HelloSession, TCPSession
    client, server = (hello, plain) if hello_end == "client" else (plain, hello)
    seen = example.handshake(client, server)
    assert seen == {"syn_has_hello": hello_end == "client", "synack_has_hello": False,
                    "client_negotiated": False, "server_negotiated": False,
                    "data": b"hello?"}  # fmt: skip


def test_hello_option_is_an_rfc6994_experimental_option() -> None:
    example = load("syn_hello")
    assert UnknownOption(253, b"\x48\x45") == example.HELLO
    assert example.HELLO.to_bytes() == b"\xfd\x04\x48\x45"


def test_hello_session_has_its_own_machine_with_the_new_edges_first() -> None:
    example = load("syn_hello")
    spec, base = example.HelloSession.fsm.spec, TCPSession.fsm.spec
    assert spec is not base and spec.name == "tcp_hellosession"
    first = spec.transitions[:2]
    assert [(t.trigger, t.conditions) for t in first] == [
        ("rcv_syn", ("accept_connection", "peer_sent_hello")),
        ("rcv_synack", ("peer_sent_hello",)),
    ]
    assert spec.transitions[2:] == base.transitions  # the base table is untouched


def test_an_extension_naming_a_missing_hook_is_rejected() -> None:
    example = load("syn_hello")
    import tomllib

    broken = tomllib.loads(example.HELLO_MACHINE.replace("accept_hello", "greet"))
    with pytest.raises(SpecError, match="greet"):
        type("Broken", (TCPSession,), {"peer_sent_hello": example.HelloSession.peer_sent_hello},
             extend=broken)  # fmt: skip


HELLO_EXAMPLE = load("syn_hello")
# Options a peer may put on its SYN or SYN,ACK around (or instead of) hello: other
# experiments sharing kinds 253/254 (another ExID, or a hello ExID under kind 254),
# SACK-permitted, NOPs. At most 5 of 6 bytes each: they fit with the MSS option.
OTHER_OPTIONS = st.one_of(
    st.builds(UnknownOption, st.sampled_from([253, 254]), st.binary(min_size=2, max_size=4)).filter(
        lambda opt: opt != HELLO_EXAMPLE.HELLO
    ),
    st.just(SackPermitted()),
    st.just(NOP),
)


@given(
    others=st.lists(OTHER_OPTIONS, max_size=5),
    hello_at=st.one_of(st.none(), st.integers(0, 5)),
)
def test_a_listener_answers_hello_exactly_when_the_syn_offers_it(
    others: list[object], hello_at: int | None
) -> None:
    options = list(others)
    if hello_at is not None:
        options.insert(min(hello_at, len(options)), HELLO_EXAMPLE.HELLO)
    h = TcpHarness("LISTEN", session_class=HELLO_EXAMPLE.HelloSession)
    h.send("S", seq=1000, mss=1460, options=tuple(options))
    [synack] = h.take()
    assert synack.flags == tcpwire.SYN | tcpwire.ACK and h.session.state == "SYN_RECEIVED"
    offered = hello_at is not None
    assert h.session.hello_negotiated is offered
    assert (HELLO_EXAMPLE.HELLO in synack.options) is offered


@given(
    others=st.lists(OTHER_OPTIONS, max_size=5),
    hello_at=st.one_of(st.none(), st.integers(0, 5)),
)
def test_a_client_records_hello_exactly_when_the_synack_answers_it(
    others: list[object], hello_at: int | None
) -> None:
    options = list(others)
    if hello_at is not None:
        options.insert(min(hello_at, len(options)), HELLO_EXAMPLE.HELLO)
    h = TcpHarness("SYN_SENT", session_class=HELLO_EXAMPLE.HelloSession)
    h.send("S.", seq=h.irs, ack=h.iss + 1, mss=1460, options=tuple(options))
    assert h.session.state == "ESTABLISHED"
    assert h.session.hello_negotiated is (hello_at is not None)


def test_diagram_of_the_hello_session_shows_the_new_edge(tmp_path: Path) -> None:
    result = pystack_command("diagrams", "--class", "syn_hello:HelloSession", "--out",
                             str(tmp_path), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "tcp_hellosession.svg").read_text()
    assert "peer_sent_hello" in svg and "accept_hello" in svg
    base_svg = (EXAMPLES.parent / "diagrams" / "tcp.svg").read_text()
    assert "peer_sent_hello" not in base_svg


@pytest.mark.slow
def test_conformance_suite_passes_on_the_hello_session(tmp_path: Path) -> None:
    result = pystack_command("conformance", "syn_hello:HelloSession", "--examples", "50",
                             cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 failed" in result.stdout


# ----------------------------------------------------------------- 3. replace a policy


def test_aimd_completes_a_lossy_transfer_and_its_constants_matter() -> None:
    example = load("aimd_congestion")
    results = {  # 1 MB over a wire losing 2% of the frames, 10 ms each way
        "cubic": example.transfer("cubic"),
        "aimd": example.transfer(example.Aimd),
        "reno-like": example.transfer(functools.partial(example.Aimd, decrease=0.5)),
    }
    for result in results.values():
        assert result["seconds"] > 0 and result["retransmitted_bytes"] > 0  # losses repaired
    # The controller is the only difference between the runs (same seed, same wire).
    assert results["aimd"] != results["cubic"]
    assert results["aimd"] != results["reno-like"]


def test_aimd_halves_on_a_third_duplicate_ack_then_grows_one_segment_per_window() -> None:
    example = load("aimd_congestion")
    from pystack.tcp.congestion import Action
    from pystack.wire.seqnum import SeqNum

    cc = example.Aimd(1000, decrease=0.5)
    cc.ssthresh = cc.cwnd  # past slow start
    una, nxt = SeqNum(0), SeqNum(8000)
    assert [cc.on_dupack(una, nxt) for _ in range(3)] == [Action.NONE] * 2 + [Action.RETRANSMIT]
    assert cc.in_recovery and cc.cwnd == cc.ssthresh == 4000
    assert cc.on_ack(nxt, 8000, nxt) is Action.NONE and not cc.in_recovery
    cc.on_ack(nxt + 4000, 4000, nxt + 4000)
    assert cc.cwnd == 5000


def test_aimd_prints_a_line_per_controller(capsys: pytest.CaptureFixture[str]) -> None:
    assert load("aimd_congestion").main(["--bytes", "100000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["cubic", "Aimd()", "Aimd(decrease=0.5)"]
    assert all("bytes retransmitted" in line for line in lines)


# ------------------------------------------------------------- examples: public names


def private_names(tree: ast.AST) -> list[str]:
    """`_name` attributes and imports of pystack names starting with `_` (dunders apart)."""

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and private(node.attr):
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pystack"):
            parts = [*(node.module or "").split("."), *(a.name for a in node.names)]
            found += [f"line {node.lineno}: {p}" for p in parts if private(p)]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: {a.name}"
                for a in node.names
                if a.name.startswith("pystack") and any(map(private, a.name.split(".")))
            ]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") in ("getattr", "setattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and private(node.args[1].value)
        ):
            found.append(f"line {node.lineno}: {node.args[1].value}")
    return found


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_use_only_public_names(path: Path) -> None:
    assert private_names(ast.parse(path.read_text())) == []


def test_the_public_name_check_catches_private_access() -> None:
    code = (
        "from pystack.tcp.session import _x\nimport pystack._socket_state\n"
        "s.layer._sessions\ngetattr(s, '_pipeline')\nprint(__doc__, s.__class__)\n"
    )
    assert private_names(ast.parse(code)) == [
        "line 1: _x", "line 2: pystack._socket_state", "line 3: ._sessions",
        "line 4: _pipeline",
    ]  # fmt: skip
