"""Word learning: per-word surprisal, age of acquisition, and practice (frequency) vs AoA.

- :func:`word_surprisal`: mean surprisal ``-log2 p(word | left context)`` of each tracked word
  over its occurrences in held-out sequences (Chang & Bergen 2022, as used by TnD).
- :func:`fit_sigmoid`: least-squares fit of ``lo + (hi - lo) * sigmoid(-k (x - x0))`` to a
  surprisal curve over ``x = log10(step)``.
- :func:`age_of_acquisition`: the step where the fitted curve crosses the midpoint between
  chance surprisal and the curve's minimum (Chang & Bergen's cutoff).
- :func:`frequency_aoa_correlation`: Pearson and Spearman correlation between a word's log
  frequency (e.g. in the student's trials) and its AoA.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lab.core import ConfigError, DataError

from ..policy_gradient import position_ids_from_mask, token_logprobs

__all__ = [
    "AoAResult",
    "SigmoidFit",
    "WordSurprisal",
    "age_of_acquisition",
    "fit_sigmoid",
    "frequency_aoa_correlation",
    "word_surprisal",
]

_LN2 = math.log(2.0)


@dataclass(frozen=True)
class WordSurprisal:
    """Mean surprisal (bits) and occurrence count per word; ``missing`` never occur in the data."""

    surprisal: Mapping[str, float]
    counts: Mapping[str, int]
    missing: tuple[str, ...]


@torch.no_grad()
def word_surprisal(
    model: Any,
    sequences: Sequence[Sequence[int]],
    word_ids: Mapping[str, int],
    *,
    batch_size: int = 64,
    device: torch.device | str | None = None,
) -> WordSurprisal:
    """Mean surprisal ``-log2 p(w_t | w_<t)`` of each word over its held-out occurrences.

    Args:
        model: a causal LM returning ``.logits`` (called with ``input_ids``,
            ``attention_mask``, ``position_ids``).
        sequences: token-id sequences (e.g. ``<bos>`` + held-out text); position 0 is context
            only and never scored.
        word_ids: word -> its single token id (from :func:`check_vocabulary`).
        batch_size: sequences per forward pass.
        device: default: the model's device.

    Returns:
        A :class:`WordSurprisal`; words that never occur after position 0 are listed in
        ``missing`` (no value is invented for them).
    """
    if not sequences:
        raise DataError("word_surprisal got no sequences")
    if not word_ids:
        raise DataError("word_surprisal got no words")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    try:
        dev = next(model.parameters()).device if device is None else torch.device(device)
    except StopIteration:
        dev = torch.device("cpu") if device is None else torch.device(device)
    V = max(word_ids.values()) + 1
    lut = torch.full((max(V, 1),), -1, dtype=torch.long)
    names = list(word_ids)
    for j, w in enumerate(names):
        lut[word_ids[w]] = j
    sums = torch.zeros(len(names), dtype=torch.float64)
    counts = torch.zeros(len(names), dtype=torch.long)
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        for s in range(0, len(sequences), batch_size):
            rows = sequences[s : s + batch_size]
            W = max(len(r) for r in rows)
            ids = torch.zeros((len(rows), W), dtype=torch.long)
            att = torch.zeros_like(ids)
            for b, r in enumerate(rows):
                ids[b, : len(r)] = torch.as_tensor(list(r))
                att[b, : len(r)] = 1
            ids, att = ids.to(dev), att.to(dev)
            out = model(
                input_ids=ids,
                attention_mask=att,
                position_ids=position_ids_from_mask(att),
            )
            lp = token_logprobs(out.logits[:, :-1], ids[:, 1:]).double().cpu()
            tgt = ids[:, 1:].cpu()
            valid = att[:, 1:].cpu().bool() & (tgt < V)
            slot = torch.where(valid, lut[tgt.clamp(max=V - 1)], torch.full_like(tgt, -1))
            hit = slot >= 0
            sums.index_add_(0, slot[hit], -lp[hit] / _LN2)
            counts.index_add_(0, slot[hit], torch.ones_like(slot[hit]))
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    surprisal = {w: float(sums[i] / counts[i]) for i, w in enumerate(names) if counts[i] > 0}
    return WordSurprisal(
        surprisal=surprisal,
        counts={w: int(counts[i]) for i, w in enumerate(names)},
        missing=tuple(w for i, w in enumerate(names) if counts[i] == 0),
    )


@dataclass(frozen=True)
class SigmoidFit:
    """``y(x) = lo + (hi - lo) / (1 + exp(k (x - x0)))`` (decreasing for ``k > 0, hi > lo``)."""

    lo: float
    hi: float
    k: float
    x0: float
    rmse: float

    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        z = np.clip(self.k * (np.asarray(x, dtype=np.float64) - self.x0), -60, 60)
        return self.lo + (self.hi - self.lo) / (1.0 + np.exp(z))

    def inverse(self, y: float) -> float:
        """The ``x`` where the curve equals ``y`` (NaN if it never does)."""
        d = self.hi - self.lo
        if d == 0 or self.k == 0:
            return float("nan")
        g = (y - self.lo) / d
        if not 0 < g < 1:
            return float("nan")
        return float(self.x0 + math.log(1.0 / g - 1.0) / self.k)


def _lsq_grid(
    x: np.ndarray, y: np.ndarray, k: np.ndarray, x0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form ``(lo, hi - lo)`` and the SSE for every pair ``(k[i], x0[i])`` at once."""
    g = 1.0 / (1.0 + np.exp(np.clip(k[:, None] * (x[None, :] - x0[:, None]), -60, 60)))
    n = x.shape[0]
    sg, sgg = g.sum(1), (g * g).sum(1)
    sy, sgy = y.sum(), (g * y[None, :]).sum(1)
    det = n * sgg - sg * sg
    safe = np.abs(det) > 1e-12
    det_s = np.where(safe, det, 1.0)
    d = np.where(safe, (n * sgy - sg * sy) / det_s, 0.0)
    lo = np.where(safe, (sy - d * sg) / n, y.mean())
    resid = lo[:, None] + d[:, None] * g - y[None, :]
    return lo, d, (resid * resid).sum(1)


