"""The machine engine: one machine per class, dispatch semantics, extension, validation."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest

from pystack import fsm
from pystack.fsm import SpecError, StateMachine, UnknownTrigger

TOY: dict[str, Any] = {
    "machine": {"name": "toy", "initial": "IDLE", "doc": "A job that runs once."},
    "states": {
        "IDLE": {"doc": "Not started.", "on_exit": ["left_idle"]},
        "BUSY": {"doc": "Running.", "on_enter": ["entered_busy"], "on_exit": ["left_busy"]},
        "DONE": {"doc": "Finished."},
    },
    "transitions": [
        {
            "trigger": "start",
            "source": "IDLE",
            "dest": "BUSY",
            "conditions": ["may_start"],
            "hooks": ["begin", "begin_more"],
            "doc": "Start when allowed.",
        },
        {"trigger": "start", "source": "IDLE", "dest": "DONE", "doc": "Not allowed: skip."},
        {
            "trigger": "finish",
            "source": "BUSY",
            "dest": "DONE",
            "unless": ["is_stuck"],
            "hooks": ["end"],
            "doc": "Finish unless stuck.",
        },
        {"trigger": "tick", "source": "BUSY", "dest": "=", "hooks": ["ticked"], "doc": "Tick."},
        {"trigger": "reset", "source": "*", "dest": "IDLE", "doc": "Back to the start."},
    ],
    "hooks": {
        "left_idle": "On leaving IDLE.",
        "entered_busy": "On entering BUSY.",
        "left_busy": "On leaving BUSY.",
        "may_start": "Condition (start): allowed to start.",
        "begin": "Hook (start): start the job.",
        "begin_more": "Hook (start): after begin.",
        "is_stuck": "Condition (finish): the job cannot finish.",
        "end": "Hook (finish): finish the job.",
        "ticked": "Hook (tick): one tick, in BUSY.",
    },
}


class Toy(StateMachine, machine=TOY):
    """Records every hook call with the keyword arguments it got."""

    def __init__(self, allowed: bool = True, stuck: bool = False) -> None:
        self.allowed = allowed
        self.stuck = stuck
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def _rec(self, name: str, kw: dict[str, Any]) -> None:
        self.calls.append((name, self.state, kw))

    def may_start(self, **kw: Any) -> bool:
        self._rec("may_start", kw)
        return self.allowed

    def is_stuck(self, **kw: Any) -> bool:
        return self.stuck

    def left_idle(self, **kw: Any) -> None:
        self._rec("left_idle", kw)

    def entered_busy(self, **kw: Any) -> None:
        self._rec("entered_busy", kw)

    def left_busy(self, **kw: Any) -> None:
        self._rec("left_busy", kw)

    def begin(self, **kw: Any) -> None:
        self._rec("begin", kw)

    def begin_more(self, **kw: Any) -> None:
        self._rec("begin_more", kw)

    def end(self, **kw: Any) -> None:
        self._rec("end", kw)

    def ticked(self, **kw: Any) -> None:
        self._rec("ticked", kw)

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        self.calls.append(("on_state_change", f"{old}-{trigger}-{new}", {}))


def names(obj: Toy) -> list[str]:
    return [c[0] for c in obj.calls]


# ------------------------------------------------------------------ one machine per class


def test_one_machine_per_class_and_instances_hold_only_their_state() -> None:
    objs = [Toy() for _ in range(100)]
    for o in objs[::2]:
        o.fire("start")
    assert all(type(o).fsm is Toy.fsm for o in objs)
    assert Toy.fsm.machine.models == []  # nothing was add_model'ed
    assert Toy.fsm.machine.has_queue is False
    engine_attrs = set(vars(objs[0])) - {"allowed", "stuck", "calls"}
    assert engine_attrs <= {"state", "_fsm_queue"}
    assert objs[1].state == "IDLE" and "state" not in vars(objs[1])
    assert {o.state for o in objs[::2]} == {"BUSY"}


def test_machine_is_a_transitions_machine_without_auto_transitions() -> None:
    machine = Toy.fsm.machine
    assert set(machine.events) == {"start", "finish", "tick", "reset"}
    assert not any(name.startswith("to_") for name in machine.events)


def test_subclass_that_only_overrides_hooks_shares_the_machine() -> None:
    class Sub(Toy):
        def begin(self, **kw: Any) -> None:
            self._rec("sub_begin", kw)

    obj = Sub()
    assert Sub.fsm is Toy.fsm
    obj.fire("start")
    assert "sub_begin" in names(obj) and "begin" not in names(obj)


# ------------------------------------------------------------------ dispatch semantics


def test_callback_order_of_one_transition() -> None:
    obj = Toy()
    assert obj.fire("start") is True
    assert names(obj) == [
        "may_start",
        "left_idle",
        "on_state_change",
        "entered_busy",
        "begin",
        "begin_more",
    ]
    # Exit hooks see the old state; everything after the change sees the new one.
    states = {name: state for name, state, _ in obj.calls}
    assert states["left_idle"] == "IDLE" and states["begin"] == "BUSY"


def test_kwargs_reach_conditions_and_hooks() -> None:
    obj = Toy()
    obj.fire("start", segment=b"\x01", now=3.5)
    hooked = [kw for name, _, kw in obj.calls if name != "on_state_change"]
    assert hooked and all(kw == {"segment": b"\x01", "now": 3.5} for kw in hooked)


def test_conditions_choose_among_transitions_in_order() -> None:
    allowed, refused = Toy(allowed=True), Toy(allowed=False)
    allowed.fire("start")
    refused.fire("start")
    assert (allowed.state, refused.state) == ("BUSY", "DONE")
    assert "begin" not in names(refused) and "left_idle" in names(refused)


def test_unless_blocks_a_transition() -> None:
    obj = Toy(stuck=True)
    obj.fire("start")
    assert obj.fire("finish") is False
    assert obj.state == "BUSY"
    obj.stuck = False
    assert obj.fire("finish") is True
    assert obj.state == "DONE"


def test_no_edge_from_the_current_state_returns_false_and_calls_nothing() -> None:
    obj = Toy()
    assert obj.fire("finish") is False
    assert obj.calls == [] and obj.state == "IDLE"


def test_unknown_trigger_is_api_misuse() -> None:
    with pytest.raises(UnknownTrigger, match="toy: no trigger 'strat'"):
        Toy().fire("strat")


def test_internal_transition_runs_no_exit_or_enter_hooks() -> None:
    obj = Toy()
    obj.fire("start")
    obj.calls.clear()
    assert obj.fire("tick") is True
    assert names(obj) == ["on_state_change", "ticked"]
    assert obj.state == "BUSY"


def test_wildcard_source_applies_to_every_state() -> None:
    for path in ([], ["start"], ["start", "finish"]):
        obj = Toy()
        for trigger in path:
            obj.fire(trigger)
        assert obj.fire("reset") is True and obj.state == "IDLE"


def test_run_to_completion_queues_triggers_fired_inside_hooks() -> None:
    class Chain(Toy):
        def begin(self, **kw: Any) -> None:
            super().begin(**kw)
            assert self.fire("tick", n=1) is True  # queued, not run yet
            assert self.fire("finish") is True
            assert self.state == "BUSY"

        def ticked(self, **kw: Any) -> None:
            super().ticked(**kw)
            self.fire("reset")  # queued behind "finish"

    obj = Chain()
    assert obj.fire("start") is True
    changes = [state for name, state, _ in obj.calls if name == "on_state_change"]
    assert changes == [
        "IDLE-start-BUSY",
        "BUSY-tick-BUSY",
        "BUSY-finish-DONE",
        "DONE-reset-IDLE",
    ]
    # begin_more (same transition as begin) ran before the queued tick.
    assert names(obj).index("begin_more") < names(obj).index("ticked")
    assert obj._fsm_queue is None


def test_queue_is_per_instance() -> None:
    other = Toy()

    class Poke(Toy):
        def begin(self, **kw: Any) -> None:
            other.fire("start")  # another instance runs at once: not our queue

    obj = Poke()
    obj.fire("start")
    assert other.state == "BUSY"


def test_a_hook_that_raises_leaves_the_instance_usable() -> None:
    class Boom(Toy):
        def begin(self, **kw: Any) -> None:
            self.fire("tick")
            raise RuntimeError("boom")

    obj = Boom()
    with pytest.raises(RuntimeError):
        obj.fire("start")
    assert obj.state == "BUSY"
    assert "ticked" not in names(obj)  # the queue was discarded
    assert obj.fire("finish") is True


def test_default_on_state_change_logs_one_line(caplog: pytest.LogCaptureFixture) -> None:
    obj = Toy()
    with caplog.at_level(logging.DEBUG, logger="pystack.fsm"):
        StateMachine.on_state_change(obj, "IDLE", "start", "BUSY")
    assert [r.getMessage() for r in caplog.records] == ["toy IDLE -> BUSY (start)"]
    assert getattr(caplog.records[0], "trigger", None) == "start"


def test_can_fire_and_set_state() -> None:
    obj = Toy(stuck=True)
    obj.set_state("BUSY")
    assert obj.can_fire("tick") and not obj.can_fire("finish") and not obj.can_fire("start")
    assert obj.calls == []
    with pytest.raises(ValueError, match="no state 'NOPE'"):
        obj.set_state("NOPE")


# ------------------------------------------------------------------ subclass extension

FAST_OPEN: dict[str, Any] = {
    "machine": {"name": "toy_fast"},
    "states": {"FAST": {"doc": "Started with a cookie.", "extension": True, "reason": "test"}},
    "transitions": [
        {
            "trigger": "start",
            "source": "IDLE",
            "dest": "FAST",
            "conditions": ["has_cookie"],
            "hooks": ["use_cookie"],
            "prepend": True,
            "doc": "A start with a valid cookie skips the queue.",
        },
        {"trigger": "finish", "source": "FAST", "dest": "DONE", "doc": "Done fast."},
    ],
    "hooks": {"has_cookie": "Condition: a valid cookie.", "use_cookie": "Spend the cookie."},
}


class FastToy(Toy, extend=FAST_OPEN):
    cookie = False

    def has_cookie(self, **kw: Any) -> bool:
        return self.cookie

    def use_cookie(self, **kw: Any) -> None:
        self._rec("use_cookie", kw)


def test_extension_gets_its_own_machine_and_prepends_its_transition() -> None:
    assert FastToy.fsm is not Toy.fsm
    assert FastToy.fsm.machine is not Toy.fsm.machine
    assert "FAST" in FastToy.fsm.machine.states and "FAST" not in Toy.fsm.machine.states
    with_cookie = FastToy()
    with_cookie.cookie = True
    with_cookie.fire("start")
    assert with_cookie.state == "FAST" and "may_start" not in names(with_cookie)
    assert with_cookie.fire("finish") and with_cookie.state == "DONE"
    without = FastToy()
    without.fire("start")
    assert without.state == "BUSY"  # falls through to the base transition


def test_extension_spec_lists_added_states_edges_and_hooks() -> None:
    spec = FastToy.fsm.spec
    assert spec.name == "toy_fast"
    assert list(spec.states) == ["IDLE", "BUSY", "DONE", "FAST"]
    assert ("IDLE", "start", "FAST") in spec.edges()
    assert ("FAST", "reset", "IDLE") in spec.edges()  # "*" covers added states
    assert spec.transitions[0].prepend and spec.transitions[0].dest == "FAST"
    assert "use_cookie" in spec.hooks and "has_cookie" in spec.conditions
    assert ("IDLE", "start", "FAST") not in Toy.fsm.spec.edges()


def test_extension_from_a_toml_file(tmp_path: Path) -> None:
    ext = tmp_path / "ext.toml"
    ext.write_text(
        '[states.PAUSED]\ndoc = "Paused."\n\n'
        '[[transitions]]\ntrigger = "pause"\nsource = "BUSY"\ndest = "PAUSED"\n'
        'hooks = ["paused"]\ndoc = "Pause."\n\n'
        '[hooks]\npaused = "Hook (pause): the job is paused."\n'
    )

    class Pausable(Toy, extend=ext):
        def paused(self, **kw: Any) -> None:
            self._rec("paused", kw)

    obj = Pausable()
    obj.fire("start")
    assert obj.fire("pause") and obj.state == "PAUSED"
    assert Pausable.fsm.spec.name == "toy_pausable"


# ------------------------------------------------------------------ validation


def broken(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(TOY)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        table: Any = spec
        for p in parents:
            table = table[int(p)] if p.isdigit() else table[p]
        table[int(leaf) if leaf.isdigit() else leaf] = value
    return spec


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (broken(colour="red"), r"<dict>: unknown key\(s\) 'colour'"),
        (broken(machine__owner="x"), r"\[machine\]: unknown key\(s\) 'owner'"),
        (broken(states__IDLE__colour="x"), r"state IDLE: unknown key\(s\) 'colour'"),
        (broken(transitions__1__hook=["x"]), r"transition #2: unknown key\(s\) 'hook'"),
        (broken(transitions__1__prepend=True), r"transition #2: unknown key\(s\) 'prepend'"),
        (broken(transitions__1__dest="LOST"), r"transition #2 \(start: IDLE -> LOST\): .*'LOST'"),
        (broken(transitions__2__source=["BUSY", "NOWHERE"]), r"#3 .*source state 'NOWHERE'"),
        (broken(machine__initial="NOWHERE"), r"initial state 'NOWHERE'"),
        (
            broken(transitions__0__hooks="send_ack"),
            r"#1: 'hooks' must be a list of names",
        ),
        (broken(transitions__0__trigger="fire"), r"trigger 'fire' is not a usable name"),
        (broken(transitions__0__doc=""), r"transition #1: 'doc' must be a non-empty string"),
        (broken(transitions__0__extension=True), r"transition #1: 'reason' must be"),
        (broken(transitions__0__reason="why"), r"'reason' is only allowed with extension"),
        (broken(states__DONE__on_enter=[1]), r"state DONE: 'on_enter' must be a list of names"),
        (broken(transitions__0__conditions=[]), r"#2 \(start: IDLE -> DONE\): can never be taken"),
    ],
)
def test_invalid_declarations_are_rejected_with_where_and_what(data: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        fsm.parse_spec(data)


def test_missing_hook_on_the_class_names_file_transition_and_hook() -> None:
    with pytest.raises(SpecError) as err:

        class Incomplete(StateMachine, machine=TOY):
            def may_start(self, **kw: Any) -> bool:
                return True

    text = str(err.value)
    assert "is not defined on" in text and "Incomplete" in text
    assert "state IDLE" in text and "'left_idle'" in text


def test_missing_condition_names_the_transition() -> None:
    namespace = {h: (lambda self, **kw: None) for h in fsm.parse_spec(TOY).hooks}
    with pytest.raises(SpecError, match=r"#1 \(start: IDLE -> BUSY\): condition 'may_start'"):
        type("NoCondition", (StateMachine,), namespace, machine=TOY)


def test_extension_may_not_redeclare_a_state() -> None:
    with pytest.raises(SpecError, match="state BUSY is already declared"):
        fsm.extend_spec(fsm.parse_spec(TOY), {"states": {"BUSY": {"doc": "again"}}})


def test_extend_without_a_base_machine() -> None:
    with pytest.raises(SpecError, match="extend= needs a base class"):

        class Orphan(StateMachine, extend=FAST_OPEN):
            pass


def test_class_without_machine_cannot_fire() -> None:
    class Abstract(StateMachine):
        pass

    with pytest.raises(TypeError, match="declares no machine"):
        Abstract().fire("start")


def test_toml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[machine\n")
    with pytest.raises(SpecError, match=r"bad\.toml: invalid TOML"):
        fsm.load_spec(bad)
    good = tmp_path / "good.toml"
    good.write_text(
        '[machine]\nname = "g"\ninitial = "A"\ndoc = "x"\n[states.A]\ndoc = "a"\n'
        '[[transitions]]\ntrigger = "go"\nsource = "A"\ndest = "B"\ndoc = "go"\n'
    )
    with pytest.raises(SpecError, match=r"good\.toml: transition #1 \(go: A -> B\)"):
        fsm.load_spec(good)


def test_unknown_builtin_machine() -> None:
    with pytest.raises(SpecError, match="no built-in machine 'nope'"):
        fsm.load_spec("nope")


# ------------------------------------------------------------------ built-in machines


@pytest.mark.parametrize("name", fsm.machine_names())
def test_every_builtin_machine_loads_and_documents_itself(name: str) -> None:
    spec = fsm.load_spec(name)
    assert spec.name == name and spec.doc
    for state in spec.states.values():
        assert state.doc and state.rfc, f"{name}: state {state.name} needs doc and rfc"
    for t in spec.transitions:
        assert t.doc and t.rfc, f"{name}: {t.label()} needs doc and rfc"
    machine = fsm.build_machine(spec)
    assert list(machine.states) == list(spec.states)


def test_spec_edges_expand_lists_and_same() -> None:
    spec = fsm.parse_spec(TOY)
    assert spec.edges() == {
        ("IDLE", "start", "BUSY"),
        ("IDLE", "start", "DONE"),
        ("BUSY", "finish", "DONE"),
        ("BUSY", "tick", "BUSY"),
        ("IDLE", "reset", "IDLE"),
        ("BUSY", "reset", "IDLE"),
        ("DONE", "reset", "IDLE"),
    }
    assert spec.triggers == ("start", "finish", "tick", "reset")
    assert spec.hooks["left_idle"] == ("on_exit IDLE",)
    assert spec.hooks["begin"] == ("start: IDLE -> BUSY",)


def test_hook_docs_are_kept_and_must_name_used_hooks() -> None:
    spec = fsm.parse_spec(TOY)
    assert spec.hook_docs["begin"] == "Hook (start): start the job."
    unused = {**TOY, "hooks": {**TOY["hooks"], "nothing": "Unused."}}
    with pytest.raises(SpecError, match=r"\[hooks\] documents 'nothing', which nothing calls"):
        fsm.parse_spec(unused)
    with pytest.raises(SpecError, match=r"\[hooks\]: 'begin' must be a non-empty string"):
        fsm.parse_spec({**TOY, "hooks": {**TOY["hooks"], "begin": ""}})
    ext = fsm.extend_spec(spec, FAST_OPEN)
    assert set(ext.hook_docs) == set(TOY["hooks"]) | {"has_cookie", "use_cookie"}


@pytest.mark.parametrize(
    "name", ["left_idle", "entered_busy", "may_start", "begin", "is_stuck", "ticked"]
)
def test_a_hook_or_condition_without_a_doc_is_rejected(name: str) -> None:
    docs = {k: v for k, v in TOY["hooks"].items() if k != name}
    with pytest.raises(SpecError, match=rf"'{name}' has no \[hooks\] entry"):
        fsm.parse_spec({**TOY, "hooks": docs})


def test_an_extension_must_document_the_hooks_it_adds() -> None:
    bare = {**FAST_OPEN, "hooks": {"has_cookie": "Condition: a valid cookie."}}
    with pytest.raises(SpecError, match=r"hook 'use_cookie' has no \[hooks\] entry"):
        fsm.extend_spec(fsm.parse_spec(TOY), bare)


def test_a_pipeline_check_without_a_doc_is_rejected(tmp_path: Path) -> None:
    text = fsm._machines_dir().joinpath("tcp.toml").read_text(encoding="utf-8")
    assert '\ncheck_rst = "' in text
    path = tmp_path / "tcp.toml"
    path.write_text("\n".join(x for x in text.splitlines() if not x.startswith("check_rst =")))
    with pytest.raises(SpecError, match=r"\[pipeline\]: pipeline check 'check_rst' has no"):
        fsm.load_spec(path)
    assert fsm.load_spec("tcp").pipeline[2] == "check_rst"


def test_groups_are_loaded_and_their_members_validated() -> None:
    groups = {"active": {"states": ["BUSY", "IDLE"], "doc": "Not done.", "rfc": "none"}}
    spec = fsm.parse_spec({**TOY, "groups": groups})
    assert spec.groups["active"].states == frozenset({"BUSY", "IDLE"})
    assert "BUSY" in spec.groups["active"] and "DONE" not in spec.groups["active"]
    assert list(spec.groups["active"]) == ["BUSY", "IDLE"] and spec.groups["active"].doc
    bad = {"active": {"states": ["BUSY", "ASLEEP"], "doc": "Not done."}}
    with pytest.raises(SpecError, match=r"group active: unknown state 'ASLEEP'"):
        fsm.parse_spec({**TOY, "groups": bad})
    with pytest.raises(SpecError, match=r"group active: 'doc' must be a non-empty string"):
        fsm.parse_spec({**TOY, "groups": {"active": {"states": ["BUSY"]}}})
    with pytest.raises(SpecError, match=r"group active: unknown key\(s\) 'members'"):
        fsm.parse_spec({**TOY, "groups": {"active": {"members": [], "doc": "x"}}})
    # An extension may add a group over its own states, not redeclare one.
    ext = fsm.extend_spec(
        spec, {**FAST_OPEN, "groups": {"quick": {"states": ["FAST"], "doc": "Fast."}}}
    )
    assert set(ext.groups) == {"active", "quick"}
    with pytest.raises(SpecError, match=r"group active is already declared"):
        fsm.extend_spec(spec, {**FAST_OPEN, "groups": groups})


def test_every_shipped_machine_documents_every_hook_condition_and_check() -> None:
    for name in fsm.machine_names():
        spec = fsm.load_spec(name)
        used = set(spec.hooks) | set(spec.conditions) | set(spec.pipeline)
        assert used and set(spec.hook_docs) == used, name


def test_dns_query_machine_documents_every_hook_and_reaches_final_states() -> None:
    spec = fsm.load_spec("dns_query")
    assert set(spec.hook_docs) == set(spec.hooks) | set(spec.conditions)
    edges = spec.edges()
    assert ("WAITING", "rcv_truncated", "TCP_CONNECTING") in edges
    assert ("RETRYING", "timeout_answer", "RETRYING") in edges
    assert ("TCP_WAITING", "rcv_answer", "ANSWERED") in edges
    final = {"ANSWERED", "FAILED"}
    assert not any(src in final for src, _, _ in edges)
    # Every non-final state can reach a final one.
    reach = set(final)
    while True:
        more = {src for src, _, dst in edges if dst in reach} - reach
        if not more:
            break
        reach |= more
    assert reach == set(spec.states)
