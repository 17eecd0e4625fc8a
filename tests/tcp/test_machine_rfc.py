"""tcp.toml's edges are exactly RFC 9293 Figure 5 plus the documented extensions."""

from __future__ import annotations

from pystack.fsm import load_spec
from pystack.tcp.session import TCPSession

SYNC = ["ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT"]

FIGURE_5 = {
    ("CLOSED", "app_passive_open", "LISTEN"),
    ("CLOSED", "app_active_open", "SYN_SENT"),
    ("LISTEN", "rcv_syn", "SYN_RECEIVED"),
    ("LISTEN", "app_send", "SYN_SENT"),
    ("LISTEN", "app_close", "CLOSED"),
    ("SYN_SENT", "app_close", "CLOSED"),
    ("SYN_SENT", "rcv_syn", "SYN_RECEIVED"),
    ("SYN_SENT", "rcv_synack", "ESTABLISHED"),
    ("SYN_RECEIVED", "rcv_ack_of_syn", "ESTABLISHED"),
    ("SYN_RECEIVED", "rcv_rst", "LISTEN"),
    ("SYN_RECEIVED", "app_close", "FIN_WAIT_1"),
    ("ESTABLISHED", "app_close", "FIN_WAIT_1"),
    ("ESTABLISHED", "rcv_fin", "CLOSE_WAIT"),
    ("FIN_WAIT_1", "rcv_ack_of_fin", "FIN_WAIT_2"),
    ("FIN_WAIT_1", "rcv_fin", "CLOSING"),
    ("FIN_WAIT_2", "rcv_fin", "TIME_WAIT"),
    ("CLOSING", "rcv_ack_of_fin", "TIME_WAIT"),
    ("CLOSE_WAIT", "app_close", "LAST_ACK"),
    ("LAST_ACK", "rcv_ack_of_fin", "CLOSED"),
    ("TIME_WAIT", "timeout_2msl", "CLOSED"),
}

# Figure 5's "RST in SYN-RECEIVED of a passive open: back to LISTEN" (RFC 9293 §3.10.7.4):
# a listener spawns one child per SYN and never leaves LISTEN, so the child is what the
# RST ends. The machine declares that as the child's spawn and discard, not as the edge.
REPLACED = {("SYN_RECEIVED", "rcv_rst", "LISTEN")}
SPAWN_AND_DISCARD = {("CLOSED", "spawned", "LISTEN"), ("SYN_RECEIVED", "rcv_rst", "CLOSED")}

EXTENSIONS = (
    {(s, "rcv_rst", "CLOSED") for s in ["SYN_SENT", "SYN_RECEIVED", *SYNC]}
    | {(s, "rcv_rst", "CLOSED") for s in ["CLOSING", "LAST_ACK", "TIME_WAIT"]}
    | {
        (s, "app_abort", "CLOSED")
        for s in ["LISTEN", "SYN_SENT", "SYN_RECEIVED", *SYNC, "CLOSING", "LAST_ACK", "TIME_WAIT"]
    }
    | {
        (s, "timeout_user", "CLOSED")
        for s in ["SYN_SENT", "SYN_RECEIVED", *SYNC, "CLOSING", "LAST_ACK"]
    }
    | {("SYN_SENT", "rcv_hard_error", "CLOSED"), ("TIME_WAIT", "rcv_fin", "TIME_WAIT")}
    | {("TIME_WAIT", "rcv_syn_reopen", "CLOSED")}  # RFC 1122 §4.2.2.13, RFC 6191
    | {("TIME_WAIT", "time_wait_handoff", "CLOSED")}  # the TCP layer's compact record ...
    | {("CLOSED", "revive_time_wait", "TIME_WAIT")}  # ... and a session rebuilt from it
    | SPAWN_AND_DISCARD
    # RFC 4987 §3.6: SYN cookies, sent by a listener and taken back by its child.
    | {("LISTEN", "rcv_syn_stateless", "LISTEN"), ("LISTEN", "rcv_cookie_ack", "ESTABLISHED")}
    # RFC 9293 §3.6.1 SHLD-3, RFC 1122 §4.2.2.13: a close with unread data, or data after it.
    | {(s, "app_close", "CLOSED") for s in [*SYNC, "CLOSING", "LAST_ACK"]}
    | {(s, "rcv_data_after_close", "CLOSED") for s in ["FIN_WAIT_1", "FIN_WAIT_2"]}
)


def test_edges_are_figure_5_plus_documented_extensions() -> None:
    spec = load_spec("tcp")
    assert spec.edges() == (FIGURE_5 - REPLACED) | EXTENSIONS
    assert REPLACED <= FIGURE_5 and not REPLACED & spec.edges()


def test_passive_rst_discards_the_child_and_active_rst_refuses() -> None:
    spec = load_spec("tcp")
    rst = [t for t in spec.transitions if t.trigger == "rcv_rst" and t.source == ("SYN_RECEIVED",)]
    assert [(t.conditions, t.unless, t.dest) for t in rst] == [
        ((), ("is_passive_child",), "CLOSED"),
        (("is_passive_child",), (), "CLOSED"),
    ]
    assert "§3.10.7.4" in rst[1].rfc and "LISTEN" in rst[1].reason
    (spawn,) = [t for t in spec.transitions if t.trigger == "spawned"]
    assert spawn.conditions == ("is_passive_child",) and spawn.source == ("CLOSED",)


def test_every_extension_is_marked_with_a_reason() -> None:
    spec = load_spec("tcp")
    for t in spec.transitions:
        for src, _dst in spec.expand(t):
            edge = (src, t.trigger, t.dest if t.dest != "=" else src)
            assert (edge in EXTENSIONS) == t.extension, edge
            if t.extension:
                assert t.reason


def test_eleven_states_and_closed() -> None:
    assert set(load_spec("tcp").states) == {
        "CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
        "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT",
    }  # fmt: skip


def test_abort_sends_rst_only_where_rfc_9293_3_10_5_says() -> None:
    spec = load_spec("tcp")
    rst_from = {
        src
        for t in spec.transitions
        if t.trigger == "app_abort" and "send_rst" in t.hooks
        for src, _ in spec.expand(t)
    }
    assert rst_from == {"SYN_RECEIVED", *SYNC}


def test_session_class_uses_the_machine() -> None:
    assert TCPSession.fsm.spec.name == "tcp"


def test_close_with_unread_data_resets_instead_of_sending_fin() -> None:
    spec = load_spec("tcp")
    resets, fins = set(), set()
    for t in spec.transitions:
        if t.trigger == "app_close" and "unread_data" in t.conditions:
            assert list(t.hooks) == ["send_rst"] and t.dest == "CLOSED"
            resets |= {src for src, _ in spec.expand(t)}
        elif t.trigger == "app_close" and "unread_data" in t.unless:
            fins |= {src for src, _ in spec.expand(t)}
    # Where data can wait unread, CLOSE resets with it and sends FIN only without it.
    assert resets == {*SYNC, "CLOSING", "LAST_ACK"}
    assert fins == {"ESTABLISHED", "CLOSE_WAIT"}


def test_the_declared_pipeline_is_the_one_the_session_runs() -> None:
    # RFC 9293 §3.10.7.4's order of checks, declared in tcp.toml and documented in [hooks].
    spec = load_spec("tcp")
    assert tuple(TCPSession.PIPELINE) == spec.pipeline
    assert all(spec.hook_docs[name] for name in spec.pipeline)
