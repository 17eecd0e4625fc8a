"""pystack.twisted: Twisted protocols over the stack's TCP, on a simulated wire (Clock)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from twisted.internet import defer, error, interfaces, protocol
from twisted.protocols.basic import FileSender
from zope.interface import implementer

from pystack.sim import SimNet
from pystack.twisted import PystackClientEndpoint, PystackServerEndpoint, SessionTransport

PORT = 8080


class Recorder(protocol.Protocol):
    """Keeps what it receives and how it ended."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.made = False
        self.reason: Any = None

    def connectionMade(self) -> None:
        self.made = True

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason: Any = None) -> None:
        self.reason = reason


class Echo(Recorder):
    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.transport.write(data)


class Factory(protocol.Factory):
    def __init__(self, cls: type[protocol.Protocol] = Recorder) -> None:
        self.cls = cls
        self.built: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        p = self.cls()
        p.factory = self
        self.built.append(p)
        return p


def connect(net: SimNet, server_cls: type = Recorder, client_cls: type = Recorder) -> tuple:
    server = Factory(server_cls)
    port = net.wait(PystackServerEndpoint(net.b, PORT).listen(server))
    client = net.wait(
        PystackClientEndpoint(net.a, net.b.address, PORT).connect(Factory(client_cls))
    )
    assert net.run_until(lambda: server.built and server.built[0].made, 5)
    return client, server.built[0], port


@pytest.fixture
def net() -> Any:
    with SimNet(2, seed=7) as created:
        yield created


def test_endpoints_provide_the_twisted_interfaces(net: SimNet) -> None:
    client, server, port = connect(net)
    assert interfaces.IStreamServerEndpoint.providedBy(PystackServerEndpoint(net.b, 1))
    assert interfaces.IStreamClientEndpoint.providedBy(PystackClientEndpoint(net.a, "1.2.3.4", 1))
    assert interfaces.IListeningPort.providedBy(port)
    for iface in (interfaces.ITCPTransport, interfaces.IPushProducer, interfaces.IConsumer):
        assert iface.providedBy(client.transport)
    assert isinstance(server.transport, SessionTransport)


def test_echo_both_ways_and_addresses(net: SimNet) -> None:
    client, server, port = connect(net, server_cls=Echo)
    client.transport.writeSequence([b"hello ", b"world"])
    assert net.run_until(lambda: client.data == b"hello world", 5)
    peer, host = client.transport.getPeer(), client.transport.getHost()
    assert (peer.type, peer.host, peer.port) == ("TCP", "198.18.0.2", PORT)
    assert host.host == "198.18.0.1" and host.port == server.transport.getPeer().port
    assert port.getHost().port == PORT and port.getHost().host == "198.18.0.2"


def test_lose_connection_sends_queued_data_then_both_sides_see_connection_done(
    net: SimNet,
) -> None:
    client, server, _ = connect(net)
    payload = bytes(range(256)) * 4000  # 1 MB: more than the send buffer holds
    client.transport.write(payload)
    client.transport.loseConnection()
    assert client.transport.disconnecting
    assert net.run_until(lambda: client.reason and server.reason, 60)
    assert bytes(server.data) == payload
    assert client.reason.check(error.ConnectionDone)
    assert server.reason.check(error.ConnectionDone)
    assert not client.transport.connected and client.transport.disconnected


def test_abort_resets_the_peer(net: SimNet) -> None:
    client, server, _ = connect(net)
    client.transport.write(b"x" * 10_000)
    client.transport.abortConnection()
    assert client.reason.check(error.ConnectionAborted)
    assert net.run_until(lambda: server.reason, 5)
    assert server.reason.check(error.ConnectionLost)
    assert not server.reason.check(error.ConnectionDone)


@implementer(interfaces.IPushProducer)
class Streamer:
    """A streaming producer writing ``total`` bytes in 16 KiB pieces while not paused."""

    def __init__(self, transport: Any, total: int) -> None:
        self.transport, self.left = transport, total
        self.sent = hashlib.sha256()
        self.paused = self.stopped = False
        self.pauses = self.resumes = 0

    def pump(self) -> None:
        while not self.paused and self.left > 0:
            chunk = bytes([self.left % 251]) * min(16384, self.left)
            self.left -= len(chunk)
            self.sent.update(chunk)
            self.transport.write(chunk)
        if self.left == 0:
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def pauseProducing(self) -> None:
        self.paused, self.pauses = True, self.pauses + 1

    def resumeProducing(self) -> None:
        self.paused, self.resumes = False, self.resumes + 1
        self.pump()

    def stopProducing(self) -> None:
        self.stopped = True


