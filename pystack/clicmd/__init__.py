"""Subcommands of the ``pystack`` command, one module each (see :mod:`pystack.cli`)."""
