"""TCP Fast Open (RFC 7413): data in the SYN, under a cookie the server gave before.

A client's first connection to a server asks for a cookie (an empty Fast Open option,
kind 34, on its SYN); the server answers with a cookie on its SYN,ACK, a keyed hash of
the client's address, and keeps nothing. The client caches it per server address
(`CookieCache`). On its next connection the SYN carries the cookie and the first data;
a server that validates the cookie acknowledges the data in its SYN,ACK and hands it to
the application at once, one round trip earlier than without Fast Open.

Everything here goes through the extension surface: `FastOpenSession` is a
`TCPSession` whose machine extends ``machines/tcp.toml`` with the edges of
``tcp/fastopen.toml``; the per-stack state (`FastOpenState`: the server's keys, the
client's cache) is the host's ``shared_state``. A stack uses it once
``TcpConfig(fastopen=...)`` is on (``"client"``, ``"server"`` or ``True``).

Cookies are BLAKE2s MACs of the two addresses under a key drawn from the stack's rng
and replaced every `KEY_LIFETIME` seconds; a cookie made under the previous key is still
valid, so that a rotation does not refuse every client at once (RFC 7413 §4.1.2).
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import socket
from pathlib import Path
from typing import Any, NamedTuple

from pystack.tcp.config import FASTOPEN_MODES
from pystack.tcp.receive import DEFAULT_MSS
from pystack.tcp.sender import Sender
from pystack.tcp.session import TCPSession
from pystack.tcp.states import TCP
from pystack.wire import tcp as tcpwire
from pystack.wire.seqnum import SeqNum
from pystack.wire.tcp_options import FastOpen, TcpOption, emit_options

__all__ = [
    "COOKIE_LEN",
    "KEY_LIFETIME",
    "CachedCookie",
    "CookieCache",
    "CookieKeys",
    "FastOpenSender",
    "FastOpenSession",
    "FastOpenState",
    "fastopen_option",
    "make_cookie",
]

MACHINE = Path(__file__).with_name("fastopen.toml")
# RFC 7413 §4.1.1 allows 4 to 16 bytes; 8, as Linux.
COOKIE_LEN = 8
# Seconds a key signs new cookies; it is then accepted one more lifetime (RFC 7413
# §4.1.2: the server SHOULD change its key periodically).
KEY_LIFETIME = 3600.0
# Servers whose cookie a client remembers (RFC 7413 §4.1.3), the least recently used
# forgotten first.
CACHE_SIZE = 1024
_KEY_BYTES = 16
ACK = tcpwire.ACK


def make_cookie(key: bytes, server_ip: str, client_ip: str) -> bytes:
    """The cookie ``key`` gives the client at ``client_ip`` talking to ``server_ip``: a
    MAC of both addresses (RFC 7413 §4.1.2: bound to the client's address, so that a
    cookie is worthless from any other)."""
    addrs = b"".join(
        socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        for ip in (client_ip, server_ip)
    )
    return hashlib.blake2s(addrs, key=key, digest_size=COOKIE_LEN).digest()


class CookieKeys:
    """The server's cookie keys: ``primary`` makes new cookies, ``previous`` is still
    accepted (RFC 7413 §4.1.2). `rotate` replaces the primary; a key older than
    ``lifetime`` seconds is rotated out the next time a key is used."""

    def __init__(self, rng: Any, clock: Any, lifetime: float = KEY_LIFETIME) -> None:
        self.rng, self.clock, self.lifetime = rng, clock, lifetime
        self.primary = self._draw()
        self.previous: bytes | None = None
        self.rotated_at = clock.seconds()

    def _draw(self) -> bytes:
        return int(self.rng.getrandbits(8 * _KEY_BYTES)).to_bytes(_KEY_BYTES, "big")

    def rotate(self) -> None:
        """A new primary key; the old one is kept as ``previous``."""
        self.previous, self.primary = self.primary, self._draw()
        self.rotated_at = self.clock.seconds()

    def _expire(self) -> None:
        age = self.clock.seconds() - self.rotated_at
        if age >= 2 * self.lifetime:
            self.rotate()  # both keys are stale: neither may validate any more
            self.previous = None
        elif age >= self.lifetime:
            self.rotate()

    def cookie(self, server_ip: str, client_ip: str) -> bytes:
        """A cookie for ``client_ip`` under the primary key."""
        self._expire()
        return make_cookie(self.primary, server_ip, client_ip)

    def check(self, cookie: bytes, server_ip: str, client_ip: str) -> str | None:
        """Which key made ``cookie`` for this client: ``"primary"``, ``"previous"``, or
        None when neither did (forged, for another address, or older than both keys)."""
        self._expire()
        for name, key in (("primary", self.primary), ("previous", self.previous)):
            if key is not None and hmac.compare_digest(
                cookie, make_cookie(key, server_ip, client_ip)
            ):
                return name
        return None


class CachedCookie(NamedTuple):
    """What a client remembers of a server (RFC 7413 §4.1.3): its cookie and its MSS."""

    cookie: bytes
    mss: int


class CookieCache:
    """The client's cookies, per server address, at most ``size`` of them (LRU)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._entries: collections.OrderedDict[str, CachedCookie] = collections.OrderedDict()

    def get(self, server_ip: str) -> CachedCookie | None:
        """The cookie cached for ``server_ip``, if any."""
        entry = self._entries.get(server_ip)
        if entry is not None:
            self._entries.move_to_end(server_ip)
        return entry

    def put(self, server_ip: str, cookie: bytes, mss: int) -> None:
        """Remember ``cookie`` and ``mss`` for ``server_ip``."""
        self._entries[server_ip] = CachedCookie(cookie, mss)
        self._entries.move_to_end(server_ip)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def forget(self, server_ip: str) -> None:
        """Drop the cookie of ``server_ip``."""
        self._entries.pop(server_ip, None)

    def __len__(self) -> int:
        return len(self._entries)


