"""The `lab` CLI, with fake domain plugins installed as real dist-info metadata on a temp path."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _fake_domain(
    root: Path,
    name: str,
    *,
    heavy_import_fails: bool = False,
    demos: tuple[str, ...] | None = None,
    requires: tuple[str, ...] = (),
    extras: tuple[str, ...] = (),
) -> None:
    """A minimal installed distribution `labworks-<name>` with lab.cli / lab.demos entry points.

    ``requires`` become Requires-Dist lines and ``extras`` Provides-Extra lines of its metadata.
    """
    pkg = root / f"fake_{name}"
    pkg.mkdir()
    guard = "raise RuntimeError('heavy dependency imported')\n" if heavy_import_fails else ""
    (pkg / "__init__.py").write_text(guard)
    (pkg / "cli.py").write_text(
        textwrap.dedent("""
        import sys
        from lab.core import ConfigError, RunDir, require
        def main(argv):
            print("domain argv:", argv)
            if "--bad" in argv:
                raise ConfigError("config key 'steps': expected an int, got 'ten'")
            if "--missing" in argv:
                require("surely_not_a_module_xyz", "labworks-fake[extra]")
            if "--interrupt" in argv:
                run = RunDir.create("r", root=argv[argv.index("--interrupt") + 1])
                print("run:", run.path)
                with run:
                    if "--early" not in argv:
                        run.log(step=1)
                    raise KeyboardInterrupt
            return 3 if "--fail" in argv else 0
    """)
    )
    (pkg / "demo.py").write_text(
        textwrap.dedent(f"""
        from lab.core.report import DemoResult, demo_size, line_plot
        import torch
        def demo(out_dir, *, device, seed):
            out_dir.mkdir(parents=True, exist_ok=True)
            x = torch.randn(3, generator=torch.Generator().manual_seed(seed))
            p = out_dir / "curve.png"
            p.write_bytes(b"png")
            metrics = {{"value": float(x.sum()), "device": str(device), "size": demo_size()}}
            return DemoResult(title="{name} demo", metrics=metrics, plots=[p])
    """)
    )
    dist = root / f"labworks_{name}-0.0.1.dist-info"
    dist.mkdir()
    meta = f"Metadata-Version: 2.1\nName: labworks-{name}\nVersion: 0.0.1\nSummary: fake {name}\n"
    meta += "".join(f"Provides-Extra: {e}\n" for e in extras)
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    (dist / "METADATA").write_text(meta)
    demo_lines = "".join(f"{d} = fake_{name}.demo:demo\n" for d in (demos or (name,)))
    (dist / "entry_points.txt").write_text(
        f"[lab.cli]\n{name} = fake_{name}.cli:main\n\n[lab.demos]\n{demo_lines}"
    )


# Runs the CLI seeing only the fake domains' entry points, so the tests hold in a core-only venv
# and in one with every real domain installed alike.
_HERMETIC = """
import sys
from importlib.metadata import EntryPoints, distributions
import lab.core._plugins as plugins
site = sys.argv.pop(1)
plugins.entry_points = lambda group: EntryPoints(
    ep for d in distributions(path=[site]) for ep in d.entry_points if ep.group == group
)
from lab.core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _lab(*args: str, path: Path | None = None, cwd: Path | None = None, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "LABWORKS_DEMO_SIZE"}
    full_env.update(env or {})
    cmd = [sys.executable, "-m", "lab.core.cli", *args]
    if path is not None:
        full_env["PYTHONPATH"] = str(path) + os.pathsep + full_env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-c", _HERMETIC, str(path), *args]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture()
