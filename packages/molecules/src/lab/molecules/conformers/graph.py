"""Molecules as graphs with torsional coordinates (RDKit in, torch out).

A :class:`MoleculeGraph` holds an RDKit molecule with explicit hydrogens, one ETKDG conformer
that fixes bond lengths and angles, atom and bond features for the control network, and the
rotatable torsions found by the paper's SMARTS ``[!$(*#*)&!D1]-&!@[!$(*#*)&!D1]``. For each
torsion the smaller fragment (fewer atoms) rotates about the bond axis.
:func:`torsions_to_coordinates` is the differentiable map torsions -> coordinates.
"""

from __future__ import annotations

import random
import warnings
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem, rdBase
from rdkit.Chem import rdDistGeom
from rdkit.Chem.EnumerateStereoisomers import (
    EnumerateStereoisomers,
    GetStereoisomerCount,
    StereoEnumerationOptions,
)
from torch import Tensor

from lab.core import ConfigError, DataError, get_device

__all__ = [
    "ATOM_TYPES",
    "BOND_TYPES",
    "ROTATABLE_SMARTS",
    "MoleculeError",
    "MoleculeGraph",
    "dihedral",
    "parse_smiles",
    "stereoisomer_count",
    "stereoisomer_graphs",
    "torsions_to_coordinates",
]

#: The paper's rotatable-bond pattern: single, acyclic, neither end terminal nor in a triple bond.
ROTATABLE_SMARTS = "[!$(*#*)&!D1]-&!@[!$(*#*)&!D1]"
#: Elements of the atom one-hot (the last slot collects every other element).
ATOM_TYPES = ("H", "C", "N", "O", "F", "P", "S", "Cl", "Br", "I")
#: Bond types of the edge one-hot; slot 0 is "not bonded".
BOND_TYPES = ("none", "SINGLE", "DOUBLE", "TRIPLE", "AROMATIC")
_PATTERN = Chem.MolFromSmarts(ROTATABLE_SMARTS)


class MoleculeError(DataError):
    """A molecule that cannot be used: unparsable SMILES, no 3D embedding, no MMFF94 types."""


def dihedral(p0: Tensor, p1: Tensor, p2: Tensor, p3: Tensor) -> Tensor:
    """Signed dihedral angle (radians, in ``(-pi, pi]``) of points ``[..., 3]`` (IUPAC sign)."""
    b0, b1, b2 = p0 - p1, p2 - p1, p3 - p2
    b1n = b1 / b1.norm(dim=-1, keepdim=True)
    v = b0 - (b0 * b1n).sum(-1, keepdim=True) * b1n
    w = b2 - (b2 * b1n).sum(-1, keepdim=True) * b1n
    x = (v * w).sum(-1)
    y = (torch.cross(b1n, v, dim=-1) * w).sum(-1)
    return torch.atan2(y, x)


def _components_without_edge(adj: list[list[int]], b: int, c: int) -> set[int]:
    """Atoms reachable from ``c`` when the bond ``b-c`` is cut."""
    seen = {c}
    queue = deque([c])
    while queue:
        i = queue.popleft()
        for j in adj[i]:
            if (i == c and j == b) or j in seen:
                continue
            seen.add(j)
            queue.append(j)
    return seen


@dataclass(frozen=True)
class _Torsion:
    atoms: tuple[int, int, int, int]  # a, b, c, d; rotation about b -> c
    moving: tuple[int, ...]  # the smaller fragment (the side of c or the side of b)
    sign: float  # +1: the c side moves (dihedral grows with the rotation), -1: the b side


