"""`pystack bench net`: its arguments, the figures it derives, the report, and one real run."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

import pytest

from pystack.benchmarks import net
from pystack.benchmarks._netlab import BenchLab, LabError, Worker, leftovers, sweep_stale
from pystack.benchmarks.forwarder import Forwarder
from pystack.benchmarks.net import Measurement


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    net.add_arguments(parser)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- arguments


def test_defaults_measure_every_path_three_times() -> None:
    args = parse()
    assert (args.runs, args.mbytes, args.duration) == (3, 1000, 20.0)
    assert args.connections == 10_000
    assert args.paths == (
        "kernel",
        "forwarder",
        "forwarder-offloads",
        "stack-tap",
        "stack-tap-plain",
        "stack-interface",
    )
    assert args.offloads is True
    assert net.resolve_paths(args.paths) == args.paths
    assert args.json is False


def test_knobs_are_parsed() -> None:
    args = parse("--runs", "5", "--mbytes", "7", "--duration", "1.5", "--json")
    assert (args.runs, args.mbytes, args.duration, args.json) == (5, 7, 1.5, True)


def test_paths_keep_the_canonical_order() -> None:
    assert parse("--paths", "stack-interface,kernel,forwarder-offloads").paths == (
        "kernel",
        "forwarder-offloads",
        "stack-interface",
    )


def test_stack_is_the_tap_with_or_without_offloads() -> None:
    args = parse("--paths", "stack,kernel")
    assert args.paths == ("kernel", "stack")
    assert net.resolve_paths(args.paths, args.offloads) == ("kernel", "stack-tap")
    plain = parse("--paths", "stack", "--no-offloads")
    assert net.resolve_paths(plain.paths, plain.offloads) == ("stack-tap-plain",)
    both = parse("--paths", "stack-tap,stack")
    assert net.resolve_paths(both.paths, both.offloads) == ("stack-tap",)


def test_the_paths_selected_are_the_paths_built() -> None:
    class Recorder:
        def __init__(self) -> None:
            self.made: list[tuple[str, ...]] = []

        def namespace(self, suffix: str) -> str:
            return f"pyb0-{suffix}"

        def veth(self, *args: object) -> None:
            self.made.append(("veth", *map(str, args)))

        def tap(self, *args: object) -> None:
            self.made.append(("tap", *map(str, args)))

    lab = Recorder()
    setups = net.build_lab(lab, net.PATHS)  # type: ignore[arg-type]
    assert tuple(setups) == net.PATHS
    assert [s.is_stack for s in setups.values()] == [False] * 3 + [True] * 3
    assert (setups["stack-tap"].offloads, setups["stack-tap-plain"].offloads) == (True, False)
    assert setups["stack-interface"].stack_interface == "bv1"
    assert ("veth", "pyb0-i1", "198.18.3.1/24", "pyb0-i2", "None") in lab.made
    networks = {s.client_addr.rsplit(".", 1)[0] for s in setups.values()}
    assert len(networks) == len(setups)  # one network per path
    assert tuple(net.build_lab(Recorder(), ("kernel",))) == ("kernel",)  # type: ignore[arg-type]


def test_metrics_default_to_all_and_keep_the_canonical_order() -> None:
    assert parse().metrics == net.METRICS
    assert parse("--metrics", "mem_per_conn, bulk_in").metrics == ("bulk_in", "mem_per_conn")
    assert net.metric_list("conn_rate,conn_rate") == ("conn_rate",)


@pytest.mark.parametrize("text", ["bulk_in,bogus", "", " , "])
def test_unknown_or_no_metrics_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="metrics are bulk_in,bulk_out"):
        net.metric_list(text)


@pytest.mark.parametrize(
    "argv",
    [
        ("--runs", "0"),
        ("--mbytes", "-1"),
        ("--duration", "0"),
        ("--paths", "kernel,bogus"),
        ("--paths", "stack-tun"),
    ],
)
def test_bad_knobs_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)


# ---------------------------------------------------------------- figures


def test_median_ignores_missing_values() -> None:
    assert net.median_or_none([3.0, None, 1.0, 2.0]) == 2.0
    assert net.median_or_none([None, None]) is None


def test_ratio_is_none_without_both_figures() -> None:
    assert net.ratio(50.0, 200.0) == 0.25
    assert net.ratio(None, 200.0) is None
    assert net.ratio(50.0, None) is None
    assert net.ratio(50.0, 0.0) is None


def test_decay_compares_last_quarter_with_first() -> None:
    assert net.decay([100, 100, 100, 100, 50, 50, 50, 50]) == 0.5
    assert net.decay([10, 10]) is None  # too short to have quarters
    assert net.decay([0, 5, 5, 5]) is None


def test_bulk_rate_is_measured_at_the_sink() -> None:
    m = net.bulk_measurement(
        {"bytes": 50_000_000, "seconds": 2.0, "cpu": 1.0}, {"bytes": 50_000_000, "cpu": 0.5}
    )
    assert m.value == 25.0
    assert (m.wall, m.cpu_process) == (2.0, 1.5)
    assert net.bulk_measurement({"bytes": 0, "seconds": 1.0, "cpu": 0}, {"cpu": 0}).value is None


def test_connection_rate_and_its_decay() -> None:
    client = {"connections": 800, "seconds": 4.0, "per_second": [200] * 4, "cpu": 1.0}
    m = net.conn_measurement(client, {"cpu": 0.5})
    assert m.value == 200.0
    assert m.extra["decay"] == 1.0
    assert m.cpu_process == 1.5


def test_memory_per_connection_notes_a_shortfall() -> None:
    stack = {"established": 90, "rss_growth": 900_000, "bytes_per_conn": 10_000.0}
    m = net.memory_measurement({"opened": 90}, stack, wanted=100)
    assert m.value == 10_000.0
    assert "only 90" in m.note
    missing = {"established": 0, "rss_growth": 0, "bytes_per_conn": None}
    assert net.memory_measurement({"opened": 0}, missing, wanted=100).value is None


# ---------------------------------------------------------------- report


def sample_summary(python_loop_s: float | None = None) -> dict:
    samples = {
        ("kernel", "bulk_in"): [
            Measurement(2000.0, wall=1.0, cpu_process=1.0, cpu_machine=1.8),
            Measurement(1800.0, wall=1.0, cpu_process=1.0, cpu_machine=1.8),
            Measurement(2200.0, wall=1.0, cpu_process=1.0, cpu_machine=1.8),
        ],
        ("forwarder", "bulk_in"): [Measurement(100.0, wall=2.0, cpu_process=3.0, cpu_machine=4)],
        ("forwarder-offloads", "bulk_in"): [Measurement(400.0, wall=1.0)],
        ("stack-tap", "bulk_in"): [Measurement(20.0, wall=5.0, cpu_process=5.0, cpu_machine=5.0)],
        ("stack-tap", "mem_per_conn"): [Measurement(None, note="no TapLink yet")] * 3,
        ("stack-tap", "conn_rate"): [Measurement(500.0, wall=20, note="3 connect errors")],
        ("stack-tap-plain", "bulk_in"): [Measurement(70.0, wall=1.0)],
        ("kernel", "conn_rate"): [
            Measurement(4000.0, wall=20, extra={"decay": 0.9}),
            Measurement(4500.0, wall=20, extra={"decay": 1.1}),
        ],
    }
    machine = net.machine_info(loop_runs=0)
    machine["python_loop_s"] = python_loop_s
    params = {"runs": 3, "mbytes": 10, "duration": 20.0}
    return net.summarize(samples, params, machine)


def test_summary_holds_medians_and_ratios() -> None:
    summary = sample_summary()
    assert summary["results"]["kernel"]["bulk_in"]["median"] == 2000.0
    assert summary["results"]["kernel"]["bulk_in"]["runs"] == [2000.0, 1800.0, 2200.0]
    assert summary["results"]["forwarder"]["bulk_in"]["cpu_process"] == 1.5
    ratios = summary["ratios"]["bulk_in"]
    assert ratios["stack-tap/kernel"] == 0.01
    assert ratios["stack-tap/forwarder"] == 0.2
    assert ratios["stack-tap/forwarder-offloads"] == 0.05
    assert ratios["stack-tap-plain/forwarder"] == 0.7
    assert ratios["forwarder/kernel"] == 0.05
    assert ratios["forwarder-offloads/forwarder"] == 4.0
    assert ratios["stack-interface/kernel"] is None  # not measured
    assert summary["results"]["kernel"]["conn_rate"]["decay"] == 1.0
    assert summary["results"]["stack-tap"]["mem_per_conn"]["na"] == "no TapLink yet"


def test_every_path_carries_the_machines_python_speed() -> None:
    summary = sample_summary(python_loop_s=0.45)
    assert set(summary["paths"]) == set(summary["results"])
    for path in summary["paths"].values():
        assert path["python_loop_s"] == 0.45
        assert path["endpoint"]
    assert summary["machine"]["python_loop_s"] == 0.45


def test_targets_are_judged_per_stack_path_on_its_medians() -> None:
    targets = sample_summary()["targets"]
    assert set(targets) == {"stack-tap", "stack-tap-plain"}  # measured stack paths only
    tap = targets["stack-tap"]
    assert tap["bulk_in"]["target"] == ">= 500 MB/s"
    assert (tap["bulk_in"]["met"], tap["bulk_in"]["shortfall"]) == (False, 480.0)
    assert "bulk_out" not in tap  # not measured: not judged
    assert tap["mem_per_conn"]["met"] is None  # could not run: no verdict
    plain = targets["stack-tap-plain"]["bulk_in"]
    assert (plain["target"], plain["met"], plain["shortfall"]) == (">= 60 MB/s", True, None)


def test_each_stack_path_has_its_own_throughput_target() -> None:
    assert net.TARGETS["stack-tap"]["bulk_out"] == (">=", 500.0)
    assert net.TARGETS["stack-tap-plain"]["bulk_out"] == (">=", 60.0)
    assert net.TARGETS["stack-interface"]["bulk_in"] == (">=", 300.0)
    for path in net.STACK_PATHS:
        assert net.TARGETS[path]["conn_rate"] == (">=", 5000.0)
        assert net.TARGETS[path]["mem_per_conn"] == ("<=", 4096.0)
    assert "kernel" not in net.TARGETS and "forwarder" not in net.TARGETS


def test_targets_scale_with_a_slower_python_and_say_so() -> None:
    slow = sample_summary(python_loop_s=1.2)
    assert slow["target_scale"]["factor"] == 0.5
    assert "scaled by 0.6 / python_loop_s = 0.50" in slow["target_scale"]["note"]
    tap = slow["targets"]["stack-tap"]
    assert tap["bulk_in"]["bound"] == 250.0
    assert tap["bulk_in"]["reference_bound"] == 500.0
    assert tap["bulk_in"]["target"] == ">= 250 MB/s (500 x 0.50)"
    assert tap["conn_rate"]["bound"] == 2500.0
    assert slow["targets"]["stack-tap-plain"]["bulk_in"]["bound"] == 30.0
    memory = net.judge("stack-tap", "mem_per_conn", {"median": 5000.0}, {}, 0.5)
    assert memory["bound"] == 4096.0  # bytes do not scale with speed
    table = net.format_table(slow)
    assert "MB/s and conn/s targets scaled by 0.6 / python_loop_s = 0.50" in table


@pytest.mark.parametrize("loop", [0.3, 0.6, None])
def test_targets_are_not_scaled_on_a_fast_or_unmeasured_machine(loop: float | None) -> None:
    summary = sample_summary(python_loop_s=loop)
    assert summary["target_scale"]["factor"] == 1.0
    assert summary["targets"]["stack-tap"]["bulk_in"]["bound"] == 500.0
    wanted = "not measured" if loop is None else "targets as set"
    assert wanted in summary["target_scale"]["note"]


def test_a_decaying_or_short_connection_rate_misses_its_target() -> None:
    params = {"duration": 20.0}
    steady = {"median": 6000.0, "decay": 0.95}
    decaying = {"median": 6000.0, "decay": 0.5}
    assert net.judge("stack-tap", "conn_rate", steady, params)["met"] is True
    missed = net.judge("stack-tap", "conn_rate", decaying, params)
    assert missed["met"] is False
    assert net.target_text(missed, "conn_rate") == (
        ">= 5000 conn/s: 6,000.0, NOT met (decay 0.50, at least 0.9 wanted)"
    )
    short = net.judge("stack-tap", "conn_rate", steady, {"duration": 3.0})
    assert (short["met"], short["why"]) == (False, "a loop of 3 s, at least 20 s wanted")
    slow = net.judge("stack-tap", "conn_rate", {"median": 4000.0}, params)
    assert (slow["met"], slow["shortfall"]) == (False, 1000.0)


def test_memory_target_needs_every_connection_held() -> None:
    params = {"connections": 10_000}
    held = {"median": 4000.0, "details": [{"established": 10_000}]}
    short = {"median": 4000.0, "details": [{"established": 9_000}]}
    assert net.judge("stack-interface", "mem_per_conn", held, params)["met"] is True
    assert net.judge("stack-interface", "mem_per_conn", short, params)["met"] is False
    fat = {"median": 4100.0, "details": [{"established": 10_000}]}
    judged = net.judge("stack-interface", "mem_per_conn", fat, params)
    assert (judged["met"], judged["shortfall"]) == (False, 4.0)


def test_gc_notes_give_each_runs_total_full_collections_and_longest_pause() -> None:
    measured = {"seconds": [0.25, 0.5, 1.34], "collections": [900, 80, 10], "longest": 0.4914}
    cell = {"details": [{"gc": measured}, {}, {"gc": measured}]}
    assert net.gc_notes(cell) == [
        "run 1: GC 2.09 s (10 full collections, longest pause 491 ms)",
        "run 3: GC 2.09 s (10 full collections, longest pause 491 ms)",
    ]
    assert net.gc_notes({"details": [{"established": 5}]}) == []
    assert net.gc_notes({}) == []


def test_gc_notes_appear_under_the_table() -> None:
    gc_stats = {"seconds": [0.1, 0.1, 0.3], "collections": [50, 5, 2], "longest": 0.02}
    samples = {("stack-tap", "conn_rate"): [Measurement(500.0, wall=20, extra={"gc": gc_stats})]}
    table = net.format_table(net.summarize(samples, {"runs": 1}))
    assert (
        "stack-tap conn_rate: run 1: GC 0.50 s (2 full collections, longest pause 20 ms)" in table
    )


def test_summary_is_json() -> None:
    summary = sample_summary(python_loop_s=0.9)
    again = json.loads(json.dumps(summary))
    assert again["results"]["stack-tap"]["bulk_in"]["median"] == 20.0
    assert again["units"]["bulk_in"] == "MB/s"
    assert again["machine"]["cpus"] == os.cpu_count()
    assert again["targets"]["stack-tap"]["bulk_in"]["met"] is False
    assert again["target_scale"]["python_loop_s"] == 0.9


def table_line(table: str, start: str) -> list[str]:
    return next(line for line in table.splitlines() if line.startswith(start)).split()


def test_table_shows_figures_ratios_cpu_targets_and_reasons() -> None:
    table = net.format_table(sample_summary())
    assert table_line(table, "kernel ") == ["kernel", "2,000.0", "-", "4,250.0", "-"]
    assert table_line(table, "stack-tap ") == ["stack-tap", "20.0", "-", "500.0", "n/a"]
    assert table_line(table, "stack-tap/forwarder ")[:2] == ["stack-tap/forwarder", "0.20"]
    assert table_line(table, "forwarder/kernel ")[:2] == ["forwarder/kernel", "0.050"]
    assert "stack-interface/kernel" not in table  # a ratio without figures is left out
    assert "  stack-tap bulk_in: >= 500 MB/s: 20.0, NOT met, short by 480.0 MB/s" in table
    assert "  stack-tap-plain bulk_in: >= 60 MB/s: 70.0, met" in table
    assert "  stack-tap mem_per_conn: <= 4096 B: no figure" in table
    assert "n/a stack-tap mem_per_conn: no TapLink yet" in table
    assert "stack-tap conn_rate: 3 connect errors" in table
    assert "1.00 / 1.80" in table
    assert "medians of 3 runs" in table
    assert "  forwarder-offloads: " in table  # what each path is


# ---------------------------------------------------------------- pieces with I/O


def test_forwarder_does_one_write_per_frame_read() -> None:
    a_near, a_far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    b_near, b_far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    socks = (a_near, a_far, b_near, b_far)
    try:
        for s in socks:
            s.setblocking(False)
        # the largest: a 64 KB super-frame with its Ethernet and virtio-net headers, as
        # the forwarder with offloads passes it on whole
        frames = [b"\x01" * 60, b"\x02" * 1514, b"\x03" * 9000, b"\x04" * (65536 + 14 + 10)]
        for frame in frames:
            a_far.send(frame)
        forwarder = Forwarder(a_near.fileno(), b_near.fileno())
        forwarder.drain(a_near.fileno())
        assert [b_far.recv(1 << 17) for _ in frames] == frames
        assert (forwarder.frames, forwarder.bytes) == (4, sum(map(len, frames)))
    finally:
        for s in socks:
            s.close()


def spawn(code: str) -> Worker:
    popen = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    return Worker("probe", popen)


def test_worker_reads_json_lines_in_order() -> None:
    worker = spawn("print('{\"ready\": true}'); print('{\"bytes\": 5}', flush=True)")
    try:
        assert worker.read_json(10) == {"ready": True}
        assert worker.read_json(10) == {"bytes": 5}
    finally:
        worker.stop()


def test_worker_that_dies_says_why() -> None:
    worker = spawn("import sys; sys.exit('broken on purpose')")
    try:
        with pytest.raises(LabError, match="broken on purpose"):
            worker.read_json(10)
    finally:
        worker.stop()


def test_silent_worker_times_out_and_is_stopped() -> None:
    worker = spawn("import time; time.sleep(60)")
    with pytest.raises(LabError, match="no answer"):
        worker.read_json(0.2)
    worker.stop(grace=1)
    assert worker.popen.returncode is not None


# ---------------------------------------------------------------- end to end


def run_bench(*argv: str) -> tuple[dict, str]:
    """``python -m pystack.benchmarks.net ... --json``: (report, progress), lab removed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pystack.benchmarks.net", *argv, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the bench removes its lab before exiting
        out, err = proc.communicate(timeout=60)
        pytest.fail(f"bench net did not finish in 120 s: {err[-2000:]}")
    assert proc.returncode == 0, err
    assert list(leftovers(f"pyb{proc.pid}-")) == []
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert "bt0" not in links and "bv0" not in links and "bts" not in links and "btp" not in links
    return json.loads(out), err


