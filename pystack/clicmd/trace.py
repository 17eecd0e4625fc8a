"""``pystack trace``: draw a capture as a ladder (sequence) diagram, SVG and HTML.

One lane per host, every frame an arrow (TCP flags, relative seq/ack, length, window,
options; ARP, ICMP, UDP), and, from the transition log a stack writes beside its capture
(PyStack(pcap="a.pcap", trace=True) writes a.trace.jsonl), each machine transition drawn
on its host's lane where it happened.

By default both files go beside the capture: a.pcap -> a-ladder.svg and a-ladder.html.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pystack.clicmd._attach import CommandError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``pystack trace``."""
    doc = (__doc__ or "").split("\n\n")
    parser = sub.add_parser(
        "trace",
        help="draw a capture and its transition log as a ladder diagram (SVG, HTML)",
        description=doc[1],
        epilog=doc[2],
    )
    parser.add_argument("capture", help="a pcap file of Ethernet frames")
    parser.add_argument(
        "--log",
        action="append",
        help="a transition log (JSON lines; repeat for several stacks; default: the "
        "capture's .trace.jsonl beside it, if there is one)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="DIR", help="write NAME-ladder.svg and .html in DIR")
    where.add_argument("-o", "--output", metavar="FILE", help="write one file: .svg or .html")
    parser.add_argument("--max-frames", type=int, default=500,
                        help="draw at most this many frames (default 500)")  # fmt: skip
    parser.add_argument("--title", help="the picture's title (default: the capture's name)")
    parser.set_defaults(func=run)


def outputs(capture: str, out_dir: str | None, output: str | None) -> list[Path]:
    """Where ``pystack trace`` writes: ``output`` alone, else SVG and HTML in ``out_dir``
    (default: beside the capture)."""
    if output is not None:
        if Path(output).suffix.lower() not in (".svg", ".html", ".htm"):
            raise CommandError(f"-o {output}: name an .svg or an .html file")
        return [Path(output)]
    cap = Path(capture)
    directory = Path(out_dir) if out_dir is not None else cap.parent
    return [directory / f"{cap.stem}-ladder.svg", directory / f"{cap.stem}-ladder.html"]


def write_ladder(capture: str, logs: list[str], targets: list[Path], *, title: str,
                 max_frames: int = 500) -> None:  # fmt: skip
    """Draw ``capture`` and its transition ``logs`` into each of ``targets``."""
    from pystack.ladder import (
        frames_from_pcap,
        read_transitions,
        render_ladder,
        render_ladder_html,
    )

    try:
        frames, macs = frames_from_pcap(capture)
        transitions = []
        for log in logs:
            got, log_macs = read_transitions(log)
            transitions.extend(got)
            macs.update(log_macs)
    except OSError as exc:
        raise CommandError(f"{exc.filename}: {exc.strerror}") from exc
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    for target in targets:
        if target.suffix.lower() == ".svg":
            text = render_ladder(frames, transitions, macs=macs, title=title,
                                 max_frames=max_frames)  # fmt: skip
        else:
            text = render_ladder_html(frames, transitions, macs=macs, title=title,
                                      max_frames=max_frames)  # fmt: skip
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    """Read the capture and its logs, write the ladder, print where."""
    from pystack.ladder import trace_path_for

    if args.max_frames < 1:
        raise CommandError("--max-frames must be at least 1", status=2)
    logs = list(args.log or [])
    if not logs and Path(trace_path_for(args.capture)).exists():
        logs = [trace_path_for(args.capture)]
    targets = outputs(args.capture, args.out, args.output)
    title = args.title or f"{Path(args.capture).name}: connection ladder"
    write_ladder(args.capture, logs, targets, title=title, max_frames=args.max_frames)
    drawn = f" with transitions from {', '.join(logs)}" if logs else " (no transition log)"
    print(f"ladder of {args.capture}{drawn}:")
    for target in targets:
        print(f"  {target}")
    return 0
