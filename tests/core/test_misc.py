import logging

import pytest

from lab.core import ConfigError, LabError, MissingDependencyError, progress, require, setup_logging
from lab.core.report import DemoResult, demo_size, write_report


def test_require_imports_existing():
    mod = require("json", "labworks-core")
    assert mod.dumps({"a": 1}) == '{"a": 1}'


def test_require_names_pip_command():
    with pytest.raises(ImportError, match=r"pip install 'labworks-core\[plots\]'") as info:
        require("surely_not_a_module_xyz", "labworks-core[plots]")
    assert "surely_not_a_module_xyz" in str(info.value)
    # one error, two families: the CLI's LabError handling and existing `except ImportError`
    assert isinstance(info.value, MissingDependencyError) and isinstance(info.value, LabError)
    assert info.value.module == info.value.name == "surely_not_a_module_xyz"
    assert info.value.requirement == "labworks-core[plots]"


def test_demo_size_reads_the_environment(monkeypatch):
    monkeypatch.delenv("LABWORKS_DEMO_SIZE", raising=False)
    assert demo_size() == "full"
    monkeypatch.setenv("LABWORKS_DEMO_SIZE", "Tiny")
    assert demo_size() == "tiny"
    monkeypatch.setenv("LABWORKS_DEMO_SIZE", "small")
    with pytest.raises(ConfigError, match="LABWORKS_DEMO_SIZE='small'"):
        demo_size()


def test_progress_quiet_when_not_a_tty(capsys, monkeypatch):
    monkeypatch.delenv("LABWORKS_PROGRESS", raising=False)
    assert sum(progress(range(5), desc="x")) == 10
    assert capsys.readouterr().err == ""  # pytest captures stderr: not a terminal
    monkeypatch.setenv("LABWORKS_PROGRESS", "1")
    assert sum(progress(range(3), desc="forced")) == 3
    assert "forced" in capsys.readouterr().err


def test_progress_quiet_on_nonzero_rank(monkeypatch):
    monkeypatch.delenv("LABWORKS_PROGRESS", raising=False)
    monkeypatch.setenv("RANK", "1")
    assert progress(range(2)).disable


def test_setup_logging_levels():
    assert setup_logging(0).level == logging.WARNING
    assert setup_logging(1).level == logging.INFO
    logger = setup_logging(2)
    assert logger.level == logging.DEBUG
    assert sum(getattr(h, "_labworks", False) for h in logger.handlers) == 1


def test_write_report(tmp_path):
    plot = tmp_path / "d" / "p.png"
    plot.parent.mkdir()
    plot.write_bytes(b"\x89PNG")
    res = DemoResult(
        title="toy", metrics={"acc": 0.5, "n": 3}, plots=[plot], summary="hi", seconds=1.0
    )
    report = write_report(tmp_path, {"d": res}, failures={"e": "Traceback: boom"})
    text = report.read_text()
    assert "## d: toy" in text and "| acc | 0.5 |" in text and "![p](d/p.png)" in text
    assert "## e: FAILED" in text and "boom" in text
    import json

    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["d"]["acc"] == 0.5 and m["e"]["error"] == "Traceback: boom"


def test_gpu_decorator_marks_and_skips_without_cuda():
    from lab.core import cuda_available
    from lab.core.testing import gpu

    @gpu
    def needs_cuda():
        pass

    names = [m.name for m in needs_cuda.pytestmark]
    assert "gpu" in names and "skipif" in names
    skip = next(m for m in needs_cuda.pytestmark if m.name == "skipif")
    assert skip.args[0] is (not cuda_available())


def test_pyplot_and_save_figure(tmp_path):
    import pytest

    from lab.core.report import line_plot, pyplot, save_figure

    plt = pytest.importorskip("matplotlib.pyplot") and pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "deep" / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert not plt.get_fignums()  # closed
    p = line_plot(tmp_path / "l.png", {"a": ([0, 1], [0, 1]), "b": ([0, 1], [1, 2])})
    assert p.stat().st_size > 1000
