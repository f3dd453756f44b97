"""The ``[vc]`` extra: one place that names it and checks it before anything of vc loads.

Importing this module (the first import of :mod:`lab.signal.vc`) runs the check.
"""

from __future__ import annotations

import importlib.util

from lab.core import require

__all__ = ["VC_EXTRA", "VC_MODULES", "check_vc_dependencies"]

#: the pip requirement that installs everything lab.signal.vc imports
VC_EXTRA = "labworks-signal[vc]"
#: the modules it provides (soundfile: audio I/O; librosa: mel filterbank, DTW; WORLD vocoder)
VC_MODULES = ("soundfile", "librosa", "pyworld", "pysptk")


def check_vc_dependencies() -> None:
    """Raise lab.core's :func:`~lab.core.require` error naming ``pip install
    'labworks-signal[vc]'`` when a module of the extra is missing.

    Presence is checked with ``find_spec`` (cheap: nothing heavy is imported here); a module
    that is present but fails to import raises the same error where it is first used.
    """
    for module in VC_MODULES:
        if importlib.util.find_spec(module) is None:
            require(module, VC_EXTRA)


check_vc_dependencies()
