"""nox sessions for the labworks workspace.

    nox -s tests                 every tests(<domain>) session: core + one domain per venv
    nox -s "tests(domain='explain')"
    nox -s integration           all domains in one venv + tests/integration
    nox -s lint typecheck docs demo
    nox -s demo_smoke            per domain: fresh venv with core + <domain>[demo], its demos at tiny size
    nox -s "bench(domain='explain')"   not run by default
    nox -s gpu                   GPU tests; not run by default

Torch: on CPU machines each venv gets the torch build given by ``LABWORKS_TORCH`` (default
``torch==2.13.0``, which pip finds as a local CPU wheel here). On a machine that already has a
(CUDA) torch, ``LABWORKS_REUSE_TORCH=1`` creates venvs with ``--system-site-packages`` and
installs no torch, so the machine's own build is used. Torch pins live here, never in the
packages' own dependencies.

Disk: every venv holds its own torch (1-3 GB each, about 26 GB for the default sessions).
``LABWORKS_NOX_CLEANUP=1`` (set by ``.ci/run``) removes each session's venv as soon as the
session ends, pass or fail, so a CI machine needs room for one venv at a time.
"""

from __future__ import annotations

import functools
import os
import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).parent
PACKAGES = ROOT / "packages"
DOMAINS = sorted(
    p.name for p in PACKAGES.iterdir() if (p / "pyproject.toml").is_file() and p.name != "core"
)
ALL = ["core", *DOMAINS]
REUSE_TORCH = os.environ.get("LABWORKS_REUSE_TORCH", "") not in ("", "0")
TORCH = os.environ.get("LABWORKS_TORCH", "torch==2.13.0")
PYTEST_FAST = ["-m", "not slow and not gpu"]

nox.options.sessions = ["tests", "integration", "lint", "typecheck", "demo_smoke"]
nox.options.reuse_existing_virtualenvs = False
nox.needs_version = ">=2024.10.9"

VENV_PARAMS = ["--system-site-packages"] if REUSE_TORCH else []
CLEANUP = os.environ.get("LABWORKS_NOX_CLEANUP", "") not in ("", "0")


def ephemeral(func: Callable[..., None]) -> Callable[..., None]:
    """Remove the session's venv when the session ends (only with ``LABWORKS_NOX_CLEANUP=1``)."""

    @functools.wraps(func)
    def wrapper(session: nox.Session, *args: Any, **kwargs: Any) -> None:
        try:
            func(session, *args, **kwargs)
        finally:
            location = getattr(session.virtualenv, "location", None)
            if CLEANUP and location and Path(location).is_dir():
                shutil.rmtree(location, ignore_errors=True)
                session.log(f"removed {location} (LABWORKS_NOX_CLEANUP=1)")

    return wrapper


def _group(name: str) -> list[str]:
    pyproject = nox.project.load_toml(ROOT / "pyproject.toml")
    return list(nox.project.dependency_groups(pyproject, name))


def _extras(domain: str, *names: str) -> str:
    """Path spec of a package with those of the named extras it actually defines."""
    meta = tomllib.loads((PACKAGES / domain / "pyproject.toml").read_text())
    defined = meta.get("project", {}).get("optional-dependencies", {})
    wanted = [n for n in names if n in defined]
    return f"./packages/{domain}" + (f"[{','.join(wanted)}]" if wanted else "")


def _constraints(session: nox.Session) -> list[str]:
    """A pip constraints file that pins torch, so no dependency can pull another build."""
    if REUSE_TORCH:
        return []
    # not session.create_tmp(): that sets TMPDIR inside this git checkout, and sdists that
    # version themselves from `git` (pysptk) then build with our commit in their version
    path = Path(session.virtualenv.location) / "torch-constraint.txt"
    path.write_text(TORCH + "\n")
    return ["-c", str(path)]


def _install(session: nox.Session, *specs: str, groups: tuple[str, ...] = ("test",)) -> None:
    cons = _constraints(session)
    if not REUSE_TORCH:
        session.install(TORCH, *cons)
    reqs = [r for g in groups for r in _group(g)]
    session.install(*cons, *specs, *reqs)


def _apt_note(session: nox.Session, domain: str) -> None:
    if domain == "robotics":
        session.log(
            "robotics needs Debian's libusb-1.0-0 (and libvulkan1, mesa-vulkan-drivers); .ci/run installs them"
        )


def _pytest(session: nox.Session, *args: str) -> None:
    # exit code 5 = no tests collected: not a failure of the session.
    session.run("pytest", *args, *session.posargs, success_codes=[0, 5])


