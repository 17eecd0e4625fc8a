"""The byte buffers of a TCP connection: what the application queued, what it may read.

Both are a `bytearray` with a moving start: consuming from the front only advances an
index, and the consumed prefix is cut off once it is at least half of the array, so
streaming N bytes costs O(N) copying in total, never O(N**2).

`SendBuffer` is indexed by offset from SND.UNA: offset 0 is the oldest unacknowledged
byte. SYN and FIN occupy sequence space but no buffer space; mapping sequence numbers to
offsets around them is the session's job.

`RecvBuffer` holds in-order bytes the application has not read yet. Its free space is the
receive window the session advertises (RFC 9293 §3.8.6.2.2).
"""

from __future__ import annotations

__all__ = ["RecvBuffer", "SendBuffer"]

# Do not bother compacting arrays smaller than this.
_COMPACT_MIN = 64 * 1024


class _ByteQueue:
    """A FIFO of bytes over one bytearray with a moving start."""

    __slots__ = ("_buf", "_start")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._start = 0

    def __len__(self) -> int:
        return len(self._buf) - self._start

    def extend(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def slice(self, offset: int, n: int) -> bytes:
        begin = self._start + offset
        return bytes(self._buf[begin : begin + n])

    def remove(self, offset: int, n: int) -> None:
        """Drop ``n`` bytes at ``offset`` (cheap at the end: the bytes after move)."""
        begin = self._start + offset
        del self._buf[begin : begin + n]

    def consume(self, n: int) -> None:
        self._start += n
        if self._start >= _COMPACT_MIN and self._start * 2 >= len(self._buf):
            # Amortised: each byte is moved at most once per halving.
            del self._buf[: self._start]
            self._start = 0
        elif self._start == len(self._buf):
            self._buf.clear()
            self._start = 0


_EMPTY = _ByteQueue()
"""The queue of every buffer that never held a byte: never written (`_writable` swaps in
a queue of the buffer's own first), so an idle connection's two buffers cost no queue or
bytearray each."""


class SendBuffer:
    """Bytes the application queued, kept until the peer acknowledges them.

    ``capacity`` bounds the queued bytes (None: unbounded); `append` accepts what fits.
    """

    __slots__ = ("_q", "capacity")

    def __init__(self, capacity: int | None = None) -> None:
        if capacity is not None and capacity <= 0:
            raise ValueError(f"capacity must be positive or None, got {capacity}")
        self.capacity = capacity
        self._q = _EMPTY

    def __len__(self) -> int:
        """Bytes queued and not yet acknowledged (sent or not)."""
        return len(self._q)

    @property
    def free(self) -> int | None:
        """Bytes `append` would still accept (None when unbounded)."""
        return None if self.capacity is None else self.capacity - len(self._q)

    def append(self, data: bytes | bytearray | memoryview) -> int:
        """Queue as much of ``data`` as fits; returns how many bytes were taken."""
        free = self.free
        if free is not None and len(data) > free:
            data = memoryview(data)[:free]
        _writable(self).extend(data)
        return len(data)

    def peek(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes starting ``offset`` bytes after SND.UNA (fewer at the end)."""
        if offset < 0 or n < 0:
            raise ValueError(f"offset and n must be >= 0, got {offset} and {n}")
        return self._q.slice(offset, n)

    def ack(self, n: int) -> None:
        """Release the ``n`` oldest bytes: the peer acknowledged them."""
        if not 0 <= n <= len(self._q):
            raise ValueError(f"cannot acknowledge {n} bytes, {len(self._q)} queued")
        if n:
            self._q.consume(n)


class RecvBuffer:
    """In-order received bytes waiting for the application; sizes the receive window."""

    __slots__ = ("_q", "capacity")

    def __init__(self, capacity: int = 65535) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._q = _EMPTY

    def __len__(self) -> int:
        """Bytes received in order and not read yet."""
        return len(self._q)

    @property
    def window(self) -> int:
        """Free space: the receive window to advertise (RFC 9293 §3.8.6.2.2)."""
        free = self.capacity - len(self._q)
        return free if free > 0 else 0

    def push(self, data: bytes | bytearray | memoryview) -> int:
        """Store in-order bytes up to the window; returns how many were taken.

        The session trims segments to RCV.WND before this, so a short count means the peer
        sent beyond the window it was offered.
        """
        taken = min(len(data), self.window)
        _writable(self).extend(memoryview(data)[:taken] if taken < len(data) else data)
        return taken

    def store(self, data: bytes | bytearray | memoryview) -> None:
        """Store in-order bytes the receive window admitted, all of them: with window
        scaling that window may exceed the free space by less than one scale unit (RFC 7323
        §2.4 rounds it up rather than shrink it)."""
        _writable(self).extend(data)

    def read(self, n: int | None = None, after: int = 0) -> bytes:
        """Remove and return up to ``n`` bytes (all when ``n`` is None) that follow the
        first ``after`` bytes, which stay."""
        if (n is not None and n < 0) or after < 0:
            raise ValueError(f"n and after must be >= 0, got {n} and {after}")
        available = max(len(self._q) - after, 0)
        if n is None or n > available:
            n = available
        data = self._q.slice(after, n)
        if not n:
            return data
        if after:
            self._q.remove(after, n)
        else:
            self._q.consume(n)
        return data

    def discard(self, n: int, after: int = 0) -> None:
        """Drop up to ``n`` bytes that follow the first ``after``, without copying them out
        (bytes the reader has already seen with `peek`)."""
        n = min(n, len(self._q) - after)
        if n <= 0:
            return
        if after:
            self._q.remove(after, n)
        else:
            self._q.consume(n)

    def peek(self, n: int | None = None, after: int = 0) -> bytes:
        """Up to ``n`` bytes (all when ``n`` is None) after the first ``after``, left in
        place."""
        q = self._q
        begin = q._start + after
        end = len(q._buf) if n is None else min(begin + n, len(q._buf))
        return bytes(q._buf[begin:end])

    def read_all(self) -> bytes:
        """Remove and return everything buffered."""
        return self.read(None)

    def window_update_due(self, advertised: int, mss: int) -> bool:
        """Whether the window opened enough to announce, avoiding silly windows.

        RFC 9293 §3.8.6.2.2 (MUST-39, RFC 1122 §4.2.3.3): announce once the window grew
        by at least min(capacity / 2, MSS) over ``advertised``, the last window sent.
        """
        return self.window - advertised >= min(self.capacity // 2, mss)


def _writable(buffer: SendBuffer | RecvBuffer) -> _ByteQueue:
    """The buffer's own queue, made on its first write."""
    q = buffer._q
    if q is _EMPTY:
        q = buffer._q = _ByteQueue()
    return q