def fit_sigmoid(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> SigmoidFit:
    """Least-squares sigmoid fit (OURS: the paper's code uses ``scipy.optimize.curve_fit``).

    For fixed slope ``k`` and midpoint ``x0`` the curve is linear in ``(lo, hi - lo)``, solved
    in closed form; ``(k, x0)`` are found by a grid search (x0 across the data range extended by
    half of it on each side, 48 log-spaced slopes) followed by three rounds of local grid
    refinement. Deterministic, no starting point needed.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise DataError(f"x and y must be 1-d of equal length, got {xa.shape} and {ya.shape}")
    if len(xa) < 4:
        raise DataError(f"a sigmoid fit needs at least 4 points, got {len(xa)}")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise DataError("x and y must be finite (a word curve with NaN surprisal?)")
    span = float(xa.max() - xa.min())
    if span <= 0:
        raise DataError("x values are all equal: no curve to fit")
    x0s = np.linspace(xa.min() - 0.5 * span, xa.max() + 0.5 * span, 61)
    ks = np.geomspace(0.1 / span, 200.0 / span, 48)
    K, X0 = (a.ravel() for a in np.meshgrid(ks, x0s, indexing="ij"))
    lo, d, sse = _lsq_grid(xa, ya, K, X0)
    i = int(np.argmin(sse))
    best = (float(sse[i]), float(lo[i]), float(d[i]), float(K[i]), float(X0[i]))
    dx, lk = x0s[1] - x0s[0], math.log(ks[1] / ks[0])
    for _ in range(3):
        _, _, _, k_b, x0_b = best
        kk = np.exp(np.linspace(math.log(k_b) - lk, math.log(k_b) + lk, 21))
        xx = np.linspace(x0_b - dx, x0_b + dx, 21)
        K, X0 = (a.ravel() for a in np.meshgrid(kk, xx, indexing="ij"))
        lo, d, sse = _lsq_grid(xa, ya, K, X0)
        i = int(np.argmin(sse))
        if sse[i] < best[0]:
            best = (float(sse[i]), float(lo[i]), float(d[i]), float(K[i]), float(X0[i]))
        dx, lk = dx / 10, lk / 10
    sse_b, lo_b, d_b, k_b, x0_b = best
    return SigmoidFit(lo=lo_b, hi=lo_b + d_b, k=k_b, x0=x0_b, rmse=math.sqrt(sse_b / len(xa)))


@dataclass(frozen=True)
class AoAResult:
    """Age of acquisition of one word.

    Attributes:
        aoa: step at which the fitted curve crosses ``cutoff`` (NaN if it never does within the
            evaluated steps: not learned).
        log10_aoa: its log10.
        cutoff: ``(chance + min fitted surprisal) / 2`` in bits.
        learned: the crossing lies within the evaluated steps.
        fit: the :class:`SigmoidFit`.
    """

    aoa: float
    log10_aoa: float
    cutoff: float
    learned: bool
    fit: SigmoidFit


def age_of_acquisition(
    steps: Sequence[int | float] | np.ndarray,
    surprisal: Sequence[float] | np.ndarray,
    *,
    chance: float,
    min_drop: float = 0.5,
) -> AoAResult:
    """Chang & Bergen's age of acquisition of one word.

    A sigmoid is fitted to surprisal against ``log10(step)``; the cutoff is the midpoint between
    ``chance`` (the surprisal of a uniform guess, ``log2(vocabulary size)``) and the minimum of
    the fitted curve over the evaluated steps; the AoA is the step where the fitted curve crosses
    it. A crossing before the first evaluated step is kept (the word was learned early); a
    crossing after the last one, or none, means not learned (``aoa`` NaN). So does a fitted
    curve whose own midpoint ``x0`` (half-way between its plateaus) lies beyond the last
    evaluated step (#23): the curve has not yet reached half of its fall, and the "minimum over
    the evaluated steps" that sets the cutoff is still far from the word's floor.

    ``min_drop`` (OURS): a word also counts as not learned when its fitted curve drops less
    than ``min_drop`` bits below ``chance`` over the evaluated steps; otherwise a curve that
    has barely started to fall at the last step would get a midpoint "AoA" from noise.
    """
    st = np.asarray(steps, dtype=np.float64)
    if (st <= 0).any():
        raise DataError(f"steps must be > 0 for a log scale, got {st.tolist()}")
    if not math.isfinite(chance):
        raise ConfigError(f"chance must be finite, got {chance}")
    x = np.log10(st)
    fit = fit_sigmoid(x, surprisal)
    grid = np.linspace(x.min(), x.max(), 512)
    if min_drop < 0:
        raise ConfigError(f"min_drop must be >= 0, got {min_drop}")
    fmin = float(fit(grid).min())
    cutoff = 0.5 * (chance + fmin)
    xa = fit.inverse(cutoff)
    learned = (
        math.isfinite(xa)
        and fit.k > 0
        and fit.hi > fit.lo
        and xa <= x.max() + 1e-9
        and fit.x0 <= x.max() + 1e-9
        and float(fit(x.max())) <= cutoff
        and chance - fmin >= min_drop
    )
    if not learned:
        return AoAResult(float("nan"), float("nan"), cutoff, False, fit)
    return AoAResult(float(10**xa), float(xa), cutoff, True, fit)


def _ranks(a: np.ndarray) -> np.ndarray:
    order = np.argsort(a, kind="mergesort")
    r = np.empty(len(a), dtype=np.float64)
    r[order] = np.arange(len(a), dtype=np.float64)
    # average ranks of ties
    vals, inv, cnt = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.zeros(len(vals))
    np.add.at(sums, inv, r)
    return (sums / cnt)[inv]


def frequency_aoa_correlation(
    frequencies: Mapping[str, float], aoa: Mapping[str, float]
) -> dict[str, float]:
    """Pearson and Spearman correlation between ``log10(1 + frequency)`` and ``log10(AoA)``.

    Only words present in both mappings with a finite AoA are used; ``n`` says how many. A
    negative correlation means more frequent words are learned earlier ("practice makes
    perfect").

    Raises:
        DataError: fewer than 3 usable words, or a constant variable.
    """
    words = [w for w in aoa if w in frequencies and math.isfinite(aoa[w])]
    if len(words) < 3:
        raise DataError(
            f"need at least 3 words with a finite AoA and a frequency, got {len(words)}"
        )
    f = np.log10(1.0 + np.array([float(frequencies[w]) for w in words]))
    a = np.log10(np.array([float(aoa[w]) for w in words]))
    if f.std() == 0 or a.std() == 0:
        raise DataError("frequency or AoA is constant over the words: correlation undefined")
    pearson = float(np.corrcoef(f, a)[0, 1])
    spearman = float(np.corrcoef(_ranks(f), _ranks(a))[0, 1])
    return {"pearson": pearson, "spearman": spearman, "n": float(len(words))}
