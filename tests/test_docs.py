"""The documentation site (mkdocs.yml, docs/): its code blocks run, its reference is complete.

* Every fenced code block of docs/**/*.md runs as the README's do (tests/doc_blocks.py),
  console samples compared with the real output (``text`` samples of the CLI:
  tests/test_doc_samples.py; links: tests/test_doc_links.py).
* The reference pages document every name of ``feldera_events.__all__`` and
  ``feldera_events.testing.__all__`` (a ``::: name`` directive each), and nothing
  that is not exported.
* What docs/hooks.py generates at build time: the CLI reference (every command, option
  and exit code of the parser), the exception tree (every exported exception, nested
  as the classes are, and as the tree in ``feldera_events._errors``' docstring says) and
  ``wait``'s exit codes for the CI guide.
* What the pages show that is not a code block: every ``feldera-events`` command of a
  CI recipe (``yaml`` blocks) parses; the fidelity table has one source, docs/fidelity.md
  (the README links to it); the stderr a FakeFeldera script shows is what it prints; the picture of
  the live display (docs/images/wait-live.svg) is what the CLI shows today; the diagram
  of the resources status has the moves the simulated manager makes.

``mkdocs build --strict`` itself (broken links, docstrings mkdocstrings cannot render)
runs in .ci/run, in a venv with the ``docs`` extra.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import itertools
import re
import shlex
import sys
from types import ModuleType

import pytest
from cli_support import ROOT
from doc_blocks import (
    KNOWN,
    RUNNABLE,
    Block,
    FakeFactory,
    check_data_block,
    fenced_blocks,
    file_blocks,
    output_matches,
    output_sample,
    run_against,
    run_block,
)

import feldera_events
import feldera_events._errors
import feldera_events.testing
from feldera_events import ResourcesStatus
from feldera_events.cli import build_parser
from feldera_events.cli._parser import COMMAND_EXIT_CODES, EXIT_CODES_HELP
from feldera_events.testing import FakeFeldera

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
BLOCKS_BY_PAGE = {page: file_blocks(page) for page in PAGES}
BLOCKS = [b for blocks in BLOCKS_BY_PAGE.values() for b in blocks]
#: Exported names that no ``:::`` directive can render (a module ``__getattr__``): the
#: page documents them in prose under a heading with this anchor.
PROSE_ONLY = {"feldera_events.__version__"}


def _load(name: str) -> ModuleType:
    """A module of docs/ (the build's code, not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load("hooks")


# -- code blocks ------------------------------------------------------------------------


RUN = [b for b in BLOCKS if b.info in RUNNABLE]


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
async def test_docs_block_runs(block: Block) -> None:
    page = ROOT / block.source
    await run_block(block, BLOCKS_BY_PAGE[page])


def test_docs_blocks_have_known_info_strings_and_data_blocks_parse() -> None:
    unknown = [b.id for b in BLOCKS if b.info not in KNOWN]
    assert not unknown, f"blocks with a missing or unknown info string: {unknown}"
    for block in BLOCKS:
        check_data_block(block)


def test_a_console_sample_is_compared_line_by_line() -> None:
    printed = "usage: x [-h]\nx: error: bad --timeout '5s'\n"
    assert output_matches("usage: x [-h]\nx: error: bad --timeout '5s'", printed)
    assert output_matches("usage: ...\nx: error: bad ... '5s'", printed)
    assert output_matches("...\nx: error: ...", printed)
    assert output_matches("usage: x [-h]  \n...\n", printed)  # trailing blanks, "..." as none
    assert not output_matches("x: error: bad --timeout '5s'", printed)  # a line is missing
    assert not output_matches("usage: x [-h]\nx: error: bad --timeout '6s'", printed)
    assert not output_matches("usage: x [-h]", printed)  # the rest is not elided
    assert not output_matches("usage: ...", printed)  # "..." in a line stays in that line


def test_a_python_block_output_and_an_included_file_are_found() -> None:
    text = (
        '```python\nprint(1)\n```\n\n```text title="Output"\n1\n```\n\n'
        "```python\nprint(2)\n```\n\n```text\n2\n```\n\n"
        '```yaml\n--8<-- "examples/github-actions.yml"\n```\n'
    )
    blocks = fenced_blocks(text, "page.md")
    assert [b.info for b in blocks] == ["python", "text", "python", "text", "yaml"]
    assert output_sample(blocks[0], blocks) == "1"
    assert output_sample(blocks[2], blocks) is None  # a text block without the title
    workflow = (ROOT / "examples" / "github-actions.yml").read_text(encoding="utf-8")
    assert blocks[4].code == workflow


# -- the site's pages ---------------------------------------------------------------------


def test_every_page_is_in_the_navigation_and_every_entry_is_a_page() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = config[config.index("\nnav:") :]
    listed = set(re.findall(r"([\w/.-]+\.md)\s*$", nav, flags=re.MULTILINE))
    assert listed == {p.relative_to(DOCS).as_posix() for p in PAGES}


# -- the API reference --------------------------------------------------------------------


def _directives() -> list[tuple[str, str]]:
    """(page, target) of every ``::: target`` directive."""
    return [
        (page.relative_to(DOCS).as_posix(), m.group(1))
        for page in PAGES
        for m in re.finditer(r"^::: *(\S+)", page.read_text(encoding="utf-8"), re.MULTILINE)
    ]


def _is_module(target: str) -> bool:
    try:
        importlib.import_module(target)
    except ImportError:
        return False
    return True


def test_the_reference_documents_every_exported_name() -> None:
    documented = {target for _, target in _directives()}
    public = {
        f"{module.__name__}.{name}"
        for module in (feldera_events, feldera_events.testing)
        for name in module.__all__
    }
    missing = sorted(public - documented - PROSE_ONLY)
    assert not missing, f"exported but not in the reference (add a '::: name' directive): {missing}"
    text = "\n".join(page.read_text(encoding="utf-8") for page in PAGES)
    for name in PROSE_ONLY:
        assert f"{{ #{name} }}" in text, f"{name}: no heading with that anchor"


def test_the_reference_documents_nothing_stale_and_nothing_twice() -> None:
    seen: dict[str, str] = {}
    for page, target in _directives():
        assert target not in seen, f"{target} documented twice: {seen[target]} and {page}"
        seen[target] = page
        if _is_module(target):
            continue
        module_name, _, name = target.rpartition(".")
        assert _is_module(module_name), f"{page}: ::: {target}: no module {module_name}"
        exported = getattr(importlib.import_module(module_name), "__all__", ())
        assert name in exported, f"{page}: ::: {target}: {module_name}.__all__ lacks {name!r}"


# -- generated at build time (docs/hooks.py) ----------------------------------------------


def test_pages_ask_for_what_the_hooks_generate() -> None:
    markers = {
        page.relative_to(DOCS).as_posix(): hooks.MARKER.findall(page.read_text(encoding="utf-8"))
        for page in PAGES
    }
    assert markers["reference/cli.md"] == ["cli-reference"]
    assert markers["reference/exceptions.md"] == ["exception-tree"]
    assert markers["guides/ci.md"] == ["wait-exit-codes"]
    assert {m for found in markers.values() for m in found} == set(hooks.GENERATORS)
    with pytest.raises(ValueError, match="unknown marker"):
        hooks.expand("<!-- generated: no-such-thing -->\n")
    assert hooks.expand("a\n<!-- generated: exception-tree -->\nb").startswith("a\n- [`Feld")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("the CLI has no sub-commands")


def _sections(markdown: str) -> dict[str, str]:
    """The text under each ``## `name` `` heading, by name."""
    parts = re.split(r"^## `([\w-]+)`.*$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _exit_codes(epilog: str) -> list[str]:
    return re.findall(r"^  (\d+) ", epilog, flags=re.MULTILINE)


def test_the_cli_reference_has_every_command_option_and_exit_code() -> None:
    parser = build_parser()
    commands = _subparsers(parser)
    sections = _sections(hooks.cli_reference())
    assert list(sections) == ["feldera-events", *commands]
    for name, sub in [("feldera-events", parser), *commands.items()]:
        text = sections[name]
        assert f"usage: {sub.prog}" in text, name
        if sub.description:
            assert " ".join(sub.description.split()) in text, name
        for action in sub._actions:
            if (
                action.help == argparse.SUPPRESS
                or isinstance(action, argparse._SubParsersAction)  # the sections
                or (name != "feldera-events" and action.dest in _connection_dests(parser))
            ):
                continue  # connection options: listed once, on the top section
            for string in action.option_strings or [action.metavar or action.dest]:
                # A row of its table: | `-v, --verbose` | ... |
                row = rf"^\| `[^`\n]*(?<![\w-]){re.escape(str(string))}(?![\w-])[^`\n]*` \|"
                assert re.search(row, text, re.MULTILINE), (name, string)
        epilog = COMMAND_EXIT_CODES.get(name, EXIT_CODES_HELP)
        codes = _exit_codes(epilog)
        assert codes and all(re.search(rf"^\| {c} \|", text, re.MULTILINE) for c in codes), name
    assert set(commands) == set(COMMAND_EXIT_CODES)


def _connection_dests(parser: argparse.ArgumentParser) -> set[str]:
    group = next(g for g in parser._action_groups if g.title == "connection options")
    return {a.dest for a in group._group_actions}


def _docstring_tree() -> list[tuple[int, str]]:
    """(depth, name) of each entry of the tree drawn in ``_errors``' docstring."""
    lines = (feldera_events._errors.__doc__ or "").splitlines()
    root = next(line for line in lines if line.strip() == "FelderaError")
    base = root.index("FelderaError")
    entries = [(0, "FelderaError")]
    for line in lines:
        m = re.search(r"[├└]── (\w+)", line)
        if m:
            entries.append(((m.start(1) - base) // 4, m.group(1)))
    return entries


def _generated_tree() -> list[tuple[int, str]]:
    return [
        ((len(m.group(1)) // 4), m.group(2))
        for m in re.finditer(r"^( *)- \[`(\w+)`\]", hooks.exception_tree(), re.MULTILINE)
    ]


def test_the_exception_tree_has_every_exported_exception_nested_by_class() -> None:
    tree = _generated_tree()
    names = [name for _, name in tree]
    exported = {c.__name__ for c in hooks.exception_classes()}
    assert sorted(names) == sorted(exported)  # each once
    parents: dict[str, str] = {}
    stack: list[str] = []
    for depth, name in tree:
        del stack[depth:]
        if stack:
            parents[name] = stack[-1]
        stack.append(name)
    for name in names:
        cls = getattr(feldera_events, name)
        expected = next((b.__name__ for b in cls.__mro__[1:] if b.__name__ in exported), None)
        assert parents.get(name) == expected, name
    assert ":class:" not in hooks.exception_tree()  # Sphinx roles become Markdown


def test_the_errors_docstring_draws_the_same_tree() -> None:
    """The tree in ``feldera_events._errors``' docstring (read with ``help()``) is the
    classes' tree: same names, same parents, same order."""
    assert _docstring_tree() == _generated_tree()


def test_the_ci_guide_has_every_exit_code_of_wait() -> None:
    codes = _exit_codes(COMMAND_EXIT_CODES["wait"])
    table = hooks.wait_exit_codes()
    assert codes and all(re.search(rf"^\| {c} \|", table, re.MULTILINE) for c in codes), table
    assert "4 > 1 > 5 > 3 > 0" in table  # the precedence paragraph


# -- what the pages show besides code blocks ----------------------------------------------


def _yaml_commands() -> list[tuple[str, str]]:
    """(block id, command) of every ``feldera-events`` command in a yaml block, up to a
    shell operator (``>``, ``;``, ``|``, ``&&``)."""
    found = []
    for block in BLOCKS:
        if block.info != "yaml":
            continue
        for line in block.code.splitlines():
            at = line.find("feldera-events ")
            if at < 0 or line.lstrip().startswith("#"):
                continue
            lexer = shlex.shlex(line[at:], posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = []
            for word in lexer:
                if set(word) <= set("<>;|&"):
                    break
                words.append(word)
            found.append((block.id, shlex.join(words)))
    return found


def test_every_command_of_a_ci_recipe_parses() -> None:
    commands = _yaml_commands()
    pages = {block_id.split(":")[0] for block_id, _ in commands}
    assert "docs/guides/ci.md" in pages  # the GitHub Actions and GitLab CI recipes
    assert any(" --json" in c for _, c in commands)
    parser = build_parser()
    for block_id, command in commands:
        # argparse exits 2 (SystemExit) if the command would not parse.
        args = parser.parse_args(shlex.split(command)[1:])
        assert args.command, (block_id, command)


def _fidelity(text: str) -> tuple[list[str], str]:
    """The fidelity table's lines, and the list of what still differs (one line)."""
    lines = text.splitlines()
    start = lines.index(
        "| upstream test file | tests | against `fake-server` | the others, and why |"
    )
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    differs = text[text.index("Our own tests state each behaviour") :]
    differs = re.split(r"^(?:#|\[Testing)", differs, maxsplit=1, flags=re.MULTILINE)[0]
    return lines[start:end], " ".join(differs.split())


def test_the_fidelity_table_has_one_source_that_the_readme_links_to() -> None:
    """docs/fidelity.md is the one source of the fidelity table and of what still
    differs; the README links to it instead of repeating it, and so does the testing
    guide."""
    page = _fidelity((DOCS / "fidelity.md").read_text(encoding="utf-8"))
    assert len(page[0]) > 20 and "**Timing.**" in page[1] and "**Validation.**" in page[1]
    for other in (ROOT / "README.md", DOCS / "guides" / "testing.md"):
        text = other.read_text(encoding="utf-8")
        assert "| upstream test file |" not in text and "**Timing.**" not in text, other
        assert re.search(r"\]\((?:docs/|\.\./)?fidelity\.md\)", text), other


async def test_the_testing_guide_shows_what_its_script_prints_on_stderr() -> None:
    """The testing guide shows the two warnings its FakeFeldera script prints on stderr
    (the two injected 503s, retried) and says why they appear: every line printed there
    matches one shown (``PORT``: any port)."""
    blocks = BLOCKS_BY_PAGE[DOCS / "guides" / "testing.md"]
    at = next(
        i
        for i, b in enumerate(blocks)
        if b.info == "python" and "Fault.lock_took_too_long" in b.code
    )
    assert blocks[at + 1].title == "Output", blocks[at + 1]  # stdout: checked by its block test
    shown = blocks[at + 2]
    assert shown.info == "text" and shown.code.startswith("polling failed"), shown
    async with FakeFactory()() as fake:
        ran = await run_against(fake, [sys.executable, "-c", blocks[at].code], what=shown.id)
    assert ran.returncode == 0, ran
    printed = ran.stderr.splitlines()
    expected = shown.code.splitlines()
    assert len(printed) == len(expected), (printed, expected)
    for line, pattern in zip(printed, expected, strict=True):
        assert re.fullmatch(re.escape(pattern).replace("PORT", r"\d+"), line), (line, pattern)
    text = (DOCS / "guides" / "testing.md").read_text(encoding="utf-8")
    assert "The two warnings are the two injected 503s" in text


def _mermaid_moves(page: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The states and the moves (``A --> B``) of the page's mermaid diagram."""
    (diagram,) = [b for b in BLOCKS_BY_PAGE[DOCS / page] if b.info == "mermaid"]
    moves = set(re.findall(r"^\s*(\[\*\]|\w+) --> (\w+)", diagram.code, re.MULTILINE))
    states = {s for move in moves for s in move} - {"[*]"}
    return states, moves


def _resources_moves(fake: FakeFeldera, name: str) -> set[tuple[str, str]]:
    statuses = [e["deployment_resources_status"] for e in reversed(fake.events(name))]
    return set(itertools.pairwise(statuses))


async def test_the_resources_diagram_has_the_moves_the_simulated_manager_makes() -> None:
    states, moves = _mermaid_moves("concepts.md")
    assert states == {s.value for s in ResourcesStatus}
    seen: set[tuple[str, str]] = set()
    async with FakeFeldera(speed=100) as fake:
        fake.create_pipeline("runs")  # start, run, forced stop
        fake.start("runs")
        await fake.wait_for_status("runs", deployment_runtime_status="Running")
        fake.stop("runs")
        await fake.wait_for_status("runs", deployment_resources_status="Stopped")
        fake.create_pipeline("times-out")
        fake.fail_next_start("times-out", "provisioning_timeout")
        fake.start("times-out")
        await fake.wait_for_status(
            "times-out", deployment_resources_status="Stopped", deployment_has_error=True
        )
        fake.create_pipeline("fails-early")  # the provision check: it stays Stopped
        fake.fail_next_start("fails-early", "provision_check")
        fake.start("fails-early")
        await fake.wait_for_status("fails-early", deployment_has_error=True)
        for name in ("runs", "times-out", "fails-early"):
            seen |= _resources_moves(fake, name)
        assert fake.status("fails-early")["deployment_resources_status"] == "Stopped"
    drawn = {(a, b) for a, b in moves if a != "[*]"}
    # Each pipeline also stays in a status across events (a compile step, a desired
    # status): the diagram draws only the stay that matters, an early failure.
    assert {m for m in seen if m[0] != m[1]} == {m for m in drawn if m[0] != m[1]}
    assert {m for m in drawn if m[0] == m[1]} == {("Stopped", "Stopped")}


# -- the picture of the live display -------------------------------------------------------


capture_live = _load("capture_live")


@pytest.mark.timeout(90)
async def test_the_live_display_picture_is_what_the_cli_shows() -> None:
    """docs/images/wait-live.svg is the final screen of the real CLI at 80 columns; run
    again, the CLI shows the same text (times and ids aside). After a change to the
    display: ``python docs/capture_live.py`` rewrites the picture."""
    committed = capture_live.svg_lines(capture_live.SVG.read_text(encoding="utf-8"))
    assert committed and all(len(line) <= capture_live.COLUMNS for line in committed)
    lines = [line.plain for line in await capture_live.capture()]
    normalized = capture_live.normalized
    assert [normalized(x) for x in lines] == [normalized(x) for x in committed], (
        "the live display changed: run python docs/capture_live.py\n" + "\n".join(lines)
    )
    # What the picture is for: a success and a failure with its report, side by side.
    assert committed[0].startswith("+ orders ") and committed[0].endswith("provisioned")
    assert committed[1].startswith("x fraud-detector ") and committed[1].endswith("FAILED")
    # And the SVG renders what the capture gives, line for line.
    svg = capture_live.render_svg(await capture_live.capture())
    assert len(capture_live.svg_lines(svg)) == len(committed)
