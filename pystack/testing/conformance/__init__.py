"""The TCP conformance suite, for `TCPSession` and for your own subclasses.

Named properties, one per requirement area (``open.active_sends_syn``,
``segment_arrives.rst_outside_window_ignored``, ``timeout.retransmission_backs_off``, ...):
what each user call of RFC 9293 §3.10.1-§3.10.6 puts on the wire, SEGMENT ARRIVES
(§3.10.7 and RFC 5961) and the timeouts, plus two whole stacks exchanging data over a
wire that drops, duplicates and reorders. ``pystack conformance MODULE:Class`` runs them
all and prints each failure's shrunk counterexample as a packet ladder; from Python::

    from pystack.testing.conformance import run_suite, report_lines
    for result in run_suite(MySession, examples=50):
        print("\\n".join(report_lines(result)))

The two underlying suites can also be wired into pytest directly::

    test_single = single_session_check(MySession)
    TestTwoStacks = two_stack_machine(MySession).TestCase

or run at once with ``run_conformance(MySession, max_examples=200)`` (raises on the first
shrunk counterexample).
"""

from pystack.testing.conformance.registry import PROPERTIES, Property
from pystack.testing.conformance.segment import (
    ADDRESSES,
    ALL_STATES,
    CLIENT,
    RECEIVING,
    SERVER,
    SYNCHRONIZED,
    Before,
    Recorder,
    TwoStackConformance,
    _tcp_of,
    check_one_segment,
    expected_answer,
    in_order_segment,
    run_conformance,
    segments,
    single_session_check,
    two_stack_machine,
)
from pystack.testing.conformance.suite import (
    Result,
    report_lines,
    result_json,
    run_property,
    run_suite,
    select,
    write_ladder,
)

__all__ = [
    "ADDRESSES",
    "ALL_STATES",
    "CLIENT",
    "PROPERTIES",
    "RECEIVING",
    "SERVER",
    "SYNCHRONIZED",
    "Before",
    "Property",
    "Recorder",
    "Result",
    "TwoStackConformance",
    "_tcp_of",
    "check_one_segment",
    "expected_answer",
    "in_order_segment",
    "report_lines",
    "result_json",
    "run_conformance",
    "run_property",
    "run_suite",
    "segments",
    "select",
    "single_session_check",
    "two_stack_machine",
    "write_ladder",
]
