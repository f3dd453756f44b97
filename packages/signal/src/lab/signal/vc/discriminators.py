"""The three CLOT-GAN discriminators: a deep CNN (PatchGAN), a ViT over mel patches, a Conformer.

Each maps a normalised log-mel batch ``(batch, n_mels, frames)`` to a flat vector of real/fake
scores per example ``(batch, units)`` (patches, tokens or frames), scored with least squares.
The paper names the three kinds; their sizes are OURS (config fields of
:class:`DiscriminatorConfig`). Inputs of any length work: the CNN is fully convolutional, the ViT
pads to whole patches (edge replication) and uses a learned mel-band embedding plus a sinusoidal
time embedding, the Conformer works per frame with a sinusoidal position encoding (OURS: absolute
instead of the Conformer's relative positions; layer norm instead of batch norm in its
convolution module, so real and fake batches never share statistics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lab.core import ConfigError, DataError

__all__ = [
    "DISCRIMINATOR_KINDS",
    "ConformerDiscriminator",
    "DiscriminatorConfig",
    "PatchCNNDiscriminator",
    "ViTDiscriminator",
    "build_discriminator",
]

DISCRIMINATOR_KINDS = ("cnn", "vit", "conformer")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Which discriminators CLOT-GAN uses and their sizes (all sizes OURS, CPU-sized)."""

    kinds: tuple[str, ...] = DISCRIMINATOR_KINDS
    cnn_channels: int = 16
    cnn_layers: int = 3
    vit_patch_mels: int = 16
    vit_patch_frames: int = 8
    vit_dim: int = 64
    vit_heads: int = 4
    vit_layers: int = 2
    conformer_dim: int = 64
    conformer_heads: int = 4
    conformer_layers: int = 2
    conformer_kernel: int = 15

    def __post_init__(self) -> None:
        if not self.kinds:
            raise ConfigError("at least one discriminator kind is needed")
        for k in self.kinds:
            if k not in DISCRIMINATOR_KINDS:
                raise ConfigError(
                    f"unknown discriminator kind {k!r}; choose from {DISCRIMINATOR_KINDS}"
                )
        if len(set(self.kinds)) != len(self.kinds):
            raise ConfigError(f"discriminator kinds repeat: {self.kinds}")
        if self.vit_dim % self.vit_heads or self.conformer_dim % self.conformer_heads:
            raise ConfigError("vit_dim / conformer_dim must be divisible by their head counts")
        if self.conformer_kernel % 2 == 0:
            raise ConfigError(f"conformer_kernel must be odd, got {self.conformer_kernel}")


def _check(x: torch.Tensor, n_mels: int) -> None:
    if x.ndim != 3 or x.shape[1] != n_mels:
        raise DataError(
            f"discriminator input must be (batch, {n_mels}, frames), got {tuple(x.shape)}"
        )


