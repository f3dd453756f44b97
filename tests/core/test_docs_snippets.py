"""The python examples in the core docs run as written (the helper every domain's guides use)."""

from pathlib import Path

import pytest

from lab.core.testing import doc_python_blocks, doc_snippet_params, run_doc_snippets

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    "page", [DOCS / "getting-started.md", *doc_snippet_params(DOCS, "core")], ids=str
)
def test_core_doc_examples_run(page, tmp_path):
    run_doc_snippets(page, tmp_path)
    if page.name == "getting-started.md":
        (run,) = (tmp_path / "runs" / "toy").iterdir()
        assert len((run / "metrics.jsonl").read_text().splitlines()) == 100


def test_no_test_marks_and_shared_namespace(tmp_path):
    page = tmp_path / "guide.md"
    page.write_text(
        "# Guide\n\n```python\nx = 2\n```\n\ntext\n\n<!-- no-test: needs a GPU -->\n"
        "```python\nraise RuntimeError('must not run')\n```\n\n```python\ny = x * 21\n```\n"
        "\n<!-- no-test -->\n\n```bash\nlab demo\n```\n"
    )
    blocks = doc_python_blocks(page)
    assert [(b.line, b.no_test) for b in blocks] == [(4, None), (11, "needs a GPU"), (15, None)]
    assert run_doc_snippets(page, tmp_path)["y"] == 42
    params = doc_snippet_params(tmp_path, "guide")
    assert [p.id for p in params] == ["guide.md", "guide.md:11"]
    (skip,) = params[1].marks
    assert skip.kwargs["reason"] == "guide.md:11: no-test: needs a GPU"
    # a failing block names the page and its line
    (tmp_path / "broken.md").write_text("text\n\n```python\nx = 1\n1 / 0\n```\n")
    with pytest.raises(ZeroDivisionError) as info:
        run_doc_snippets(tmp_path / "broken.md", tmp_path)
    assert info.traceback[-1].lineno + 1 == 5 and "broken.md" in str(info.traceback[-1].path)


def test_no_test_mark_needs_a_reason(tmp_path):
    page = tmp_path / "g.md"
    page.write_text("<!-- no-test -->\n```python\npass\n```\n")
    with pytest.raises(AssertionError, match="needs a reason"):
        doc_python_blocks(page)
    with pytest.raises(AssertionError, match="no python block"):
        doc_snippet_params(tmp_path, "nothing")
    (tmp_path / "h-extra.md").write_text("```python\npass\n```\n")
    (case,) = doc_snippet_params(tmp_path, "h", slow={"h-extra.md": "minutes of training"})
    assert [m.name for m in case.marks] == ["slow"]
    with pytest.raises(AssertionError, match=r"h-missing\.md"):
        doc_snippet_params(tmp_path, "h", xfail={"h-missing.md": "x"})
