"""Deprecated: moved to :mod:`lab.llm.pods.experiment` (removed in labworks 0.3)."""

from lab.core import alias_module

alias_module(__name__, "lab.llm.pods.experiment")
