"""Deprecated path: moved to :mod:`lab.molecules.particles.metrics` (removed in labworks 0.3)."""

import lab.core

lab.core.alias_module(__name__, "lab.molecules.particles.metrics")
