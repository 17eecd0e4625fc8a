"""The paths of ``pystack bench net``, their targets, and the report (pure functions).

:mod:`pystack.benchmarks.net` measures; this module says what each path is, which
figures it measures and which targets it is held to, scales those targets to the
machine's Python speed, and turns the measurements into the JSON report and the table.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pystack.benchmarks._machine import loop_line, machine_info

METRICS = ("bulk_in", "bulk_out", "conn_rate", "mem_per_conn")
LABELS = {
    "bulk_in": "kernel -> endpoint (MB/s)",
    "bulk_out": "endpoint -> kernel (MB/s)",
    "conn_rate": "connect+close per second",
    "mem_per_conn": "bytes per idle connection",
}
SHORT = {
    "bulk_in": "in MB/s",
    "bulk_out": "out MB/s",
    "conn_rate": "conn/s",
    "mem_per_conn": "B/conn",
}
UNITS = {"bulk_in": "MB/s", "bulk_out": "MB/s", "conn_rate": "conn/s", "mem_per_conn": "B"}

# What each path is; the order is the report's.
PATH_INFO = {
    "kernel": "a second kernel over a veth pair",
    "forwarder": "a kernel behind the Python TAP frame forwarder, plain frames (the ceiling "
    "without offloads)",
    "forwarder-offloads": "a kernel behind the Python TAP frame forwarder, both TAPs with "
    "checksum and segmentation offloads (the ceiling with offloads)",
    "stack-tap": "PyStack on a TAP device with offloads (the default)",
    "stack-tap-plain": "PyStack on a TAP device without offloads (plain frames)",
    "stack-interface": "PyStack on a veth interface through a packet socket with its own "
    "address, PACKET_VNET_HDR offloads (interface mode)",
}
PATHS = tuple(PATH_INFO)
STACK_PATHS = ("stack-tap", "stack-tap-plain", "stack-interface")
FORWARDERS = ("forwarder", "forwarder-offloads")
# ``stack`` names the stack on a TAP, with or without offloads as --offloads says.
ALIASES = {"stack": ("stack-tap", "stack-tap-plain")}
# Which metrics each path measures; the others print as "-".
MEASURED = {
    path: METRICS if path in STACK_PATHS else ("bulk_in", "bulk_out", "conn_rate") for path in PATHS
}

# The targets, on a machine whose python_loop_s is at most REFERENCE_LOOP_S; throughput and
# connection rates are scaled by REFERENCE_LOOP_S / python_loop_s on a slower machine (a
# stack that is CPU-bound in Python runs in proportion to 1 / python_loop_s). Memory is not.
REFERENCE_LOOP_S = 0.6
SCALED = ("bulk_in", "bulk_out", "conn_rate")
_SHARED_TARGETS = {"conn_rate": (">=", 5000.0), "mem_per_conn": ("<=", 4096.0)}
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "stack-tap": {"bulk_in": (">=", 500.0), "bulk_out": (">=", 500.0), **_SHARED_TARGETS},
    "stack-tap-plain": {"bulk_in": (">=", 60.0), "bulk_out": (">=", 60.0), **_SHARED_TARGETS},
    "stack-interface": {"bulk_in": (">=", 300.0), "bulk_out": (">=", 300.0), **_SHARED_TARGETS},
}
# "For 20 s without decay": a loop of at least this long, whose last quarter keeps 90 % of
# its first quarter's rate.
MIN_DECAY = 0.9
MIN_LOOP_S = 20.0


@dataclass
class Measurement:
    """One run of one workload on one path. ``value`` is None when it could not run."""

    value: float | None
    wall: float = 0.0
    cpu_process: float = 0.0
    cpu_machine: float = 0.0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- figures


def median_or_none(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or None when either is missing or ``den`` is zero."""
    if num is None or den is None or den == 0:
        return None
    return num / den


