"""Issue 18: one subpackage per method; the pre-0.2 paths still work with a DeprecationWarning."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lab.signal

SHIMS = ("baselines", "cmapss", "experiment", "meta", "metrics", "plots", "simulator", "training")


@pytest.mark.parametrize("module", ["cmapss", "meta", "training", "simulator", "demo"])
def test_old_module_paths_warn_and_alias_the_new_module(module: str) -> None:
    old = f"lab.signal.{module}"
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"lab.signal.rul.{module}"):
        mod = importlib.import_module(old)
    assert mod is importlib.import_module(f"lab.signal.rul.{module}")


@pytest.mark.parametrize("name", ["MKDPINN", "load_cmapss", "meta_train", "rmse", "RidgeRUL"])
def test_moved_names_warn_and_resolve(name: str) -> None:
    import lab.signal.rul as rul

    vars(lab.signal).pop(name, None)  # a shim import may have bound a same-named module
    with pytest.warns(DeprecationWarning, match=f"lab.signal.rul.{name}"):
        obj = getattr(lab.signal, name)
    assert obj is getattr(rul, name)


def test_old_rul_module_names_still_import_from_the_subpackage() -> None:
    # ``lab.signal.rul`` was the MKDPINN module before 0.2; the subpackage re-exports its API
    from lab.signal.rul import MKDPINN, HiddenStateMapper, pde_residual
    from lab.signal.rul.model import MKDPINN as model_mkdpinn

    assert MKDPINN is model_mkdpinn
    assert callable(pde_residual) and HiddenStateMapper.__module__ == "lab.signal.rul.model"


def test_domain_exports_nothing_but_the_version() -> None:
    assert lab.signal.__all__ == ["__version__"]
    with pytest.raises(AttributeError):
        _ = lab.signal.NoSuchName  # type: ignore[attr-defined]


def test_every_module_imports_alone_without_cycles_or_warnings() -> None:
    root = Path(lab.signal.__file__).parent
    modules = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if len(rel.parts) == 1 and rel.name in (*SHIMS, "demo"):
            continue
        parts = [p for p in rel.parts if p != "__init__"]
        modules.append(".".join(["lab.signal", *parts]))
    assert "lab.signal.rul.model" in modules and "lab.signal.vc.clotgan" in modules
    code = (
        "import importlib, sys, warnings\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "for name in sys.argv[1:]:\n"
        "    for m in [k for k in sys.modules if k.startswith('lab.signal')]:\n"
        "        del sys.modules[m]\n"
        "    importlib.import_module(name)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, *modules], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr[-2000:]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def test_rul_and_the_domain_cli_import_none_of_the_vc_extra() -> None:
    res = _run(
        "import sys\n"
        "import lab.signal, lab.signal.rul, lab.signal.rul.cli, lab.signal.rul.demo\n"
        "heavy = {'librosa', 'soundfile', 'pyworld', 'pysptk', 'ot'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    assert res.returncode == 0, res.stderr[-2000:]


def test_vc_without_its_extra_names_the_pip_line() -> None:
    block = "import sys\nsys.modules['librosa'] = None  # as if librosa were not installed\n"
    res = _run(block + "import lab.signal.vc\n")
    assert res.returncode != 0
    assert "pip install 'labworks-signal[vc]'" in res.stderr and "librosa" in res.stderr
    # the domain CLI still serves rul; `lab signal vc ...` fails in one line with exit status 2
    res = _run(
        block
        + "from lab.signal.cli import main\n"
        + "assert main(['vc', 'train', '--source', 'a', '--target', 'b']) == 2\n"
        + "import lab.signal.rul.cli\n"
    )
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "labworks-signal[vc]" in lines[0], lines
