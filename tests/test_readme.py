"""README.md, the landing page: every fenced code block is executed (or, for install
commands, checked), and it stays a landing page that links into the docs.

How a block is run, by its info string, and the simulated manager it runs against:
tests/doc_blocks.py (docs/ pages run the same way: tests/test_docs.py; links:
tests/test_doc_links.py). README examples must use the pipeline names of
``doc_blocks.PIPELINES``.
"""

from __future__ import annotations

import re
import tomllib

import pytest
from cli_support import ROOT
from doc_blocks import (
    KNOWN,
    RUNNABLE,
    SHELL,
    Block,
    check_data_block,
    commands,
    file_blocks,
    run_block,
)

from feldera_events import RetryPolicy

README = ROOT / "README.md"
BLOCKS = file_blocks(README)


# -- the tests --------------------------------------------------------------------------


def test_readme_has_blocks_and_each_has_an_info_string() -> None:
    assert BLOCKS, "README.md has no code blocks"
    missing = [b.id for b in BLOCKS if not b.info]
    assert not missing, f"blocks without an info string: {missing}"


def test_quick_start_first_command_is_the_demo() -> None:
    text = README.read_text(encoding="utf-8")
    start = text[: text.index("## Quick start")].count("\n") + 1
    first = next(b for b in BLOCKS if b.line > start and b.info in SHELL)
    assert "feldera-events demo" in commands(first)[0][0]


RUN = [b for b in BLOCKS if b.info in RUNNABLE]


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
async def test_readme_block_runs(block: Block) -> None:
    await run_block(block, BLOCKS)


def test_readme_data_blocks_parse() -> None:
    # One test over however many data blocks the README has (a parametrized test over
    # none was skipped silently, "got empty parameter set"); the checker itself is
    # tested on blocks that must fail, so this cannot pass whatever it is given.
    for block in BLOCKS:
        check_data_block(block)
    with pytest.raises(ValueError, match="Expecting"):
        check_data_block(Block("json", '{"a": 1,}\n', 1))
    with pytest.raises(tomllib.TOMLDecodeError):
        check_data_block(Block("toml", "key = \n", 1))


def test_unknown_info_strings_are_deliberate() -> None:
    unknown = [b.id for b in BLOCKS if b.info not in KNOWN]
    assert not unknown, f"blocks with an info string this harness does not know: {unknown}"


def test_no_install_from_an_index_that_does_not_have_it() -> None:
    """feldera-events is not on PyPI yet: no README line, docs page or example installs
    it from an index (``pip install feldera-events``); they say how to install it today."""
    pages = [README, *sorted((ROOT / "docs").rglob("*.md")), *(ROOT / "examples").iterdir()]
    texts = {p.name: p.read_text(encoding="utf-8") for p in pages if p.is_file()}
    for name, text in texts.items():
        for line in text.splitlines():
            install = re.search(r"pip install (.*)", line)
            if install is None:
                continue
            words = [w.strip("`'\"") for w in install.group(1).split()]
            assert not any(re.fullmatch(r"feldera-events(\[.*\])?", w) for w in words) or (
                "not on PyPI" in line
            ), (name, line)
    assert "feldera-events is not on PyPI yet" in texts["README.md"]


def test_the_retried_statuses_are_the_default_everywhere_they_are_listed() -> None:
    """Every list of retried statuses (README, docs) is ``RetryPolicy``'s default: the
    README's "Retries and timeouts" once left out 500."""
    pages = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    default = RetryPolicy().retry_statuses
    found = 0
    for page in pages:
        text = " ".join(page.read_text(encoding="utf-8").split())
        for listed in re.finditer(r"408(?:,? (?:and )?\d{3})+", text):
            found += 1
            statuses = {int(n) for n in re.findall(r"\d{3}", listed.group())}
            assert statuses == default, (page.name, listed.group())
    assert found >= 3


def test_the_readme_is_a_landing_page() -> None:
    """At most about 200 lines: what it is, install, the quick start, three examples,
    and links into every page of the docs; the guides themselves live in docs/."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == ["Install", "Quick start", "Examples", "Documentation"], headings
    examples = text[text.index("## Examples") : text.index("## Documentation")]
    assert len([b for b in file_blocks(README) if f"```{b.info}\n{b.code}" in examples]) == 3
    pages = sorted((ROOT / "docs").rglob("*.md"))
    linked = set(re.findall(r"\]\((docs/[\w/.-]+\.md)(?:#[\w-]+)?\)", text))
    unlinked = {p.relative_to(ROOT).as_posix() for p in pages} - linked
    assert not unlinked, f"docs pages the README does not link to: {sorted(unlinked)}"
    # The fidelity table lives in docs/fidelity.md (tests/test_docs.py checks it there).
    assert "| upstream test file |" not in text
