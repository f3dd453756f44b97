"""Training and held-out molecules from the SMILES files that ship inside RDKit."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path

from rdkit import Chem, RDConfig, rdBase
from rdkit.Chem import rdForceFieldHelpers

from lab.core import ConfigError, DataError

from .graph import _PATTERN, MoleculeError, MoleculeGraph

__all__ = [
    "MoleculeFilter",
    "load_smiles",
    "rdkit_nci_path",
    "split_molecules",
    "training_molecules",
]

#: Elements our filter admits (all typed by MMFF94).
ALLOWED_ELEMENTS = frozenset({"H", "C", "N", "O", "F", "S", "Cl"})


def rdkit_nci_path() -> Path:
    """``rdkit/Data/NCI/first_5K.smi``: 5,000 NCI compounds shipped inside the RDKit wheel."""
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    if not path.is_file():
        raise DataError(f"RDKit's bundled {str(path)!r} is missing from this RDKit install")
    return path


def load_smiles(path: str | Path) -> list[str]:
    """SMILES of a ``.smi`` file (first whitespace-separated column; ``#`` lines skipped)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"no SMILES file at {str(p)!r}")
    out = []
    for line in p.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.split()[0])
    return out


@dataclass(frozen=True)
class MoleculeFilter:
    """Which molecules train and test (OURS; the paper trains on SPICE / GEOM-DRUGS).

    Attributes:
        min_heavy: fewest heavy atoms.
        max_heavy: most heavy atoms.
        min_torsions: fewest rotatable torsions (heavy-atom SMARTS matches).
        max_torsions: most rotatable torsions.
        allow_charged: admit formally charged atoms.
    """

    min_heavy: int = 8
    max_heavy: int = 22
    min_torsions: int = 2
    max_torsions: int = 7
    allow_charged: bool = False

    def accepts(self, smiles: str) -> Chem.Mol | None:
        """The parsed molecule if ``smiles`` passes the filter, else ``None``."""
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(smiles)
        if mol is None or len(Chem.GetMolFrags(mol)) != 1:
            return None
        if not self.min_heavy <= mol.GetNumHeavyAtoms() <= self.max_heavy:
            return None
        if any(a.GetSymbol() not in ALLOWED_ELEMENTS for a in mol.GetAtoms()):
            return None
        if not self.allow_charged and any(a.GetFormalCharge() for a in mol.GetAtoms()):
            return None
        if any(a.GetChiralTag() != Chem.ChiralType.CHI_UNSPECIFIED for a in mol.GetAtoms()):
            return None  # keep stereo-unspecified molecules only: one graph, one ensemble
        if not self.min_torsions <= len(mol.GetSubstructMatches(_PATTERN)) <= self.max_torsions:
            return None
        molh = Chem.AddHs(mol)
        if not rdForceFieldHelpers.MMFFHasAllMoleculeParams(molh):
            return None
        return mol


def _is_test(smiles: str, test_fraction: float) -> bool:
    # deterministic, order-independent split on the canonical SMILES (OURS)
    return zlib.crc32(smiles.encode()) % 10_000 < test_fraction * 10_000


def split_molecules(
    smiles: list[str],
    *,
    filt: MoleculeFilter | None = None,
    test_fraction: float = 0.1,
) -> tuple[list[str], list[str]]:
    """Filter and split canonical SMILES into (train, test); duplicates removed. The split hashes
    the canonical SMILES (CRC32), so a molecule is held out regardless of file order."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    filt = filt or MoleculeFilter()
    seen: set[str] = set()
    train: list[str] = []
    test: list[str] = []
    for s in smiles:
        mol = filt.accepts(s)
        if mol is None:
            continue
        can = Chem.MolToSmiles(mol)
        if can in seen:
            continue
        seen.add(can)
        (test if _is_test(can, test_fraction) else train).append(can)
    return train, test


def training_molecules(
    split: str = "train",
    n: int | None = None,
    *,
    path: str | Path | None = None,
    filt: MoleculeFilter | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> list[MoleculeGraph]:
    """The first ``n`` embeddable molecules of a split (``train`` or ``test``) of ``path``
    (default: RDKit's bundled NCI ``first_5K.smi``) as :class:`MoleculeGraph` objects."""
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    smiles = load_smiles(path or os.fspath(rdkit_nci_path()))
    train, test = split_molecules(smiles, filt=filt, test_fraction=test_fraction)
    pool = train if split == "train" else test
    out: list[MoleculeGraph] = []
    for s in pool:
        if n is not None and len(out) >= n:
            break
        try:
            g = MoleculeGraph.from_smiles(s, seed=seed)
        except MoleculeError:
            continue
        if g.n_torsions:
            out.append(g)
    return out