def _sinusoid(positions: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    pos = torch.arange(positions, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    ang = pos / (10000.0 ** (i / dim))
    pe = torch.zeros(positions, dim, device=device)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : dim // 2])
    return pe.to(dtype)


class PatchCNNDiscriminator(nn.Module):
    """PatchGAN-style deep CNN with GLU gates (MaskCycleGAN-VC's discriminator, narrower)."""

    def __init__(self, n_mels: int, cfg: DiscriminatorConfig):
        super().__init__()
        self.n_mels = n_mels
        c = cfg.cnn_channels
        self.conv_in = nn.Conv2d(1, 2 * c, 3, padding=1)
        layers: list[nn.Module] = []
        cin = c
        for i in range(cfg.cnn_layers):
            cout = c * 2 ** min(i + 1, 3)
            layers.append(nn.Conv2d(cin, 2 * cout, 3, stride=2, padding=1))
            layers.append(nn.InstanceNorm2d(2 * cout, affine=True))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.conv_out = nn.Conv2d(cin, 1, (1, 3), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.n_mels)
        h = F.glu(self.conv_in(x[:, None]), dim=1)
        for conv, norm in zip(self.layers[0::2], self.layers[1::2], strict=True):
            h = F.glu(norm(conv(h)), dim=1)
        return self.conv_out(h).flatten(1)


class ViTDiscriminator(nn.Module):
    """Vision Transformer over non-overlapping (mel x frame) patches; one score per patch."""

    def __init__(self, n_mels: int, cfg: DiscriminatorConfig):
        super().__init__()
        self.n_mels = n_mels
        self.pm, self.pt = cfg.vit_patch_mels, cfg.vit_patch_frames
        self.mel_pad = (-n_mels) % self.pm
        self.n_bands = (n_mels + self.mel_pad) // self.pm
        self.embed = nn.Linear(self.pm * self.pt, cfg.vit_dim)
        self.band = nn.Parameter(torch.randn(self.n_bands, cfg.vit_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(
            cfg.vit_dim,
            cfg.vit_heads,
            2 * cfg.vit_dim,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.vit_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.vit_dim)
        self.head = nn.Linear(cfg.vit_dim, 1)
        self.dim = cfg.vit_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.n_mels)
        b, _, t = x.shape
        x = F.pad(x[:, None], (0, (-t) % self.pt, 0, self.mel_pad), mode="replicate")[:, 0]
        nt = x.shape[2] // self.pt
        p = x.reshape(b, self.n_bands, self.pm, nt, self.pt).permute(0, 1, 3, 2, 4)
        tok = self.embed(p.reshape(b, self.n_bands, nt, self.pm * self.pt))
        tok = tok + self.band[None, :, None, :]
        tok = tok + _sinusoid(nt, self.dim, x.device, tok.dtype)[None, None]
        h = self.encoder(tok.reshape(b, self.n_bands * nt, self.dim))
        return self.head(self.norm(h)).flatten(1)


class _ConformerBlock(nn.Module):
    def __init__(self, d: int, heads: int, kernel: int):
        super().__init__()
        self.ff1 = nn.Sequential(
            nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d)
        )
        self.att_norm = nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.conv_norm = nn.LayerNorm(d)
        self.pw1 = nn.Conv1d(d, 2 * d, 1)
        self.dw = nn.Conv1d(d, d, kernel, padding=kernel // 2, groups=d)
        self.dw_norm = nn.LayerNorm(d)
        self.pw2 = nn.Conv1d(d, d, 1)
        self.ff2 = nn.Sequential(
            nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d)
        )
        self.out_norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        h = self.att_norm(x)
        x = x + self.att(h, h, h, need_weights=False)[0]
        h = F.glu(self.pw1(self.conv_norm(x).transpose(1, 2)), dim=1)
        h = self.dw(h).transpose(1, 2)
        h = self.pw2(F.silu(self.dw_norm(h)).transpose(1, 2)).transpose(1, 2)
        x = x + h
        x = x + 0.5 * self.ff2(x)
        return self.out_norm(x)


class ConformerDiscriminator(nn.Module):
    """Conformer (Gulati et al. 2020) over mel frames; one score per frame."""

    def __init__(self, n_mels: int, cfg: DiscriminatorConfig):
        super().__init__()
        self.n_mels = n_mels
        d = cfg.conformer_dim
        self.proj = nn.Linear(n_mels, d)
        self.blocks = nn.ModuleList(
            [
                _ConformerBlock(d, cfg.conformer_heads, cfg.conformer_kernel)
                for _ in range(cfg.conformer_layers)
            ]
        )
        self.head = nn.Linear(d, 1)
        self.dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check(x, self.n_mels)
        h = self.proj(x.transpose(1, 2))
        h = h + _sinusoid(h.shape[1], self.dim, h.device, h.dtype)[None] * math.sqrt(1.0 / self.dim)
        for block in self.blocks:
            h = block(h)
        return self.head(h).flatten(1)


def build_discriminator(kind: str, n_mels: int, cfg: DiscriminatorConfig) -> nn.Module:
    """A discriminator by name: ``"cnn"``, ``"vit"`` or ``"conformer"``."""
    if kind == "cnn":
        return PatchCNNDiscriminator(n_mels, cfg)
    if kind == "vit":
        return ViTDiscriminator(n_mels, cfg)
    if kind == "conformer":
        return ConformerDiscriminator(n_mels, cfg)
    raise ConfigError(f"unknown discriminator kind {kind!r}; choose from {DISCRIMINATOR_KINDS}")
