"""Declared state machines: load ``pystack/machines/*.toml``, build one machine per class.

Every stateful protocol of PyStack (a TCP connection, an ARP cache entry, an IPv4 datagram
being reassembled, a DNS query) is a class that declares its machine::

    class TCPSession(StateMachine, machine="tcp"):
        def send_synack(self, **kw): ...

The class gets ONE class-level :class:`transitions.Machine` (``TCPSession.fsm.machine``),
built once with ``auto_transitions=False``; an instance holds only its ``state`` string (and,
while a trigger runs, a run-to-completion marker), so 10 000 idle connections cost almost
nothing. ``obj.fire("rcv_syn", segment=seg)`` runs a trigger; hooks and conditions are looked
up on the instance by name at call time, so a subclass overrides a hook by defining a method.

A subclass may extend the table and then gets its own class-level machine::

    class FastOpenSession(TCPSession, extend={"transitions": [{
        "trigger": "rcv_syn", "source": "LISTEN", "dest": "SYN_RECEIVED",
        "conditions": ["valid_tfo_cookie"], "hooks": ["choose_isn", "send_synack",
        "deliver_syn_data"], "prepend": True, "doc": "SYN with a valid TFO cookie."}]}):
        ...

Semantics of one trigger
------------------------
For the current state, the transitions declared for the trigger are tried in declaration
order (prepended extension transitions first). The first whose ``conditions`` all return
true and whose ``unless`` all return false is taken: the source state's ``on_exit`` hooks
run, ``state`` changes, ``on_state_change(old, trigger, new)`` is called, the destination's
``on_enter`` hooks run, then the transition's ``hooks`` in order. A transition whose
``dest`` is its source (or ``"="``) is internal: the state is not left, so no ``on_exit``
or ``on_enter`` hooks run (only the transition's own hooks and ``on_state_change``).
Keyword arguments of :meth:`StateMachine.fire` are passed to every condition and hook.
A trigger fired from inside a hook is queued and runs after the current one finishes
(run-to-completion per instance).

TOML schema (``pystack/machines/<name>.toml``)
----------------------------------------------
::

    [machine]                   # required
    name = "tcp"                # required; equals the file name for the built-in machines
    title = "TCP connection"    # optional, defaults to name
    rfc = "RFC 9293 §3.3.2"     # optional
    initial = "CLOSED"          # required; a declared state
    doc = "..."                 # required: what one instance of the machine is

    [states.LISTEN]             # one table per state, in display order
    doc = "..."                 # required: one line of meaning
    rfc = "RFC 9293 §3.3.2"     # optional
    on_enter = ["hook", ...]    # optional: hooks run on entering the state
    on_exit = ["hook", ...]     # optional: hooks run on leaving it
    extension = false           # optional: true when the state is not in the RFC
    reason = "..."              # required when extension = true, else forbidden

    [[transitions]]
    trigger = "rcv_syn"         # required; named after the event; a Python identifier
    source = "LISTEN"           # required: a state, a list of states, or "*" (every state)
    dest = "SYN_RECEIVED"       # required: a state, or "=" (stay: internal transition)
    conditions = ["cond", ...]  # optional: all must return true
    unless = ["cond", ...]      # optional: all must return false
    hooks = ["hook", ...]       # optional: called in order after the state has changed
    doc = "..."                 # required: one line of meaning
    rfc = "RFC 9293 §3.10.7.2"  # optional
    extension = false           # optional: true when not in the RFC's diagram ...
    reason = "..."              # ... and then required: why
    prepend = false             # extensions only: try before the base transitions

    [hooks]                     # required for every hook, condition and pipeline check:
    send_synack = "..."         # what it is for, its arguments, its default behaviour, when
                                # it runs (shown in diagrams/README.md); a documented name
                                # must be used

    [groups.synchronized]       # optional: a named set of states code tests membership of
    states = ["ESTABLISHED", ...]   # required: declared states
    doc = "..."                 # required: what the states have in common
    rfc = "RFC 9293 §3.5"       # optional

    [pipeline]                  # optional: ordered checks run before any trigger fires
    checks = ["check_seq", ...] # each a method of the class, documented in [hooks]
    doc = "..."                 # required with checks

An extension (``extend=`` a path or a dict) has the same shape: an optional ``[machine]``
table (``name``, ``title``, ``rfc``, ``doc``, ``initial``), new ``[states.X]`` tables (a
state may not be redeclared), ``[[transitions]]``, each appended after the base
transitions or, with ``prepend = true``, placed before them, new ``[groups.X]`` and the
``[hooks]`` docs of the names it adds.

The loader rejects unknown keys, wrong types, unknown states (also in a group), a hook,
condition or pipeline check without a ``[hooks]`` entry, a transition that can never
be taken (an earlier one with the same trigger and source has no condition) and, when a
class declares the machine, hook or condition names the class does not define; the error
names the file, the transition and the offending name. Configuration knobs are never TOML:
they are constructor parameters of the owning object.
"""

