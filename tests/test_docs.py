"""The documentation site: the command-line page comes from the parser ``resode`` runs, and
the strict build succeeds (a broken link or a missing reference fails it)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from resode.cli import main
from resode.cli import parser as parser_module
from resode.cli.reference import cli_reference

ROOT = Path(__file__).resolve().parents[1]
DOCS_PACKAGES = ("mkdocs", "material", "mkdocstrings", "mkdocs_gen_files", "mkdocs_jupyter")
GENERATED_PAGES = ("benchmarks.md", "reference/cli.md")  # written by docs/scripts/gen_pages.py
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _relative_links(markdown: str) -> list[str]:
    """The link targets of a Markdown text that point into the repository (no URL, no anchor
    of the same page), without their anchors; code fences skipped."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    targets = (target.split("#")[0] for target in LINK.findall(prose))
    return [target for target in targets if target and "://" not in target]


def _nav_pages() -> set[str]:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    nav = nav.split("\n\n", 1)[0]
    return set(re.findall(r"(?:- |: )([\w./-]+\.(?:md|py))\s*$", nav, flags=re.M))


def test_readme_links_into_the_site_resolve():
    """The README is the front door: its links point at pages that exist, so they work on
    GitHub, and the details live on those pages."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = _relative_links(readme)
    assert any(link.startswith("docs/guide/") for link in links)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, missing
    assert "## Benchmarks and measured results" in readme  # the site's benchmarks page


def test_every_page_is_in_the_nav_and_its_links_resolve():
    docs = ROOT / "docs"
    pages = {
        page.relative_to(docs).as_posix()
        for page in docs.rglob("*.md")
        if "scripts" not in page.relative_to(docs).parts
    }
    nav = _nav_pages()
    assert pages - nav == set(), sorted(pages - nav)
    assert {page for page in nav if page.endswith(".md")} - pages == set(GENERATED_PAGES)
    for page in sorted(pages):
        folder = (docs / page).parent
        for link in _relative_links((docs / page).read_text(encoding="utf-8")):
            target = (folder / link).resolve().relative_to(docs.resolve()).as_posix()
            assert (docs / target).exists() or target in GENERATED_PAGES, (page, link)


def _option_strings(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _option_strings(sub)
        found.update(s for s in action.option_strings if s not in ("-h", "--help"))
    return found


def test_reference_lists_every_flag_of_every_command():
    page = cli_reference()
    flags = _option_strings(parser_module.build_parser())
    assert len(flags) > 50
    missing = sorted(flag for flag in flags if f"`{flag}" not in page)
    assert not missing, missing
    for command in ("train", "evaluate", "stability", "experiment", "recipes"):
        assert f"## `resode {command}`" in page


def test_a_new_flag_reaches_both_the_command_and_its_reference(monkeypatch, capsys):
    original = parser_module._add_train_command

    def with_new_flag(commands):
        original(commands)
        commands.choices["train"].add_argument(
            "--brand-new-flag", type=int, default=7, help="a flag added after the page was written"
        )

    monkeypatch.setattr(parser_module, "_add_train_command", with_new_flag)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--brand-new-flag" in capsys.readouterr().out
    page = cli_reference()
    assert "- `--brand-new-flag BRAND_NEW_FLAG` — a flag added after the page was written" in page
    assert "(default: 7)" in page


@pytest.mark.docs
def test_strict_build(tmp_path: Path):
    missing = [name for name in DOCS_PACKAGES if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(
            f"the docs extra is not installed (no {', '.join(missing)}): pip install -e '.[docs]'"
        )
    env = {
        **os.environ,
        "RESODE_DOCS_EXECUTE": "false",  # the notebooks run in test_notebooks.py
        "DISABLE_MKDOCS_2_WARNING": "true",
        "NO_MKDOCS_2_WARNING": "1",
    }
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cli = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "--multilevel" in cli and "resode experiment" in cli
    benchmarks = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "benchmarks/guard_overhead.py" in benchmarks  # a line of the README's section
    api = (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "resode.ODEBlock" in api and "max_stable_step" in api
    assert 'href="../guide/depth/"' in benchmarks  # the README's links, relative to the site
    for notebook in sorted((ROOT / "docs" / "notebooks").glob("*.py")):
        assert (site / "notebooks" / notebook.stem / "index.html").is_file(), notebook.name
    for guide in sorted((ROOT / "docs" / "guide").glob("*.md")):
        assert (site / "guide" / guide.stem / "index.html").is_file(), guide.name


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("import matplotlib; matplotlib.use('svg'); import matplotlib.pyplot", "svg"),
        ("import matplotlib", "agg"),
    ],
)
def test_figures_keep_a_backend_the_session_chose(setup: str, expected: str):
    """A notebook's backend survives importing resode's plotting; otherwise figures are files."""
    code = f"{setup}; import resode.plots; print(matplotlib.get_backend().lower())"
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
