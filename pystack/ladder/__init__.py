"""Connection ladders: what a capture and a stack's transition log show, as a sequence
diagram (SVG, or a self-contained HTML page).

::

    from pystack.ladder import frames_from_pcap, read_transitions, render_ladder

    frames, macs = frames_from_pcap("a.pcap")
    transitions, more_macs = read_transitions("a.trace.jsonl")
    svg = render_ladder(frames, transitions, macs={**macs, **more_macs})

A ladder is drawn from plain records, so a program can draw one from segments it holds in
memory: :class:`Frame` (time, sender, receiver, label lines, kind) and :class:`Transition`
(time, host, machine, old state, new state, trigger); :class:`Decoder` labels TCP
segments, IPv4 datagrams and Ethernet frames the way ``pystack trace`` does (relative
sequence numbers, flags, window, options). ``PyStack(pcap=..., trace=True)`` writes the
log (see :mod:`pystack.ladder.model`).
"""

from pystack.ladder.decode import Decoder, frames_from_capture, frames_from_pcap
from pystack.ladder.model import (
    Frame,
    Transition,
    TransitionLog,
    read_transitions,
    trace_path_for,
)
from pystack.ladder.render import MAX_FRAMES, render_ladder, render_ladder_html

__all__ = [
    "MAX_FRAMES",
    "Decoder",
    "Frame",
    "Transition",
    "TransitionLog",
    "frames_from_capture",
    "frames_from_pcap",
    "read_transitions",
    "render_ladder",
    "render_ladder_html",
    "trace_path_for",
]
