"""Twisted plugin: ``pystack:`` endpoint strings (see :mod:`pystack.twisted.strports`).

``serverFromString(reactor, "pystack:8080:tap=tap0:ip=198.18.0.2/24")``,
``clientFromString(reactor, "pystack:198.18.0.1:80:tap=tap0:ip=198.18.0.2/24")`` and
``twist web --listen pystack:8080:tap=tap0:ip=198.18.0.2/24 --path DIR`` find it here.
This directory has no ``__init__.py``: Twisted's plugin directories are namespace-style.
"""

from pystack.twisted.strports import PystackClientParser, PystackServerParser

pystackServerParser = PystackServerParser()
pystackClientParser = PystackClientParser()
