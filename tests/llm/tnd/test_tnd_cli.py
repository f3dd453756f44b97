"""`lab llm tnd ...`: the run and corpus subcommands, resume, and the demo."""

import json
from pathlib import Path

import pytest
import torch

from lab.core.testing import slow
from lab.llm.cli import main
from lab.llm.tnd import load_babylm, load_word_list

torch.set_num_threads(1)

FAST = [
    "--num-train", "200", "--num-heldout", "40", "--seq-words", "16",
    "--teacher.steps", "20", "--teacher.n-embd", "32", "--teacher.n-layer", "1",
    "--teacher.num-checkpoints", "3",
    "--predictor.samples-per-checkpoint", "4", "--predictor.epochs", "2",
    "--predictor.n-embd", "16", "--predictor.max-new-tokens", "4",
    "--student.corpus-steps", "8", "--student.batch-size", "4",
    "--student.interaction-batch-size", "2", "--student.max-new-tokens", "4",
    "--student.n-embd", "32", "--student.n-layer", "1", "--student.eval-points", "5",
    "--student.ppo-epochs", "1",
]  # fmt: skip


def test_run_writes_results_and_resumes(tmp_path, capsys):
    rc = main(["tnd", "run", "--modes", "tnd", "clm", "--device", "cpu",
               "--out", str(tmp_path), *FAST])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "tnd" in out and "clm" in out and "learned" in out
    (res,) = list(tmp_path.glob("tnd/*/results.json"))
    rep = json.loads(res.read_text())
    assert set(rep["runs"]) == {"tnd", "clm"}
    tnd, clm = rep["runs"]["tnd"][0], rep["runs"]["clm"][0]
    assert tnd["interactions"] == 2 and clm["interactions"] == 0
    assert tnd["steps"] == clm["steps"]
    assert rep["seeds"]["0"]["vocab_size"] > 300
    run_dir = res.parent
    assert (run_dir / "seed_0" / "tnd" / "result.json").is_file()
    assert list((run_dir / "seed_0" / "teacher" / "checkpoints").glob("step_*.pt"))
    # resume: finished arms are read back, nothing retrained
    (run_dir / "seed_0" / "clm" / "result.json").unlink()
    rc = main(["tnd", "run", "--resume", str(run_dir), "--device", "cpu"])
    assert rc == 0
    rep2 = json.loads(res.read_text())
    assert rep2["runs"]["tnd"][0]["aoa"] == tnd["aoa"]
    assert rep2["runs"]["clm"][0]["steps_run"] == 0  # continued from its final checkpoint
    assert rep2["runs"]["clm"][0]["aoa"] == clm["aoa"]


def test_run_bad_flags_give_clear_errors(tmp_path, capsys):
    assert main(["tnd", "run", "--corpus", "babylm", "--out", str(tmp_path)]) == 2
    assert "data_path" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["tnd", "run", "--student.mode", "sft"])
    assert main(["tnd", "run", "--modes", "tnd", "sft", "--out", str(tmp_path)]) == 2
    missing = str(tmp_path / "no_such_babylm")
    argv = ["tnd", "run", "--corpus", "babylm", "--data-path", missing, "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "runs")]) == 2
    assert "no_such_babylm" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()  # the data is checked before the run folder exists


def test_corpus_command_round_trips_through_the_loaders(tmp_path, capsys):
    out = tmp_path / "cds" / "train.txt"
    assert main(["tnd", "corpus", "--out", str(out), "--num-train", "50",
                 "--num-heldout", "10"]) == 0  # fmt: skip
    paths = json.loads(capsys.readouterr().out)
    words = load_word_list(paths["words"])
    assert len(words) >= 300 and words["dog"] == "animals"
    c = load_babylm(out, words=words, heldout_fraction=0.2)
    assert len(c.train) + len(c.heldout) == 50
    assert Path(paths["heldout"]).read_text().count("\n") == 10


@slow
def test_demo_reports_both_students(tmp_path):
    from lab.llm.tnd.demo import demo

    r = demo(tmp_path, device=torch.device("cpu"), seed=0)
    assert {"tnd_fraction_learned", "clm_fraction_learned"} <= set(r.metrics)
    assert all(p.is_file() for p in r.plots)
