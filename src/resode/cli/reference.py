"""The command-line reference as Markdown, read from the parser the ``resode`` command uses.

The documentation site's page *Command line* is this function's output, generated at build
time, so a flag added to :mod:`resode.cli.parser` appears there without anyone writing it.
"""

from __future__ import annotations

import argparse
import functools
import re

from . import parser as parser_module

USAGE_WIDTH = 88
"""Columns of the usage lines (fixed, so the page does not depend on the terminal)."""

_MARKDOWN_SPECIAL = re.compile(r"([*\[\]<>])")


def _text(help_text: str | None) -> str:
    """Help text as Markdown: characters Markdown would read as markup are escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join((help_text or "").split()))


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of every sub-command, in the order they were added."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name) or "", sub))
    return found


def _signature(action: argparse.Action) -> str:
    """How the argument is written: ``--steps STEPS``, ``--quiet``, ``DIR``."""
    if not action.option_strings:
        return action.metavar or action.dest
    if action.nargs == 0:
        return ", ".join(action.option_strings)
    metavar = action.metavar or action.dest.upper()
    if action.choices is not None and action.metavar is None:
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    return ", ".join(f"{flag} {metavar}" for flag in action.option_strings)


def _argument_line(action: argparse.Action) -> str:
    line = f"- `{_signature(action)}`"
    help_text = _text(action.help)
    if action.choices is not None and action.option_strings and action.metavar is not None:
        help_text += f" (one of: {', '.join(str(c) for c in action.choices)})"
    shows_default = "default" in help_text
    if action.option_strings and action.nargs != 0 and action.default is not None:
        if not shows_default and action.default is not argparse.SUPPRESS:
            help_text += f" (default: {action.default})"
    return f"{line} — {help_text}" if help_text else line


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _command_section(name: str, summary: str, sub: argparse.ArgumentParser) -> list[str]:
    sentence = _text(summary).rstrip(".")
    lines = [f"## `resode {name}`", "", sentence[:1].upper() + sentence[1:] + ".", ""]
    if sub.description and sub.description.strip() != summary.strip():
        lines += [_text(sub.description), ""]
    lines += ["```text", _usage(sub), "```", ""]
    visible = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
    positionals = [a for a in visible if not a.option_strings]
    options = [a for a in visible if a.option_strings]
    if positionals:
        lines += ["**Arguments**", ""] + [_argument_line(a) for a in positionals] + [""]
    if options:
        lines += ["**Options**", ""] + [_argument_line(a) for a in options] + [""]
    return lines


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The reference of every sub-command and flag of ``resode`` as one Markdown page.

    ``parser`` defaults to :func:`resode.cli.parser.build_parser` (looked up when called, so
    the page is always that of the parser ``resode`` runs).
    """
    if parser is None:
        parser = parser_module.build_parser()
    parser.formatter_class = functools.partial(argparse.HelpFormatter, width=USAGE_WIDTH)
    commands = _subcommands(parser)
    lines = [
        "# Command line",
        "",
        "This page is generated from the parser of the `resode` command when the site is "
        "built, so it lists exactly the flags the installed command accepts. "
        "`resode COMMAND --help` prints the same in a terminal.",
        "",
        _text(parser.description),
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    lines += [
        f"| [`{name}`](#resode-{name}) | {_text(summary).replace('|', '&#124;')} |"
        for name, summary, _ in commands
    ]
    lines.append("")
    for name, summary, sub in commands:
        lines += _command_section(name, summary, sub)
    return "\n".join(lines).rstrip() + "\n"
