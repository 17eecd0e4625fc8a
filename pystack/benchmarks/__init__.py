"""Benchmarks run by ``pystack bench <name>``: measurements, not tests.

Each public module here (a name without a leading underscore) that defines
``add_arguments(parser)`` and ``run(args) -> int`` is a benchmark named after the module;
:mod:`pystack.clicmd.bench` finds them without importing them, and the first line of the
module's docstring is its one-line summary in ``pystack bench --help``. Helper modules
(without those two functions, or with a leading underscore) are not listed.
"""
