"""SSH server (the 2013 PyStack's example): twisted.conch over the stack.

A host key is generated at start (nothing is read from /etc/ssh); one user logs in with a
password and may run commands (``ssh user@host 'echo ok'``), each through ``/bin/sh -c``.
It needs twisted.conch's dependencies (``pip install 'twisted[conch]'``). On a TAP device
(root), reached from the kernel side::

    python examples/ssh_server.py --tap tap0 --ip 198.18.0.2/24 --port 2222 \\
        --user demo --password demo
    ssh -p 2222 demo@198.18.0.2 'echo ok'

Only for demonstrations: the password is given on the command line and the host key is
new at every start.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from twisted.conch import avatar
from twisted.conch.interfaces import ISession
from twisted.conch.ssh import factory, keys, session
from twisted.cred import portal
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.python import components
from zope.interface import implementer

from pystack.device_options import add_options, make_stack
from pystack.twisted import PystackServerEndpoint


class User(avatar.ConchUser):
    """A logged-in user: may open "session" channels."""

    def __init__(self, username: bytes) -> None:
        super().__init__()
        self.username = username
        self.channelLookup[b"session"] = session.SSHSession


@implementer(ISession)
class Commands:
    """A session that runs exec requests with ``/bin/sh -c`` (no shell, no pty)."""

    def __init__(self, user: User) -> None:
        self.user = user

    def execCommand(self, proto: Any, command: bytes) -> None:
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor
        argv = ["/bin/sh", "-c", command.decode()]
        reactor.spawnProcess(proto, "/bin/sh", args=argv, env=dict(os.environ))

    def openShell(self, proto: Any) -> None:
        raise NotImplementedError("this server runs commands only (ssh host CMD)")

    def getPty(self, term: bytes, windowSize: Any, modes: Any) -> None:
        pass

    def windowChanged(self, newWindowSize: Any) -> None:
        pass

    def eofReceived(self) -> None:
        pass

    def closed(self) -> None:
        pass


components.registerAdapter(Commands, User, ISession)


@implementer(portal.IRealm)
class Realm:
    def requestAvatar(self, avatarId: bytes, mind: Any, *interfaces: Any) -> tuple[Any, ...]:
        return interfaces[0], User(avatarId), lambda: None


def host_key() -> keys.Key:
    """A fresh RSA host key (generated at every start)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return keys.Key(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ssh_factory(user: str, password: str, key: keys.Key | None = None) -> factory.SSHFactory:
    """An SSH server factory with one password user and a host key."""
    key = key or host_key()
    f: Any = factory.SSHFactory()
    f.publicKeys = {b"ssh-rsa": key.public()}
    f.privateKeys = {b"ssh-rsa": key}
    checker = InMemoryUsernamePasswordDatabaseDontUse(**{user: password.encode()})
    # zope interfaces are invisible to mypy: Realm provides IRealm, the checker
    # ICredentialsChecker.
    f.portal = portal.Portal(Realm(), [checker])  # type: ignore[arg-type, list-item]
    return f


def serve(stack: Any, port: int, user: str, password: str) -> Any:
    """Listen on ``port`` of ``stack``: a Deferred firing with the listening port."""
    return PystackServerEndpoint(stack, port).listen(ssh_factory(user, password))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="demo")
    add_options(parser)
    args = parser.parse_args(argv)
    stack = make_stack(args)
    serve(stack, args.port, args.user, args.password)
    print(f"ssh -p {args.port} {args.user}@{stack.address} 'echo ok'")
    stack.run(doreactor=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
