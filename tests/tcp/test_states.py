"""pystack.tcp.states: the TCP states and groups named from tcp.toml, checked at import."""

from __future__ import annotations

import dataclasses
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given

from pystack import fsm
from pystack.tcp.states import SPEC, TCP, S, TcpGroups

STATES = sorted(SPEC.states)


def test_every_declared_state_has_its_constant_and_nothing_else() -> None:
    for name in SPEC.states:
        assert getattr(TCP, name) == name
    assert {k for k in vars(TCP) if k.isupper()} == set(SPEC.states)


def test_every_declared_group_is_in_s_with_the_declared_members() -> None:
    assert {f.name for f in dataclasses.fields(TcpGroups)} == set(SPEC.groups)
    for name, group in SPEC.groups.items():
        assert getattr(S, name) == group.states == frozenset(group.order)
        assert group.doc and group.rfc.startswith("RFC")
    assert TCP.groups is S


def test_the_groups_say_what_the_rfc_says() -> None:
    # RFC 9293 §3.5.2, §3.10.7.4: the synchronized states.
    assert S.synchronized == {
        "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK",
        "TIME_WAIT",
    }  # fmt: skip
    assert S.may_send == {"SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT"}  # §3.10.2
    assert S.may_receive < S.synchronized and S.handshaking.isdisjoint(S.synchronized)


def _constants(names: list[str], wrong: str | None = None) -> type:
    body: dict[str, Any] = {n: n for n in names}
    if wrong is not None:
        body[wrong] = wrong.lower()
    return type("Constants", (), body)


@given(st.sets(st.sampled_from(STATES), min_size=1).map(sorted))
def test_constants_that_miss_a_state_are_rejected(dropped: list[str]) -> None:
    kept = [s for s in STATES if s not in dropped]
    with pytest.raises(fsm.SpecError, match="missing"):
        fsm.bind_states(SPEC, _constants(kept))


@given(st.sampled_from(STATES))
def test_a_constant_whose_value_differs_from_its_name_is_rejected(name: str) -> None:
    with pytest.raises(fsm.SpecError, match=rf"value differs from the name \['{name}'\]"):
        fsm.bind_states(SPEC, _constants(STATES, wrong=name))


def test_a_constant_the_toml_does_not_declare_is_rejected() -> None:
    with pytest.raises(fsm.SpecError, match=r"not declared \['SYN_SENT_2'\]"):
        fsm.bind_states(SPEC, _constants([*STATES, "SYN_SENT_2"]))
    fsm.bind_states(SPEC, _constants(STATES))  # the exact set passes


def test_group_fields_must_match_the_declared_groups() -> None:
    @dataclasses.dataclass(frozen=True)
    class Fewer:
        synchronized: frozenset[str]

    with pytest.raises(fsm.SpecError, match="differ from the declared groups"):
        fsm.bind_groups(SPEC, Fewer)
