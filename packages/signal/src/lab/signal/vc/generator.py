"""The 2D-1D-2D gated (GLU) convolutional mel-to-mel generator with frame masking.

Architecture of MaskCycleGAN-VC (Kaneko et al. 2021), the closest public system to CLOT-GAN:
2D convolutions with GLU gates and instance norm downsample (mel, time) by 4, a 1D stack of
gated residual blocks works on the flattened channels-by-mel axis, pixel-shuffle 2D upsampling
restores the resolution. Frame masking ("filling in frames"): the input is ``x * m`` and the
mask ``m`` is a second input channel; training sets a random contiguous span of frames to zero
and the cycle loss asks the inverse generator to restore it. Inference uses ``m = 1``.

OURS (config fields): the widths (``channels_2d``, ``channels_1d``, ``n_residual``; MaskCycleGAN
uses 128 / 256 / 6), ``residual_output``: the output adds the (masked) input, and
``zero_init_output``: the last convolution starts at ``output_init_scale`` times PyTorch's
default init (bias zero). With the default scale 0 an untrained generator is exactly the
identity in the per-speaker normalised mel domain (i.e. a mean/variance log-mel transfer) and
training learns a correction; but then no gradient reaches the layers before the last one at
the first step. A small scale (the CPU benchmark uses 0.1) starts near the identity with every
layer receiving gradients. Odd sizes are padded (edge
replication) to multiples of 4 (at least 8 frames) and cropped back, so any ``(n_mels, frames)`` works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.core import ConfigError, DataError

__all__ = ["Generator", "GeneratorConfig", "frame_mask"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Sizes of :class:`Generator` (defaults are CPU-sized; MaskCycleGAN: 128, 256, 6)."""

    channels_2d: int = 32
    channels_1d: int = 128
    n_residual: int = 3
    kernel_1d: int = 3
    residual_output: bool = True
    zero_init_output: bool = True
    output_init_scale: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.output_init_scale <= 1.0:
            raise ConfigError(f"output_init_scale must be in [0, 1], got {self.output_init_scale}")
        if min(self.channels_2d, self.channels_1d, self.n_residual, self.kernel_1d) < 1:
            raise ConfigError(f"generator sizes must be >= 1 ({self})")
        if self.kernel_1d % 2 == 0:
            raise ConfigError(f"kernel_1d must be odd, got {self.kernel_1d}")


def frame_mask(
    batch: int,
    frames: int,
    max_mask: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``(batch, 1, 1, frames)`` masks: ones with one random span of ``U{0..max_mask}`` zeros."""
    if max_mask < 0 or frames < 1:
        raise ConfigError(f"need max_mask >= 0 and frames >= 1, got {max_mask}, {frames}")
    mask = torch.ones(batch, 1, 1, frames)
    for i in range(batch):
        size = int(torch.randint(0, min(max_mask, frames) + 1, (1,), generator=generator))
        if size:
            start = int(torch.randint(0, frames - size + 1, (1,), generator=generator))
            mask[i, ..., start : start + size] = 0.0
    return mask.to(device)


class _GLU2d(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], stride: int, norm: bool):
        super().__init__()
        pad = (kernel[0] // 2, kernel[1] // 2)
        self.conv = nn.Conv2d(cin, 2 * cout, kernel, stride=stride, padding=pad)
        self.norm = nn.InstanceNorm2d(2 * cout, affine=True) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.norm(self.conv(x)), dim=1)


class _Up2d(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, 2 * cout * 4, 5, padding=2)
        self.shuffle = nn.PixelShuffle(2)
        self.norm = nn.InstanceNorm2d(2 * cout, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.norm(self.shuffle(self.conv(x))), dim=1)


class _Res1d(nn.Module):
    def __init__(self, ch: int, k: int):
        super().__init__()
        self.conv1 = nn.Conv1d(ch, 2 * ch, k, padding=k // 2)
        self.norm1 = nn.InstanceNorm1d(2 * ch, affine=True)
        self.conv2 = nn.Conv1d(ch, ch, k, padding=k // 2)
        self.norm2 = nn.InstanceNorm1d(ch, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.glu(self.norm1(self.conv1(x)), dim=1)
        return x + self.norm2(self.conv2(h))


class Generator(nn.Module):
    """Mel-to-mel generator: ``(batch, n_mels, frames)`` -> same shape.

    ``forward(x, mask=None)``: ``mask`` is ``(batch, 1, 1, frames)`` or ``(batch, frames)``
    (1 keeps a frame, 0 hides it); ``None`` means no masking (inference).
    """

    def __init__(self, n_mels: int = 80, config: GeneratorConfig | None = None):
        super().__init__()
        cfg = config or GeneratorConfig()
        if n_mels < 1:
            raise ConfigError(f"n_mels must be >= 1, got {n_mels}")
        self.n_mels = n_mels
        self.config = cfg
        c = cfg.channels_2d
        self.mel_pad = (-n_mels) % 4
        m4 = (n_mels + self.mel_pad) // 4
        self.conv_in = _GLU2d(2, c, (5, 15), 1, norm=False)
        self.down1 = _GLU2d(c, 2 * c, (5, 5), 2, norm=True)
        self.down2 = _GLU2d(2 * c, 2 * c, (5, 5), 2, norm=True)
        self.to1d = nn.Conv1d(2 * c * m4, cfg.channels_1d, 1)
        self.to1d_norm = nn.InstanceNorm1d(cfg.channels_1d, affine=True)
        self.res = nn.Sequential(
            *[_Res1d(cfg.channels_1d, cfg.kernel_1d) for _ in range(cfg.n_residual)]
        )
        self.to2d = nn.Conv1d(cfg.channels_1d, 2 * c * m4, 1)
        self.to2d_norm = nn.InstanceNorm1d(2 * c * m4, affine=True)
        self.up1 = _Up2d(2 * c, 2 * c)
        self.up2 = _Up2d(2 * c, c)
        self.conv_out = nn.Conv2d(c, 1, (5, 15), padding=(2, 7))
        if cfg.residual_output and cfg.zero_init_output:
            with torch.no_grad():  # PyTorch's default init times output_init_scale (0: zeros)
                self.conv_out.weight.mul_(cfg.output_init_scale)
                if self.conv_out.bias is not None:
                    self.conv_out.bias.zero_()

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != self.n_mels:
            raise DataError(
                f"generator input must be (batch, {self.n_mels}, frames), got {tuple(x.shape)}"
            )
        b, m, t = x.shape
        if mask is None:
            mask4 = torch.ones(b, 1, 1, t, device=x.device, dtype=x.dtype)
        else:
            mask4 = mask.reshape(b, 1, 1, t).to(x.dtype)
        xm = x[:, None] * mask4
        h = torch.cat([xm, mask4.expand(b, 1, m, t)], dim=1)
        t_pad = max((-t) % 4, 8 - t)  # multiples of 4, >= 8 frames (instance norm needs 2)
        h = F.pad(h, (0, t_pad, 0, self.mel_pad), mode="replicate")
        h = self.conv_in(h)
        h = self.down2(self.down1(h))
        bb, cc, mm, tt = h.shape
        h = self.to1d_norm(self.to1d(h.reshape(bb, cc * mm, tt)))
        h = self.res(h)
        h = self.to2d_norm(self.to2d(h)).reshape(bb, cc, mm, tt)
        h = self.conv_out(self.up2(self.up1(h)))[:, 0, :m, :t]
        if self.config.residual_output:
            h = h + xm[:, 0]
        return h
