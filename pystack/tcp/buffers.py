"""The byte buffers of a TCP connection: what the application queued, what it may read.

The send buffer is a `bytearray` with a moving start: consuming from the front only
advances an index, and the consumed prefix is cut off once it is at least half of the
array, so streaming N bytes costs O(N) copying in total, never O(N**2). The receive
buffer keeps the chunks that arrived, uncopied.

`SendBuffer` is indexed by offset from SND.UNA: offset 0 is the oldest unacknowledged
byte. SYN and FIN occupy sequence space but no buffer space; mapping sequence numbers to
offsets around them is the session's job.

`RecvBuffer` holds in-order bytes the application has not read yet. Its free space is the
receive window the session advertises (RFC 9293 §3.8.6.2.2).
"""

from __future__ import annotations

from collections import deque

__all__ = ["RecvBuffer", "SendBuffer"]

# Do not bother compacting arrays smaller than this.
_COMPACT_MIN = 64 * 1024
# Received chunks shorter than this are joined with the one before.
_SMALL = 2048


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
        # Through a view: one copy; slicing the bytearray itself would copy twice.
        with memoryview(self._buf) as view:
            return bytes(view[begin : begin + n])

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
"""The queue of every send buffer that never held a byte: never written (`_writable` swaps
in a queue of the buffer's own first), so an idle connection's buffers cost no queue or
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


class _Chunks:
    """A FIFO of bytes kept as the chunks that arrived: storing a segment's payload keeps a
    reference, and a reader that takes one whole chunk gets that same object, so a 64 KB
    super-segment is not copied on its way to the application. ``_head`` bytes of the
    first chunk are already consumed."""

    __slots__ = ("_chunks", "_head", "_len")

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._head = 0
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def extend(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        chunks = self._chunks
        if type(data) is not bytes:
            data = bytes(data)
        elif len(data) < _SMALL and chunks and len(chunks[-1]) < _SMALL:
            # Tiny segments are joined, so a peer sending one byte per segment costs a
            # window's worth of memory, not a chunk object per byte.
            self._len += len(data)
            chunks.append(chunks.pop() + data)
            return
        chunks.append(data)
        self._len += len(data)

    def slice(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset``, without removing them."""
        chunks = self._chunks
        begin = self._head + offset
        if chunks:
            first = chunks[0]
            if begin == 0 and n >= len(first) == self._len:
                return first  # the common case: one whole chunk, no copy
            if begin + n <= len(first):
                return first[begin : begin + n]
        joined = b"".join(chunks)
        return joined[begin : begin + n]

    def consume(self, n: int) -> None:
        """Drop the ``n`` oldest bytes."""
        self._len -= n
        chunks = self._chunks
        n += self._head
        while chunks and n >= len(chunks[0]):
            n -= len(chunks.popleft())
        self._head = n if chunks else 0

    def remove(self, offset: int, n: int) -> None:
        """Drop ``n`` bytes after the first ``offset`` (rare: bytes a reader kept)."""
        joined = b"".join(self._chunks)[self._head :]
        rest = joined[:offset] + joined[offset + n :]
        self._chunks.clear()
        self._head = self._len = 0
        self.extend(rest)


_EMPTY_CHUNKS = _Chunks()
"""The chunks of every receive buffer that never held a byte (see `_EMPTY`)."""


class RecvBuffer:
    """In-order received bytes waiting for the application; sizes the receive window.

    The bytes are kept as the chunks they arrived in (see `_Chunks`), not copied into one
    array: the application reads a super-segment's payload as the very object the parser
    cut from the frame."""

    __slots__ = ("_q", "capacity")

    def __init__(self, capacity: int = 65535) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._q: _Chunks = _EMPTY_CHUNKS

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
        self._chunks().extend(data[:taken] if taken < len(data) else data)
        return taken

    def store(self, data: bytes | bytearray | memoryview) -> None:
        """Store in-order bytes the receive window admitted, all of them: with window
        scaling that window may exceed the free space by less than one scale unit (RFC 7323
        §2.4 rounds it up rather than shrink it)."""
        self._chunks().extend(data)

    def _chunks(self) -> _Chunks:
        q = self._q
        if q is _EMPTY_CHUNKS:
            q = self._q = _Chunks()
        return q

    def read(self, n: int | None = None, after: int = 0) -> bytes:
        """Remove and return up to ``n`` bytes (all when ``n`` is None) that follow the
        first ``after`` bytes, which stay."""
        if (n is not None and n < 0) or after < 0:
            raise ValueError(f"n and after must be >= 0, got {n} and {after}")
        available = max(len(self._q) - after, 0)
        if n is None or n > available:
            n = available
        if not n:
            return b""
        data = self._q.slice(after, n)
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
        available = len(self._q) - after
        if available <= 0:
            return b""
        return self._q.slice(after, available if n is None or n > available else n)

    def read_all(self) -> bytes:
        """Remove and return everything buffered."""
        return self.read(None)

    def window_update_due(self, advertised: int, mss: int) -> bool:
        """Whether the window opened enough to announce, avoiding silly windows.

        RFC 9293 §3.8.6.2.2 (MUST-39, RFC 1122 §4.2.3.3): announce once the window grew
        by at least min(capacity / 2, MSS) over ``advertised``, the last window sent.
        """
        return self.window - advertised >= min(self.capacity // 2, mss)


def _writable(buffer: SendBuffer) -> _ByteQueue:
    """The buffer's own queue, made on its first write."""
    q = buffer._q
    if q is _EMPTY:
        q = buffer._q = _ByteQueue()
    return q
