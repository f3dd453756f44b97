"""The python examples in the molecules guides (docs/molecules.md, docs/molecules-*.md) run as written.

A block that cannot run in a test (real data, a GPU) carries `<!-- no-test: reason -->` on the
line above its fence and shows up as a skipped case with that reason.
"""

from pathlib import Path

import pytest

from lab.core.testing import doc_snippet_params, run_doc_snippets

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("page", doc_snippet_params(DOCS, "molecules"))
def test_guide_examples_run(page, tmp_path):
    run_doc_snippets(page, tmp_path)
