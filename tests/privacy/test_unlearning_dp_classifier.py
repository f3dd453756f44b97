"""DP-SGD for arbitrary classifiers (lab.privacy.unlearning.train_dp_classifier)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from lab.core import ConfigError, DataError  # noqa: E402
from lab.core.testing import assert_state_dicts_equal  # noqa: E402
from lab.privacy.unlearning import DPConfig, train_dp_classifier  # noqa: E402

torch.set_num_threads(1)


class BagOfTokens(torch.nn.Module):
    """Embedding + masked mean pooling + linear head (layers Opacus supports)."""

    def __init__(self, vocab: int = 20, dim: int = 8, classes: int = 2, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab, dim)
        self.head = torch.nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(self.emb.weight.dtype)
        pooled = (self.emb(ids) * m).sum(1) / m.sum(1).clamp_min(1)
        return self.head(pooled)


def _data(n: int = 256, length: int = 6, seed: int = 0):
    """Class 1 sequences contain token 1, class 0 sequences token 2; the rest is noise 3..19."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    ids = torch.randint(3, 20, (n, length), generator=g)
    ids[:, 0] = torch.where(y == 1, 1, 2)
    mask = torch.ones(n, length, dtype=torch.long)
    mask[: n // 2, -2:] = 0  # some padding
    return ids, y, mask


def _cfg(**kw):
    base = dict(
        target_epsilon=8.0,
        delta=1e-4,
        epochs=3,
        batch_size=64,
        max_physical_batch_size=32,
        lr=5e-2,
        accountant="rdp",
    )
    base.update(kw)
    return DPConfig(**base)


def test_dp_classifier_learns_and_spends_its_budget() -> None:
    ids, y, mask = _data()
    res = train_dp_classifier(BagOfTokens(), ids, y, _cfg(), attention_mask=mask)
    with torch.no_grad():
        acc = (res.model(ids, mask).argmax(-1) == y).float().mean().item()
    assert acc > 0.9, acc
    # the accountant's epsilon never exceeds the target it was calibrated for
    assert 0 < res.epsilon <= 8.0 + 1e-6
    assert res.noise_multiplier > 0 and res.group_size == 1 and res.steps > 0
    assert res.cost.tokens == pytest.approx(int(mask.sum()) * 3, rel=0.35)
    assert not isinstance(res.model, type(None)) and not res.model.training


def test_smaller_epsilon_needs_more_noise() -> None:
    ids, y, mask = _data()
    lo = train_dp_classifier(
        BagOfTokens(), ids, y, _cfg(target_epsilon=1.0, epochs=1), attention_mask=mask
    )
    hi = train_dp_classifier(
        BagOfTokens(), ids, y, _cfg(target_epsilon=8.0, epochs=1), attention_mask=mask
    )
    assert lo.noise_multiplier > hi.noise_multiplier


def test_features_without_mask_and_group_privacy() -> None:
    x = torch.randn(128, 4)
    y = (x[:, 0] > 0).long()
    res = train_dp_classifier(torch.nn.Linear(4, 2), x, y, _cfg(batch_size=32), group_size=3)
    assert res.group_size == 3 and res.author_epsilon == pytest.approx(3 * res.epsilon)


def test_dp_classifier_resume_reproduces_the_uninterrupted_run(tmp_path) -> None:
    ids, y, mask = _data(128)
    cfg = _cfg(epochs=2, batch_size=32)
    full = train_dp_classifier(BagOfTokens(), ids, y, cfg, attention_mask=mask, run_dir=tmp_path)
    ckpts = sorted((tmp_path / "checkpoints").glob("step_*.pt"))
    assert len(ckpts) == 2
    ckpts[-1].unlink()
    resumed = train_dp_classifier(
        BagOfTokens(seed=7), ids, y, cfg, attention_mask=mask, run_dir=tmp_path, resume=True
    )
    assert resumed.steps == full.steps and resumed.epsilon == pytest.approx(full.epsilon)
    assert_state_dicts_equal(full.model.state_dict(), resumed.model.state_dict(), atol=1e-6)


def test_dp_classifier_bad_input_is_named() -> None:
    ids, y, mask = _data(64)
    with pytest.raises(DataError, match="empty"):
        train_dp_classifier(BagOfTokens(), ids[:0], y[:0], _cfg())
    with pytest.raises(DataError, match=r"shape \(64,\)"):
        train_dp_classifier(BagOfTokens(), ids, y[:10], _cfg(), attention_mask=mask)
    with pytest.raises(DataError, match="integer"):
        train_dp_classifier(BagOfTokens(), ids, y.float(), _cfg(), attention_mask=mask)
    with pytest.raises(DataError, match="-1"):
        train_dp_classifier(BagOfTokens(), ids, y - 1, _cfg(), attention_mask=mask)
    with pytest.raises(DataError, match="outside the 2 model classes"):
        train_dp_classifier(BagOfTokens(), ids, y + 1, _cfg(batch_size=16), attention_mask=mask)
    with pytest.raises(ConfigError, match="batch_size=128 exceeds the 64 training examples"):
        train_dp_classifier(BagOfTokens(), ids, y, _cfg(batch_size=128), attention_mask=mask)