def per_second(cpu: float, sample: Measurement) -> float | None:
    """CPU seconds per wall second (cores busy), None without a value or a duration."""
    if sample.value is None or sample.wall <= 0:
        return None
    return cpu / sample.wall


def summarize_cell(samples: list[Measurement]) -> dict[str, Any]:
    """Median, runs and CPU of one (path, metric) cell; ``na`` holds why it has no value."""
    values = [s.value for s in samples]
    notes = [s.note for s in samples if s.value is None and s.note]
    cell: dict[str, Any] = {
        "median": median_or_none(values),
        "runs": values,
        "cpu_process": median_or_none(per_second(s.cpu_process, s) for s in samples),
        "cpu_machine": median_or_none(per_second(s.cpu_machine, s) for s in samples),
        "na": notes[0] if notes and all(v is None for v in values) else None,
        "notes": sorted({s.note for s in samples if s.value is not None and s.note}),
        "details": [s.extra for s in samples],
    }
    decays = [s.extra["decay"] for s in samples if s.extra.get("decay") is not None]
    if decays:
        cell["decay"] = statistics.median(decays)
    return cell


def ratio_pairs() -> list[tuple[str, str]]:
    """(path, reference) pairs the report divides: every path by the kernel, every stack
    path by both forwarders (its ceilings), and the forwarder with offloads by the plain one."""
    pairs = [(p, "kernel") for p in PATHS if p != "kernel"]
    pairs += [(p, f) for p in STACK_PATHS for f in FORWARDERS]
    pairs.append(("forwarder-offloads", "forwarder"))
    return pairs


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """``ratios[metric]["path/reference"]`` for every pair of :func:`ratio_pairs`."""

    def med(path: str, metric: str) -> float | None:
        return results.get(path, {}).get(metric, {}).get("median")

    return {
        metric: {f"{p}/{ref}": ratio(med(p, metric), med(ref, metric)) for p, ref in ratio_pairs()}
        for metric in METRICS
    }


# ---------------------------------------------------------------- targets


def target_scale(machine: dict[str, Any]) -> dict[str, Any]:
    """How the targets are scaled on this machine: by REFERENCE_LOOP_S / python_loop_s when
    its Python is slower than the reference, not at all otherwise (or when not measured)."""
    loop = machine.get("python_loop_s")
    scale = {"reference_loop_s": REFERENCE_LOOP_S, "python_loop_s": loop, "factor": 1.0}
    if loop is None:
        scale["note"] = "targets not scaled: python_loop_s not measured"
    elif loop <= REFERENCE_LOOP_S:
        scale["note"] = (
            f"targets as set: python_loop_s {loop:.3f} s is at most {REFERENCE_LOOP_S} s"
        )
    else:
        scale["factor"] = round(REFERENCE_LOOP_S / loop, 3)
        scale["note"] = (
            f"MB/s and conn/s targets scaled by {REFERENCE_LOOP_S} / python_loop_s "
            f"= {scale['factor']:.2f}: this machine's Python is slower than the reference "
            f"(python_loop_s {loop:.3f} s > {REFERENCE_LOOP_S} s)"
        )
    return scale


def check_targets(
    results: dict[str, dict[str, Any]], params: dict[str, Any], factor: float = 1.0
) -> dict[str, dict[str, dict[str, Any]]]:
    """``targets[path][metric]`` for every measured figure of a stack path (see
    :func:`judge`); a figure that could not be measured is judged ``met: None``."""
    return {
        path: {m: judge(path, m, cells[m], params, factor) for m in TARGETS[path] if m in cells}
        for path, cells in results.items()
        if path in TARGETS
    }


