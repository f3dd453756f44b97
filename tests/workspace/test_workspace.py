"""Rules every labworks distribution follows (checked on whatever packages/ holds)."""

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
OURS = {tomllib.loads((p / "pyproject.toml").read_text())["project"]["name"] for p in PACKAGES}
# names of our domains that strangers own on PyPI, or that would be ambiguous
FORBIDDEN = {"lab", "lab-core", "lab_core"} | {f"lab-{p.name}" for p in PACKAGES}
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _meta(pkg: Path) -> dict:
    return tomllib.loads((pkg / "pyproject.toml").read_text())


def _requirement_names(pkg: Path) -> set[str]:
    project = _meta(pkg)["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {_REQ_NAME.match(r).group(1).lower().replace("_", "-") for r in reqs}


def test_there_is_a_core_package():
    assert "labworks-core" in OURS


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_layout_and_no_namespace_init(pkg):
    src = pkg / "src" / "lab"
    assert not (src / "__init__.py").exists(), "lab is a PEP 420 namespace: no lab/__init__.py"
    assert (src / pkg.name / "__init__.py").is_file()
    assert (src / pkg.name / "py.typed").is_file()
    assert sorted(p.name for p in src.iterdir()) == [pkg.name], "src/lab holds only this domain"
    meta = _meta(pkg)
    assert meta["project"]["name"] == f"labworks-{pkg.name}"
    assert meta["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/lab"]


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_dependencies_never_name_strangers(pkg):
    names = _requirement_names(pkg)
    assert not names & FORBIDDEN, f"depends on a stranger's PyPI name: {names & FORBIDDEN}"
    siblings = {n for n in names if n.startswith("labworks-")}
    assert siblings <= OURS, f"unknown labworks names: {siblings - OURS}"
    if pkg.name != "core":
        # a domain depends on core and its own field's libraries, never on a sibling domain
        assert "labworks-core" in names
        assert siblings <= {"labworks-core", f"labworks-{pkg.name}"}, (
            f"sibling dependency: {siblings}"
        )
    deps = _meta(pkg)["project"].get("dependencies", [])
    assert not [d for d in deps if d.lower().startswith("torch") and "==" in d], (
        "no torch pins in packages"
    )


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_wheel_contains_only_its_domain(pkg, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(pkg),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    code = [n for n in names if ".dist-info/" not in n]
    assert code, "empty wheel"
    assert all(n.startswith(f"lab/{pkg.name}/") for n in code), [
        n for n in code if not n.startswith(f"lab/{pkg.name}/")
    ]
    assert "lab/__init__.py" not in names
    assert f"lab/{pkg.name}/py.typed" in names


def _run_python(code: str, *paths: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(map(str, paths))
        + os.pathsep
        + os.environ.get("PYTHONPATH", ""),
    }
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_lab_is_a_namespace():
    proc = _run_python("import lab, lab.core; print(lab.__file__, type(lab.__path__).__name__)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "_NamespacePath"]


def test_foreign_lab_module_coexists(tmp_path):
    foreign = tmp_path / "lab"
    foreign.mkdir()
    (foreign / "something.py").write_text("VALUE = 42\n")
    proc = _run_python(
        "import lab.something, lab.core; print(lab.something.VALUE, lab.core.get_device().type)",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["42", "cpu"]


def test_no_test_folder_is_a_package():
    stray = [p for p in (ROOT / "tests").rglob("__init__.py")]
    assert not stray, f"test folders must not be packages: {stray}"


def test_benchmarks_page_is_assembled_from_fragments():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_benchmarks_doc.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