@pytest.mark.slow
@pytest.mark.root
def test_kernel_and_forwarder_rows_end_to_end() -> None:
    paths = "kernel,forwarder,forwarder-offloads"
    argv = ["--runs", "1", "--mbytes", "20", "--duration", "1", "--paths", paths]
    summary, err = run_bench(*argv)
    for path in ("kernel", "forwarder", "forwarder-offloads"):
        cells = summary["results"][path]
        for metric in ("bulk_in", "bulk_out", "conn_rate"):
            assert cells[metric]["median"] > 0, (path, metric, cells[metric])
    assert summary["ratios"]["bulk_in"]["forwarder/kernel"] > 0
    assert summary["ratios"]["bulk_in"]["forwarder-offloads/forwarder"] > 0
    assert "[run 1/1] forwarder" in err
    assert summary["targets"] == {}  # the kernel and the forwarders have none


@pytest.mark.slow
@pytest.mark.root
@pytest.mark.parametrize("path", ["stack", "stack-tap-plain", "stack-interface"])
def test_stack_rows_end_to_end(path: str) -> None:
    argv = ["--runs", "1", "--mbytes", "2", "--duration", "1", "--connections", "50"]
    summary, _ = run_bench(*argv, "--paths", path, "--loop-runs", "1")
    measured = "stack-tap" if path == "stack" else path
    assert list(summary["results"]) == [measured]
    cells = summary["results"][measured]
    for metric in ("bulk_in", "bulk_out", "conn_rate", "mem_per_conn"):
        assert cells[metric]["median"] is not None, (metric, cells[metric])
    assert cells["mem_per_conn"]["details"][0]["established"] == 50
    assert summary["paths"][measured]["python_loop_s"] == summary["machine"]["python_loop_s"]
    assert set(summary["targets"][measured]) == set(net.METRICS)
    # a one-second loop is too short to meet the connection-rate target
    assert summary["targets"][measured]["conn_rate"]["met"] is False