def judge(
    path: str, metric: str, cell: dict[str, Any], params: dict[str, Any], factor: float = 1.0
) -> dict[str, Any]:
    """One figure against its target: ``met`` (None without a figure), the ``shortfall``
    (how far the figure is from the bound, in its unit, when missed) and ``why`` when a
    side condition (decay, loop length, connections held) decided it."""
    op, reference = TARGETS[path][metric]
    scaled = metric in SCALED and factor != 1.0
    bound = round(reference * factor, 1) if scaled else reference
    value = cell.get("median")
    how = f" ({fmt_bound(reference)} x {factor:.2f})" if scaled else ""
    out: dict[str, Any] = {
        "target": f"{op} {fmt_bound(bound)} {UNITS[metric]}{how}",
        "bound": bound,
        "reference_bound": reference,
        "value": value,
        "met": None,
        "shortfall": None,
    }
    if value is None:
        return out
    out["met"] = value >= bound if op == ">=" else value <= bound
    if not out["met"]:
        out["shortfall"] = bound - value if op == ">=" else value - bound
    elif metric == "conn_rate":
        out.update(_conn_rate_conditions(cell, params))
    elif metric == "mem_per_conn":
        wanted = params.get("connections", 0)
        held = min((d.get("established", 0) for d in cell.get("details", [])), default=0)
        out["met"] = held >= wanted
        out["why"] = f"{held} of {wanted} connections held"
    return out


def _conn_rate_conditions(cell: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The rate was high enough: was the loop long enough, and did it hold up?"""
    loop = params.get("duration")
    if loop is not None and loop < MIN_LOOP_S:
        return {"met": False, "why": f"a loop of {loop:g} s, at least {MIN_LOOP_S:g} s wanted"}
    if cell.get("decay") is not None:
        why = f"decay {cell['decay']:.2f}, at least {MIN_DECAY} wanted"
        return {"met": cell["decay"] >= MIN_DECAY, "why": why}
    return {}


def fmt_bound(bound: float) -> str:
    return f"{bound:g}" if bound == int(bound) else f"{bound:.1f}"


# ---------------------------------------------------------------- the report


def summarize(
    samples: dict[tuple[str, str], list[Measurement]],
    params: dict[str, Any],
    machine: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report: per path what it is and the machine's ``python_loop_s`` beside it,
    medians per path and metric, ratios, targets (scaled to the machine), ``machine``
    (`machine_info`; by default without the Python speed loop) and parameters."""
    machine = machine if machine is not None else machine_info(loop_runs=0)
    results: dict[str, dict[str, Any]] = {}
    for (path, metric), cell_samples in samples.items():
        results.setdefault(path, {})[metric] = summarize_cell(cell_samples)
    scale = target_scale(machine)
    loop = machine.get("python_loop_s")
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "params": params,
        "units": UNITS,
        "paths": {p: {"endpoint": PATH_INFO.get(p, p), "python_loop_s": loop} for p in results},
        "results": results,
        "ratios": ratios(results),
        "target_scale": scale,
        "targets": check_targets(results, params, scale["factor"]),
    }


# ---------------------------------------------------------------- the table


def fmt_value(value: float | None, metric: str) -> str:
    """A figure as shown in the table."""
    if value is None:
        return "-"
    if metric == "mem_per_conn":
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def cell_text(cell: dict[str, Any] | None, metric: str) -> str:
    if cell is None:
        return "-"
    if cell["median"] is None and cell.get("na"):
        return "n/a"
    return fmt_value(cell["median"], metric)


def cpu_text(cell: dict[str, Any] | None) -> str:
    if cell is None or cell["cpu_process"] is None:
        return "-"
    return f"{cell['cpu_process']:.2f} / {cell['cpu_machine']:.2f}"


def columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows aligned in columns: the first to the left, the others to the right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def format_table(summary: dict[str, Any]) -> str:
    """The human-readable report: figures per path, ratios, CPU, targets, and notes."""
    results = summary["results"]
    paths = [p for p in (*PATHS, *results) if p in results]
    paths = list(dict.fromkeys(paths))
    figures: list[tuple[str, ...]] = [("path", *(SHORT[m] for m in METRICS))]
    figures += [(p, *(cell_text(results[p].get(m), m) for m in METRICS)) for p in paths]
    ratio_rows: list[tuple[str, ...]] = [("ratio", *(SHORT[m] for m in METRICS))]
    for key in summary["ratios"][METRICS[0]]:
        row = [summary["ratios"][m][key] for m in METRICS]
        if any(v is not None for v in row):
            ratio_rows.append((key, *(fmt_ratio(v) for v in row)))
    cpu: list[tuple[str, ...]] = [("CPU, cores busy: processes / machine", *METRICS)]
    cpu += [(p, *(cpu_text(results[p].get(m)) for m in METRICS)) for p in paths]
    head = [title_line(summary), loop_line(summary["machine"])]
    blocks = [columns(figures), columns(ratio_rows) if len(ratio_rows) > 1 else [], columns(cpu)]
    body = [line for block in blocks if block for line in ["", *block]]
    return "\n".join([*head, *body, "", *target_lines(summary), "", *path_lines(paths),
                      *notes(summary)]) + "\n"  # fmt: skip


def target_lines(summary: dict[str, Any]) -> list[str]:
    """One line per judged figure, under the scaling note."""
    lines = [f"targets ({summary['target_scale']['note']}):"]
    for path, judged in summary.get("targets", {}).items():
        for metric, target in judged.items():
            lines.append(f"  {path} {metric}: {target_text(target, metric)}")
    return lines if len(lines) > 1 else []


def target_text(target: dict[str, Any] | None, metric: str = "") -> str:
    if target is None:
        return "-"
    verdict = {True: "met", False: "NOT met", None: "no figure"}[target["met"]]
    shape = metric or "bulk_in"  # how to print the figures
    if target["met"] is False and target.get("shortfall") is not None:
        unit = f" {UNITS[metric]}" if metric else ""
        verdict += f", short by {fmt_value(target['shortfall'], shape)}{unit}"
    why = f" ({target['why']})" if target["met"] is False and target.get("why") else ""
    shown = "" if target["value"] is None else f"{fmt_value(target['value'], shape)}, "
    return f"{target['target']}: {shown}{verdict}{why}"


def path_lines(paths: list[str]) -> list[str]:
    return ["paths:", *(f"  {p}: {PATH_INFO.get(p, p)}" for p in paths)]


def title_line(summary: dict[str, Any]) -> str:
    m, p = summary["machine"], summary["params"]
    return (
        f"pystack bench net, {summary['date']}: medians of {p['runs']} runs, "
        f"{m['cpus']} CPUs ({m['cpu_model'] or 'unknown'}), Linux {m['kernel']}, "
        f"Python {m['python']}, MTU 1500, MB = 10^6 bytes"
    )


def notes(summary: dict[str, Any]) -> list[str]:
    """Footnotes: why a figure is n/a, and how connection rates held up over time."""
    out = []
    for path, cells in summary["results"].items():
        for metric, cell in cells.items():
            if cell.get("na"):
                out.append(f"n/a {path} {metric}: {cell['na']}")
            out.extend(f"{path} {metric}: {note}" for note in cell.get("notes", ()))
            if cell.get("decay") is not None:
                out.append(f"{path} {metric}: last/first quarter of the loop = {cell['decay']:.2f}")
            out.extend(f"{path} {metric}: {text}" for text in gc_notes(cell))
    return out


def gc_notes(cell: dict[str, Any]) -> list[str]:
    """The stack process's garbage-collector time in each run, when it was measured."""
    out = []
    for run_no, extra in enumerate(cell.get("details", ()), 1):
        gc_stats = extra.get("gc")
        if gc_stats:
            total = sum(gc_stats["seconds"])
            full = gc_stats["collections"][2]
            longest = gc_stats["longest"] * 1000
            out.append(
                f"run {run_no}: GC {total:.2f} s ({full} full collections, "
                f"longest pause {longest:.0f} ms)"
            )
    return out
