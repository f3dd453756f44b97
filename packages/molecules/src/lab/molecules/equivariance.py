"""Symmetry checks of particle functions (shipped in the library, like e3nn's helper).

:func:`assert_equivariant` checks that a vector field ``f(t, x)`` on ``[B, n*d]`` coordinates
commutes with rotations and reflections (``f(t, x R) = f(t, x) R``), is unchanged by
translations (a displacement field) and commutes with permutations of the particles, in
float64. :func:`assert_invariant` does the same for scalar functions such as energies.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["assert_equivariant", "assert_invariant", "random_orthogonal"]


def random_orthogonal(
    dim: int,
    *,
    reflection: bool = False,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """A random ``dim x dim`` rotation (``det = +1``) or, with ``reflection``, an improper one."""
    q, r = torch.linalg.qr(torch.randn(dim, dim, generator=generator, dtype=dtype))
    q = q * torch.sign(torch.diagonal(r)).unsqueeze(0)
    if torch.det(q) < 0:
        q[:, 0] = -q[:, 0]
    if reflection:
        q[:, 0] = -q[:, 0]
    return q


def _transforms(
    n: int, d: int, generator: torch.Generator | None, dtype: torch.dtype
) -> dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]]:
    rot = random_orthogonal(d, generator=generator, dtype=dtype)
    refl = random_orthogonal(d, reflection=True, generator=generator, dtype=dtype)
    shift = torch.randn(d, generator=generator, dtype=dtype) * 3.0
    perm = torch.randperm(n, generator=generator)
    while n > 1 and bool((perm == torch.arange(n)).all()):
        perm = torch.randperm(n, generator=generator)
    return {
        "rotation": (lambda v: v @ rot, lambda v: v @ rot),
        "reflection": (lambda v: v @ refl, lambda v: v @ refl),
        "translation": (lambda v: v + shift, lambda v: v),
        "permutation": (lambda v: v[:, perm], lambda v: v[:, perm]),
    }


def assert_equivariant(
    fn: Callable[[Tensor, Tensor], Tensor],
    n_particles: int,
    dim: int,
    *,
    batch: int = 4,
    atol: float = 1e-9,
    rtol: float = 1e-7,
    generator: torch.Generator | None = None,
    scale: float = 1.5,
) -> None:
    """Assert ``fn(t, x)`` is E(d)- and permutation-equivariant (inputs in float64).

    Raises:
        AssertionError: naming the broken symmetry and the largest deviation.
    """
    gen = generator or torch.Generator().manual_seed(0)
    x = torch.randn(batch, n_particles, dim, generator=gen, dtype=torch.float64) * scale
    t = torch.rand(batch, generator=gen, dtype=torch.float64)
    flat = lambda v: v.reshape(batch, n_particles * dim)  # noqa: E731
    base = fn(t, flat(x)).reshape(batch, n_particles, dim)
    for name, (act_in, act_out) in _transforms(n_particles, dim, gen, torch.float64).items():
        got = fn(t, flat(act_in(x))).reshape(batch, n_particles, dim)
        want = act_out(base)
        err = (got - want).abs().max().item()
        if not torch.allclose(got, want, atol=atol, rtol=rtol):
            raise AssertionError(f"not equivariant under {name}: max deviation {err:.3g}")


def assert_invariant(
    fn: Callable[[Tensor], Tensor],
    n_particles: int,
    dim: int,
    *,
    batch: int = 4,
    atol: float = 1e-9,
    rtol: float = 1e-7,
    generator: torch.Generator | None = None,
    scale: float = 1.5,
) -> None:
    """Assert a scalar function ``fn(x) -> [B]`` is invariant to E(d) and permutations."""
    gen = generator or torch.Generator().manual_seed(0)
    x = torch.randn(batch, n_particles, dim, generator=gen, dtype=torch.float64) * scale
    base = fn(x.reshape(batch, -1))
    for name, (act_in, _) in _transforms(n_particles, dim, gen, torch.float64).items():
        got = fn(act_in(x).reshape(batch, -1))
        if not torch.allclose(got, base, atol=atol, rtol=rtol):
            raise AssertionError(
                f"not invariant under {name}: max deviation {(got - base).abs().max().item():.3g}"
            )
