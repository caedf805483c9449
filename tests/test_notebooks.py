"""Execute every notebook top to bottom in fast mode; no cell may error."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from conftest import executed_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert any(p.name.startswith("00_welcome") for p in NOTEBOOKS)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    nb = executed_notebook(path)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                assert "Traceback" not in out.get("text", ""), out["text"]


def test_committed_notebooks_are_clean() -> None:
    """No outputs, no widget state in git: the rendered site is built, not committed."""
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert "widgets" not in nb.metadata, path
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path
