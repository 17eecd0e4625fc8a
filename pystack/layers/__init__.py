"""The stack: a graph of layers registered to each other, as in the 2013 PyStack.

See :mod:`pystack.layers.layer` for the API every layer shares.
"""
