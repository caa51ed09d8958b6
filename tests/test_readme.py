"""Every fenced code block of README.md is executed (or, for install commands, checked).

How a block is run, by its info string, and the simulated manager it runs against:
tests/doc_blocks.py (docs/ pages run the same way: tests/test_docs.py). README
examples must use the pipeline names of ``doc_blocks.PIPELINES``.
"""

from __future__ import annotations

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
