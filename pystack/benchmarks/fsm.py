"""``pystack bench fsm``: what a declared machine costs per event and per instance.

It drives the built-in ``tcp`` machine with do-nothing hooks through a full connection
life (active open, handshake, close, TIME_WAIT, CLOSED: six events per cycle) and reports:

- the cost of one event through :meth:`pystack.fsm.StateMachine.fire`, and of a trigger
  that has no edge from the current state (the common "nothing to do" case);
- the memory per instance, measured with tracemalloc over N instances (default 10 000),
  for an instance that never fired (only the class-level initial state) and for one that
  took a transition (``state`` stored on the instance);
- the same figures for the obvious alternative, ``transitions.Machine.add_model`` of
  every instance to one machine, side by side.

It is a measurement, not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from pystack.benchmarks._machine import add_machine_arguments, loop_line, machine_info
from pystack.fsm import StateMachine, build_machine, load_spec

CYCLE = (
    "app_active_open",
    "rcv_synack",
    "app_close",
    "rcv_ack_of_fin",
    "rcv_fin",
    "timeout_2msl",
)


def _noop(self: object, **kwargs: Any) -> None:
    return None


def _yes(self: object, **kwargs: Any) -> bool:
    return True


def _same(self: object, seg: Any) -> Any:
    return seg


def _session_class() -> type[StateMachine]:
    """A StateMachine subclass of the tcp machine with every hook a no-op."""
    spec = load_spec("tcp")
    namespace: dict[str, Any] = dict.fromkeys(spec.hooks, _noop)
    namespace.update(dict.fromkeys(spec.conditions, _yes))
    namespace.update(dict.fromkeys(spec.pipeline, _same))
    namespace["on_state_change"] = lambda self, old, trigger, new: None
    return type("BenchSession", (StateMachine,), namespace, machine="tcp")


class _Model:
    """A model for the transitions.Machine comparison: the same no-op hooks."""


def _model_class() -> type:
    spec = load_spec("tcp")
    namespace: dict[str, Any] = dict.fromkeys(spec.hooks, _noop)
    namespace.update(dict.fromkeys(spec.conditions, _yes))
    return type("BenchModel", (_Model,), namespace)


def _per_event(fire: Callable[[str], object], cycles: int, events: tuple[str, ...]) -> float:
    start = time.perf_counter()
    for _ in range(cycles):
        for trigger in events:
            fire(trigger)
    return (time.perf_counter() - start) / (cycles * len(events))


def _memory(make: Callable[[], object], n: int) -> float:
    """Bytes per instance allocated by ``make`` (tracemalloc, after a collection)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    keep = [make() for _ in range(n)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    total = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # The list holding the instances is not the instances' cost.
    total -= len(keep) * 8 + 56
    return total / n


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pystack bench fsm``."""
    parser.add_argument("--instances", type=int, default=10_000, help="instances for memory")
    parser.add_argument("--cycles", type=int, default=20_000, help="connection lives to time")
    add_machine_arguments(parser)


def _ours(args: argparse.Namespace) -> dict[str, float]:
    cls = _session_class()
    obj = cls()
    event = _per_event(lambda t: obj.fire(t), args.cycles, CYCLE)
    miss = _per_event(lambda t: obj.fire(t), args.cycles, ("rcv_ack_of_fin",))

    def fired() -> object:
        o = cls()
        o.fire("app_active_open")
        return o

    return {
        "event": event,
        "miss": miss,
        "idle": _memory(cls, args.instances),
        "fired": _memory(fired, args.instances),
    }


def _reference(args: argparse.Namespace) -> dict[str, float]:
    model_cls = _model_class()
    machine = build_machine(load_spec("tcp"))
    machine.ignore_invalid_triggers = True
    model = model_cls()
    machine.add_model(model)
    cycles = max(1, args.cycles // 5)
    event = _per_event(lambda t: model.trigger(t), cycles, CYCLE)
    miss = _per_event(lambda t: model.trigger(t), cycles, ("rcv_ack_of_fin",))

    def added() -> object:
        m = model_cls()
        machine.add_model(m)
        return m

    n = max(1, args.instances // 5)
    idle = _memory(added, n)
    return {"event": event, "miss": miss, "idle": idle, "fired": idle}


def run(args: argparse.Namespace) -> int:
    """Measure and print the figures; returns 0."""
    ours = _ours(args)
    ref = _reference(args)
    machine = machine_info(args.loop_runs)
    if args.json:
        units = {"event": "s", "miss": "s", "idle": "B", "fired": "B"}
        report = {"benchmark": "fsm", "machine": machine, "instances": args.instances,
                  "cycles": args.cycles, "units": units,
                  "results": {"pystack.fsm": ours, "add_model": ref}}  # fmt: skip
        print(json.dumps(report, indent=1))
        return 0
    print(f"tcp machine, {len(CYCLE)} events per connection life, no-op hooks")
    print(loop_line(machine))
    print(f"{'':34}{'pystack.fsm':>14}{'add_model':>14}")
    rows = (
        ("per event (transition taken)", "event", 1e6, "µs"),
        ("per event (no edge from state)", "miss", 1e6, "µs"),
        (f"per instance, idle (n={args.instances})", "idle", 1, "B"),
        ("per instance, after a transition", "fired", 1, "B"),
    )
    for label, key, scale, unit in rows:
        print(f"{label:34}{ours[key] * scale:>11.2f} {unit:<2}{ref[key] * scale:>11.2f} {unit}")
    print("add_model: transitions.Machine.add_model per instance (bound trigger methods).")
    return 0


def main() -> int:
    """Run as ``python -m pystack.benchmarks.fsm``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