class FastOpenState:
    """A stack's Fast Open state, shared by its connections: the server's `CookieKeys`
    and the client's `CookieCache`. ``stack.tcp.shared_state("fastopen", ...)`` holds
    it; `FastOpenState.of` finds or makes it."""

    NAME = "fastopen"

    def __init__(self, rng: Any, clock: Any) -> None:
        self.keys = CookieKeys(rng, clock)
        self.cache = CookieCache()

    @classmethod
    def for_host(cls, host: Any) -> FastOpenState:
        """A new state keyed from ``host``'s rng (the factory `of` passes)."""
        return cls(host.rng, host.clock)

    @classmethod
    def of(cls, host: Any) -> FastOpenState | None:
        """The state of ``host`` (a TCP layer), or None for a host that keeps none."""
        shared = getattr(host, "shared_state", None)
        return None if shared is None else shared(cls.NAME, cls.for_host)


def fastopen_option(seg: tcpwire.TcpSegment) -> FastOpen | None:
    """The segment's Fast Open option, if it carries one."""
    for opt in seg.options:
        if type(opt) is FastOpen:
            return opt
    return None


class FastOpenSender(Sender):
    """The send side of a `FastOpenSession`: a server connection that took a Fast Open
    SYN may send in SYN_RECEIVED, before the handshake completes (RFC 7413 §4.2.2), as
    its congestion window allows."""

    __slots__ = ()

    def may_send_data(self, s: Any) -> bool:
        """As `Sender.may_send_data`, and SYN_RECEIVED once a Fast Open SYN was taken."""
        if s.state == TCP.SYN_RECEIVED and getattr(s, "fastopen_accepted", False):
            return True
        return super().may_send_data(s)


