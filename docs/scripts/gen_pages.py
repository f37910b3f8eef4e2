"""Pages generated when the site is built (mkdocs-gen-files), so they cannot drift:

- ``reference/cli.md`` from the parser of the ``resode`` command;
- ``benchmarks.md`` from the section "Benchmarks and measured results" of README.md (the
  README keeps the table of results with the commands that reproduce them; its links into
  ``docs/`` are made relative to the site).
"""

from __future__ import annotations

from pathlib import Path

import mkdocs_gen_files

from resode.cli.reference import cli_reference

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = "Benchmarks and measured results"


def readme_section(text: str, title: str) -> str:
    """The body of the level-2 section ``title`` of a Markdown text (up to the next ``## ``),
    code fences respected."""
    lines, body, inside, fenced = text.splitlines(), [], False, False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == title
            continue
        if inside:
            body.append(line)
    if not body:
        raise ValueError(f"README.md has no section '## {title}'")
    return "\n".join(body).strip() + "\n"


def site_links(markdown: str) -> str:
    """The README links into the site relative to the repository (``docs/guide/depth.md``);
    on the site they are relative to the docs folder (``guide/depth.md``)."""
    return markdown.replace("](docs/", "](")


with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(cli_reference())

section = readme_section((ROOT / "README.md").read_text(encoding="utf-8"), BENCHMARKS)
with mkdocs_gen_files.open("benchmarks.md", "w") as page:
    page.write(
        f"# {BENCHMARKS}\n\n"
        "!!! note\n"
        '    This page is the README\'s section "Benchmarks and measured results", included '
        "when the site is built. What each measurement means is on the pages it links to: "
        "[memory modes](concepts.md#memory-modes-how-the-gradient-gets-through-n-steps), "
        "[depth transfer and multilevel training](guide/depth.md), "
        "[IMEX](guide/stability.md#stiff-dynamics-and-the-semi-implicit-imex-step), "
        "[recipes](guide/recipes.md) and [the lecture's experiments](guide/experiments.md)."
        "\n\n" + site_links(section)
    )
