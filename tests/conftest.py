from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("ALIGNKIT_FAST", "1")
# One compute thread everywhere (this process, and the notebook kernels and JupyterLab it
# starts, which inherit the environment): the tests' tensors are small, and on a shared
# 2-core machine a 2-thread pool ran them up to ~100x slower (measured here).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import nbformat  # noqa: E402
import torch  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from alignkit.device import torch_threads  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _no_device_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their device explicitly; a developer's ALIGNKIT_DEVICE must not leak in."""
    monkeypatch.delenv("ALIGNKIT_DEVICE", raising=False)


@pytest.fixture(autouse=True)
def _one_compute_thread() -> Iterator[None]:
    """Every test on one torch thread (small tensors; immune to a busy 2-core machine)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium context, one per browser-test module (a loud skip without Chromium)."""
    from jupyterlab_driver import INSTALL_HINT, chromium, find_chromium

    if find_chromium() is None:
        pytest.skip(f"BROWSER TESTS NOT RUN: {INSTALL_HINT}")
    with chromium() as context:
        yield context


_EXECUTED: dict[Path, Any] = {}


def executed_notebook(path: Path) -> Any:
    """The notebook at ``path`` run top to bottom in fast mode, once per test session.

    ``tests/test_notebooks.py`` checks it for errors; other tests read its outputs.
    """
    if path not in _EXECUTED:
        nb = nbformat.read(path, as_version=4)
        os.environ["ALIGNKIT_FAST"] = "1"
        client = NotebookClient(
            nb,
            timeout=300,  # per cell: widget cells must never hang the suite
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            allow_errors=False,
        )
        client.execute()
        _EXECUTED[path] = nb
    return _EXECUTED[path]
