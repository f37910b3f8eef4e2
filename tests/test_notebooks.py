"""Every notebook under docs/notebooks runs from top to bottom at its default size.

The notebooks are jupytext percent-format Python files, so each is executed as a script in a
fresh process (matplotlib without a display); a notebook that raises fails its test.
Deselect them with ``pytest -m "not notebooks"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.py"))


def test_the_lecture_has_its_notebooks():
    assert len(NOTEBOOKS) == 8, [path.name for path in NOTEBOOKS]
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# %% [markdown]\n# # "), f"{path.name} must open with its title"
        assert "**The claim" in text and "**Result.**" in text, path.name


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(notebook: Path, tmp_path: Path):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore::UserWarning"}
    done = subprocess.run(
        [sys.executable, str(notebook)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{notebook.name} failed:\n{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{notebook.name} printed no measurement"
    assert list(tmp_path.iterdir()) == [], f"{notebook.name} wrote into its working directory"
