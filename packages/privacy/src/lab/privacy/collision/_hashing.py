"""Keyed 64-bit hashing on torch tensors and the encoding of categories to 64-bit ids.

The public per-group hash tables of the salted-hash randomizer are realised as a keyed
pseudo-random function ``H(seed, group, salt, id) -> {0, 1}`` built from the splitmix64
finaliser (Steele, Lea, Flood 2014), so that a table over an unbounded domain costs no memory
and every party (user, server, auditor) evaluates the same bits. All arithmetic is int64 with
two's-complement wrap-around, which equals uint64 arithmetic modulo 2**64, on CPU and CUDA.

Categories are mapped to 64-bit ids: Python/numpy integers (and integral floats, which compare
equal to them) map to themselves; any other hashable value maps to the first 8 bytes of the
BLAKE2b digest of its type name and ``repr``. Two different categories share an id with
probability about 2**-64 per pair (ours; the paper assumes integer-coded categories).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lab.core import DataError

__all__ = ["category_codes", "encode_categories", "hash_bits", "mix64"]

_TWO64 = 1 << 64


def _s64(c: int) -> int:
    return c - _TWO64 if c >= (1 << 63) else c


_GOLDEN = _s64(0x9E3779B97F4A7C15)
_MUL1 = _s64(0xBF58476D1CE4E5B9)
_MUL2 = _s64(0x94D049BB133111EB)


def _srl(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of an int64 tensor (torch's ``>>`` is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """The splitmix64 step on an int64 tensor: a bijection of 64-bit words with full avalanche."""
    z = z + _GOLDEN  # a new tensor; everything below is in place
    for shift, mul in ((30, _MUL1), (27, _MUL2)):
        z ^= _srl(z, shift)
        z *= mul
    z ^= _srl(z, 31)
    return z


def hash_bits(
    seed: int, groups: torch.Tensor, salts: torch.Tensor, ids: torch.Tensor
) -> torch.Tensor:
    """Public table bit ``H_g(s, x)`` for broadcastable int64 tensors of groups, salts and ids.

    Returns an int64 tensor of zeros and ones. ``seed`` selects the draw of all tables.
    """
    key = mix64(torch.full((), _s64(seed % _TWO64), dtype=torch.int64, device=groups.device))
    if groups.numel() > 1024 and int(groups.min()) >= 0 and int(groups.max()) < 4 * groups.numel():
        # one mix per distinct group id instead of one per user (same value)
        table = mix64(key ^ torch.arange(int(groups.max()) + 1, device=groups.device))
        z = table[groups]
    else:
        z = mix64(key ^ groups)
    z = mix64(z + salts * _MUL1)
    z = mix64(z ^ ids)
    return _srl(z, 63)


def _encode_one(value: Any) -> int:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        v = int(value)
        return _s64(v % _TWO64)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            raise DataError(f"NaN is not a category (NaN != NaN), got value {value!r}")
        if f.is_integer():
            return _s64(int(f) % _TWO64)
    try:
        hash(value)
    except TypeError:
        raise DataError(
            f"value {value!r} of type {type(value).__name__} is not a hashable category"
        ) from None
    digest = hashlib.blake2b(f"{type(value).__name__}:{value!r}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def category_codes(values: Any) -> tuple[np.ndarray, list[Any] | np.ndarray]:
    """Dense codes ``0..K-1`` for a sequence of categories, and the ``K`` distinct values.

    Accepts numpy arrays (integer, bool, string or object), torch tensors of integers, and
    any sequence of hashable values. Raises :class:`~lab.core.DataError` naming the first
    value that is not a hashable category (a list, a dict, NaN, an array row).
    """
    if isinstance(values, torch.Tensor):
        if values.is_floating_point() or values.is_complex():
            raise DataError(
                f"categories as a tensor must be integer-valued, got dtype {values.dtype}"
            )
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            raise DataError(f"categories must be a 1-D array, got shape {values.shape}")
        kind = values.dtype.kind
        if kind in "iub" or kind in "US":
            uniq, codes = np.unique(values, return_inverse=True)
            return codes.astype(np.int64).reshape(-1), uniq
        if kind == "f":
            bad = np.flatnonzero(np.isnan(values))
            if bad.size:
                raise DataError(
                    f"NaN is not a category (NaN != NaN): value at index {int(bad[0])} is NaN"
                )
            uniq, codes = np.unique(values, return_inverse=True)
            return codes.astype(np.int64).reshape(-1), uniq
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise DataError(
            f"expected a sequence of categories, got {type(values).__name__} {values!r:.80}"
        )
    if not isinstance(values, Sequence):
        values = list(values)
    index: dict[Any, int] = {}
    uniques: list[Any] = []
    codes = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        if isinstance(v, float) and math.isnan(v):
            raise DataError(f"NaN is not a category (NaN != NaN): value at index {i} is NaN")
        try:
            c = index.get(v)
        except TypeError:
            raise DataError(
                f"value {v!r} at index {i} (type {type(v).__name__}) is not a hashable category"
            ) from None
        if c is None:
            c = len(uniques)
            index[v] = c
            uniques.append(v)
        codes[i] = c
    return codes, uniques


def encode_categories(values: Any) -> np.ndarray:
    """64-bit ids (int64) of a sequence of categories; see the module docstring."""
    codes, uniques = category_codes(values)
    if isinstance(uniques, np.ndarray) and uniques.dtype.kind in "iub":
        ids = uniques.astype(np.int64)
    else:
        ids = np.fromiter((_encode_one(u) for u in uniques), dtype=np.int64, count=len(uniques))
    return ids[codes]


def derive_seed(seed: int, tag: int) -> int:
    """A generator seed for one purpose (``tag``) derived from a user-facing simulation seed.

    Keeps streams apart that would otherwise coincide, e.g. a data sampler and a randomizer
    both seeded with the same integer (their uniforms would be identical and the reports
    correlated with the data).
    """
    base = int(seed)
    z = mix64(torch.tensor([_s64(base % _TWO64) ^ _s64(tag % _TWO64)], dtype=torch.int64))
    return int(z.item()) & ((1 << 63) - 1)