class FakeBench:
    """Stands in for the lab: the stack path cannot run, the others give fixed figures."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def _figure(self, setup: net.PathSetup, metric: str, value: float) -> Measurement:
        self.calls.append((setup.name, metric))
        if setup.stack_tap:
            return Measurement(None, note="no TCPApplication yet")
        return Measurement(value, wall=1.0)

    def bulk(self, setup: net.PathSetup, inbound: bool) -> Measurement:
        return self._figure(setup, "bulk_in" if inbound else "bulk_out", 100.0)

    def conn_rate(self, setup: net.PathSetup) -> Measurement:
        return self._figure(setup, "conn_rate", 1000.0)

    def memory(self, setup: net.PathSetup) -> Measurement:
        return self._figure(setup, "mem_per_conn", 5000.0)


def test_an_unavailable_stack_row_is_tried_once_and_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setups = {
        "kernel": net.PathSetup("kernel", "a", "198.18.0.1", "b", "198.18.0.2"),
        "stack-tap": net.PathSetup("stack-tap", "s", "198.18.2.1", "s", "198.18.2.2", "bts"),
    }
    bench = FakeBench()
    samples = net.run_workloads(bench, setups, runs=2)  # type: ignore[arg-type]
    assert bench.calls.count(("kernel", "bulk_in")) == 2
    assert bench.calls.count(("stack-tap", "bulk_in")) == 1
    assert len(samples[("stack-tap", "mem_per_conn")]) == 2
    assert ("kernel", "mem_per_conn") not in samples
    summary = net.summarize(samples, {"runs": 2})
    assert summary["results"]["stack-tap"]["bulk_in"]["na"] == "no TCPApplication yet"
    err = capsys.readouterr().err
    want = "[run 2/2] stack-tap          kernel -> endpoint (MB/s): n/a (no TCPApplication yet)"
    assert want in err


def test_failed_connects_are_noted() -> None:
    client = {"connections": 10, "seconds": 1.0, "per_second": [10], "cpu": 0, "errors": 2}
    assert net.conn_measurement(client, {}).note == "2 connects failed or timed out"


@pytest.mark.root
def test_lab_is_removed_when_the_benchmark_fails() -> None:
    tag = f"pybt{os.getpid()}"
    with pytest.raises(RuntimeError, match="on purpose"), BenchLab(tag) as lab:
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.veth(a, "198.18.9.1/24", b, "198.18.9.2/24")
        lab.tap(a, "bt9", "198.18.10.1/24")
        sleeper = lab.spawn("sleeper", a, ["sleep", "60"])
        raise RuntimeError("on purpose")
    assert list(leftovers(tag)) == []
    assert sleeper.popen.returncode is not None


@pytest.mark.root
def test_namespaces_of_a_killed_benchmark_are_swept() -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    name = f"pyb{gone.pid}-s"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert name in sweep_stale()
        assert list(leftovers(f"pyb{gone.pid}-")) == []
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
