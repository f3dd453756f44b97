"""RDKit's MMFF94 as a batched torch autograd function (kcal/mol, Angstrom)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdForceFieldHelpers
from torch import Tensor

from lab.core import DataError

from .graph import MoleculeError, MoleculeGraph

__all__ = ["MMFFEnergy", "mmff_energies"]


class _MMFFFunction(torch.autograd.Function):
    """``E = MMFF(x)`` per conformer; the backward uses the gradients computed in the forward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, energy: MMFFEnergy) -> Tensor:
        e, g = energy.energy_and_grad_numpy(x.detach().cpu().double().numpy())
        ctx.save_for_backward(torch.from_numpy(g).to(device=x.device, dtype=x.dtype))
        return torch.from_numpy(e).to(device=x.device, dtype=x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (g,) = ctx.saved_tensors
        return grad_out.view(-1, 1, 1) * g, None


class MMFFEnergy:
    """MMFF94 energy of conformers of one molecule, differentiable in torch.

    ``energy(x)`` maps coordinates ``[B, n_atoms, 3]`` (Angstrom) to energies ``[B]`` (kcal/mol)
    through ``ForceField.CalcEnergy`` / ``CalcGrad`` of RDKit, one call per conformer; autograd
    returns the exact MMFF gradient, so torsion gradients follow by a vector-Jacobian product
    through :func:`~lab.molecules.conformers.torsions_to_coordinates`.

    Args:
        molecule: a :class:`MoleculeGraph` or an RDKit Mol with explicit hydrogens and a conformer.
        variant: ``MMFF94`` (default) or ``MMFF94s``.
        nonbonded_threshold: RDKit's non-bonded cut-off (Angstrom; 100 = all pairs).

    Raises:
        MoleculeError: the molecule has atoms without MMFF94 types.
    """

    def __init__(
        self,
        molecule: MoleculeGraph | Chem.Mol,
        *,
        variant: str = "MMFF94",
        nonbonded_threshold: float = 100.0,
    ):
        mol = molecule.mol if isinstance(molecule, MoleculeGraph) else molecule
        if mol.GetNumConformers() == 0:
            raise MoleculeError(f"{Chem.MolToSmiles(mol)!r} needs a conformer for MMFF setup")
        props = rdForceFieldHelpers.MMFFGetMoleculeProperties(mol, mmffVariant=variant)
        if props is None:
            raise MoleculeError(
                f"MMFF94 has no parameters for {Chem.MolToSmiles(Chem.RemoveHs(mol))!r}"
            )
        self.mol = mol
        self.n_atoms = mol.GetNumAtoms()
        self._ff = rdForceFieldHelpers.MMFFGetMoleculeForceField(
            mol, props, nonBondedThresh=nonbonded_threshold, ignoreInterfragInteractions=False
        )
        self.calls = 0

    def energy_and_grad_numpy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Energies ``[B]`` and gradients ``[B, n, 3]`` of float64 coordinates ``[B, n, 3]``."""
        if x.ndim != 3 or x.shape[1:] != (self.n_atoms, 3):
            raise DataError(f"MMFF expects coordinates [B, {self.n_atoms}, 3], got {x.shape}")
        e = np.empty(x.shape[0])
        g = np.empty_like(x)
        for k in range(x.shape[0]):
            pos = x[k].ravel().tolist()
            e[k] = self._ff.CalcEnergy(pos)
            g[k] = np.asarray(self._ff.CalcGrad(pos)).reshape(self.n_atoms, 3)
        self.calls += x.shape[0]
        return e, g

    def __call__(self, x: Tensor) -> Tensor:
        """Energies ``[B]`` of coordinates ``[B, n_atoms, 3]``, with MMFF's exact gradient."""
        out: Tensor = _MMFFFunction.apply(x, self)
        return out


def mmff_energies(mol: Chem.Mol, *, variant: str = "MMFF94") -> np.ndarray:
    """MMFF94 energy (kcal/mol) of every conformer of ``mol`` (explicit hydrogens)."""
    energy = MMFFEnergy(mol, variant=variant)
    if mol.GetNumConformers() == 0:
        return np.zeros(0)
    x = np.stack([c.GetPositions() for c in mol.GetConformers()])
    return energy.energy_and_grad_numpy(x)[0]