class MoleculeGraph:
    """A molecule with explicit hydrogens, one ETKDG conformer and its rotatable torsions.

    Build it with :meth:`from_smiles` or :meth:`from_mol`. Bond lengths and angles (and ring
    geometry) come from ``mol``'s conformer ``conf_id``; only the torsions change.

    Attributes:
        mol: the RDKit molecule (hydrogens explicit) with at least one conformer.
        smiles: canonical SMILES (without hydrogens).
        coords0: ``[n_atoms, 3]`` float64 coordinates of the base conformer.
        torsion_atoms: ``[n_torsions, 4]`` atom indices ``a, b, c, d`` of each torsion.
        moving_mask: ``[n_torsions, n_atoms]`` bool, the atoms that rotate for each torsion.
        torsion_sign: ``[n_torsions]`` +1 if the ``c`` side moves, -1 if the ``b`` side does.
        torsions0: ``[n_torsions]`` the base conformer's torsion angles.
        atom_features: ``[n_atoms, len(ATOM_TYPES) + 4]`` float one-hot element (+ other),
            aromatic, in ring, formal charge.
        bond_index: ``[n_bonds, 2]`` atom pairs; ``bond_type``: ``[n_bonds]`` index into
            :data:`BOND_TYPES`.
        heavy: ``[n_heavy]`` indices of the non-hydrogen atoms.

    A molecule without rotatable bonds is valid: ``n_torsions == 0``, the torsion map returns the
    base conformer, and generation returns copies of it (a rigid molecule has one conformer up to
    the fixed ETKDG geometry; use ``relax=True`` or :func:`etkdg_conformers` for geometry noise).
    """

    def __init__(self, mol: Chem.Mol, *, conf_id: int = -1, hydrogen_rotors: bool = False):
        if mol.GetNumConformers() == 0:
            raise MoleculeError(f"molecule {Chem.MolToSmiles(mol)!r} has no conformer")
        self.mol = mol
        self.smiles = Chem.MolToSmiles(Chem.RemoveHs(mol))
        self.hydrogen_rotors = hydrogen_rotors
        self._net_view_cache: object | None = None
        conf = mol.GetConformer(conf_id)
        self.coords0 = torch.tensor(conf.GetPositions(), dtype=torch.float64)
        n = mol.GetNumAtoms()
        adj: list[list[int]] = [[] for _ in range(n)]
        for bond in mol.GetBonds():
            i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            adj[i].append(j)
            adj[j].append(i)
        torsions = self._find_torsions(mol, adj, hydrogen_rotors)
        self.torsion_atoms = torch.tensor(
            [t.atoms for t in torsions] or np.zeros((0, 4)), dtype=torch.long
        )
        mask = torch.zeros(len(torsions), n, dtype=torch.bool)
        for k, t in enumerate(torsions):
            mask[k, list(t.moving)] = True
        self.moving_mask = mask
        self.torsion_sign = torch.tensor([t.sign for t in torsions], dtype=torch.float64)
        self.torsions0 = self.measure_torsions(self.coords0.unsqueeze(0))[0]
        feats = []
        for atom in mol.GetAtoms():
            one = [0.0] * (len(ATOM_TYPES) + 1)
            sym = atom.GetSymbol()
            one[ATOM_TYPES.index(sym) if sym in ATOM_TYPES else len(ATOM_TYPES)] = 1.0
            one += [
                float(atom.GetIsAromatic()),
                float(atom.IsInRing()),
                float(atom.GetFormalCharge()),
            ]
            feats.append(one)
        self.atom_features = torch.tensor(feats, dtype=torch.float32)
        pairs, types = [], []
        for bond in mol.GetBonds():
            pairs.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
            name = str(bond.GetBondType())
            types.append(BOND_TYPES.index(name) if name in BOND_TYPES else 1)
        self.bond_index = torch.tensor(pairs or np.zeros((0, 2)), dtype=torch.long)
        self.bond_type = torch.tensor(types, dtype=torch.long)
        self.heavy = torch.tensor(
            [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1], dtype=torch.long
        )

    # ------------------------------------------------------------------ construction

    @staticmethod
    def _find_torsions(
        mol: Chem.Mol, adj: list[list[int]], hydrogen_rotors: bool
    ) -> list[_Torsion]:
        # OURS (default): match the SMARTS on the heavy-atom graph, so D counts heavy neighbours
        # and methyl / hydroxyl / amine hydrogen rotors are not torsions. `hydrogen_rotors=True`
        # matches on the graph with explicit hydrogens (as the public code does).
        query = mol if hydrogen_rotors else Chem.RemoveHs(mol)
        if not hydrogen_rotors:
            # RemoveHs keeps heavy-atom indices in order; map back to the full molecule.
            heavy = [a.GetIdx() for a in mol.GetAtoms() if a.GetAtomicNum() > 1]
            if query.GetNumAtoms() != len(heavy):  # pragma: no cover - exotic H (isotopes)
                query, heavy = mol, list(range(mol.GetNumAtoms()))
        else:
            heavy = list(range(mol.GetNumAtoms()))
        n = mol.GetNumAtoms()
        out = []
        seen: set[tuple[int, int]] = set()
        for bi, ci in query.GetSubstructMatches(_PATTERN):
            b, c = heavy[bi], heavy[ci]
            if (min(b, c), max(b, c)) in seen:
                continue
            seen.add((min(b, c), max(b, c)))
            side_c = _components_without_edge(adj, b, c)
            if b in side_c:  # the bond is in a ring after all
                continue

            def ref(center: int, other: int) -> int:
                nbrs = [j for j in adj[center] if j != other]
                nbrs.sort(key=lambda j: (mol.GetAtomWithIdx(j).GetAtomicNum() == 1, j))
                return nbrs[0]

            a, d = ref(b, c), ref(c, b)
            if len(side_c) <= n - len(side_c):
                moving, sign = tuple(sorted(side_c)), 1.0
            else:
                moving, sign = tuple(sorted(set(range(n)) - side_c)), -1.0
            out.append(_Torsion((a, b, c, d), moving, sign))
        return out

    @classmethod
    def from_mol(
        cls, mol: Chem.Mol, *, seed: int = 0, hydrogen_rotors: bool = False
    ) -> MoleculeGraph:
        """Add hydrogens (keeping existing 3D ones) and embed one ETKDG conformer if ``mol`` has
        none; an existing conformer is used as the base geometry."""
        if not isinstance(mol, Chem.Mol):
            raise MoleculeError(f"expected an RDKit Mol, got {type(mol).__name__}")
        mol = Chem.Mol(mol)
        if len(Chem.GetMolFrags(mol)) != 1:
            raise MoleculeError(
                f"molecule {Chem.MolToSmiles(mol)!r} has several fragments; pass one molecule"
            )
        has_conf = mol.GetNumConformers() > 0
        mol = Chem.AddHs(mol, addCoords=has_conf)
        if not has_conf:
            params = rdDistGeom.ETKDGv3()
            params.randomSeed = int(seed)  # type: ignore[assignment]
            if rdDistGeom.EmbedMolecule(mol, params) != 0:
                params.useRandomCoords = True  # type: ignore[assignment]
                if rdDistGeom.EmbedMolecule(mol, params) != 0:
                    raise MoleculeError(
                        f"ETKDG could not embed {Chem.MolToSmiles(Chem.RemoveHs(mol))!r}"
                    )
        return cls(mol, hydrogen_rotors=hydrogen_rotors)

    @classmethod
    def from_smiles(
        cls, smiles: str, *, seed: int = 0, hydrogen_rotors: bool = False
    ) -> MoleculeGraph:
        """Parse ``smiles`` (``MolFromSmiles`` + ``AddHs``) and embed one ETKDG conformer.

        Raises:
            MoleculeError: the SMILES does not parse (named in the message), or embedding fails.
        """
        return cls.from_mol(parse_smiles(smiles), seed=seed, hydrogen_rotors=hydrogen_rotors)

    # ------------------------------------------------------------------ properties

    @property
    def n_atoms(self) -> int:
        return int(self.coords0.shape[0])

    @property
    def n_torsions(self) -> int:
        return int(self.torsion_atoms.shape[0])

    def __repr__(self) -> str:
        return f"MoleculeGraph({self.smiles!r}, atoms={self.n_atoms}, torsions={self.n_torsions})"

    # ------------------------------------------------------------------ geometry

    def measure_torsions(self, coords: Tensor) -> Tensor:
        """The torsion angles ``[B, n_torsions]`` of coordinates ``[B, n_atoms, 3]``."""
        if self.n_torsions == 0:
            return coords.new_zeros(coords.shape[0], 0)
        a, b, c, d = (self.torsion_atoms[:, k].to(coords.device) for k in range(4))
        return dihedral(coords[:, a], coords[:, b], coords[:, c], coords[:, d])

    def coordinates(self, torsions: Tensor) -> Tensor:
        """Coordinates ``[B, n_atoms, 3]`` at torsions ``[B, n_torsions]`` (differentiable)."""
        return torsions_to_coordinates(self, torsions)

    def to_mol(self, coords: Tensor | np.ndarray) -> Chem.Mol:
        """A copy of the molecule whose conformers are ``coords`` ``[B, n_atoms, 3]``."""
        arr = np.asarray(coords.detach().cpu() if isinstance(coords, Tensor) else coords)
        if arr.ndim != 3 or arr.shape[1:] != (self.n_atoms, 3):
            raise DataError(
                f"coordinates must be [B, {self.n_atoms}, 3] for {self.smiles!r}, got {arr.shape}"
            )
        mol = Chem.Mol(self.mol)
        mol.RemoveAllConformers()
        for k, xyz in enumerate(arr.astype(np.float64)):
            conf = Chem.Conformer(self.n_atoms)
            for i, p in enumerate(xyz):
                conf.SetAtomPosition(i, p.tolist())
            conf.SetId(k)
            mol.AddConformer(conf, assignId=False)
        return mol