from __future__ import annotations

import logging
import os
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from transitions import Machine

from pystack.fsm_spec import (
    GroupSpec,
    MachineSpec,
    SpecError,
    StateSpec,
    TransitionSpec,
    UnknownTrigger,
    _load_extension,
    bind_groups,
    bind_states,
    extend_spec,
    load_spec,
    machine_names,
    parse_spec,
)
from pystack.fsm_spec import _machines_dir as _machines_dir  # where the tables live

__all__ = [
    "CompiledMachine",
    "GroupSpec",
    "MachineSpec",
    "SpecError",
    "StateMachine",
    "StateSpec",
    "TransitionSpec",
    "UnknownTrigger",
    "bind_groups",
    "bind_states",
    "build_machine",
    "extend_spec",
    "load_spec",
    "machine_names",
    "parse_spec",
]

_LOG = logging.getLogger("pystack.fsm")

# ------------------------------------------------------------------------------ machines


def build_machine(spec: MachineSpec) -> Machine:
    """The :class:`transitions.Machine` for a spec, with no model attached.

    Internal transitions (dest is the source) are declared with ``dest=None``, transitions'
    own notation for "no exit/enter callbacks", so the Machine means what the engine does.
    """
    machine = Machine(
        model=None,
        states=[
            Machine.state_cls(s.name, on_enter=list(s.on_enter), on_exit=list(s.on_exit))
            for s in spec.states.values()
        ],
        initial=spec.initial,
        auto_transitions=False,
        name=spec.name,
    )
    for t in spec.transitions:
        for src, dest in spec.expand(t):
            machine.add_transition(
                t.trigger,
                src,
                None if dest == src else dest,
                conditions=list(t.conditions) or None,
                unless=list(t.unless) or None,
                after=list(t.hooks) or None,
            )
    return machine


class _Edge:
    """One compiled transition out of one state: what ``fire`` needs, nothing else."""

    __slots__ = ("checks", "dest", "enter", "exit", "hooks")

    def __init__(
        self,
        dest: str,
        checks: tuple[tuple[str, bool], ...],
        exit_hooks: tuple[str, ...],
        enter_hooks: tuple[str, ...],
        hooks: tuple[str, ...],
    ) -> None:
        self.dest = dest
        self.checks = checks
        self.exit = exit_hooks
        self.enter = enter_hooks
        self.hooks = hooks


class CompiledMachine:
    """A spec, its :class:`transitions.Machine`, and the dispatch table read from that Machine.

    ``table[trigger][state]`` is the ordered tuple of edges to try. It is compiled from the
    Machine's own events and states, so what runs is exactly what the Machine declares.
    """

    def __init__(self, spec: MachineSpec, owner: type | None = None) -> None:
        self.spec = spec
        self.owner = owner
        self.machine = build_machine(spec)
        self.table: dict[str, dict[str, tuple[_Edge, ...]]] = self._compile()

    def _compile(self) -> dict[str, dict[str, tuple[_Edge, ...]]]:
        table: dict[str, dict[str, tuple[_Edge, ...]]] = {}
        for trigger, event in self.machine.events.items():
            table[trigger] = {
                src: tuple(self._edge(src, tr) for tr in transitions)
                for src, transitions in event.transitions.items()
            }
        return table

    def _edge(self, src: str, tr: Any) -> _Edge:
        states = self.machine.states
        if tr.dest is None:  # internal: the state is not left
            return _Edge(src, _names_of(tr.conditions), (), (), _strs(tr.after))
        return _Edge(
            str(tr.dest),
            _names_of(tr.conditions),
            _strs(states[src].on_exit),
            _strs(states[tr.dest].on_enter),
            _strs(tr.after),
        )

    def validate_class(self, cls: type) -> None:
        """Raise :class:`SpecError` unless ``cls`` defines every hook and condition."""
        for kind, name, where in self.spec.callables():
            if not callable(getattr(cls, name, None)):
                raise SpecError(f"{where}: {kind} {name!r} is not defined on {cls.__qualname__}")


def _strs(callbacks: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(c) for c in callbacks)


def _names_of(conditions: Iterable[Any]) -> tuple[tuple[str, bool], ...]:
    return tuple((str(c.func), bool(c.target)) for c in conditions)


_BUSY: list[tuple[str, dict[str, Any]]] = []  # marker: a trigger runs, nothing queued yet


