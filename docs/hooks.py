"""mkdocs hooks (mkdocs.yml ``hooks:``): pages generated from the code, so they cannot drift.

A page asks for generated text with a marker on a line of its own::

    <!-- generated: cli-reference -->

and :func:`on_page_markdown` replaces it before the page is converted:

* ``cli-reference``: every command of ``feldera-events`` from its argparse parser
  (``feldera_events.cli.build_parser``): description, usage, arguments and options,
  exit codes; the environment variables.
* ``exception-tree``: the exception classes that ``feldera_events`` exports, nested by
  inheritance, each linked to its reference entry with the first line of its docstring.
* ``wait-exit-codes``: the exit codes of ``feldera-events wait`` (its ``--help``
  epilog), for the CI guide.

An unknown marker fails the build. Nothing here imports mkdocs: the suite imports this
module (tests/test_docs.py) to check what it generates.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator
from typing import Any

#: ``<!-- generated: NAME -->`` on a line of its own.
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.MULTILINE)
#: The width usage lines are laid out for (an 80-column terminal).
USAGE_WIDTH = 80
#: An entry of a help table (exit codes, environment): two spaces, the term, two or
#: more spaces, its text; deeper-indented lines continue the text.
_ENTRY = re.compile(r"^  (?P<term>\S(?:.*?\S)?)  +(?P<text>\S.*)$")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs event: expand the page's ``<!-- generated: NAME -->`` markers."""
    return expand(markdown)


def expand(markdown: str) -> str:
    """``markdown`` with each marker replaced by what its generator returns."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(
                f"unknown marker <!-- generated: {name} -->; known: {sorted(GENERATORS)}"
            )
        return GENERATORS[name]().strip("\n")

    return MARKER.sub(replace, markdown)


# -- markdown helpers -------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text for a markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _code(text: str) -> str:
    return f"`{text}`" if "`" not in text else f"`` {text} ``"


def _table(header: tuple[str, str], rows: list[tuple[str, str]]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| {_cell(a)} | {_cell(b)} |" for a, b in rows]
    return "\n".join(lines)


def help_table(text: str) -> tuple[str, list[tuple[str, str]], str]:
    """A help epilog table (``heading:``, then ``  TERM  text`` entries with continuation
    lines), as its heading, its entries, and the paragraphs after a blank line."""
    head, _, rest = text.strip("\n").partition("\n")
    table, _, after = rest.partition("\n\n")
    entries: list[tuple[str, str]] = []
    for line in table.splitlines():
        match = _ENTRY.match(line)
        if match:
            entries.append((match["term"], match["text"]))
        elif line.startswith("   ") and entries:
            term, so_far = entries[-1]
            entries[-1] = (term, f"{so_far} {line.strip()}")
        else:
            raise ValueError(f"not a help table entry: {line!r} in {text!r}")
    return head.rstrip(":"), entries, " ".join(after.split())


# -- the CLI reference ------------------------------------------------------------------


def _subcommands(
    parser: argparse.ArgumentParser,
) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in the parser's order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = parser.formatter_class(prog=parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _invocation(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    return formatter._format_action_invocation(action)


def _action_rows(parser: argparse.ArgumentParser, group: Any) -> list[tuple[str, str]]:
    formatter = parser._get_formatter()
    rows = []
    for action in group._group_actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        text = formatter._expand_help(action) if action.help else ""
        if action.required and action.option_strings:
            text = f"**required**; {text}"
        rows.append((_code(_invocation(parser, action)), text))
    return rows


def _groups(parser: argparse.ArgumentParser, skip: set[str]) -> list[str]:
    out = []
    for group in parser._action_groups:
        if group.title in skip:
            continue
        rows = _action_rows(parser, group)
        if rows:
            title = (group.title or "").capitalize()
            kind = "Argument" if group.title == "positional arguments" else "Option"
            out.append(f"**{title}**\n\n" + _table((kind, "Meaning"), rows))
    return out


def _exit_codes(epilog: str) -> str:
    head, entries, after = help_table(epilog)
    note = head.removeprefix("exit codes").strip()
    title = "**Exit codes**" + (f" {note}" if note else "")
    out = f"{title}\n\n" + _table(("Code", "Meaning"), entries)
    return out + (f"\n\n{after}" if after else "")


def cli_reference() -> str:
    """Markdown for every command of ``feldera-events``, from its parser."""
    from feldera_events.cli import build_parser
    from feldera_events.cli._parser import COMMAND_EXIT_CODES, ENVIRONMENT_HELP, EXIT_CODES_HELP

    parser = build_parser()
    commands = list(_subcommands(parser))
    parts = [
        "## `feldera-events`",
        parser.description or "",
        f"```text\n{_usage(parser)}\n```",
        *_groups(parser, skip={"positional arguments"}),
        "The connection options may also come after the command "
        "(`feldera-events wait --url URL ...`).",
        "**Commands**\n\n"
        + _table(("Command", "What it does"), [(f"[`{n}`](#{n})", h) for n, h, _ in commands]),
        _exit_codes(EXIT_CODES_HELP),
    ]
    _, variables, _ = help_table(ENVIRONMENT_HELP)
    parts.append(
        "**Environment**\n\n"
        + _table(("Variable", "Meaning"), [(_code(v), t) for v, t in variables])
    )
    for name, _help, sub in commands:
        parts += [
            f"## `{name}` {{ #{name} }}",
            sub.description or "",
            f"```text\n{_usage(sub)}\n```",
            *_groups(sub, skip={"connection options"}),
        ]
        if any(g.title == "connection options" for g in sub._action_groups):
            parts.append("And the [connection options](#feldera-events).")
        parts.append(_exit_codes(COMMAND_EXIT_CODES[name]))
    return "\n\n".join(p for p in parts if p) + "\n"


# -- the exception tree -----------------------------------------------------------------


#: A Sphinx role: ``:class:`~x.Y```.
_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|mod|obj):`~?([^`]+)`")


def _summary(cls: type) -> str:
    """The first paragraph of the class's docstring, on one line, roles as code."""
    first = (cls.__doc__ or "").strip().split("\n\n", 1)[0]
    return _ROLE.sub(lambda m: _code(m.group(1).rsplit(".", 1)[-1]), " ".join(first.split()))