def _rotate(x: Tensor, origin: Tensor, axis: Tensor, angle: Tensor) -> Tensor:
    """Rodrigues rotation of points ``x [B, n, 3]`` about ``origin + s axis`` by ``angle [B]``."""
    k = axis / axis.norm(dim=-1, keepdim=True)
    v = x - origin.unsqueeze(1)
    k = k.unsqueeze(1)
    cos, sin = angle.cos().view(-1, 1, 1), angle.sin().view(-1, 1, 1)
    rot = (
        v * cos
        + torch.cross(k.expand_as(v), v, dim=-1) * sin
        + k * (v * k).sum(-1, True) * (1 - cos)
    )
    return rot + origin.unsqueeze(1)


def torsions_to_coordinates(
    graph: MoleculeGraph, torsions: Tensor, *, device: torch.device | str | None = None
) -> Tensor:
    """Set the torsions of ``graph``'s base conformer: ``[B, n_torsions] -> [B, n_atoms, 3]``.

    Torsion ``k`` is set by rotating its moving (smaller) fragment about the bond ``b -> c`` by
    ``sign_k (phi_k - phi0_k)``. Rotations about one rotatable bond leave every other torsion's
    dihedral unchanged (its four atoms move rigidly or lie on the axis), so the result has exactly
    the requested torsions, for any order. The map is smooth and ``2 pi`` periodic in each angle.
    """
    if torsions.ndim != 2 or torsions.shape[1] != graph.n_torsions:
        raise DataError(
            f"torsions must be [B, {graph.n_torsions}] for {graph.smiles!r}, "
            f"got {tuple(torsions.shape)}"
        )
    if not torsions.is_floating_point():
        raise ConfigError(f"torsions must be floating point, got {torsions.dtype}")
    dev = torsions.device if device is None else get_device(device)
    dtype = torsions.dtype
    b = torsions.shape[0]
    x = graph.coords0.to(device=dev, dtype=dtype).unsqueeze(0).expand(b, -1, -1)
    delta = (torsions.to(dev) - graph.torsions0.to(device=dev, dtype=dtype)) * (
        graph.torsion_sign.to(device=dev, dtype=dtype)
    )
    for k in range(graph.n_torsions):
        _, bi, ci, _ = graph.torsion_atoms[k].tolist()
        origin, end = x[:, bi], x[:, ci]
        rotated = _rotate(x, origin, end - origin, delta[:, k])
        mask = graph.moving_mask[k].to(dev).view(1, -1, 1)
        x = torch.where(mask, rotated, x)
    return x


