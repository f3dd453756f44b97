"""Deprecated path of :mod:`lab.signal.rul.plots` (removed in labworks 0.3)."""

from lab.core import alias_module

alias_module(__name__, "lab.signal.rul.plots")