def plugins(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _fake_domain(site, "explain", heavy_import_fails=True)
    _fake_domain(site, "privacy")
    return site


def test_help_lists_domains_without_importing_them(plugins):
    proc = _lab("--help", path=plugins)
    assert proc.returncode == 0, proc.stderr
    assert "explain" in proc.stdout and "labworks-explain 0.0.1" in proc.stdout
    assert "labworks-privacy" in proc.stdout
    assert "not installed: molecules, robotics, llm, signal" in proc.stdout


def test_domain_command_dispatch(plugins):
    proc = _lab("privacy", "estimate", "--fail", path=plugins)
    assert proc.returncode == 3
    assert "domain argv: ['estimate', '--fail']" in proc.stdout


def test_unknown_domain_names_pip_command(plugins):
    proc = _lab("molecules", "train", path=plugins)
    assert proc.returncode != 0
    assert "pip install labworks-molecules" in proc.stderr
    assert "installed domains: explain, privacy" in proc.stderr
    proc = _lab("frobnicate", path=plugins)
    assert proc.returncode != 0 and "unknown command 'frobnicate'" in proc.stderr


def test_version_lists_distributions(plugins):
    proc = _lab("version", path=plugins)
    assert proc.returncode == 0, proc.stderr
    assert "labworks-core" in proc.stdout and "labworks-privacy 0.0.1" in proc.stdout
    assert "torch " in proc.stdout and "cuda available:" in proc.stdout


def test_demo_writes_report_and_records_failures(plugins, tmp_path):
    out = tmp_path / "out"
    proc = _lab("demo", "--out", str(out), "--device", "cpu", "--seed", "4", path=plugins)
    # the explain plugin's import fails on purpose: reported, others still run, exit 2
    assert proc.returncode == 2
    (line,) = [ln for ln in proc.stderr.splitlines() if "explain" in ln]
    assert line == (
        "lab demo: explain failed: RuntimeError: heavy dependency imported (traceback in the report)"
    )
    report = (out / "report.md").read_text()
    assert "## privacy: privacy demo" in report and "## explain: FAILED" in report
    assert "![curve](privacy/curve.png)" in report
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["privacy"]["device"] == "cpu"
    assert "heavy dependency imported" in metrics["explain"]["error"]


def test_demo_selected_domain_and_unknown(plugins, tmp_path):
    out = tmp_path / "o"
    proc = _lab("demo", "--domains", "privacy", "--out", str(out), path=plugins)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((out / "metrics.json").read_text())) == {"privacy"}
    proc = _lab("demo", "--domains", "robotics", "--out", str(out), path=plugins)
    assert proc.returncode == 2 and "pip install labworks-robotics" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_demo_without_domains_exits_zero(tmp_path):
    # an isolated interpreter path with no labworks plugins at all
    code = (
        "import sys; import lab.core._plugins as p; p.find_plugins = lambda g: {}; "
        "from lab.core.cli import main; sys.exit(main(['demo', '--out', sys.argv[1]]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "o")], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "no labworks domain is installed" in proc.stdout


def test_bad_device_is_clean_error(plugins, tmp_path):
    proc = _lab("demo", "--device", "cuda:7", "--out", str(tmp_path), path=plugins)
    assert proc.returncode == 2
    assert "cuda:7" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_domains_select_by_name_or_prefix(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _fake_domain(site, "molecules", demos=("molecules-particles", "molecules-conformers"))
    _fake_domain(site, "signal", demos=("signal-rul",))
    out = tmp_path / "o"
    proc = _lab("demo", "--domains", "molecules", "--out", str(out), path=site)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((out / "metrics.json").read_text())) == {
        "molecules-particles",
        "molecules-conformers",
    }
    proc = _lab("demo", "--domains", "molecules-particles", "signal", "--out", str(out), path=site)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads((out / "metrics.json").read_text())) == {
        "molecules-particles",
        "signal-rul",
    }
    # a prefix only matches at the dash: "mol" is not "molecules"
    proc = _lab("demo", "--domains", "mol", "--out", str(out), path=site)
    assert proc.returncode == 2
    assert "no installed demo is named 'mol' or 'mol-*'" in proc.stderr


def _domain_with_demo_extra(site: Path, name: str, *requires: str) -> None:
    _fake_domain(site, name, extras=("demo",), requires=("torch>=1", *requires))


