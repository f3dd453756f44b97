"""Rules every labworks distribution follows (checked on whatever packages/ holds)."""

import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

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
    # the licence travels with every wheel (PEP 639: <dist-info>/licenses/LICENSE)
    (licence,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read(licence) == (ROOT / "LICENSE").read_bytes()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        fields = zf.read(metadata).decode()
    assert "License-Expression: MIT" in fields.splitlines()
    assert "License-File: LICENSE" in fields.splitlines()


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_sdist_contains_licence(pkg, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
        cwd=pkg,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        (member,) = [
            m for m in tf.getmembers() if m.name.count("/") == 1 and m.name.endswith("/LICENSE")
        ]
        data = tf.extractfile(member)
        assert data is not None
        assert data.read() == (ROOT / "LICENSE").read_bytes()


# Hosts the project is really published at. It has none yet, so [project.urls] stays empty:
# a URL to a host that does not exist is worse than no URL.
PUBLISHED_HOSTS: set[str] = set()


@pytest.mark.parametrize("pkg", PACKAGES, ids=lambda p: p.name)
def test_packaging_metadata(pkg):
    project = _meta(pkg)["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    # each package carries a byte-identical copy of the root LICENSE (hatchling cannot reach
    # files outside the project folder)
    assert (pkg / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    build = _meta(pkg)["build-system"]["requires"]
    (hatch,) = [Requirement(r) for r in build if r.startswith("hatchling")]
    assert not hatch.specifier.contains("1.26"), "PEP 639 license-files needs hatchling>=1.27"
    classifiers = project.get("classifiers", [])
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "Typing :: Typed" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")], (
        "PEP 639: the licence is the `license` expression, not a classifier"
    )
    assert classifiers == sorted(classifiers)
    for label, url in project.get("urls", {}).items():
        host = re.sub(r"^https://([^/]+).*$", r"\1", url)
        assert host in PUBLISHED_HOSTS, f"{label} = {url}: not a host the project is published at"


CORE_VERSION = Version(
    tomllib.loads((ROOT / "packages/core/pyproject.toml").read_text())["project"]["version"]
)


@pytest.mark.parametrize("pkg", [p for p in PACKAGES if p.name != "core"], ids=lambda p: p.name)
def test_domain_requires_a_compatible_core(pkg):
    """``labworks-core>=0.1,<0.2``: 0.x minor releases may break the API, patch releases may not."""
    reqs = [Requirement(r) for r in _meta(pkg)["project"]["dependencies"]]
    (core,) = [r for r in reqs if r.name == "labworks-core"]
    spec = core.specifier
    major, minor = CORE_VERSION.major, CORE_VERSION.minor
    assert spec.contains(str(CORE_VERSION))
    assert spec.contains(f"{major}.{minor}.99")
    assert not spec.contains(f"{major}.{minor + 1}.0"), f"{core}: admits the next minor release"
    assert not spec.contains("0.0.9"), f"{core}: admits a core older than the API it uses"


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


@pytest.mark.parametrize("pkg", [p for p in PACKAGES if p.name != "core"], ids=lambda p: p.name)
def test_domain_has_demo_extra_and_named_demos(pkg):
    """`lab demo --domains <d>` finds the demos by name and checks the `demo` extra first."""
    project = _meta(pkg)["project"]
    assert "demo" in project.get("optional-dependencies", {}), "every domain has a [demo] extra"
    demos = project.get("entry-points", {}).get("lab.demos", {})
    assert demos, "a domain registers at least one demo (entry-point group lab.demos)"
    bad = [n for n in demos if n != pkg.name and not n.startswith(f"{pkg.name}-")]
    assert not bad, f"demo entry points are named {pkg.name}-<method>: {bad}"
