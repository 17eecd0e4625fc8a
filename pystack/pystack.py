"""The seed's import path: ``from pystack.pystack import PyStack``."""

from pystack.stack import PyStack

__all__ = ["PyStack"]
