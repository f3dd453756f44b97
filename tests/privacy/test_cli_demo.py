"""`lab privacy ...` commands, input parsing errors, and the demo."""

from __future__ import annotations

import json

import pytest

from lab.core import DataError
from lab.core.cli import main as lab_main
from lab.privacy.cli import main
from lab.privacy.collision import collision_probability
from lab.privacy.collision.io import read_values


def _run(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def values_file(tmp_path):
    vals = [f"city{i % 5}" for i in range(3000)]
    f = tmp_path / "vals.txt"
    f.write_text("\n".join(vals) + "\n")
    return f, vals


def test_estimate_exact_and_private(capsys, values_file):
    f, vals = values_file
    out = _run(capsys, ["collision", "estimate", "--input", str(f), "--method", "exact"])
    assert out["estimate"] == pytest.approx(collision_probability(vals))
    out = _run(
        capsys,
        [
            "collision",
            "estimate",
            "--input",
            str(f),
            "--alpha",
            "4",
            "--beta",
            "0.01",
            "--group-size",
            "30",
            "--aggregate",
            "mean",
            "--ci",
            "normal",
            "--simulation-seed",
            "0",
        ],
    )
    assert out["simulation_seed"] == 0
    assert out["details.m"] == 13 and out["details.n_groups"] == 100
    assert out["ci_low"] <= 0.2 <= out["ci_high"]
    out = _run(capsys, ["collision", "estimate", "--input", str(f), "--method", "pairwise-rr"])
    assert out["n"] == 3000


def test_estimate_frequency_oracle(capsys, values_file):
    pytest.importorskip("pure_ldp")
    f, _ = values_file
    out = _run(
        capsys,
        [
            "collision",
            "estimate",
            "--input",
            str(f),
            "--method",
            "frequency-oracle",
            "--alpha",
            "2",
        ],
    )
    assert out["details.k"] == 5 and abs(out["estimate"] - 0.2) < 0.1


def test_csv_column_and_test(capsys, tmp_path):
    f = tmp_path / "d.csv"
    f.write_text(
        "id,colour\n" + "".join(f"{i},{'red' if i % 2 else 'blue'}\n" for i in range(4000))
    )
    out = _run(
        capsys, ["collision", "test", "--input", str(f), "--column", "colour", "--c0", "0.3"]
    )
    assert out["reject"] and out["stopping_time"] == out["path"][-1]["t"]
    out = _run(capsys, ["collision", "test", "--input", str(f), "--column", "1", "--c0", "0.5"])
    assert not out["reject"] and out["n_used"] == 4000


def test_audit_command(capsys):
    out = _run(
        capsys,
        ["collision", "audit", "--k", "200", "--alpha", "1", "--beta", "0.001", "--groups", "2"],
    )
    assert out["m"] == 78 and out["n_pairs"] == 2 * 200 * 199 // 2 and out["within_beta"]


def test_bad_inputs_through_lab(capsys, tmp_path):
    f = tmp_path / "v.txt"
    f.write_text("a\n\nb\n")
    assert lab_main(["privacy", "collision", "estimate", "--input", str(f)]) == 2
    assert "line 2 is blank" in capsys.readouterr().err
    assert (
        lab_main(["privacy", "collision", "estimate", "--input", str(tmp_path / "none.txt")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err
    f.write_text("a\nb\n")
    assert lab_main(["privacy", "collision", "estimate", "--input", str(f), "--alpha", "0"]) == 2
    assert "alpha" in capsys.readouterr().err
    assert lab_main(["privacy", "collision", "test", "--input", str(f), "--delta", "1.5"]) == 2
    assert "delta" in capsys.readouterr().err
    # 2 values: one group, no normal interval
    assert lab_main(["privacy", "collision", "estimate", "--input", str(f)]) == 2
    assert "normal interval needs at least 2 groups" in capsys.readouterr().err
    argv = ["privacy", "collision", "estimate", "--input", str(f), "--aggregate"]
    assert lab_main([*argv, "median_of_means"]) == 2
    assert "needs >= 50 groups per block" in capsys.readouterr().err


def test_read_values_errors(tmp_path):
    bad = tmp_path / "b.bin"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(DataError, match="UTF-8"):
        read_values(bad)
    csvf = tmp_path / "c.csv"
    csvf.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no column 'z'"):
        read_values(csvf, "z")
    csvf.write_text("a,b\n1,\n")
    with pytest.raises(DataError, match="empty value"):
        read_values(csvf, "b")
    empty = tmp_path / "e.txt"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no values"):
        read_values(empty)


def test_demo(tmp_path):
    import torch

    from lab.privacy.collision.demo import demo

    pytest.importorskip("matplotlib")
    res = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert all(p.is_file() and p.stat().st_size > 0 for p in res.plots)
    m = res.metrics
    assert m["audit_violation_fraction"] <= 1e-3
    assert m["sequential_type1_rejections_of_50"] <= 8
    assert -2.6 < m["sequential_slope_vs_eps"] < -1.4
    assert m["rmse_ratio_rr_over_ours"] > 1.0  # alpha = 0.5: ours beats pairwise RR


def test_pre_0_2_commands_still_work_with_a_deprecation_line(capsys):
    out = _run(capsys, ["audit", "--k", "50", "--alpha", "1", "--beta", "0.01"])
    assert out["command"] == "collision audit"


def test_moved_names_and_modules_warn_and_resolve():
    import importlib

    import lab.privacy
    import lab.privacy.collision as collision

    with pytest.warns(DeprecationWarning, match=r"lab\.privacy\.collision"):
        assert lab.privacy.SaltedHashLDP is collision.SaltedHashLDP
    with pytest.warns(DeprecationWarning, match="moved to lab.privacy.collision.sequential"):
        old = importlib.import_module("lab.privacy.sequential")
    assert old is importlib.import_module("lab.privacy.collision.sequential")
    with pytest.raises(AttributeError):
        lab.privacy.no_such_name  # noqa: B018


def test_demo_extra_covers_both_demos():
    """Issue 24: `pip install labworks-privacy[demo]` brings every import of both demos:
    plots (both), pure-ldp for the collision demo's frequency-oracle curve, and the
    unlearning stack (opacus, transformers, rouge-score)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "packages" / "privacy" / "pyproject.toml"
    extras = tomllib.loads(root.read_text())["project"]["optional-dependencies"]
    demo = " ".join(extras["demo"])
    assert "labworks-core[plots]" in demo
    assert "unlearning" in demo and "baselines" in demo
    needed = " ".join(extras["unlearning"] + extras["baselines"])
    for pkg in ("opacus", "transformers", "rouge-score", "pure-ldp", "scikit-learn", "statsmodels"):
        assert pkg in needed
