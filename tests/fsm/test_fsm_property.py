"""Random trigger sequences through every built-in machine only ever take declared edges.

The engine dispatches over a table compiled from the class-level transitions.Machine; here
hypothesis drives arbitrary trigger sequences with arbitrary condition outcomes through
each built-in machine and checks that (1) every observed (old, trigger, new) is an edge of
the declaration, (2) the engine agrees with transitions' own dispatch (a reference model
added to a separate Machine) on every state and every hook call, and (3) triggers fired from
hooks run after the current one, still only on declared edges.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pystack import fsm
from pystack.testing import examples

MACHINES = fsm.machine_names()


class Recorder:
    """Hooks and conditions shared by the engine's class and the reference model."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.answers: dict[str, bool] = {}


def _methods(spec: fsm.MachineSpec) -> dict[str, Any]:
    def hook(name: str) -> Any:
        def call(self: Any, **kw: Any) -> None:
            self.calls.append(name)

        return call

    def condition(name: str) -> Any:
        def check(self: Any, **kw: Any) -> bool:
            self.calls.append(f"?{name}")
            return self.answers.get(name, True)

        return check

    methods = {name: hook(name) for name in spec.hooks}
    methods.update({name: condition(name) for name in spec.conditions})
    methods.update({name: (lambda self, seg: seg) for name in spec.pipeline})
    return methods


def _classes(name: str) -> tuple[type, type]:
    spec = fsm.load_spec(name)
    methods = _methods(spec)

    def on_state_change(self: Any, old: str, trigger: str, new: str) -> None:
        self.changes.append((old, trigger, new))

    engine = type(
        f"Engine_{name}",
        (Recorder, fsm.StateMachine),
        {**methods, "on_state_change": on_state_change},
        machine=name,
    )
    reference = type(f"Reference_{name}", (Recorder,), dict(methods))
    return engine, reference


CLASSES = {name: _classes(name) for name in MACHINES}


def steps(name: str) -> st.SearchStrategy[list[tuple[str, dict[str, bool]]]]:
    spec = fsm.load_spec(name)
    answers = st.fixed_dictionaries({c: st.booleans() for c in spec.conditions})
    return st.lists(st.tuples(st.sampled_from(spec.triggers), answers), max_size=40)


@pytest.mark.parametrize("name", MACHINES)
@settings(max_examples=examples(ci=300, dev=60))
@given(data=st.data())
def test_engine_takes_only_declared_edges_and_agrees_with_transitions(
    name: str, data: st.DataObject
) -> None:
    spec = fsm.load_spec(name)
    edges = spec.edges()
    engine_cls, reference_cls = CLASSES[name]
    obj = engine_cls()
    obj.changes = []
    ref = reference_cls()
    machine = fsm.build_machine(spec)
    machine.ignore_invalid_triggers = True
    machine.add_model(ref)
    for trigger, answers in data.draw(steps(name)):
        obj.answers = ref.answers = answers
        before = obj.state
        taken = obj.fire(trigger, step=len(obj.calls))
        ref_taken = ref.trigger(trigger, step=len(ref.calls))
        assert obj.state in spec.states
        assert (obj.state, taken) == (ref.state, ref_taken)
        assert obj.calls == ref.calls
        if taken:
            assert obj.changes[-1] == (before, trigger, obj.state)
            assert obj.changes[-1] in edges
        else:
            assert obj.state == before


@pytest.mark.parametrize("name", MACHINES)
@settings(max_examples=examples(ci=200, dev=40))
@given(data=st.data())
def test_triggers_fired_from_hooks_run_to_completion_on_declared_edges(
    name: str, data: st.DataObject
) -> None:
    spec = fsm.load_spec(name)
    engine_cls, _ = CLASSES[name]
    nested = data.draw(
        st.dictionaries(st.sampled_from(sorted(spec.hooks)), st.sampled_from(spec.triggers))
    )

    class Chaining(engine_cls):  # type: ignore[misc, valid-type]
        """Some hooks fire another trigger from inside the running one."""

        def __getattribute__(self, attr: str) -> Any:
            method = super().__getattribute__(attr)
            follow = nested.get(attr)
            if follow is None:
                return method

            def chained(**kw: Any) -> None:
                method(**kw)
                if kw.get("depth", 0) < 3:
                    state = self.state
                    assert self.fire(follow, depth=kw.get("depth", 0) + 1) is True
                    assert self.state == state, "a trigger fired from a hook ran at once"

            return chained

    obj = Chaining()
    obj.changes = []
    for trigger, answers in data.draw(steps(name)):
        obj.answers = answers
        obj.fire(trigger)
        assert obj._fsm_queue is None
    edges = spec.edges()
    state = spec.initial
    for old, trigger, new in obj.changes:
        assert old == state, "a queued trigger ran before the previous one completed"
        assert (old, trigger, new) in edges
        state = new
    assert obj.state == state