def test_demo_checks_requirements_before_any_work(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _domain_with_demo_extra(site, "robotics", 'surely-not-installed-xyz>=1; extra == "demo"')
    _domain_with_demo_extra(site, "signal", 'torch<0.1; extra == "demo"')  # installed, wrong range
    _fake_domain(site, "privacy")
    out = tmp_path / "o"
    # asked for by name: one line each, exit 2, nothing run and nothing written
    proc = _lab("demo", "--domains", "robotics", "--out", str(out), path=site)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "lab demo: cannot run robotics: needs surely-not-installed-xyz>=1 (not installed); "
        "install with: pip install 'labworks-robotics[demo]'"
    )
    assert "[lab demo] robotics" not in proc.stdout and not out.exists()
    # every installed demo: the incomplete ones are skipped with the pip line, the others run
    proc = _lab("demo", "--out", str(out), path=site)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["privacy"]["device"] == "cpu" or metrics["privacy"]["device"].startswith("cuda")
    assert "pip install 'labworks-robotics[demo]'" in metrics["robotics"]["skipped"]
    assert "torch<0.1 (installed: " in metrics["signal"]["skipped"]
    report = (out / "report.md").read_text()
    assert "## robotics: SKIPPED" in report and "## signal: SKIPPED" in report


def test_demo_requirements_follow_extras_and_self_references(tmp_path, monkeypatch):
    from lab.core._plugins import missing_requirements

    site = tmp_path / "site"
    site.mkdir()
    _fake_domain(
        site, "base", extras=("plots",), requires=('surely-missing-plotlib; extra == "plots"',)
    )
    _fake_domain(
        site,
        "dom",
        extras=("heavy", "demo"),
        requires=(
            "labworks-base>=0.0.1",
            'surely-missing-heavy; extra == "heavy"',
            'labworks-dom[heavy]; extra == "demo"',
            'labworks-base[plots]; extra == "demo"',
            'surely-missing-windows-only; sys_platform == "nonexistent-os"',
        ),
    )
    monkeypatch.syspath_prepend(str(site))
    assert missing_requirements("labworks-dom") == []
    assert missing_requirements("labworks-dom", ("demo",)) == [
        "surely-missing-heavy",
        "surely-missing-plotlib",
    ]
    assert missing_requirements("labworks-not-installed-at-all") == [
        "labworks-not-installed-at-all"
    ]


def test_demo_size_tiny_reaches_the_demo(plugins, tmp_path):
    out = tmp_path / "o"
    proc = _lab("demo", "--domains", "privacy", "--size", "tiny", "--out", str(out), path=plugins)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "metrics.json").read_text())["privacy"]["size"] == "tiny"
    assert "size: tiny" in (out / "report.md").read_text()
    env = {"LABWORKS_DEMO_SIZE": "tiny"}
    proc = _lab("demo", "--domains", "privacy", "--out", str(out), path=plugins, env=env)
    assert json.loads((out / "metrics.json").read_text())["privacy"]["size"] == "tiny"
    env = {"LABWORKS_DEMO_SIZE": "huge"}
    proc = _lab("demo", "--domains", "privacy", "--out", str(out), path=plugins, env=env)
    assert proc.returncode == 2 and "LABWORKS_DEMO_SIZE='huge'" in proc.stderr


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--bad", "lab privacy: error: config key 'steps': expected an int, got 'ten'"),
        ("--missing", "pip install 'labworks-fake[extra]'"),
    ],
)
def test_domain_errors_are_one_line_and_exit_2(plugins, flag, message):
    proc = _lab("privacy", "run", flag, path=plugins)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_domain_whose_import_fails_is_one_line(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _fake_domain(site, "robotics")
    (site / "fake_robotics" / "cli.py").write_text("import surely_not_a_module_xyz\n")
    proc = _lab("robotics", "label", path=site)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "lab robotics: error: cannot load the labworks-robotics command (No module named "
        "'surely_not_a_module_xyz'); is the installation complete? pip install 'labworks-robotics'"
    )


def test_interrupt_prints_how_to_resume(plugins, tmp_path):
    proc = _lab("privacy", "train", "--interrupt", str(tmp_path / "runs"), path=plugins)
    assert proc.returncode == 130
    run = proc.stdout.split("run: ")[1].split()[0]
    assert proc.stderr.strip() == f"lab privacy: interrupted; continue with --resume {run}"
    assert Path(run, "metrics.jsonl").read_text().strip() == '{"step": 1}'
    # interrupted before anything was written: no empty folder is left behind
    proc = _lab("privacy", "train", "--interrupt", str(tmp_path / "r2"), "--early", path=plugins)
    assert proc.returncode == 130 and "before anything was saved" in proc.stderr
    assert not (tmp_path / "r2").exists()
