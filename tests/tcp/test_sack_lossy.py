"""A lossy two-stack transfer with and without SACK: the same bytes arrive, and SACK
resends fewer of them (RFC 6675 resends the holes; NewReno, one hole per round trip or
everything after a timeout)."""

from __future__ import annotations

import hashlib
import random

from helpers.tcp_pairs import connect_pair, pump

from pystack.tcp.config import TcpConfig
from pystack.testing.harness import TcpPair

SIZE = 3_000_000
SEED = 5
LOSS = 0.1


def transfer(sack: bool) -> tuple[bytes, int, bool]:
    """Send SIZE bytes from client to server over 10% loss; returns what arrived, the bytes
    the sender retransmitted and whether SACK was in use."""
    pair = TcpPair(config=TcpConfig(sack=sack), loss=LOSS, seed=SEED)
    client, server = connect_pair(pair)
    session = client.session
    assert session is not None
    data = random.Random(SEED).randbytes(SIZE)
    got = pump(pair, client, server, data)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    return got, session.rexmit_bytes, session.sack_ok


def test_sack_transfer_is_exact_and_retransmits_less_than_newreno() -> None:
    _, with_sack, sack_used = transfer(sack=True)
    _, without, newreno_sack = transfer(sack=False)
    print(f"\nretransmitted bytes, {SIZE} B at 10% loss: SACK {with_sack}, NewReno {without}")
    assert sack_used and not newreno_sack
    assert 0 < with_sack < without
