"""scikit-learn's bundled 8x8 digits and a small CNN for them (demo, CLI, benchmark).

``load_digits`` ships inside scikit-learn (no download): 1,797 images of 8x8 pixels with values
0..16, which we scale to [0, 1]. A user's own images load from an ``.npz`` file with arrays
``images`` (N, H, W) or (N, C, H, W) and ``labels`` (N,).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from lab.core import DataError, require

__all__ = ["SmallCNN", "load_digits_tensors", "load_image_npz", "train_test_split"]


def load_digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's digits as ``(1797, 1, 8, 8)`` floats in [0, 1] and ``(1797,)`` labels."""
    datasets = require("sklearn.datasets", "labworks-explain[demo]")
    bunch = datasets.load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return images, torch.tensor(bunch.target, dtype=torch.long)


def load_image_npz(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels from an ``.npz`` with ``images`` (N,H,W)/(N,C,H,W) and ``labels`` (N,)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image file {str(path)!r} does not exist")
    with np.load(path) as data:
        missing = {"images", "labels"} - set(data.files)
        if missing:
            raise DataError(f"{path}: missing arrays {sorted(missing)} (has {data.files})")
        images = torch.tensor(np.asarray(data["images"], dtype=np.float32))
        labels = torch.tensor(np.asarray(data["labels"]), dtype=torch.long)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    if images.dim() != 4 or len(images) != len(labels) or len(labels) == 0:
        raise DataError(
            f"{path}: images {tuple(images.shape)} and labels {tuple(labels.shape)} do not fit"
        )
    if not torch.isfinite(images).all():
        raise DataError(f"{path}: images contain NaN or infinite values")
    if (labels < 0).any():
        raise DataError(f"{path}: labels must be non-negative class indices")
    return images, labels


def train_test_split(n: int, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(n)`` into train and test indices."""
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


class SmallCNN(nn.Module):
    """Two 3x3 convolutions, 2x2 max pooling and a linear head (about 4k parameters on 8x8 digits).

    Args:
        in_channels: image channels.
        n_classes: classes.
        image_size: ``(H, W)`` of the inputs (even sizes; the head sees ``H/2 x W/2``).
        width: channels of the second convolution.
    """

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        image_size: tuple[int, int] = (8, 8),
        width: int = 16,
    ):
        super().__init__()
        h, w = image_size
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(width * (h // 2) * (w // 2), n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
