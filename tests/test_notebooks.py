"""Every notebook under docs/notebooks runs from top to bottom at its default size.

The notebooks are jupytext percent-format Python files, so each is executed as a script in a
fresh process (matplotlib without a display); a notebook that raises fails its test. They
compute on one thread each, so the selected notebooks run two at a time, started when the
first of their tests runs. Deselect them with ``pytest -m "not notebooks"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "docs" / "notebooks").glob("*.py"))
AT_ONCE = 2
TIMEOUT = 600


def _execute(notebook: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run ``notebook`` in an empty working directory; the result and what it left there."""
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "PYTHONWARNINGS": "ignore::UserWarning",
    }
    with tempfile.TemporaryDirectory() as workdir:
        done = subprocess.run(
            [sys.executable, str(notebook)],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return done, sorted(os.listdir(workdir))


@pytest.fixture(scope="module")
def executions(request) -> dict[str, Future]:
    """The selected notebooks, started AT_ONCE at a time; one future per notebook name."""
    selected = [
        item.callspec.params["notebook"]
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_notebook_runs"
    ]
    pool = ThreadPoolExecutor(max_workers=AT_ONCE)
    futures = {notebook.name: pool.submit(_execute, notebook) for notebook in selected}
    yield futures
    pool.shutdown(cancel_futures=True)


def test_the_lecture_has_its_notebooks():
    assert len(NOTEBOOKS) == 9, [path.name for path in NOTEBOOKS]
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# %% [markdown]\n# # "), f"{path.name} must open with its title"
        assert "**The claim" in text and "**Result.**" in text, path.name


@pytest.mark.notebooks
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(notebook: Path, executions: dict[str, Future]):
    done, left = executions[notebook.name].result()
    assert done.returncode == 0, f"{notebook.name} failed:\n{done.stderr[-4000:]}"
    assert done.stdout.strip(), f"{notebook.name} printed no measurement"
    assert left == [], f"{notebook.name} wrote into its working directory: {left}"