def test_streaming_producer_is_paused_when_the_send_buffer_is_full(net: SimNet) -> None:
    client, server, _ = connect(net)
    streamer = Streamer(client.transport, 3_000_000)
    client.transport.registerProducer(streamer, True)
    streamer.pump()
    assert streamer.paused and streamer.pauses == 1  # 256 KiB send buffer filled at once
    queued = client.transport.session.snapshot()["send_queued"]
    assert queued <= 256 * 1024
    assert net.run_until(lambda: server.reason, 120)
    assert streamer.resumes >= 1 and streamer.left == 0
    assert hashlib.sha256(server.data).hexdigest() == streamer.sent.hexdigest()
    assert server.reason.check(error.ConnectionDone)


def test_pull_producer_file_sender(net: SimNet) -> None:
    client, server, _ = connect(net)
    blob = hashlib.sha256(b"seed").digest() * 40_000  # 1.28 MB
    done = FileSender().beginFileTransfer(io.BytesIO(blob), client.transport)
    done.addCallback(lambda _: client.transport.loseConnection())
    assert net.run_until(lambda: server.reason, 120)
    assert bytes(server.data) == blob


def test_pausing_the_transport_closes_the_receive_window(net: SimNet) -> None:
    client, server, _ = connect(net)
    server.transport.pauseProducing()
    client.transport.write(b"z" * 400_000)
    net.advance(30)
    assert len(server.data) == 0
    receiver = server.transport.session.snapshot()
    assert receiver["rcv_wnd"] == 0 and receiver["recv_queued"] > 0
    server.transport.resumeProducing()
    assert net.run_until(lambda: len(server.data) == 400_000, 60)


def test_connect_to_a_closed_port_is_refused(net: SimNet) -> None:
    d = PystackClientEndpoint(net.a, net.b.address, 9).connect(Factory())
    with pytest.raises(error.ConnectionRefusedError):
        net.wait(d, 5)


def test_connect_times_out_and_can_be_cancelled(net: SimNet) -> None:
    d = PystackClientEndpoint(net.a, "198.18.0.77", 80, timeout=3).connect(Factory())
    with pytest.raises(error.TimeoutError):
        net.wait(d, 10)
    d2 = PystackClientEndpoint(net.a, "198.18.0.77", 80).connect(Factory())
    d2.cancel()
    with pytest.raises(defer.CancelledError):
        net.wait(d2, 1)
    assert not net.a.tcp.connections


def test_listening_twice_fails_and_stop_listening_refuses_new_clients(net: SimNet) -> None:
    port = net.wait(PystackServerEndpoint(net.b, PORT).listen(Factory()))
    with pytest.raises(error.CannotListenError):
        net.wait(PystackServerEndpoint(net.b, PORT).listen(Factory()))
    net.wait(port.stopListening())
    with pytest.raises(error.ConnectionRefusedError):
        net.wait(PystackClientEndpoint(net.a, net.b.address, PORT).connect(Factory()), 5)


def test_factory_refusing_a_client_resets_it(net: SimNet) -> None:
    class No(protocol.Factory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    net.wait(PystackServerEndpoint(net.b, PORT).listen(No()))
    client = net.wait(PystackClientEndpoint(net.a, net.b.address, PORT).connect(Factory()))
    assert net.run_until(lambda: client.reason, 5)
    assert client.reason.check(error.ConnectionLost)


def test_nodelay_and_keepalive_switches(net: SimNet) -> None:
    client, _, _ = connect(net)
    t = client.transport
    assert (t.getTcpNoDelay(), t.getTcpKeepAlive()) == (False, False)
    t.setTcpNoDelay(True)
    t.setTcpKeepAlive(True)
    assert (t.getTcpNoDelay(), t.getTcpKeepAlive()) == (True, True)
    assert "keepalive" in t.session.snapshot()["timers"]
    t.setTcpKeepAlive(False)
    assert "keepalive" not in t.session.snapshot()["timers"]


def test_nodelay_sends_small_writes_without_waiting_for_acks(net: SimNet) -> None:
    client, _, _ = connect(net)
    client.transport.setTcpNoDelay(True)
    client.transport.write(b"a")
    client.transport.write(b"b")  # Nagle would hold this until "a" is acknowledged
    assert client.transport.session.snapshot()["send_queued"] == 2
    assert (
        client.transport.session.snapshot()["snd_nxt"]
        - client.transport.session.snapshot()["snd_una"]
        == 2
    )


@implementer(interfaces.IHalfCloseableProtocol)
class HalfClose(Recorder):
    read_lost = False

    def readConnectionLost(self) -> None:
        self.read_lost = True
        self.transport.write(b"bye")
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        pass


def test_half_closeable_protocol_hears_read_connection_lost(net: SimNet) -> None:
    client, server, _ = connect(net, server_cls=HalfClose)
    client.transport.write(b"last words")
    client.transport.loseWriteConnection()
    assert net.run_until(lambda: server.reason and client.data == b"bye", 10)
    assert server.read_lost and bytes(server.data) == b"last words"
