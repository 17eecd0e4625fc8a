"""Fast construction for frozen, slotted reprs.

A frozen dataclass's generated ``__init__`` calls ``object.__setattr__`` once per field,
which costs more than the struct unpack on the parse hot path. :func:`fast_init` gives
the class:

- an ``__init__`` of the same signature that stores through the slot descriptors;
- ``cls._build(*all_fields)``, for the parsers: it fills an instance of a plain slotted twin
  class with the same layout, then sets its ``__class__`` to the frozen class (CPython
  allows this between classes with identical slots). It is about twice as fast again.

Instances are real instances of the frozen class either way: ``__setattr__`` still raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass a faster ``__init__`` and a ``_build`` constructor."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    params = []
    namespace: dict[str, Any] = {}
    for f in fields:
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            namespace[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        namespace[f"_s_{f.name}"] = getattr(cls, f.name).__set__
    body = "".join(f"    _s_{f.name}(self, {f.name})\n" for f in fields)
    exec(f"def __init__(self, {', '.join(params)}):\n{body}", namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    cls._build = staticmethod(_twin_builder(cls, [f.name for f in fields]))  # type: ignore[attr-defined]
    return cls


def _twin_builder(cls: type[T], names: list[str]) -> Callable[..., T]:
    slots = cls.__dict__.get("__slots__", ())
    if tuple(slots) != tuple(names):
        return cls
    stores = "".join(f"    obj.{n} = {n}\n" for n in names)
    args = ", ".join(names)
    source = (
        f"class _Twin:\n    __slots__ = {tuple(names)!r}\n"
        f"def build({args}):\n    obj = _new(_Twin)\n{stores}    obj.__class__ = _cls\n"
        "    return obj\n"
    )
    namespace: dict[str, Any] = {"_cls": cls, "_new": object.__new__}
    exec(source, namespace)
    build: Callable[..., T] = namespace["build"]
    try:
        probe = build(*range(len(names)))
    except TypeError:
        return cls  # layouts differ on this interpreter: the plain constructor still works
    if type(probe) is not cls:
        return cls
    return build