class FastOpenSession(TCPSession, extend=MACHINE):
    """A TCP connection with TCP Fast Open (RFC 7413) as ``TcpConfig.fastopen`` allows:
    see the module docstring and the hooks of ``tcp/fastopen.toml``."""

    fastopen_requested = False
    """Client: our SYN carried a Fast Open option (a cookie, or a request)."""
    fastopen_syn_data = 0
    """Client: bytes of data our SYN carried; server: bytes the SYN brought and we took."""
    fastopen_accepted = False
    """Server: the SYN's cookie was valid and its data taken; the application has had
    the connection since then."""
    fastopen_fell_back = False
    """Client: the server did not acknowledge all the data of our SYN; it was sent again
    after the handshake (RFC 7413 §4.2.1)."""
    _fastopen_reply: bytes | None = None
    _syn_pending = False
    _handed_over = False
    sender_class = FastOpenSender

    # ------------------------------------------------------------------------- modes

    def _mode(self, bit: int) -> FastOpenState | None:
        if not FASTOPEN_MODES[self.config.fastopen] & bit:
            return None
        return FastOpenState.of(self.host)

    def _count(self, name: str) -> None:
        count = getattr(self.host, "count_event", None)
        if count is not None:
            count(name)

    # ------------------------------------------------------------------------ server

    def fastopen_cookie_valid(self, *, segment: tcpwire.TcpSegment, **kw: Any) -> bool:
        """Condition: see ``tcp/fastopen.toml``."""
        state, option = self._mode(2), fastopen_option(segment)
        if state is None or option is None or not option.cookie or not segment.payload:
            return False
        local, remote = self.local_ip, self.remote_ip or ""
        return state.keys.check(option.cookie, local, remote) is not None

    def fastopen_cookie_wanted(self, *, segment: tcpwire.TcpSegment, **kw: Any) -> bool:
        """Condition: see ``tcp/fastopen.toml`` (tried after `fastopen_cookie_valid`)."""
        state, option = self._mode(2), fastopen_option(segment)
        if state is None or option is None:
            return False
        if option.cookie:
            key = state.keys.check(option.cookie, self.local_ip, self.remote_ip or "")
            if key == "primary":
                return False  # valid, without data: nothing new to give
            if key is None and segment.payload:
                self._count("fastopen_passive_fail")
        return True

    def take_syn_data(self, *, segment: tcpwire.TcpSegment, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        # RFC 7413 §4.2.2: the data of a SYN with a valid cookie is acknowledged by the
        # SYN,ACK; it never exceeds the window we offer (an empty receive buffer).
        data = segment.payload[: self.config.rcv_buf]
        self.rcv_nxt = self.rcv_nxt + len(data)
        self.rcv_adv = self.rcv_nxt
        self.rcvbuf.store(data)
        self.fastopen_syn_data = len(data)
        self.fastopen_accepted = True
        option, state = fastopen_option(segment), FastOpenState.of(self.host)
        local, remote = self.local_ip, self.remote_ip or ""
        if (
            option is not None
            and state is not None
            and state.keys.check(option.cookie, local, remote) != "primary"
        ):
            # §4.1.2: a cookie valid under the previous key is replaced.
            self._fastopen_reply = state.keys.cookie(local, remote)
        self._count("fastopen_passive")

    def deliver_syn_data(self, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        listener = self.listener
        if listener is None:
            return
        # Entered in the demux before the application runs (the listener would do it
        # once the SYN is processed), so that what the application does finds it.
        self.host.adopt(self)
        # RFC 7413 §4.2.2: the application gets the connection and its data before the
        # handshake completes, as Linux's accept() returns a Fast Open socket still in
        # SYN_RECEIVED.
        self._handed_over = True
        if listener.user is not None:
            listener.user.tcp_accepted(listener, self)
        if self.user is not None and self.fastopen_syn_data:
            self.user.tcp_readable(self)

    def grant_fastopen_cookie(self, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        state = FastOpenState.of(self.host)
        if state is not None:
            self._fastopen_reply = state.keys.cookie(self.local_ip, self.remote_ip or "")
            self._count("fastopen_cookie_sent")

    def connection_established(self, **kw: Any) -> None:
        """Hook: as `TCPSession.connection_established`, except that a connection the
        application took at its Fast Open SYN is not handed over a second time."""
        listener = self.listener
        if self._handed_over and listener is not None:
            listener.half_open -= 1
            self.listener = None
        super().connection_established(**kw)
        if self.fastopen_accepted and not self._handed_over and self.user is not None:
            self._handed_over = True  # the final ACK came first: the SYN's data is news
            self.user.tcp_readable(self)

    # The fused receive path (`fast_receive_path`) calls ``self.check_ack`` too, so this
    # override holds on both paths and the fused one stays on.
    def check_ack(self, seg: tcpwire.TcpSegment) -> tcpwire.TcpSegment | None:
        """The fifth check, as `TCPSession.check_ack`. In SYN_RECEIVED after data we sent
        before the handshake completed (`FastOpenSender`), an ACK may cover our SYN and
        that data: the SYN's part opens the connection, then the rest is taken as in
        ESTABLISHED, so that the acknowledged data leaves the send buffer."""
        syn_end = self.iss + 1
        covers_data = (
            self.state == TCP.SYN_RECEIVED
            and seg.flags & ACK
            and self.snd_una == self.iss
            and syn_end < SeqNum(seg.ack) <= self.snd_max
        )
        if covers_data and super().check_ack(dataclasses.replace(seg, ack=syn_end.value)) is None:
            return None
        return super().check_ack(seg)

    # ------------------------------------------------------------------------ client

    def fastopen_client_on(self, **kw: Any) -> bool:
        """Condition: see ``tcp/fastopen.toml``."""
        return self._mode(1) is not None

    def fastopen_cookie_cached(self, **kw: Any) -> bool:
        """Condition: see ``tcp/fastopen.toml``."""
        state = self._mode(1)
        return state is not None and state.cache.get(self.remote_ip or "") is not None

    def request_fastopen_cookie(self, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        self.fastopen_requested = True

    def schedule_syn_data(self, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        self.fastopen_requested = self._syn_pending = True
        self.clock.callLater(0, self.send_syn_data)

    def send_syn_data(self) -> None:
        """Send our SYN with the cached cookie and the data queued so far, as much as
        the server's cached MSS leaves room for beside the options (RFC 7413 §4.2.1,
        RFC 6691 §2). Does nothing once the SYN is out or the connection is gone."""
        if not self._syn_pending or self.state != TCP.SYN_SENT:
            return
        self._syn_pending = False
        state = FastOpenState.of(self.host)
        cached = state.cache.get(self.remote_ip or "") if state is not None else None
        mss = cached.mss if cached is not None else DEFAULT_MSS
        self.snd_una = self.iss  # RFC 9293 §3.10.1
        syn = super().syn_segment()
        room = max(mss - len(emit_options(syn.options)), 0)
        data = self.sndbuf.peek(0, min(len(self.sndbuf), room))
        self.emit_segment(dataclasses.replace(syn, payload=data))
        self.fastopen_syn_data = len(data)
        self.snd_nxt = self.snd_max = self.iss + 1 + len(data)
        self.rtt_seq, self.rtt_time = self.snd_nxt, self.clock.seconds()
        self.arm_rexmit()

    def syn_segment(self) -> tcpwire.TcpSegment:
        """Our SYN, as `TCPSession.syn_segment`. A retransmitted SYN carries no data, as
        Linux's: the data of a SYN that went unanswered goes after the handshake, so SND.NXT
        and SND.MAX come back to ISS + 1 (RFC 7413 §4.2.1 lets the client fall back)."""
        if self.snd_max.value != (self.iss + 1).value and self.snd_una == self.iss:
            self.snd_nxt = self.snd_max = self.iss + 1
        return super().syn_segment()

    def fastopen_attempted(self, **kw: Any) -> bool:
        """Condition: see ``tcp/fastopen.toml``."""
        return self.fastopen_requested

    def take_fastopen_synack(self, *, segment: tcpwire.TcpSegment, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        option, state = fastopen_option(segment), FastOpenState.of(self.host)
        if option is not None and option.cookie and state is not None:
            # RFC 7413 §4.1.3: cache the cookie with the server's MSS; a SYN,ACK without
            # one leaves the cached one as it was.
            state.cache.put(self.remote_ip or "", option.cookie, segment.mss or DEFAULT_MSS)
        acked = self.snd_una - (self.iss + 1)  # SYN data the server took
        if acked > 0:
            self.sndbuf.ack(acked)
            self._count("fastopen_active")
        if self.snd_una != self.snd_max:
            # §4.2.1: the server took only part of the SYN's data, or none of it (no or
            # an invalid cookie): send the rest again once the connection is open.
            self.snd_nxt = self.snd_max = self.snd_una
            self.rtt_seq = None  # Karn: the data will be a retransmission
            self.fastopen_fell_back = True
            self._count("fastopen_active_fail")

    def send_queued_data(self, **kw: Any) -> None:
        """Hook: see ``tcp/fastopen.toml``."""
        self.output()

    def extra_syn_options(self, flags: int) -> tuple[TcpOption, ...]:
        """Override point: our SYN carries the cookie we hold, or a request, once we
        asked (`fastopen_requested`); our SYN,ACK the cookie we give, if any."""
        if flags & ACK:
            reply = self._fastopen_reply
            return (FastOpen(reply),) if reply else ()
        if not self.fastopen_requested:
            return ()
        state = FastOpenState.of(self.host)
        cached = state.cache.get(self.remote_ip or "") if state is not None else None
        return (FastOpen(cached.cookie if cached is not None else b""),)
