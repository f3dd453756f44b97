"""Deprecated: moved to :mod:`lab.privacy.collision.io` (removed in labworks 0.3)."""

from lab.core import alias_module

alias_module(__name__, "lab.privacy.collision.io")
