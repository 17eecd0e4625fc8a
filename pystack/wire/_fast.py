"""Fast construction for frozen, slotted reprs.

A frozen dataclass's generated ``__init__`` calls ``object.__setattr__`` once per field,
which costs more than the whole struct unpack on the parse hot path. :func:`fast_init`
replaces it with an ``__init__`` of the same signature that stores through the slot
descriptors directly. Instances stay frozen: ``__setattr__`` still raises.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def fast_init(cls: type[T]) -> type[T]:
    """Give a frozen, slotted dataclass an equivalent but faster ``__init__``."""
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
    source = f"def __init__(self, {', '.join(params)}):\n{body}"
    exec(source, namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
