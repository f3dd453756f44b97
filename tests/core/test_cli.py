"""The `lab` CLI, with fake domain plugins installed as real dist-info metadata on a temp path."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _fake_domain(root: Path, name: str, *, heavy_import_fails: bool = False) -> None:
    """A minimal installed distribution `labworks-<name>` with lab.cli / lab.demos entry points."""
    pkg = root / f"fake_{name}"
    pkg.mkdir()
    guard = "raise RuntimeError('heavy dependency imported')\n" if heavy_import_fails else ""
    (pkg / "__init__.py").write_text(guard)
    (pkg / "cli.py").write_text(
        textwrap.dedent("""
        import sys
        def main(argv):
            print("domain argv:", argv)
            return 3 if "--fail" in argv else 0
    """)
    )
    (pkg / "demo.py").write_text(
        textwrap.dedent(f"""
        from lab.core.report import DemoResult, line_plot
        import torch
        def demo(out_dir, *, device, seed):
            out_dir.mkdir(parents=True, exist_ok=True)
            x = torch.randn(3, generator=torch.Generator().manual_seed(seed))
            p = out_dir / "curve.png"
            p.write_bytes(b"png")
            return DemoResult(title="{name} demo", metrics={{"value": float(x.sum()), "device": str(device)}}, plots=[p])
    """)
    )
    dist = root / f"labworks_{name}-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: labworks-{name}\nVersion: 0.0.1\nSummary: fake {name}\n"
    )
    (dist / "entry_points.txt").write_text(
        f"[lab.cli]\n{name} = fake_{name}.cli:main\n\n[lab.demos]\n{name} = fake_{name}.demo:demo\n"
    )


def _lab(*args: str, path: Path | None = None, cwd: Path | None = None):
    env = {**os.environ}
    if path is not None:
        env["PYTHONPATH"] = str(path) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "lab.core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
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
    # the explain plugin's import fails on purpose: reported, others still run, exit non-zero
    assert proc.returncode == 1
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
