"""Shared pytest helpers for every labworks domain (import in tests; needs pytest).

- ``slow`` and ``gpu`` markers (registered in the workspace ``pyproject.toml``); ``gpu`` also
  skips when CUDA is absent, so a GPU test never fails on a CPU machine.
- :func:`available_devices` and :data:`device_params` to parametrise a test over every device
  this machine has (CUDA cases carry the ``gpu`` marker).
- :func:`free_port` and :func:`run_torchrun` to launch multi-process tests on CPU (gloo).
- :func:`doc_snippet_params` and :func:`run_doc_snippets` to run a domain guide's
  ```` ```python ```` blocks as a test (each ``tests/<domain>/test_docs_snippets.py``).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torch

from ._device import cuda_available

__all__ = [
    "DocBlock",
    "assert_state_dicts_equal",
    "available_devices",
    "device_params",
    "doc_pages",
    "doc_python_blocks",
    "doc_snippet_params",
    "free_port",
    "gpu",
    "gpu_marks",
    "run_doc_snippets",
    "run_torchrun",
    "slow",
]

slow = pytest.mark.slow

#: The marks a GPU-only test carries: ``gpu`` (selected by ``-m gpu``) and a skip without CUDA.
gpu_marks = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device"),
]

F = TypeVar("F", bound=Callable[..., Any])


def gpu(fn: F) -> F:
    """Decorator for a GPU-only test: marked ``gpu`` and skipped when CUDA is absent."""
    for mark in gpu_marks:
        fn = mark(fn)
    return fn


def available_devices() -> list[str]:
    """``["cpu"]`` plus ``"cuda"`` when CUDA is available."""
    return ["cpu"] + (["cuda"] if cuda_available() else [])


#: ``@pytest.mark.parametrize("device", device_params)``: cpu always, cuda marked ``gpu``.
device_params = [
    pytest.param("cpu", id="cpu"),
    pytest.param("cuda", id="cuda", marks=gpu_marks),
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_torchrun(
    script: str | Path,
    args: Sequence[str] = (),
    *,
    nproc: int = 2,
    timeout: float = 240.0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m torch.distributed.run --nproc_per_node=nproc script args`` on loopback."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={nproc}",
        "--nnodes=1",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(script),
        *args,
    ]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env)
    if proc.returncode != 0:
        raise AssertionError(
            f"torchrun failed with exit code {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def assert_state_dicts_equal(
    a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], *, atol: float = 0.0, rtol: float = 0.0
) -> None:
    """Assert two state dicts have the same keys and (bit-)equal tensors (``atol=rtol=0``)."""
    assert a.keys() == b.keys(), f"keys differ: {sorted(set(a) ^ set(b))}"
    for k in a:
        ta, tb = a[k].detach().cpu(), b[k].detach().cpu()
        assert ta.shape == tb.shape, f"{k}: shape {tuple(ta.shape)} != {tuple(tb.shape)}"
        if atol == 0.0 and rtol == 0.0:
            assert torch.equal(ta, tb), (
                f"{k}: tensors differ (max abs diff {(ta - tb).abs().max().item():.3g})"
            )
        else:
            try:
                torch.testing.assert_close(ta, tb, atol=atol, rtol=rtol)
            except AssertionError as exc:
                raise AssertionError(f"{k}: {exc}") from None


# --------------------------------------------------------------------------- docs snippets

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```", re.S | re.M)
_NO_TEST = re.compile(r"<!--\s*no-test\s*(?::\s*(.*?))?\s*-->\s*\Z", re.S)


@dataclass(frozen=True)
class DocBlock:
    """One ```` ```python ```` block of a markdown page.

    ``line`` is the 1-based line of its first code line; ``no_test`` the reason given in a
    ``<!-- no-test: reason -->`` comment right above the fence (None: the block runs).
    """

    page: Path
    line: int
    code: str
    no_test: str | None


def doc_python_blocks(page: str | Path) -> list[DocBlock]:
    """The python blocks of a markdown page, in order, with their ``no-test`` marks."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    blocks = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip()
        mark = _NO_TEST.search(before[-500:])
        reason = None
        if mark is not None:
            reason = (mark.group(1) or "").strip()
            if not reason:
                raise AssertionError(
                    f"{page}:{text.count(chr(10), 0, m.start()) + 1}: a no-test mark needs a "
                    "reason: <!-- no-test: needs a GPU -->"
                )
        line = text.count("\n", 0, m.start(1)) + 1
        blocks.append(DocBlock(page, line, m.group(1), reason))
    return blocks


def doc_pages(docs: str | Path, domain: str) -> list[Path]:
    """A domain's guides: ``docs/<domain>.md`` and ``docs/<domain>-*.md`` (not the API pages)."""
    docs = Path(docs)
    return sorted(
        p for p in docs.glob("*.md") if p.stem == domain or p.stem.startswith(domain + "-")
    )


def run_doc_snippets(page: str | Path, cwd: str | Path) -> dict[str, Any]:
    """Run a page's python blocks in order, in one namespace, with ``cwd`` as working folder.

    Blocks marked ``<!-- no-test: reason -->`` are not run (:func:`doc_snippet_params` reports
    them as skipped tests with that reason). The blocks share one namespace, as when a reader
    pastes them into one session; tracebacks name ``<page>:<line>``. Returns the namespace.
    """
    namespace: dict[str, Any] = {"__name__": "__main__"}
    os.environ.setdefault("MPLBACKEND", "Agg")
    blocks = doc_python_blocks(Path(page).resolve())  # before the chdir: page may be relative
    with contextlib.chdir(cwd):
        for block in blocks:
            if block.no_test is not None:
                continue
            code = compile("\n" * (block.line - 1) + block.code, str(block.page), "exec")
            exec(code, namespace)
    return namespace


def doc_snippet_params(
    docs: str | Path,
    domain: str,
    *,
    xfail: Mapping[str, str] | None = None,
    slow: Mapping[str, str] | None = None,
) -> list[Any]:
    """``pytest.param`` cases for a domain's guides: one per page, one skip per no-test block.

    Use with ``@pytest.mark.parametrize("page", doc_snippet_params(DOCS, "molecules"))`` and a
    test body ``run_doc_snippets(page, tmp_path)``. ``xfail`` maps a page name to the reason
    its snippets fail today (a strict xfail: the test fails once the page is fixed, so the mark
    must go). ``slow`` maps a page name to why it takes minutes: the case is marked ``slow``, so
    the fast suite (``-m "not slow"``) leaves it to ``nox -s tests -- -m slow``; prefer a no-test
    mark on the one heavy block. A page without python blocks gives no case; a domain without any python block in
    its guides is an error at collection, so a guide cannot lose its example unnoticed.
    """
    xfail = dict(xfail or {})
    slow = dict(slow or {})
    params: list[Any] = []
    pages = doc_pages(docs, domain)
    unknown = (set(xfail) | set(slow)) - {p.name for p in pages}
    if unknown:
        raise AssertionError(f"xfail/slow name pages {domain} does not have: {sorted(unknown)}")
    for page in pages:
        blocks = doc_python_blocks(page)
        if not blocks:
            continue
        marks = []
        if page.name in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=xfail[page.name]))
        if page.name in slow:
            marks.append(pytest.mark.slow)
        if any(b.no_test is None for b in blocks):
            params.append(pytest.param(page, id=page.name, marks=marks))
        for b in blocks:
            if b.no_test is not None:
                reason = f"{page.name}:{b.line}: no-test: {b.no_test}"
                params.append(
                    pytest.param(
                        page, id=f"{page.name}:{b.line}", marks=pytest.mark.skip(reason=reason)
                    )
                )
    if not params:
        raise AssertionError(f"no python block in {domain}'s guides {[p.name for p in pages]}")
    return params