@nox.session(venv_params=VENV_PARAMS)
@nox.parametrize("domain", ALL)
@ephemeral
def tests(session: nox.Session, domain: str) -> None:
    """One domain's fast test suite in a venv holding only labworks-core and that domain."""
    _apt_note(session, domain)
    specs = [_extras("core", "plots", "testing")]
    if domain != "core":
        specs.append(_extras(domain, "test", "plots"))
    _install(session, *specs)
    paths = [f"tests/{domain}"] + (["tests/workspace"] if domain == "core" else [])
    session.env.setdefault("OMP_NUM_THREADS", "2")
    _pytest(session, *paths, *PYTEST_FAST)


@nox.session(venv_params=VENV_PARAMS)
@ephemeral
def integration(session: nox.Session) -> None:
    """Every domain in one venv, then tests/integration (examples composing domains)."""
    _install(
        session,
        _extras("core", "plots", "testing"),
        *[_extras(d, "test", "plots") for d in DOMAINS],
    )
    _pytest(session, "tests/integration", *PYTEST_FAST)


@nox.session
@ephemeral
def lint(session: nox.Session) -> None:
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(venv_params=VENV_PARAMS)
@ephemeral
def typecheck(session: nox.Session) -> None:
    _install(session, *[_extras(d, "plots") for d in ALL], groups=("typecheck",))
    mods = [arg for d in ALL for arg in ("-p", f"lab.{d}")]
    session.run("mypy", *mods)


@nox.session(venv_params=VENV_PARAMS)
@ephemeral
def docs(session: nox.Session) -> None:
    """mkdocs build --strict (API pages from docstrings across the namespace)."""
    _install(session, *[_extras(d, "plots") for d in ALL], groups=("docs",))
    session.run("mkdocs", "build", "--strict", "--site-dir", "site")


@nox.session(venv_params=VENV_PARAMS)
@ephemeral
def demo(session: nox.Session) -> None:
    """The main job: every domain's demo on embedded defaults, report under runs/demo."""
    _install(session, *[_extras(d, "demo") for d in ALL], groups=())
    out = session.posargs[0] if session.posargs else "runs/demo"
    session.run("lab", "version")
    session.run("lab", "demo", "--out", out)


@nox.session(venv_params=VENV_PARAMS)
@nox.parametrize("domain", DOMAINS)
@ephemeral
def demo_smoke(session: nox.Session, domain: str) -> None:
    """Core + one domain's [demo] extra in a fresh venv, then its demos at tiny size.

    What a newcomer runs: ``pip install 'labworks-<domain>[demo]'`` and
    ``lab demo --domains <domain> --size tiny`` (``LABWORKS_DEMO_SIZE=tiny``: seconds per demo).
    Fails when the domain has no ``demo`` extra, when ``lab demo`` finds a requirement missing
    (the extra does not list everything the demos import) or when a demo fails.
    """
    _apt_note(session, domain)
    meta = tomllib.loads((PACKAGES / domain / "pyproject.toml").read_text())
    if "demo" not in meta.get("project", {}).get("optional-dependencies", {}):
        session.error(f"labworks-{domain} has no [demo] extra")
    # no dependency groups: only what a user's `pip install 'labworks-<domain>[demo]'` brings
    _install(session, "./packages/core", f"./packages/{domain}[demo]", groups=())
    out = Path(session.virtualenv.location) / "demo-out"
    session.env["OMP_NUM_THREADS"] = session.env.get("OMP_NUM_THREADS", "2")
    session.run(
        "lab", "demo", "--domains", domain, "--size", "tiny", "--device", "cpu", "--out", str(out)
    )


@nox.session(venv_params=VENV_PARAMS, default=False)
@nox.parametrize("domain", DOMAINS or ["core"])
@ephemeral
def bench(session: nox.Session, domain: str) -> None:
    """Run tools/bench/<domain>_*.py (CPU-sized defaults; pass --paper for GPU sizes)."""
    _install(session, _extras("core", "plots"), _extras(domain, "bench", "plots", "test"))
    scripts = sorted((ROOT / "tools" / "bench").glob(f"{domain}_*.py"))
    if not scripts:
        session.skip(f"no benchmark in tools/bench for {domain}")
    for script in scripts:
        session.run("python", str(script.relative_to(ROOT)), *session.posargs)


@nox.session(venv_params=["--system-site-packages"], default=False)
@ephemeral
def gpu(session: nox.Session) -> None:
    """GPU tests (-m gpu) with the machine's own CUDA torch (installed outside the venv)."""
    session.install(*[_extras(d, "test", "plots") for d in ALL], *_group("test"))
    session.run(
        "python", "-c", "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA')"
    )
    _pytest(session, "tests", "-m", "gpu")
