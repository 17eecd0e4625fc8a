"""The declaration of a machine: the TOML tables of ``pystack/machines/*.toml`` (or a
class's dict, or an extension's) parsed into a :class:`MachineSpec`, checked (every name
declared, every state reachable), loaded by name, and bound to a class of state-name
constants and a dataclass of groups. :mod:`pystack.fsm` builds and runs the machines;
its docstring describes the format and the semantics, and it re-exports these names.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "SAME",
    "WILDCARD",
    "GroupSpec",
    "MachineSpec",
    "SpecError",
    "StateSpec",
    "TransitionSpec",
    "UnknownTrigger",
    "bind_groups",
    "bind_states",
    "extend_spec",
    "load_spec",
    "machine_names",
    "parse_spec",
]

_G = TypeVar("_G")

WILDCARD = "*"
SAME = "="

_MACHINE_KEYS = {"name", "title", "rfc", "initial", "doc"}
_STATE_KEYS = {"doc", "rfc", "on_enter", "on_exit", "extension", "reason"}
_TRANSITION_KEYS = {
    "trigger",
    "source",
    "dest",
    "conditions",
    "unless",
    "hooks",
    "doc",
    "rfc",
    "extension",
    "reason",
}
_GROUP_KEYS = {"states", "doc", "rfc"}
_PIPELINE_KEYS = {"checks", "doc", "rfc"}
_TOP_KEYS = {"machine", "states", "transitions", "hooks", "groups", "pipeline"}
# Names an instance already uses for the engine itself; a hook or trigger may not shadow them.
_RESERVED = {"state", "fire", "fsm", "on_state_change", "set_state", "can_fire"}


class SpecError(ValueError):
    """A machine declaration (TOML file, extension, or class) is invalid."""


class UnknownTrigger(LookupError):
    """``fire()`` was called with a trigger the machine does not declare."""


# ------------------------------------------------------------------------------ the spec


@dataclass(frozen=True, slots=True)
class StateSpec:
    """One declared state."""

    name: str
    doc: str
    rfc: str = ""
    on_enter: tuple[str, ...] = ()
    on_exit: tuple[str, ...] = ()
    extension: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """A named set of states code tests membership of (``state in machine.groups.x``)."""

    name: str
    states: frozenset[str]
    doc: str
    rfc: str = ""
    order: tuple[str, ...] = ()  # the members as declared, for listings

    def __contains__(self, state: object) -> bool:
        return state in self.states

    def __iter__(self) -> Iterator[str]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.states)


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One declared transition (``source`` may list several states or be ``("*",)``)."""

    trigger: str
    source: tuple[str, ...]
    dest: str
    doc: str
    conditions: tuple[str, ...] = ()
    unless: tuple[str, ...] = ()
    hooks: tuple[str, ...] = ()
    rfc: str = ""
    extension: bool = False
    reason: str = ""
    prepend: bool = False
    where: str = ""  # "<file>: transition #n" for error messages

    def label(self) -> str:
        """``trigger: SRC -> DEST`` for messages and listings."""
        return f"{self.trigger}: {', '.join(self.source)} -> {self.dest}"


