"""Draw a ladder (sequence) diagram: one lane per host, time going down, every frame an
arrow from its sender's lane to its receiver's, each machine transition a box on its
host's lane, in the order they happened.

Rows are not to scale: each frame or transition takes one row, with the time (from the
first event) in the left column. The SVG uses presentation attributes only (no
stylesheet, no script, no external reference), so any viewer draws it the same; the HTML
page inlines it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from pystack.ladder.model import Frame, Transition

MAX_FRAMES = 500
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
_SIZE = 11  # label font size (px)
_CHAR = _SIZE * 0.62  # a monospace character's width
_LINE = 14  # label line height
_TIME_W = 100  # the time column
_HEAD = 64  # lane titles
_COLOURS = {
    "tcp": "#1f4e8c", "udp": "#7a3b9a", "icmp": "#2a7f2a", "arp": "#b35900",
    "ip": "#555555", "other": "#888888",
}  # fmt: skip
_BOX_FILL, _BOX_STROKE = "#fff4c2", "#b08d00"


@dataclass(frozen=True, slots=True)
class _Row:
    time: float
    frame: Frame | None = None
    transition: Transition | None = None
    note: str = ""

    @property
    def height(self) -> int:
        if self.frame is not None:
            return 12 + _LINE * len(self.frame.lines)
        return 40 if self.transition is not None else 30


def _ordered(frames: Sequence[Frame], transitions: Iterable[Transition]) -> list[_Row]:
    """Frames and transitions merged by time. Within one tick (a capture's microsecond) a
    transition follows the frames that reached its host before the host sent anything
    (a host acts on what it received, then answers), and precedes what it sent."""
    # A capture stamps microseconds; a clock's sums of floats drift below that.
    times = [_tick(f.time) for f in frames]
    keyed: list[tuple[int, int, int, int, _Row]] = [
        (times[i], i, 0, 0, _Row(f.time, frame=f)) for i, f in enumerate(frames)
    ]
    for n, t in enumerate(transitions):
        tick = _tick(t.time)
        first = bisect.bisect_left(times, tick)
        after = _after(frames, times, first, tick, t.host)
        key = (tick, first, -1) if after is None else (tick, after, 1)
        keyed.append((*key, n, _Row(t.time, transition=t)))
    keyed.sort(key=lambda k: k[:4])
    return [k[4] for k in keyed]


def _after(
    frames: Sequence[Frame], times: Sequence[int], first: int, tick: int, host: str
) -> int | None:
    """The index of the frame of ``tick`` a transition of ``host`` follows, if any."""
    found = None
    for j in range(first, len(frames)):
        if times[j] != tick or frames[j].src == host:
            break
        if frames[j].dst == host:
            found = j
    return found


def _tick(time: float) -> int:
    return round(time * 1_000_000)


def _lanes(frames: Sequence[Frame], transitions: Sequence[Transition]) -> list[str]:
    """Hosts in order of first appearance."""
    seen: dict[str, None] = {}
    for f in frames:
        seen.setdefault(f.src)
        seen.setdefault(f.dst)
    for t in transitions:
        seen.setdefault(t.host)
    return list(seen)


# Characters XML 1.0 cannot hold (controls, surrogates, U+FFFE/U+FFFF): shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _esc(text: str) -> str:
    """``text`` escaped for XML text and attribute values, whatever it holds."""
    return escape(_NOT_XML.sub("\ufffd", text))


def _width(text: str) -> float:
    return len(text) * _CHAR


class _Canvas:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def text(self, x: float, y: float, text: str, *, anchor: str = "middle",
             fill: str = "#000000", size: int = _SIZE, weight: str = "normal") -> None:  # fmt: skip
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{fill}" '
            f'font-size="{size}" font-weight="{weight}" xml:space="preserve">{_esc(text)}</text>'
        )


def render_ladder(
    frames: Sequence[Frame],
    transitions: Sequence[Transition] = (),
    *,
    macs: Mapping[str, str] | None = None,
    title: str = "",
    max_frames: int = MAX_FRAMES,
) -> str:
    """The ladder of ``frames`` and ``transitions`` as an SVG document (a str).

    ``macs`` labels each host's lane with its MAC under its IP. Past ``max_frames``
    frames the rest (and the transitions after the last frame drawn) are left out, and
    the last row says how many. Elements carry classes a program can read back: ``lane``
    (``data-host``), ``frame`` (``data-src``, ``data-dst``, ``data-kind``) and
    ``transition`` (``data-host``).
    """
    frames = sorted(frames, key=lambda f: f.time)
    hidden = max(0, len(frames) - max_frames)
    shown = frames[:max_frames]
    transitions = sorted(transitions, key=lambda t: t.time)
    if hidden:
        limit = shown[-1].time if shown else float("-inf")
        cut = [t for t in transitions if t.time > limit]
        transitions = [t for t in transitions if t.time <= limit]
    rows = _ordered(shown, transitions)
    if hidden:
        rows.append(_Row(frames[-1].time, note=_note(hidden, len(cut), frames[-1].time)))
    lanes = _lanes(shown, transitions) or ["(no host)"]
    return _draw(rows, lanes, macs or {}, title)


def _note(frames: int, transitions: int, last: float) -> str:
    more = f" and {transitions} transitions" if transitions else ""
    return f"... {frames} more frames{more} not drawn (--max-frames / max_frames= draws more)"


def _geometry(rows: Sequence[_Row], lanes: Sequence[str]) -> tuple[float, float, float]:
    """Lane spacing, the first lane's x, the picture's width."""
    label = max((_width(line) for r in rows if r.frame for line in r.frame.lines), default=0)
    box = max((_box_width(r.transition) for r in rows if r.transition), default=0)
    gap = max(360.0, label + 60, box + 30)
    side = max(140.0, box / 2 + 16, _width(max(lanes, key=len)) / 2 + 16)
    first = _TIME_W + side
    return gap, first, first + gap * (len(lanes) - 1) + side


def _box_width(t: Transition) -> float:
    return max(_width(t.machine), _width(t.text)) * (10 / _SIZE) + 14


def _draw(rows: Sequence[_Row], lanes: Sequence[str], macs: Mapping[str, str], title: str) -> str:
    gap, first, width = _geometry(rows, lanes)
    xs = {host: first + i * gap for i, host in enumerate(lanes)}
    top = _HEAD + (22 if title else 0)
    height = top + sum(r.height for r in rows) + 24
    canvas = _Canvas()
    if title:
        canvas.text(12, 20, title, anchor="start", size=13, weight="bold")
    t0 = rows[0].time if rows else 0.0
    for host, x in xs.items():
        _lane(canvas, host, macs.get(host, ""), x, top, height)
    y = float(top)
    for row in rows:
        if row.frame is not None or row.transition is not None:
            canvas.text(_TIME_W - 8, y + row.height - 4, f"{(row.time - t0) * 1000:.3f} ms",
                        anchor="end", fill="#666666", size=10)  # fmt: skip
        if row.frame is not None:
            _arrow(canvas, row.frame, xs, y + row.height - 4)
        elif row.transition is not None:
            _transition(canvas, row.transition, xs[row.transition.host], y + 4)
        else:
            canvas.text(_TIME_W, y + 20, row.note, anchor="start", fill="#aa0000")
        y += row.height
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}">'
        f'<rect class="background" x="0" y="0" width="{width:.0f}" height="{height:.0f}" '
        'fill="#ffffff"/>'
    )
    return head + "".join(canvas.parts) + "</svg>\n"


def _lane(canvas: _Canvas, host: str, mac: str, x: float, top: int, height: float) -> None:
    canvas.parts.append(f'<g class="lane" data-host="{_esc(host)}">')
    canvas.text(x, top - 34, host, size=12, weight="bold")
    if mac:
        canvas.text(x, top - 18, mac, fill="#555555", size=10)
    canvas.parts.append(
        f'<line x1="{x:.1f}" y1="{top - 8}" x2="{x:.1f}" y2="{height - 8:.1f}" '
        'stroke="#999999" stroke-width="1.5"/></g>'
    )


def _arrow(canvas: _Canvas, frame: Frame, xs: Mapping[str, float], y: float) -> None:
    colour = _COLOURS.get(frame.kind, _COLOURS["other"])
    x1, x2 = xs[frame.src], xs[frame.dst]
    dash = ' stroke-dasharray="5,3"' if frame.broadcast else ""
    canvas.parts.append(
        f'<g class="frame" data-kind="{_esc(frame.kind)}" data-src="{_esc(frame.src)}" '
        f'data-dst="{_esc(frame.dst)}" data-time="{frame.time!r}">'
        f"<title>{_esc(' | '.join(frame.lines))}</title>"
    )
    if x1 == x2:  # to itself: a small loop to the right
        x2 = x1 + 40
        canvas.parts.append(
            f'<polyline points="{x1:.1f},{y - 8:.1f} {x2:.1f},{y - 8:.1f} {x2:.1f},{y:.1f} '
            f'{x1 + 6:.1f},{y:.1f}" fill="none" stroke="{colour}" stroke-width="1.4"{dash}/>'
        )
        tip, direction, mid = x1, -1.0, x2 + 6
        anchor = "start"
    else:
        direction = 1.0 if x2 > x1 else -1.0
        tip, mid, anchor = x2, (x1 + x2) / 2, "middle"
        canvas.parts.append(
            f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2 - 7 * direction:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="1.4"{dash}/>'
        )
    back = tip - 8 * direction
    canvas.parts.append(
        f'<polygon points="{tip:.1f},{y:.1f} {back:.1f},{y - 4:.1f} {back:.1f},{y + 4:.1f}" '
        f'fill="{colour}"/>'
    )
    for i, line in enumerate(frame.lines):
        canvas.text(mid, y - 4 - _LINE * (len(frame.lines) - 1 - i), line, anchor=anchor,
                    fill=colour)  # fmt: skip
    canvas.parts.append("</g>")


def _transition(canvas: _Canvas, t: Transition, x: float, y: float) -> None:
    w = _box_width(t)
    canvas.parts.append(
        f'<g class="transition" data-host="{_esc(t.host)}" data-time="{t.time!r}">'
        f"<title>{_esc(t.machine)}: {_esc(t.text)}</title>"
        f'<rect x="{x - w / 2:.1f}" y="{y:.1f}" width="{w:.1f}" height="32" rx="4" '
        f'fill="{_BOX_FILL}" stroke="{_BOX_STROKE}"/>'
    )
    canvas.text(x, y + 13, t.machine, fill="#5a4800", size=10)
    canvas.text(x, y + 26, t.text, size=10, weight="bold")
    canvas.parts.append("</g>")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ margin: 16px; background: #f4f4f4; font-family: {font}; }}
h1 {{ font-size: 16px; }}
p {{ font-size: 12px; color: #444; }}
.ladder {{ background: #fff; display: inline-block; box-shadow: 0 0 4px #aaa; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>One lane per host; time goes down (rows are in order, not to scale). Arrows are
frames; boxes are machine transitions on the host where they happened. Hover for details.</p>
<div class="ladder">
{svg}</div>
</body>
</html>
"""


def render_ladder_html(
    frames: Sequence[Frame],
    transitions: Sequence[Transition] = (),
    *,
    macs: Mapping[str, str] | None = None,
    title: str = "Connection ladder",
    max_frames: int = MAX_FRAMES,
) -> str:
    """A self-contained HTML page showing :func:`render_ladder`'s picture (inline SVG,
    its own CSS, no external resource: it opens from a file, offline)."""
    svg = render_ladder(frames, transitions, macs=macs, max_frames=max_frames)
    # HTML5 knows an inline <svg> without the namespace: leave no URL in the page.
    svg = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    return _PAGE.format(title=_esc(title), font=FONT, svg=svg)