def exception_classes() -> list[type[BaseException]]:
    """The exception classes that ``feldera_events`` exports."""
    import feldera_events

    found = [getattr(feldera_events, name) for name in feldera_events.__all__]
    return [c for c in found if isinstance(c, type) and issubclass(c, BaseException)]


def exception_tree() -> str:
    """A nested markdown list of the exported exceptions, by inheritance (a class under
    the first exported class in its MRO), siblings in the order they were defined."""
    exported = set(exception_classes())

    def parent(cls: type) -> type | None:
        return next((b for b in cls.__mro__[1:] if b in exported), None)

    def children(cls: type) -> Iterator[type[BaseException]]:
        for sub in cls.__subclasses__():
            if sub in exported and parent(sub) is cls:
                yield sub
            elif sub not in exported:  # a private class in between: its exported subclasses
                yield from (c for c in children(sub) if parent(c) is cls)

    lines: list[str] = []

    def add(cls: type[BaseException], depth: int) -> None:
        others = [b.__name__ for b in cls.__bases__ if b not in exported]
        also = f" (also {', '.join(_code(o) for o in others)})" if depth and others else ""
        summary = _summary(cls)
        lines.append(
            "    " * depth
            + f"- [`{cls.__name__}`][feldera_events.{cls.__name__}]{also}"
            + (f": {summary}" if summary else "")
        )
        for sub in children(cls):
            add(sub, depth + 1)

    for root in exception_classes():
        if parent(root) is None:
            add(root, 0)
    return "\n".join(lines) + "\n"


def wait_exit_codes() -> str:
    """Markdown: the exit codes of ``feldera-events wait``, from its ``--help`` epilog."""
    from feldera_events.cli._parser import COMMAND_EXIT_CODES

    # The table and the precedence paragraph, without the "**Exit codes**" title: the
    # page's heading says it.
    return _exit_codes(COMMAND_EXIT_CODES["wait"]).split("\n\n", 1)[1] + "\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli-reference": cli_reference,
    "exception-tree": exception_tree,
    "wait-exit-codes": wait_exit_codes,
}
