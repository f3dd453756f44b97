"""Issue 18: one subpackage per method; the pre-0.2 paths still work with a DeprecationWarning."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lab.molecules
from lab.molecules.cli import main


@pytest.mark.parametrize("module", ["sampler", "energies", "mala", "metrics", "data"])
def test_old_module_paths_warn_and_alias_the_new_module(module: str) -> None:
    old = f"lab.molecules.{module}"
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"lab.molecules.particles.{module}"):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(f"lab.molecules.particles.{module}")


@pytest.mark.parametrize("name", ["AdjointSampler", "DoubleWell", "mala", "energy_w2"])
def test_moved_names_warn_and_resolve(name: str) -> None:
    import lab.molecules.particles as particles

    # importing the shim module ``lab.molecules.mala`` binds that name to the module
    vars(lab.molecules).pop(name, None)
    with pytest.warns(DeprecationWarning, match=f"lab.molecules.particles.{name}"):
        obj = getattr(lab.molecules, name)
    assert obj is getattr(particles, name)


def test_domain_exports_only_shared_pieces() -> None:
    import lab.molecules.particles as particles

    assert "AdjointSampler" not in lab.molecules.__all__
    assert {"EGNN", "ReplayBuffer", "simulate", "adjoint_matching_loss"} <= set(
        lab.molecules.__all__
    )
    assert "AdjointSampler" in particles.__all__
    with pytest.raises(AttributeError):
        _ = lab.molecules.NoSuchName  # type: ignore[attr-defined]


def _intra_package_imports() -> dict[str, set[str]]:
    """Module -> the lab.molecules modules it imports at module level (relative or absolute)."""
    root = Path(lab.molecules.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
        name = ".".join(["lab.molecules", *parts])
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level only: lazy imports are fine
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if base.startswith("lab.molecules"):
                    deps.add(base)
                    deps.update(f"{base}.{a.name}" for a in node.names)
        graph[name] = deps
    return {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}


def test_no_import_cycles_between_modules() -> None:
    graph = _intra_package_imports()
    # a package importing its own submodules is how __init__ re-exports; not a cycle
    edges = {k: {d for d in v if not d.startswith(k + ".")} for k, v in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, node, dep]))
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert "lab.molecules.particles.sampler" in graph["lab.molecules.particles"]


@pytest.mark.slow
def test_every_module_imports_alone_without_cycles_or_warnings() -> None:
    root = Path(lab.molecules.__file__).parent
    shims = {"sampler", "energies", "mala", "metrics", "data", "plots", "demo"}
    modules = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if rel.parts == (rel.name,) and rel.name in shims:
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        modules.append(".".join(["lab.molecules", *parts]))
    code = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "importlib.import_module(sys.argv[1])\n"
    )
    for name in modules:
        res = subprocess.run(
            [sys.executable, "-c", code, name], capture_output=True, text=True, check=False
        )
        assert res.returncode == 0, (name, res.stderr[-2000:])


def test_old_flat_commands_print_one_deprecation_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab molecules particles sample" in err[0]
    with pytest.raises(SystemExit):
        main(["train-conformers", "--help"])
    assert "lab molecules conformers train" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["conformers", "CCO", "--help"])
    assert "lab molecules conformers generate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["conformers", "generate", "--help"])
    assert capsys.readouterr().err == ""
