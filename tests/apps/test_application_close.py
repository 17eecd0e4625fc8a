"""TCPApplication.close() with unread data, or data after it, resets (RFC 1122 §4.2.2.13,
RFC 2525 §2.17); shutdown(1) is a half-close that keeps receiving."""

from __future__ import annotations

from typing import Any

from helpers.tcp_pairs import SERVER_IP, connect_pair

from pystack.apps.tcp_application import TCPApplication
from pystack.tcp.config import CloseReason
from pystack.testing.harness import TcpPair


class Recorder(TCPApplication):
    """Keeps what arrives for fetch_data (the default packet_received), records how the
    connection ended, and stays half-open after the peer's FIN."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: list[CloseReason] = []

    def connection_lost(self, reason: CloseReason) -> None:
        self.lost.append(reason)

    def eof_received(self) -> bool:
        return True


def serve(pair: TcpPair, port: int) -> list[Any]:
    """A server giving each client its own application; returns the accepted ones."""
    server = TCPApplication()
    pair.register(server, 1)
    server.bind(port, server, True)
    server.listen(1)
    accepted: list[Any] = []
    server.accept_deferred().addCallback(accepted.append)
    return accepted


def recording_client(pair: TcpPair, port: int) -> Recorder:
    client = Recorder()
    pair.register(client, 0)
    connected: list[bool] = []
    client.connect_deferred(SERVER_IP, port).addCallback(connected.append)
    pair.run_until(lambda: connected)
    return client


def test_close_with_unfetched_data_resets_the_peer(pair: TcpPair) -> None:
    accepted = serve(pair, 7100)
    client = recording_client(pair, 7100)
    pair.run_until(lambda: accepted)
    (served,) = accepted
    client.send_packet(b"a request the server never reads")
    pair.run(0.5)
    served.close()
    pair.run(0.5)
    assert client.lost == [CloseReason.RESET]  # an RST, not a FIN: the data was lost
    assert not client.eof
    assert served.close_reason is CloseReason.RESET
    assert served.fetch_data() == b""  # discarded, as a socket's close() discards it


def test_close_after_fetching_everything_is_clean(pair: TcpPair) -> None:
    client, served = connect_pair(pair, 7101)
    client.send_packet(b"read in full")
    pair.run(0.5)
    assert served.fetch_data() == b"read in full"
    served.close()
    pair.run(0.5)
    assert client.eof  # a FIN
    client.close()
    pair.run(0.5)
    assert (client.close_reason, served.close_reason) == (CloseReason.CLOSED, CloseReason.CLOSED)


class CloseOnFirstPacket(TCPApplication):
    """Takes what arrives (nothing waits unread); closes once the first bytes came."""

    got = b""

    def packet_received(self, packet: bytes, **kwargs: Any) -> None:
        type(self).got += packet
        self.close()


def test_data_after_close_resets_the_peer(pair: TcpPair) -> None:
    server = CloseOnFirstPacket()
    pair.register(server, 1)
    server.bind(7102, server, True)
    server.listen(1)
    client = recording_client(pair, 7102)
    client.send_packet(b"first")
    pair.run(0.5)
    assert client.eof and client.lost == []  # the server's FIN: it closed cleanly so far
    client.send_packet(b"second")  # but it closed both directions: nobody reads this
    pair.run(0.5)
    assert client.lost == [CloseReason.RESET]
    assert CloseOnFirstPacket.got == b"first"


def test_a_half_close_still_receives(pair: TcpPair) -> None:
    accepted = serve(pair, 7103)
    client = recording_client(pair, 7103)
    pair.run_until(lambda: accepted)
    (served,) = accepted
    served.shutdown(1)  # SHUT_WR: FIN, and keep reading
    pair.run(0.5)
    assert client.eof
    client.send_packet(b"after your FIN")
    pair.run(0.5)
    assert served.fetch_data() == b"after your FIN"
    client.close()
    pair.run(0.5)
    assert (client.close_reason, served.close_reason) == (CloseReason.CLOSED, CloseReason.CLOSED)
