"""Issue 18: one subpackage per method (pods, tnd, continual); shared pieces at lab.llm; the
pre-0.2 paths and commands still work with a DeprecationWarning / one stderr line."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lab.llm
from lab.llm.cli import main

ROOT = Path(lab.llm.__file__).parent
SHIMS = {"downsample", "grpo", "experiment", "evaluation", "rewards", "tasks", "demo"}


@pytest.mark.parametrize("module", sorted(SHIMS))
def test_old_module_paths_warn_and_alias_the_new_module(module: str) -> None:
    old = f"lab.llm.{module}"
    sys.modules.pop(old, None)
    vars(lab.llm).pop(module, None)
    with pytest.warns(DeprecationWarning, match=f"lab.llm.pods.{module}"):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(f"lab.llm.pods.{module}")


@pytest.mark.parametrize(
    "name", ["GRPOTrainer", "GRPOConfig", "max_variance_downsample", "arithmetic_task", "evaluate"]
)
def test_moved_names_warn_and_resolve(name: str) -> None:
    import lab.llm.pods as pods

    with pytest.warns(DeprecationWarning, match=f"lab.llm.pods.{name}"):
        obj = getattr(lab.llm, name)
    assert obj is getattr(pods, name)


@pytest.mark.parametrize("name", ["build_tokenizer", "sft_warm_start", "SFTConfig"])
def test_models_module_keeps_the_shared_builder_and_forwards_pods_names(name: str) -> None:
    import lab.llm.models as models
    import lab.llm.pods.models as pods_models

    assert models.tiny_causal_lm is lab.llm.tiny_causal_lm
    with pytest.warns(DeprecationWarning, match=f"lab.llm.pods.models.{name}"):
        obj = getattr(models, name)
    assert obj is getattr(pods_models, name)


def test_domain_exports_only_shared_pieces() -> None:
    import lab.llm.pods as pods

    assert {"grpo_loss", "clipped_surrogate", "generate_completions", "tiny_causal_lm"} <= set(
        lab.llm.__all__
    )
    assert not {"GRPOTrainer", "max_variance_downsample", "ExperimentConfig"} & set(lab.llm.__all__)
    assert {"GRPOTrainer", "max_variance_downsample", "ExperimentConfig"} <= set(pods.__all__)
    with pytest.raises(AttributeError):
        _ = lab.llm.NoSuchName  # type: ignore[attr-defined]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    return ".".join(["lab.llm", *(p for p in rel.parts if p != "__init__")])


def _new_modules() -> list[str]:
    return [
        _module_name(p)
        for p in sorted(ROOT.rglob("*.py"))
        if not (p.parent == ROOT and p.stem in SHIMS)
    ]


def test_no_import_cycles_between_modules_of_the_domain() -> None:
    """Module-level imports inside lab.llm form a DAG (deferred imports in functions excluded)."""
    edges: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = _module_name(path)
        package = name if path.stem == "__init__" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # top level only
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps.add(target)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lab.llm"):
                deps.add(str(node.module))
        edges[name] = {d for d in deps if d != name}
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for d in edges.get(n, ()):
            if state.get(d) == 1:
                raise AssertionError(f"import cycle: {' -> '.join([*stack, n, d])}")
            if d in edges and not state.get(d):
                visit(d, [*stack, n])
        state[n] = 2

    for n in edges:
        if not state.get(n):
            visit(n, [])


def test_every_new_module_imports_without_deprecation_warnings() -> None:
    code = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
    )
    res = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning:torch", "-c", code, *_new_modules()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr[-3000:]


def test_old_flat_commands_print_one_deprecation_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["downsample", "--m", "2", "0", "1", "1", "0.5", "0.2"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab llm pods downsample" in err[0]
    with pytest.raises(SystemExit):
        main(["grpo", "--help"])
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lab llm pods grpo" in err[0]
    assert main(["pods", "downsample", "--m", "1", "0", "1"]) == 0
    assert capsys.readouterr().err == ""
