"""tools/bench/explain_stability.py: the throughput section runs without Captum (issue 22)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "tools" / "bench" / "explain_stability.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("explain_stability_bench", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_throughput_section_runs_without_captum(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "captum" or m.startswith("captum.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "captum", None)  # import captum -> ImportError
    bench = _load_bench()
    assert not bench.have_captum()
    out = tmp_path / "explain.json"
    bench.main(["--sections", "throughput", "--device", "cpu", "--out", str(out)])
    res = json.loads(out.read_text())["throughput"]
    assert res["explanation"] == "random" and res["n_samples"] == 150
    assert res["batched_s_min"] > 0 and res["per_sample_loop_s_min"] > 0
    # sections that explain with Captum say what to install instead of failing midway
    with pytest.raises(SystemExit):
        bench.main(["--sections", "digits", "--device", "cpu", "--out", str(out)])