class StateMachine:
    """Base class of every object driven by a declared machine.

    Declare the machine with a class keyword: ``machine=`` a built-in name, a path or a dict;
    a subclass may add ``extend=`` a path or a dict (see the module docstring). The machine
    is compiled once per declaring class and shared by all its instances and by subclasses
    that only override hooks.
    """

    # Empty, so that a subclass may keep its fields in slots (TCPSession does). A subclass
    # without __slots__ has an instance dict as usual: what mypy is told.
    if TYPE_CHECKING:
        __slots__ = ("__dict__",)
    else:
        __slots__ = ()
    fsm: ClassVar[CompiledMachine]
    state: str
    """A class-level default (the initial state) until the first transition; a class that
    keeps ``state`` in a slot sets it in ``__init__`` instead (a class default would
    hide the slot)."""
    _fsm_queue: list[tuple[str, dict[str, Any]]] | None = None

    def __init_subclass__(
        cls,
        machine: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        extend: str | os.PathLike[str] | Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if machine is None and extend is None:
            return
        if machine is not None:
            if isinstance(machine, Mapping):
                spec = parse_spec(machine, f"<{cls.__qualname__} machine dict>")
            else:
                spec = load_spec(machine)
        else:
            base = getattr(cls, "fsm", None)
            if base is None:
                raise SpecError(f"{cls.__qualname__}: extend= needs a base class with a machine")
            spec = base.spec
        if extend is not None:
            data, origin = _load_extension(extend)
            spec = extend_spec(spec, data, origin, name=f"{spec.name}_{cls.__name__.lower()}")
        compiled = CompiledMachine(spec, owner=cls)
        compiled.validate_class(cls)
        cls.fsm = compiled
        if not isinstance(getattr(cls, "state", None), types.MemberDescriptorType):
            cls.state = spec.initial

    def fire(self, trigger: str, **kwargs: Any) -> bool:
        """Run ``trigger``; True if a transition was taken, False if none applied.

        Called from inside a hook or condition of the same instance, the trigger is queued
        and runs once the current one has finished (run-to-completion); it then returns True.
        """
        try:
            by_state = self.fsm.table[trigger]
        except (KeyError, AttributeError):
            raise self._unknown(trigger) from None
        if self._fsm_queue is not None:
            queue = self._fsm_queue
            if queue is _BUSY:
                self._fsm_queue = queue = []
            queue.append((trigger, kwargs))
            return True
        self._fsm_queue = _BUSY
        try:
            taken = self._fsm_step(by_state, trigger, kwargs)
            pending = self._fsm_queue
            while pending is not _BUSY:
                self._fsm_queue = _BUSY
                for queued, kw in pending:
                    self._fsm_step(self.fsm.table[queued], queued, kw)
                pending = self._fsm_queue
        finally:
            self._fsm_queue = None
        return taken

    def _fsm_step(
        self, by_state: dict[str, tuple[_Edge, ...]], trigger: str, kwargs: dict[str, Any]
    ) -> bool:
        old = self.state
        for edge in by_state.get(old, ()):
            for name, target in edge.checks:
                if bool(getattr(self, name)(**kwargs)) is not target:
                    break
            else:
                for hook in edge.exit:
                    getattr(self, hook)(**kwargs)
                self.state = edge.dest
                self.on_state_change(old, trigger, edge.dest)
                for hook in edge.enter:
                    getattr(self, hook)(**kwargs)
                for hook in edge.hooks:
                    getattr(self, hook)(**kwargs)
                return True
        return False

    def _unknown(self, trigger: str) -> Exception:
        fsm = getattr(type(self), "fsm", None)
        if fsm is None:
            return TypeError(f"{type(self).__qualname__} declares no machine")
        return UnknownTrigger(
            f"{fsm.spec.name}: no trigger {trigger!r} (declared: {', '.join(fsm.spec.triggers)})"
        )

    def can_fire(self, trigger: str, **kwargs: Any) -> bool:
        """True if ``trigger`` has an edge from the current state whose conditions hold now."""
        try:
            edges = self.fsm.table[trigger].get(self.state, ())
        except (KeyError, AttributeError):
            raise self._unknown(trigger) from None
        return any(all(bool(getattr(self, c)(**kwargs)) is t for c, t in e.checks) for e in edges)

    def set_state(self, state: str) -> None:
        """Put the instance in ``state`` without running hooks (harnesses and tests)."""
        if state not in self.fsm.spec.states:
            raise ValueError(f"{self.fsm.spec.name}: no state {state!r}")
        self.state = state

    def on_state_change(self, old: str, trigger: str, new: str) -> None:
        """Called after every transition; by default one log line ``old -> new (trigger)``."""
        if _LOG.isEnabledFor(logging.DEBUG):
            _LOG.debug(
                "%s %s -> %s (%s)",
                self.fsm.spec.name,
                old,
                new,
                trigger,
                extra={"machine": self.fsm.spec.name, "old": old, "new": new, "trigger": trigger},
            )