@dataclass(frozen=True)
class MachineSpec:
    """A parsed machine declaration: states in display order, transitions in match order."""

    name: str
    initial: str
    doc: str
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    title: str = ""
    rfc: str = ""
    origin: str = "<dict>"
    hook_docs: Mapping[str, str] = field(default_factory=dict)
    groups: Mapping[str, GroupSpec] = field(default_factory=dict)
    pipeline: tuple[str, ...] = ()
    _edges: frozenset[tuple[str, str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate_spec(self)
        edges = {(s, t.trigger, d) for t in self.transitions for s, d in self.expand(t)}
        object.__setattr__(self, "_edges", frozenset(edges))

    def expand(self, t: TransitionSpec) -> Iterator[tuple[str, str]]:
        """The concrete ``(source, dest)`` pairs of a transition (``*`` and ``=`` resolved)."""
        sources = list(self.states) if t.source == (WILDCARD,) else t.source
        for src in sources:
            yield src, (src if t.dest == SAME else t.dest)

    def edges(self) -> set[tuple[str, str, str]]:
        """Every declared ``(source, trigger, dest)`` edge."""
        return set(self._edges)

    @property
    def triggers(self) -> tuple[str, ...]:
        """Trigger names in order of first declaration."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    @property
    def hooks(self) -> dict[str, tuple[str, ...]]:
        """Hook name -> where it is called (``"on_enter LISTEN"``, ``"rcv_syn: A -> B"``)."""
        uses: dict[str, list[str]] = {}
        for st in self.states.values():
            for h in st.on_enter:
                uses.setdefault(h, []).append(f"on_enter {st.name}")
            for h in st.on_exit:
                uses.setdefault(h, []).append(f"on_exit {st.name}")
        for t in self.transitions:
            for h in t.hooks:
                uses.setdefault(h, []).append(t.label())
        return {name: tuple(uses[name]) for name in sorted(uses)}

    @property
    def conditions(self) -> dict[str, tuple[str, ...]]:
        """Condition name -> the transitions that test it (``conditions`` or ``unless``)."""
        uses: dict[str, list[str]] = {}
        for t in self.transitions:
            for c in (*t.conditions, *t.unless):
                uses.setdefault(c, []).append(t.label())
        return {name: tuple(uses[name]) for name in sorted(uses)}

    def callables(self) -> Iterator[tuple[str, str, str]]:
        """``(kind, name, where)`` for every hook, condition and pipeline check the class
        must define."""
        for name in self.pipeline:
            yield "pipeline check", name, f"{self.origin}: [pipeline]"
        for st in self.states.values():
            for kind in ("on_enter", "on_exit"):
                for h in getattr(st, kind):
                    yield kind, h, f"{self.origin}: state {st.name}"
        for t in self.transitions:
            where = f"{t.where} ({t.label()})"
            for c in t.conditions:
                yield "condition", c, where
            for c in t.unless:
                yield "unless condition", c, where
            for h in t.hooks:
                yield "hook", h, where


# ------------------------------------------------------------------------------ parsing


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")


def _str(table: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str:
    value = table.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise SpecError(f"{where}: {key!r} must be a non-empty string")
    return value


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise SpecError(f"{where}: {key!r} must be true or false")
    return value


def _names(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(f"{where}: {key!r} must be a list of names")
    for v in value:
        if not v.isidentifier() or v in _RESERVED:
            raise SpecError(f"{where}: {key!r}: {v!r} is not a usable method name")
    return tuple(value)


def _extension(table: Mapping[str, Any], where: str) -> tuple[bool, str]:
    ext = _bool(table, "extension", where)
    reason = _str(table, "reason", where, required=ext)
    if reason and not ext:
        raise SpecError(f"{where}: 'reason' is only allowed with extension = true")
    return ext, reason


def _parse_state(name: str, table: Any, origin: str) -> StateSpec:
    where = f"{origin}: state {name}"
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table")
    _check_keys(table, _STATE_KEYS, where)
    ext, reason = _extension(table, where)
    return StateSpec(
        name=name,
        doc=_str(table, "doc", where, required=True),
        rfc=_str(table, "rfc", where),
        on_enter=_names(table, "on_enter", where),
        on_exit=_names(table, "on_exit", where),
        extension=ext,
        reason=reason,
    )


def _parse_transition(table: Any, where: str, *, allow_prepend: bool) -> TransitionSpec:
    if not isinstance(table, dict):
        raise SpecError(f"{where}: must be a table")
    _check_keys(table, _TRANSITION_KEYS | ({"prepend"} if allow_prepend else set()), where)
    for key in ("trigger", "source", "dest"):
        if key not in table:
            raise SpecError(f"{where}: missing {key!r}")
    trigger = _str(table, "trigger", where, required=True)
    if not trigger.isidentifier() or trigger in _RESERVED:
        raise SpecError(f"{where}: trigger {trigger!r} is not a usable name")
    source = table["source"]
    source = [source] if isinstance(source, str) else source
    if not isinstance(source, list) or not source or not all(isinstance(s, str) for s in source):
        raise SpecError(f"{where}: 'source' must be a state, a list of states or '*'")
    ext, reason = _extension(table, where)
    return TransitionSpec(
        trigger=trigger,
        source=tuple(source),
        dest=_str(table, "dest", where, required=True),
        doc=_str(table, "doc", where, required=True),
        conditions=_names(table, "conditions", where),
        unless=_names(table, "unless", where),
        hooks=_names(table, "hooks", where),
        rfc=_str(table, "rfc", where),
        extension=ext,
        reason=reason,
        prepend=_bool(table, "prepend", where),
        where=where,
    )


def _parse_hook_docs(data: Mapping[str, Any], origin: str) -> dict[str, str]:
    docs = data.get("hooks", {})
    where = f"{origin}: [hooks]"
    if not isinstance(docs, dict):
        raise SpecError(f'{where} must be a table of name = "doc"')
    for name in docs:
        _names({"hook": [name]}, "hook", where)
        _str(docs, name, where, required=True)
    return dict(docs)


def _parse_groups(data: Mapping[str, Any], origin: str) -> dict[str, GroupSpec]:
    table = data.get("groups", {})
    if not isinstance(table, dict):
        raise SpecError(f"{origin}: [groups] must be a table of groups")
    groups = {}
    for name, group in table.items():
        where = f"{origin}: group {name}"
        if not name.isidentifier() or not isinstance(group, dict):
            raise SpecError(f"{where}: must be a table named by an identifier")
        _check_keys(group, _GROUP_KEYS, where)
        members = group.get("states")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise SpecError(f"{where}: 'states' must be a list of states")
        groups[name] = GroupSpec(
            name=name,
            states=frozenset(members),
            doc=_str(group, "doc", where, required=True),
            rfc=_str(group, "rfc", where),
            order=tuple(members),
        )
    return groups


def _parse_pipeline(data: Mapping[str, Any], origin: str) -> tuple[str, ...]:
    table = data.get("pipeline", {})
    where = f"{origin}: [pipeline]"
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table")
    _check_keys(table, _PIPELINE_KEYS, where)
    if table:
        _str(table, "doc", where, required=True)
    return _names(table, "checks", where)


def _parse_parts(
    data: Mapping[str, Any], origin: str, *, is_extension: bool
) -> tuple[dict[str, Any], dict[str, StateSpec], list[TransitionSpec]]:
    if not isinstance(data, Mapping):
        raise SpecError(f"{origin}: a machine declaration must be a table")
    _check_keys(data, _TOP_KEYS, origin)
    head = data.get("machine", {})
    if not isinstance(head, dict):
        raise SpecError(f"{origin}: [machine] must be a table")
    _check_keys(head, _MACHINE_KEYS, f"{origin}: [machine]")
    meta: dict[str, Any] = {
        k: _str(head, k, f"{origin}: [machine]") for k in _MACHINE_KEYS if k in head
    }
    meta["hooks"] = _parse_hook_docs(data, origin)
    meta["groups"] = _parse_groups(data, origin)
    meta["pipeline"] = _parse_pipeline(data, origin)
    states_table = data.get("states", {})
    if not isinstance(states_table, dict):
        raise SpecError(f"{origin}: [states] must be a table of states")
    states = {n: _parse_state(n, t, origin) for n, t in states_table.items()}
    raw = data.get("transitions", [])
    if not isinstance(raw, list):
        raise SpecError(f"{origin}: 'transitions' must be an array of tables")
    transitions = [
        _parse_transition(t, f"{origin}: transition #{i + 1}", allow_prepend=is_extension)
        for i, t in enumerate(raw)
    ]
    return meta, states, transitions


def parse_spec(data: Mapping[str, Any], origin: str = "<dict>") -> MachineSpec:
    """Build a :class:`MachineSpec` from a parsed TOML document (or an equivalent dict)."""
    meta, states, transitions = _parse_parts(data, origin, is_extension=False)
    for key in ("name", "initial", "doc"):
        if not meta.get(key):
            raise SpecError(f"{origin}: [machine] needs a non-empty {key!r}")
    return MachineSpec(
        name=meta["name"],
        title=meta.get("title") or meta["name"],
        rfc=meta.get("rfc", ""),
        initial=meta["initial"],
        doc=meta["doc"],
        states=states,
        transitions=tuple(transitions),
        origin=origin,
        hook_docs=meta["hooks"],
        groups=meta["groups"],
        pipeline=meta["pipeline"],
    )


def extend_spec(
    base: MachineSpec, extension: Mapping[str, Any], origin: str = "<extension>", name: str = ""
) -> MachineSpec:
    """The spec of ``base`` with an extension's states and transitions added."""
    meta, states, transitions = _parse_parts(extension, origin, is_extension=True)
    for state in states:
        if state in base.states:
            raise SpecError(f"{origin}: state {state} is already declared in {base.origin}")
    for hook in meta["hooks"]:
        if hook in base.hook_docs:
            raise SpecError(f"{origin}: [hooks] {hook} is already documented in {base.origin}")
    for group in meta["groups"]:
        if group in base.groups:
            raise SpecError(f"{origin}: group {group} is already declared in {base.origin}")
    if meta["pipeline"]:
        raise SpecError(f"{origin}: [pipeline] belongs to the base machine {base.origin}")
    first = tuple(t for t in transitions if t.prepend)
    last = tuple(t for t in transitions if not t.prepend)
    return MachineSpec(
        name=meta.get("name") or name or f"{base.name}_extended",
        title=meta.get("title") or base.title,
        rfc=meta.get("rfc", base.rfc),
        initial=meta.get("initial") or base.initial,
        doc=meta.get("doc") or base.doc,
        states={**base.states, **states},
        transitions=first + base.transitions + last,
        origin=f"{base.origin} + {origin}",
        hook_docs={**base.hook_docs, **meta["hooks"]},
        groups={**base.groups, **meta["groups"]},
        pipeline=base.pipeline,
    )


def _validate_spec(spec: MachineSpec) -> None:
    if not spec.states:
        raise SpecError(f"{spec.origin}: declares no states")
    if spec.initial not in spec.states:
        raise SpecError(f"{spec.origin}: initial state {spec.initial!r} is not declared")
    for t in spec.transitions:
        if t.source != (WILDCARD,):
            for s in t.source:
                if s not in spec.states:
                    raise SpecError(f"{t.where} ({t.label()}): unknown source state {s!r}")
        if t.dest != SAME and t.dest not in spec.states:
            raise SpecError(f"{t.where} ({t.label()}): unknown dest state {t.dest!r}")
    _check_reachable(spec)
    for group in spec.groups.values():
        for member in group.order:
            if member not in spec.states:
                raise SpecError(f"{spec.origin}: group {group.name}: unknown state {member!r}")
    used = {name for _, name, _ in spec.callables()}
    for name in spec.hook_docs:
        if name not in used:
            raise SpecError(f"{spec.origin}: [hooks] documents {name!r}, which nothing calls")
    for kind, name, where in spec.callables():
        if name not in spec.hook_docs:
            raise SpecError(
                f"{where}: {kind} {name!r} has no [hooks] entry (say what it is for, its "
                "arguments, its default behaviour and when it runs)"
            )


def _check_reachable(spec: MachineSpec) -> None:
    """Reject a transition shadowed by an unconditional one with the same trigger and source."""
    unconditional: dict[tuple[str, str], TransitionSpec] = {}
    for t in spec.transitions:
        for src, _ in spec.expand(t):
            earlier = unconditional.get((src, t.trigger))
            if earlier is not None:
                raise SpecError(
                    f"{t.where} ({t.label()}): can never be taken from {src}: "
                    f"{earlier.where} ({earlier.label()}) has no condition"
                )
            if not t.conditions and not t.unless:
                unconditional[(src, t.trigger)] = t


def _read_toml(path: Path | importlib.resources.abc.Traversable, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{origin}: invalid TOML: {exc}") from None


def _machines_dir() -> importlib.resources.abc.Traversable:
    return importlib.resources.files("pystack").joinpath("machines")


def machine_names() -> list[str]:
    """The names of the machines shipped in the package, sorted."""
    return sorted(
        p.name.removesuffix(".toml") for p in _machines_dir().iterdir() if p.name.endswith(".toml")
    )


def load_spec(source: str | os.PathLike[str]) -> MachineSpec:
    """Load a built-in machine by name (``"tcp"``) or any machine file by path."""
    if isinstance(source, str) and source.isidentifier():
        resource = _machines_dir().joinpath(f"{source}.toml")
        origin = f"pystack/machines/{source}.toml"
        if not resource.is_file():
            raise SpecError(f"no built-in machine {source!r} (have: {machine_names()})")
        spec = parse_spec(_read_toml(resource, origin), origin)
        if spec.name != source:
            raise SpecError(f"{origin}: [machine] name {spec.name!r} differs from the file name")
        return spec
    path = Path(source)
    return parse_spec(_read_toml(path, str(path)), str(path))


def _load_extension(extend: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    if isinstance(extend, Mapping):
        return extend, "<extend dict>"
    path = Path(extend)
    return _read_toml(path, str(path)), str(path)


# ------------------------------------------------------------------------- named states


def bind_states(spec: MachineSpec, constants: type) -> None:
    """Check a class of state-name constants against ``spec``: one upper-case attribute per
    declared state, named as the state, and nothing else; raise :class:`SpecError` if the
    class and the TOML disagree. Code then writes ``TCP.ESTABLISHED``, typed and checked,
    instead of the literal."""
    names = {k: v for k, v in vars(constants).items() if k.isupper()}
    wrong = sorted(k for k, v in names.items() if v != k)
    missing = sorted(set(spec.states) - set(names))
    extra = sorted(set(names) - set(spec.states))
    if wrong or missing or extra:
        raise SpecError(
            f"{spec.origin}: {constants.__qualname__} disagrees with the declared states: "
            f"missing {missing}, not declared {extra}, value differs from the name {wrong}"
        )


def bind_groups(spec: MachineSpec, groups: Callable[..., _G]) -> _G:
    """An instance of ``groups`` (a dataclass with one ``frozenset[str]`` field per group
    declared in ``spec``) holding the declared members; :class:`SpecError` if the fields and
    the TOML's ``[groups]`` disagree."""
    fields = {f.name for f in dataclasses.fields(groups)}  # type: ignore[arg-type]
    if fields != set(spec.groups):
        raise SpecError(
            f"{spec.origin}: {getattr(groups, '__qualname__', groups)} fields {sorted(fields)} "
            f"differ from the declared groups {sorted(spec.groups)}"
        )
    return groups(**{name: g.states for name, g in spec.groups.items()})
