"""Every notebook runs headless, top to bottom, in quick mode, and fails on warnings."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

# Warnings become errors inside the notebook: a figure that warns is a figure that is wrong.
# Third-party deprecation notices are not the notebook's fault and are left alone.
STRICT = """\
import warnings
warnings.simplefilter("error")
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
"""


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs") and cell.get("execution_count") is None, (
                f"{path.name} is committed with outputs; strip them"
            )
    notebook.cells.insert(0, nbformat.v4.new_code_cell(STRICT))
    monkeypatch.setenv("MEMTIER_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # Notebooks write what they make into the working folder; keep that out of the checkout.
    monkeypatch.setenv("MEMTIER_NOTEBOOK_OUT", str(tmp_path))
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
