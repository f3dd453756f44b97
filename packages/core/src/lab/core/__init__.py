"""lab.core: what every labworks domain needs, and nothing more.

Device selection, seeding, frozen-dataclass configs (files and CLI flags), run directories,
atomic checkpoints with bit-exact resume, progress bars and logging, torch.distributed helpers,
optional-import guards and the error family. Test helpers live in :mod:`lab.core.testing`,
the demo report in :mod:`lab.core.report` and the ``lab`` CLI in :mod:`lab.core.cli`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._checkpoint import CheckpointState, atomic_save, load_checkpoint, save_checkpoint
from ._config import (
    add_config_arguments,
    config_from_args,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from ._deprecation import alias_module, moved_attributes, rewrite_moved_command
from ._device import cuda_available, get_device
from ._distributed import (
    DistributedInfo,
    all_reduce_mean,
    barrier,
    cleanup_distributed,
    init_distributed,
    is_distributed,
    is_main,
    local_rank,
    rank,
    world_size,
    wrap_ddp,
)
from ._errors import ConfigError, DataError, DeviceError, LabError, MissingDependencyError
from ._optional import require
from ._progress import progress, setup_logging
from ._rundir import RunDir
from ._seed import get_rng_state, seeded, set_rng_state, set_seed

try:
    __version__ = version("labworks-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "CheckpointState",
    "ConfigError",
    "DataError",
    "DeviceError",
    "DistributedInfo",
    "LabError",
    "MissingDependencyError",
    "RunDir",
    "__version__",
    "add_config_arguments",
    "alias_module",
    "all_reduce_mean",
    "atomic_save",
    "barrier",
    "cleanup_distributed",
    "config_from_args",
    "config_from_dict",
    "config_to_dict",
    "cuda_available",
    "get_device",
    "get_rng_state",
    "init_distributed",
    "is_distributed",
    "is_main",
    "load_checkpoint",
    "load_config",
    "local_rank",
    "moved_attributes",
    "progress",
    "rank",
    "require",
    "rewrite_moved_command",
    "save_checkpoint",
    "save_config",
    "seeded",
    "set_rng_state",
    "set_seed",
    "setup_logging",
    "world_size",
    "wrap_ddp",
]
