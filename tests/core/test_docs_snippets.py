"""The python examples in the core docs run as written."""

import re
import runpy
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(encoding="utf-8"), re.S)


@pytest.mark.parametrize("page", ["getting-started.md", "core.md"])
def test_core_doc_examples_run(page, tmp_path, monkeypatch):
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no python example"
    monkeypatch.chdir(tmp_path)
    for i, code in enumerate(blocks):
        script = tmp_path / f"block{i}.py"
        script.write_text(code)
        runpy.run_path(str(script), run_name="__main__")
    if page == "getting-started.md":
        (run,) = (tmp_path / "runs" / "toy").iterdir()
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 100
