"""Fast construction for frozen, slotted reprs.

A frozen dataclass's generated ``__init__`` calls ``object.__setattr__`` once per field,
which costs more than the struct unpack on the parse hot path. :func:`fast_init` gives
the class:

- an ``__init__`` of the same signature that stores through the slot descriptors;
- a *twin*: a plain class with the same ``__slots__``. The parsers create the twin, store
  the fields with ordinary attribute assignments, then set ``__class__`` to the frozen
  class, which CPython allows between classes of identical layout. That is about twice as
  fast again. ``cls._build(*all_fields)`` does the same for code that is not that hot.

Instances are real instances of the frozen class either way: ``__setattr__`` still raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")
_TWINS: dict[type, type] = {}


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass a faster ``__init__``, a twin and ``_build``."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    params = []
    namespace: dict[str, Any] = {}
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        namespace[f"_s_{f.name}"] = getattr(cls, f.name).__set__
    body = "".join(f"    _s_{n}(self, {n})\n" for n in names)
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    twin = _make_twin(cls, names)
    _TWINS[cls] = twin
    stores = "".join(f"    obj.{n} = {n}\n" for n in names)
    namespace = {"_cls": cls, "_twin": twin, "_new": object.__new__}
    exec(
        f"def _build({', '.join(names)}):\n    obj = _new(_twin)\n{stores}"
        "    obj.__class__ = _cls\n    return obj\n",
        namespace,
    )
    cls._build = staticmethod(namespace["_build"])  # type: ignore[attr-defined]
    return cls


def _make_twin(cls: type, names: list[str]) -> type:
    if tuple(cls.__dict__.get("__slots__", ())) != tuple(names):
        raise TypeError(f"{cls.__name__}: fast_init needs a slots=True dataclass")
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": tuple(names)})
    probe: Any = object.__new__(twin)
    try:
        probe.__class__ = cls
    except TypeError as exc:  # not CPython's layout rules: say so at import, not per packet
        raise TypeError(f"{cls.__name__}: cannot build through a twin class: {exc}") from None
    return twin


def twin_of(cls: type) -> type:
    """The plain slotted class whose instances become ``cls`` by setting ``__class__``."""
    return _TWINS[cls]