def parse_smiles(smiles: str) -> Chem.Mol:
    """``Chem.MolFromSmiles`` with RDKit's log silenced and a :class:`MoleculeError` naming a
    SMILES that does not parse."""
    if not isinstance(smiles, str) or not smiles.strip():
        raise MoleculeError(f"not a SMILES string: {smiles!r}")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise MoleculeError(f"RDKit cannot parse the SMILES {smiles!r}")
    return mol


def stereoisomer_count(mol: Chem.Mol) -> int:
    """Upper bound on the stereoisomers of the stereo elements ``mol``'s tags leave unassigned
    (RDKit's ``GetStereoisomerCount``; 1 when everything is assigned)."""
    topo = Chem.Mol(mol)
    topo.RemoveAllConformers()
    return int(GetStereoisomerCount(topo, options=StereoEnumerationOptions(onlyUnassigned=True)))


def stereoisomer_graphs(
    molecule: str | Chem.Mol | MoleculeGraph,
    *,
    seed: int = 0,
    max_isomers: int = 32,
    hydrogen_rotors: bool | None = None,
) -> list[MoleculeGraph]:
    """One :class:`MoleculeGraph` per stereoisomer of the stereo elements ``molecule`` leaves
    unassigned (OURS; the paper's torsional sampler uses one ETKDG conformer).

    A torsional sampler only turns rotatable bonds: bond lengths, angles, ring puckers, chiral
    centres and double-bond E/Z all come from the base conformer. For a SMILES such as
    ``OCCNC(c1ccc(Cl)cc1)C(O)c1ccc(Cl)cc1`` (two unassigned centres) one ETKDG conformer fixes
    one of four stereoisomers, while ETKDG itself draws them at random. This function
    enumerates the unassigned chiral centres and double bonds with RDKit's
    ``EnumerateStereoisomers`` (``onlyUnassigned``, ``unique``) and embeds one ETKDG base
    conformer per isomer (seed ``seed + i``); assigned stereo is kept. When ``molecule``
    carries a 3D conformer (a :class:`MoleculeGraph`, or a Mol with a conformer), the isomer
    that conformer embodies keeps it as its base. Isomers are returned in a random order drawn
    from ``seed``.

    Args:
        molecule: SMILES, RDKit Mol or :class:`MoleculeGraph`.
        seed: seeds the ETKDG embeddings and, above ``max_isomers``, the random subset.
        max_isomers: the most isomers returned; a molecule with more gets a random subset of
            ``max_isomers`` and a ``UserWarning`` naming both counts.
        hydrogen_rotors: passed to :class:`MoleculeGraph` (default: a given graph's own
            setting, else ``False``).

    Returns:
        At least one graph; all share the atom order of ``molecule`` (hydrogens added).

    Raises:
        ConfigError: ``max_isomers < 1``.
        MoleculeError: no isomer could be embedded (each failure is named). An isomer that
            ETKDG cannot embed (e.g. a trans double bond in a small ring) is left out with a
            ``UserWarning`` naming it.
    """
    if max_isomers < 1:
        raise ConfigError(f"max_isomers must be >= 1, got {max_isomers}")
    base: MoleculeGraph | None = None
    if hydrogen_rotors is None:
        hydrogen_rotors = isinstance(molecule, MoleculeGraph) and molecule.hydrogen_rotors
    if isinstance(molecule, MoleculeGraph):
        base, mol = molecule, molecule.mol
    elif isinstance(molecule, str):
        mol = parse_smiles(molecule)
    elif isinstance(molecule, Chem.Mol):
        mol = molecule
        if molecule.GetNumConformers() > 0:
            base = MoleculeGraph.from_mol(molecule, seed=seed, hydrogen_rotors=hydrogen_rotors)
    else:
        raise MoleculeError(
            f"expected a SMILES, an RDKit Mol or a MoleculeGraph, got {type(molecule).__name__}"
        )
    topo = Chem.Mol(mol)
    topo.RemoveAllConformers()
    opts = StereoEnumerationOptions(onlyUnassigned=True, unique=True)
    total = stereoisomer_count(topo)
    if total > max_isomers:
        warnings.warn(
            f"{Chem.MolToSmiles(Chem.RemoveHs(topo))!r} has up to {total} stereoisomers from unassigned stereo "
            f"elements; using a random subset of max_isomers={max_isomers}",
            UserWarning,
            stacklevel=2,
        )
        opts = StereoEnumerationOptions(
            onlyUnassigned=True, unique=True, maxIsomers=max_isomers, rand=int(seed) + 1
        )
    isomers = list(EnumerateStereoisomers(topo, options=opts))
    if len(isomers) <= 1:
        if base is not None:
            return [base]
        return [MoleculeGraph.from_mol(topo, seed=seed, hydrogen_rotors=hydrogen_rotors)]
    random.Random(int(seed)).shuffle(isomers)
    base_key = None
    if base is not None:  # the base conformer's isomer, with tags assigned from its 3D geometry
        tagged = Chem.Mol(base.mol)
        Chem.AssignStereochemistryFrom3D(tagged)
        base_key = Chem.MolToSmiles(Chem.RemoveHs(tagged))
    graphs: list[MoleculeGraph] = []
    failed: list[str] = []
    for i, iso in enumerate(isomers[:max_isomers]):
        key = Chem.MolToSmiles(Chem.RemoveHs(iso))
        if base is not None and key == base_key:
            graphs.append(MoleculeGraph(tagged, hydrogen_rotors=base.hydrogen_rotors))
            continue
        try:
            graphs.append(
                MoleculeGraph.from_mol(iso, seed=seed + i, hydrogen_rotors=hydrogen_rotors)
            )
        except MoleculeError:
            failed.append(key)
    if not graphs:
        raise MoleculeError(f"ETKDG could not embed any stereoisomer: {failed}")
    if failed:
        warnings.warn(
            f"left out {len(failed)} stereoisomer(s) that ETKDG cannot embed: {failed}",
            UserWarning,
            stacklevel=2,
        )
    return graphs
