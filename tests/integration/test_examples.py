"""Run every docs/examples/*.py script end to end and check the numbers it reports.

Convention for an example script: its module docstring has a line ``Requires: lab.a, lab.b``;
it accepts ``--out DIR`` and ``--quick`` (small sizes for CI) and writes ``DIR/result.json``.
An example whose required domains are not installed is skipped with the reason.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))


def _requires(script: Path) -> list[str]:
    m = re.search(r"^Requires:\s*(.+)$", script.read_text(encoding="utf-8"), re.M)
    return [s.strip() for s in m.group(1).split(",")] if m else []


def run_example(script: Path, out: Path) -> dict:
    missing = [m for m in _requires(script) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{script.name} needs {', '.join(missing)}, not installed here")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run(
        [sys.executable, str(script), "--out", str(out), "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=out.parent,
    )
    assert proc.returncode == 0, f"{script.name} failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads((out / "result.json").read_text())


def test_every_example_declares_its_domains():
    for script in EXAMPLES:
        reqs = _requires(script)
        assert reqs, f"{script.name}: no 'Requires:' line in its docstring"
        assert sum(r.startswith("lab.") for r in reqs) >= 2, f"{script.name} composes no domains"


def test_certify_continual_model(tmp_path):
    res = run_example(ROOT / "docs/examples/certify_continual_model.py", tmp_path / "out")
    assert set(res["models"]) == {"sequential", "per_task"}
    for method, m in res["models"].items():
        # two classes per task: both final models must still beat chance on the first task
        assert m["first_task_accuracy"] > 0.5, (method, m)
        ablation, rand = m["mean_stability"]["feature_ablation"], m["mean_stability"]["random"]
        assert all(0.0 <= v <= 1.0 for v in ablation + rand)
        # the keyword tokens Captum finds keep the prediction better than random tokens do
        assert ablation[-1] >= rand[-1], (method, ablation, rand)
        # adding more random tokens can only make instability more likely (SCA noise: eps 0.1)
        assert rand[-1] <= rand[0] + 0.1


def test_certify_dp_text_classifier(tmp_path):
    res = run_example(ROOT / "docs/examples/certify_dp_text_classifier.py", tmp_path / "out")
    assert set(res["models"]) == {"non_private", "dp_eps8", "dp_eps1"}
    assert res["models"]["non_private"]["epsilon"] is None
    for name, target in (("dp_eps8", 8.0), ("dp_eps1", 1.0)):
        # the accountant never reports more than the budget the noise was calibrated for
        assert 0 < res["models"][name]["epsilon"] <= target + 1e-6
    for name, m in res["models"].items():
        # planted keywords: every model must beat chance (0.5) clearly, DP ones included
        assert m["test_accuracy"] > 0.7, (name, m)
        ablation, rand = m["mean_stability"]["feature_ablation"], m["mean_stability"]["random"]
        assert all(0.0 <= v <= 1.0 for v in ablation + rand)
        # the keyword tokens Captum finds keep the prediction better than random tokens do
        assert ablation[-1] >= rand[-1], (name, ablation, rand)
