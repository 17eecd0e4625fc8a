"""Each named conformance property catches a class that breaks what it checks, and passes
TCPSession on the same examples: the suite's properties are not vacuous."""

from __future__ import annotations

import pytest
from helpers import conformance_broken as broken

from pystack.layers.tcp_session import TCPSession
from pystack.testing.conformance import PROPERTIES, run_property

CAUGHT = [
    ("open.active_sends_syn", broken.SynWithoutOptions),
    ("send.data_within_window_in_order", broken.IgnoresPeerWindow),
    ("receive.window_update_when_app_reads", broken.NoWindowUpdate),
    ("close.fin_after_queued_data", broken.CloseResets),
    ("abort.synchronized_sends_rst", broken.SilentAbort),
    ("abort.unsynchronized_sends_nothing", broken.ResetsOnAbortAnywhere),
    ("status.snapshot_reports_tcb", broken.StatusLies),
    ("segment_arrives.rst_outside_window_ignored", broken.RstAnswersRst),
    ("timeout.retransmission_backs_off", broken.NoBackoff),
    ("timeout.time_wait_lasts_2msl", broken.ShortTimeWait),
    ("timeout.user_timeout_gives_up", broken.NeverGivesUp),
]


@pytest.mark.parametrize(("name", "cls"), CAUGHT, ids=[name for name, _ in CAUGHT])
def test_the_property_catches_a_class_that_breaks_it(name: str, cls: type[TCPSession]) -> None:
    prop = PROPERTIES[name]
    assert run_property(prop, TCPSession, examples=20, seed=4).status == "passed"
    result = run_property(prop, cls, examples=20, seed=4)
    assert result.status == "failed", name
    assert result.message.startswith("expected: ") or " answered " in result.message
    assert result.trace is not None and result.trace.events  # the counterexample's ladder


def test_every_property_has_a_name_an_rfc_section_and_a_sentence() -> None:
    areas = {"open", "send", "receive", "close", "abort", "status", "segment_arrives",
             "timeout", "connection"}  # fmt: skip
    assert {name.split(".")[0] for name in PROPERTIES} == areas
    for name, prop in PROPERTIES.items():
        assert prop.name == name and "RFC" in prop.section and len(prop.checks) > 20
