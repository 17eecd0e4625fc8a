"""The engine on the real TCP session: a TCP Fast Open-style extension of TCPSession."""

from __future__ import annotations

from typing import Any

from pystack.tcp.session import TCPSession

TFO = {
    "machine": {"name": "tcp_fastopen"},
    "transitions": [
        {
            "trigger": "rcv_syn",
            "source": "LISTEN",
            "dest": "SYN_RECEIVED",
            "conditions": ["valid_tfo_cookie"],
            "hooks": ["choose_isn", "send_synack", "accept_syn_data"],
            "prepend": True,
            "doc": "A SYN with a valid Fast Open cookie: its data is accepted at once.",
            "rfc": "RFC 7413 §4.2.2",
            "extension": True,
            "reason": "TCP Fast Open is an experimental extension.",
        }
    ],
    "hooks": {
        "valid_tfo_cookie": "Condition (rcv_syn): the SYN carries a valid Fast Open cookie.",
        "accept_syn_data": "Hook (rcv_syn): deliver the SYN's data at once.",
    },
}


class FastOpenSession(TCPSession, extend=TFO):
    def valid_tfo_cookie(self, **kw: Any) -> bool:
        return False

    def accept_syn_data(self, **kw: Any) -> None:
        pass


def test_extension_of_tcp_session_gets_its_own_machine_with_the_cookie_edge_first() -> None:
    assert FastOpenSession.fsm is not TCPSession.fsm
    assert FastOpenSession.fsm.machine is not TCPSession.fsm.machine
    edges = FastOpenSession.fsm.table["rcv_syn"]["LISTEN"]
    assert [e.checks for e in edges] == [
        (("valid_tfo_cookie", True),),
        (("accept_connection", True),),
    ]
    assert "accept_syn_data" in edges[0].hooks
    assert TCPSession.fsm.spec.edges() <= FastOpenSession.fsm.spec.edges()
    assert "valid_tfo_cookie" not in TCPSession.fsm.spec.conditions
