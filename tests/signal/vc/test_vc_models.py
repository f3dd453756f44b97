"""Generator and discriminators: shapes for odd sizes, masking, collective weighting."""

import pytest
import torch

from lab.core import ConfigError, DataError
from lab.signal.vc import (
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    build_discriminator,
    collective_weights,
    combine_losses,
    frame_mask,
    lsgan_d_loss,
    lsgan_g_loss,
)

torch.set_num_threads(1)
TINY_G = GeneratorConfig(channels_2d=4, channels_1d=16, n_residual=1, zero_init_output=False)
TINY_D = DiscriminatorConfig(
    cnn_channels=4,
    vit_patch_mels=4,
    vit_patch_frames=4,
    vit_dim=8,
    vit_heads=2,
    vit_layers=1,
    conformer_dim=8,
    conformer_heads=2,
    conformer_layers=1,
    conformer_kernel=3,
)


@pytest.mark.parametrize("n_mels,frames", [(13, 37), (80, 1), (10, 5), (16, 64)])
def test_generator_shapes_odd_sizes(n_mels, frames):
    g = Generator(n_mels, TINY_G)
    x = torch.randn(2, n_mels, frames)
    y = g(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in g.parameters() if p.requires_grad)


def test_generator_masking_and_residual():
    torch.manual_seed(0)
    g = Generator(12, TINY_G)
    x = torch.randn(1, 12, 20)
    mask = torch.ones(1, 20)
    mask[0, 5:9] = 0
    # the masked frames are invisible: changing them does not change the output
    x2 = x.clone()
    x2[..., 5:9] += 10.0
    torch.testing.assert_close(g(x, mask), g(x2, mask))
    assert not torch.allclose(g(x), g(x2))
    # with the zero-initialised last layer (default) the residual generator is the identity
    g0 = Generator(12, GeneratorConfig(channels_2d=4, channels_1d=16, n_residual=1))
    torch.testing.assert_close(g0(x), x)
    torch.testing.assert_close(g0(x, mask), x * mask[:, None, :])
    with pytest.raises(DataError, match="batch, 12, frames"):
        g(torch.randn(1, 11, 20))


def test_frame_mask_spans():
    gen = torch.Generator().manual_seed(0)
    m = frame_mask(64, 30, 8, generator=gen)
    assert m.shape == (64, 1, 1, 30)
    zeros = (m == 0).sum(dim=-1).flatten()
    assert zeros.max() <= 8 and zeros.min() >= 0 and zeros.float().mean() > 2
    for row in m[:, 0, 0]:  # one contiguous span
        idx = torch.nonzero(row == 0).flatten()
        if len(idx):
            assert idx[-1] - idx[0] + 1 == len(idx)
    assert (frame_mask(4, 10, 0) == 1).all()


@pytest.mark.parametrize("kind", ["cnn", "vit", "conformer"])
@pytest.mark.parametrize("n_mels,frames", [(13, 37), (16, 64), (9, 3)])
def test_discriminator_shapes_odd_sizes(kind, n_mels, frames):
    d = build_discriminator(kind, n_mels, TINY_D)
    x = torch.randn(3, n_mels, frames)
    s = d(x)
    assert s.ndim == 2 and s.shape[0] == 3 and s.shape[1] >= 1 and torch.isfinite(s).all()
    if kind == "conformer":
        assert s.shape[1] == frames
    if kind == "vit":
        assert s.shape[1] == -(-n_mels // 4) * -(-frames // 4)
    # per-example scores: example 0 does not depend on example 1
    x2 = x.clone()
    x2[1] += 3.0
    torch.testing.assert_close(d(x2)[0], s[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(DataError):
        d(torch.randn(3, n_mels + 1, frames))


def test_discriminator_config_errors():
    with pytest.raises(ConfigError, match="unknown discriminator"):
        DiscriminatorConfig(kinds=("cnn", "mlp"))
    with pytest.raises(ConfigError, match="at least one"):
        DiscriminatorConfig(kinds=())


def test_lsgan_losses_closed_form():
    assert float(lsgan_g_loss(torch.ones(5))) == 0.0
    assert float(lsgan_g_loss(torch.zeros(5))) == 1.0
    assert float(lsgan_d_loss(torch.ones(5), torch.zeros(5))) == 0.0
    assert float(lsgan_d_loss(torch.zeros(5), torch.ones(5))) == 2.0


def test_collective_weights():
    losses = [torch.tensor(0.2), torch.tensor(1.0), torch.tensor(0.5)]
    torch.testing.assert_close(collective_weights(losses, "mean"), torch.full((3,), 1 / 3))
    w = collective_weights(losses, "softmax", temperature=0.5)
    torch.testing.assert_close(w, torch.softmax(torch.tensor([0.2, 1.0, 0.5]) / 0.5, 0))
    assert int(torch.argmax(w)) == 1  # the discriminator the generator fools least weighs most
    hot = collective_weights(losses, "softmax", temperature=1e4)
    torch.testing.assert_close(hot, torch.full((3,), 1 / 3), atol=1e-4, rtol=0)
    total, _ = combine_losses([torch.tensor(2.0, requires_grad=True)], "softmax")
    assert float(total.detach()) == 2.0
    with pytest.raises(ConfigError):
        collective_weights(losses, "max")


def test_generator_output_init_scale():
    cfg = dict(channels_2d=4, channels_1d=16, n_residual=1)
    torch.manual_seed(3)
    default = Generator(12, GeneratorConfig(**cfg, zero_init_output=False))
    torch.manual_seed(3)
    scaled = Generator(12, GeneratorConfig(**cfg, output_init_scale=0.1))
    # the last layer is PyTorch's default init times the scale, its bias zero
    torch.testing.assert_close(scaled.conv_out.weight, 0.1 * default.conv_out.weight)
    assert torch.count_nonzero(scaled.conv_out.bias) == 0
    # so the untrained generator is no longer exactly the identity, and all layers get gradients
    x = torch.randn(2, 12, 20)
    y = scaled(x)
    assert not torch.allclose(y, x)
    y.pow(2).sum().backward()
    assert scaled.conv_in.conv.weight.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="output_init_scale"):
        GeneratorConfig(output_init_scale=2.0)
