"""Deprecated: moved to :mod:`lab.privacy.collision.salted_hash` (removed in labworks 0.3)."""

from lab.core import alias_module

alias_module(__name__, "lab.privacy.collision.salted_hash")
