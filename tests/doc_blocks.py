"""Running the fenced code blocks of README.md and docs/**/*.md (tests/test_readme.py,
tests/test_docs.py): every block is executed or, for install commands, checked.

How each block is treated, by its info string:

* ``python``: run as a script (``python -c``) against a fresh simulated manager.
* ``console`` (lines starting with ``$ `` are commands; the lines after a command, up
  to the next ``$ ``, are its sample output), ``sh``/``bash``/``shell`` (every line is
  a command; ``\\`` continues a line). Commands joined by ``&&`` are handled one by one:

  - ``feldera-events ...``, ``.venv/bin/feldera-events ...``, ``python -m
    feldera_events ...`` and ``python examples/*.py ...`` run as subprocesses against a
    fresh simulated manager (but ``feldera-events demo``: :data:`RUN_ELSEWHERE` names
    the test that runs it). The exit code must be 0, or the one a trailing ``# exit N``
    comment names. A command commented ``# Ctrl-C`` runs until its first line of
    output, then gets SIGINT and must exit 130.
  - A sample output is compared with what the command printed (its stdout, then its
    stderr), line by line, trailing blanks ignored: ``...`` in a line stands for any
    text, and a line of only ``...`` for any number of lines. So a sample shows what
    is deterministic and elides the rest (times, ids, URLs); a command without a
    sample is not compared.
  - Install commands are checked cheaply, not run: ``python -m venv`` is accepted,
    ``pip install`` must name this project from a clone (``.``) or the wheel built there
    (``dist/feldera_events-VERSION-py3-none-any.whl``, the version of ``pyproject.toml``;
    it is not on PyPI yet) and only extras that ``pyproject.toml`` defines; ``-e .`` also
    needs the ``feldera-events`` console script to be declared; ``pip wheel --no-deps -w
    dist .`` is the one wheel build accepted. ``python -m pytest`` (the suite itself) must be .ci/run's
    ``TEST_CMD`` and ``bash .ci/run`` must exist; ``python -m pytest FILE.py`` runs the
    same file's python block that starts ``# FILE.py`` in an empty directory (with the
    file's ``toml`` pytest settings).
  - Anything else fails: give such a block the info string ``text``.

* ``text``, ``yaml``, ``toml``, ``mermaid``: not run (a ``toml`` block must parse).
  ``json`` blocks must parse. A block without an info string fails.
* A ``text`` block titled ``Output`` (```` ```text title="Output" ````) right after a
  ``python`` block is that block's output: what the program prints on stdout is
  compared with it as a console sample is.
* A block whose only line includes a file (``--8<-- "examples/github-actions.yml"``, as
  the docs' ``pymdownx.snippets`` does) holds that file's text.
* A command may begin with environment assignments (``GITHUB_ACTIONS=true
  feldera-events ...``): they are set for it.

The simulated manager: ``FakeFeldera(speed=20)`` with the pipelines in
:data:`PIPELINES` created (compiled, stopped). Each command or python block gets a fresh
one; its pipelines are started once the program made its first request (or exited), so
``wait`` (even with ``--since-now``) sees a real start. ``FELDERA_HOST`` points at it, and
the literal ``http://localhost:8080`` in a block is replaced by its URL. Examples must
use these pipeline names.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import sys
import tempfile
import textwrap
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

import attrs
from cli_support import ROOT, Ran, clean_env, finish, interrupt, spawn

from feldera_events.testing import FakeAPIError, FakeFeldera

PIPELINES = (
    "my-pipeline",
    "other-pipeline",
    "orders",
    "fraud-detector",
    "pipeline-1",
    "pipeline-2",
)
LOCALHOST = "http://localhost:8080"
SHELL = ("console", "sh", "bash", "shell")
RUNNABLE = (*SHELL, "python", "py")
#: Every info string a block may have.
KNOWN = {*RUNNABLE, "text", "yaml", "toml", "json", "mermaid"}
#: A line that includes a repository file (pymdownx.snippets): ``--8<-- "path"``.
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$')
RUN_TIMEOUT = 90.0
#: Commands (the arguments of ``feldera-events``) that another test runs, with the same
#: assertions (exit 0, no traceback): the demo takes ~6 s and runs at most twice in the
#: suite (there, and on a terminal in tests/test_cli_display.py).
RUN_ELSEWHERE = {("demo",): ("tests/test_cli.py", "test_demo_end_to_end")}


@attrs.frozen
class Block:
    info: str
    code: str
    line: int
    source: str = "README.md"
    #: The ``title="..."`` of the fence (``Output``: the previous block's output).
    title: str = ""

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}:{self.info or 'no-info'}"


def fenced_blocks(text: str, source: str) -> list[Block]:
    """The fenced code blocks of a Markdown text (indented ones, in lists, too)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(`{3,})(.*)$", lines[i])
        if not m:
            i += 1
            continue
        indent, fence, info = m.group(1), m.group(2), m.group(3).strip()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        title = re.search(r'\btitle="([^"]*)"', info)
        code = "\n".join(body) + "\n"
        included = SNIPPET.match(code.strip()) if len(body) == 1 else None
        if included:
            code = (ROOT / included.group(1)).read_text(encoding="utf-8")
        blocks.append(
            Block(
                info.split()[0] if info else "",
                code,
                i + 1,
                source,
                title.group(1) if title else "",
            )
        )
        i = j + 1
    return blocks


def output_sample(block: Block, blocks: Sequence[Block]) -> str | None:
    """The sample output shown for a python ``block``: the ``text`` block titled
    ``Output`` right after it, if there is one."""
    at = blocks.index(block)
    after = blocks[at + 1] if at + 1 < len(blocks) else None
    if after is not None and after.info == "text" and after.title == "Output":
        return after.code.strip("\n")
    return None


def file_blocks(path: Path) -> list[Block]:
    return fenced_blocks(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())


# -- running against the simulated manager ----------------------------------------------


def _start_all(fake: FakeFeldera) -> None:
    for name in PIPELINES:
        # FakeAPIError: e.g. the program deleted it.
        with contextlib.suppress(FakeAPIError):
            fake.start(name)


async def run_against(
    fake: FakeFeldera,
    argv: list[str],
    *,
    ctrl_c: bool = False,
    what: str = "",
    env: dict[str, str] | None = None,
) -> Ran:
    """Run ``argv`` (with ``env`` added to its environment); start the pipelines once it
    made its first request (or exited)."""
    started = time.monotonic()
    env = clean_env({"FELDERA_HOST": fake.url, **(env or {})})
    proc = await spawn(argv, env=env)
    if ctrl_c:
        # A long-running command (watch, fake-server): its first line says it runs.
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), RUN_TIMEOUT)
        assert line, f"{what}: no output before Ctrl-C"
        _start_all(fake)
        ran = await interrupt(proc, started)
        return attrs.evolve(ran, stdout=line.decode() + ran.stdout)
    first_request = asyncio.ensure_future(fake.wait_for_requests(1, timeout=RUN_TIMEOUT))
    exited = asyncio.ensure_future(proc.wait())
    try:
        await asyncio.wait([first_request, exited], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (first_request, exited):
            task.cancel()
        await asyncio.gather(first_request, exited, return_exceptions=True)
    _start_all(fake)
    return await finish(proc, started, RUN_TIMEOUT)


class FakeFactory:
    """A fresh simulated manager per command (``async with factory() as fake``)."""

    def __call__(self) -> FakeFeldera:
        fake = FakeFeldera(speed=20)
        original = fake.start_server

        async def start_server() -> None:
            await original()
            for name in PIPELINES:
                fake.create_pipeline(name)

        fake.start_server = start_server  # type: ignore[method-assign]
        return fake


# -- commands and their sample output ---------------------------------------------------


def commands(block: Block) -> list[tuple[str, str]]:
    """The commands of a shell block, continuation lines joined, each with its sample
    output (console blocks only; ``""`` when there is none)."""
    steps: list[list[str]] = []  # [command, output lines...]
    for line in block.code.splitlines():
        if block.info == "console":
            if line.startswith("$ "):
                steps.append([line[2:]])
            elif steps and len(steps[-1]) == 1 and steps[-1][0].endswith("\\"):
                steps[-1][0] = steps[-1][0][:-1] + " " + line.strip()
            elif steps:
                steps[-1].append(line)
        elif not line.strip() or line.lstrip().startswith("#"):
            continue
        elif steps and steps[-1][0].endswith("\\"):
            steps[-1][0] = steps[-1][0][:-1] + " " + line.strip()
        else:
            steps.append([line])
    return [(step[0].strip(), "\n".join(step[1:]).strip("\n")) for step in steps]


def output_matches(sample: str, actual: str) -> bool:
    """Whether ``actual`` is what ``sample`` shows: lines compared without trailing
    blanks, ``...`` in a line is any text, a line of only ``...`` any lines."""
    pattern = []
    for line in sample.strip("\n").splitlines():
        if line.strip() == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            parts = (re.escape(part) for part in line.rstrip().split("..."))
            pattern.append("[^\n]*".join(parts) + r"\n")
    lines = actual.strip("\n").splitlines()
    return (
        re.fullmatch("".join(pattern), "".join(f"{line.rstrip()}\n" for line in lines)) is not None
    )


def _split_comment(command: str) -> tuple[str, str]:
    code, _, comment = command.partition(" #")
    return code.strip(), comment.strip()


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def check_pip_install(args: list[str]) -> None:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    extras = set(project.get("optional-dependencies", {}))
    targets = [a for a in args if not a.startswith("-")]
    assert targets, f"pip install of nothing: {args}"
    # Not on PyPI yet: from a clone (".") or the wheel built there (dist/, this version).
    wheel = re.escape(f"dist/feldera_events-{project['version']}-py3-none-any.whl")
    for target in targets:
        m = re.fullmatch(rf"(\.|{wheel})(?:\[([\w,\s-]+)\])?", target)
        assert m, f"pip install {target!r}: not this project from a clone or its wheel"
        for extra in filter(None, (e.strip() for e in (m.group(2) or "").split(","))):
            assert extra in extras, f"extra {extra!r} is not in pyproject.toml {sorted(extras)}"
    if "-e" in args or "--editable" in args:
        assert "feldera-events" in project.get("scripts", {}), "no feldera-events console script"


def _is(program: str, *names: str) -> bool:
    return Path(program).name in names


async def run_command(
    fake_factory: FakeFactory, command: str, *, sample: str = "", blocks: Sequence[Block] = ()
) -> None:
    """Run (or check) one command of a block; ``blocks``: the other blocks of its file."""
    code, comment = _split_comment(command)
    expected = 0
    ctrl_c = comment.lower().startswith("ctrl-c")
    if ctrl_c:
        expected = 130
    m = re.match(r"exit (\d+)", comment)
    if m:
        expected = int(m.group(1))
    parts = [p.strip() for p in code.split("&&")]
    assert not sample or len(parts) == 1, f"{command!r}: a sample output needs one command"
    for part in parts:
        argv = shlex.split(part)
        env: dict[str, str] = {}
        while argv and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", argv[0]):
            key, _, value = argv.pop(0).partition("=")
            env[key] = value
        program, rest = argv[0], argv[1:]
        checked_only = True
        if _is(program, "pip", "pip3") and rest[:1] == ["install"]:
            check_pip_install(rest[1:])
        elif _is(program, "pip", "pip3") and rest[:1] == ["wheel"]:
            # The wheel of this project, built in a clone (.ci/check-wheel builds it).
            assert rest[1:] == ["--no-deps", "-w", "dist", "."], part
        elif _is(program, "python", "python3") and rest[:2] == ["-m", "venv"]:
            pass
        elif _is(program, "python", "python3") and rest[:2] == ["-m", "pip"]:
            check_pip_install(rest[3:])
        elif _is(program, "python", "python3") and rest[:2] == ["-m", "pytest"]:
            files = [a for a in rest[2:] if a.endswith(".py")]
            if files:
                # A user's own test file shown in the same page (its ```python block
                # starts with "# <file>"): run it with pytest in an empty directory.
                await run_user_tests(files, rest[2:], blocks)
            else:
                assert (ROOT / "tests").is_dir()
                # The documented test command is the one CI runs (.ci/run's TEST_CMD).
                ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
                found = re.search(r"^TEST_CMD=\(([^)]*)\)", ci, re.MULTILINE)
                assert found is not None, ".ci/run has no TEST_CMD=(...) line"
                assert ["python", *rest] == shlex.split(found.group(1)), (part, found.group(1))
        elif program == "bash" and rest[:1] == [".ci/run"]:
            assert (ROOT / ".ci" / "run").is_file()
        elif program == "export":
            pass  # FELDERA_* are set by the harness, to the simulated manager
        else:
            checked_only = False
        cli_args = rest if _is(program, "feldera-events") else rest[2:]
        if tuple(cli_args) in RUN_ELSEWHERE and (
            _is(program, "feldera-events") or rest[:2] == ["-m", "feldera_events"]
        ):
            where, test = RUN_ELSEWHERE[tuple(cli_args)]
            assert f"async def {test}(" in (ROOT / where).read_text(encoding="utf-8"), where
            assert expected == 0, f"{part!r}: {where}::{test} expects exit 0"
            checked_only = True
        if checked_only:
            assert not sample, f"{part!r} is checked, not run: it cannot have a sample output"
            continue
        if _is(program, "feldera-events"):
            argv = [sys.executable, "-m", "feldera_events", *rest]
        elif _is(program, "python", "python3") and rest[:2] == ["-m", "feldera_events"]:
            argv = [sys.executable, *rest]
        elif _is(program, "python", "python3") and rest and rest[0].startswith("examples/"):
            argv = [sys.executable, str(ROOT / rest[0]), *rest[1:]]
        else:
            raise AssertionError(
                f"command {part!r} is not supported by tests/doc_blocks.py; "
                "mark its block ```text if it must not run"
            )
        async with fake_factory() as fake:
            argv = [a.replace(LOCALHOST, fake.url) for a in argv]
            if "fake-server" in argv:
                argv = [
                    ("0" if prev == "--port" else a)
                    for prev, a in zip(["", *argv], argv, strict=False)
                ]
            ran = await run_against(fake, argv, ctrl_c=ctrl_c, what=part, env=env)
            shown = ran.output.replace(fake.url, LOCALHOST)
        assert ran.returncode == expected, (part, ran)
        assert "Traceback" not in ran.stderr, (part, ran)
        if sample:
            assert output_matches(sample, shown), (
                f"{part!r}: the sample output\n{textwrap.indent(sample, '  ')}\n"
                f"is not what it printed\n{textwrap.indent(shown, '  ')}"
            )


async def run_user_tests(files: list[str], args: list[str], blocks: Sequence[Block]) -> None:
    """Write the blocks named ``files`` (and the ``toml`` pytest settings of the same
    page) to a fresh directory and run ``pytest args`` there: the plugin's fixtures must
    work with no conftest and no import, as the docs say."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        for name in files:
            block = next(
                (
                    b
                    for b in blocks
                    if b.info in ("python", "py") and b.code.startswith(f"# {name}\n")
                ),
                None,
            )
            assert block is not None, f"the page runs {name} but no python block starts '# {name}'"
            (where / name).write_text(block.code, encoding="utf-8")
        settings = [b.code for b in blocks if b.info == "toml" and "[tool.pytest" in b.code]
        (where / "pyproject.toml").write_text("\n".join(settings), encoding="utf-8")
        started = time.monotonic()
        proc = await spawn(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            env=clean_env(),
            cwd=where,
        )
        ran = await finish(proc, started, RUN_TIMEOUT)
    assert ran.returncode == 0, (args, ran)
    assert " passed" in ran.stdout and "warning" not in ran.stdout.lower(), ran


async def run_block(block: Block, blocks: Sequence[Block]) -> None:
    """Run a ``python`` or shell block (``blocks``: every block of its file)."""
    if block.info in ("python", "py"):
        async with FakeFactory()() as fake:
            code = block.code.replace(LOCALHOST, fake.url)
            ran = await run_against(fake, [sys.executable, "-c", code], what=block.id)
            shown = ran.stdout.replace(fake.url, LOCALHOST)
        assert ran.returncode == 0, (block.id, textwrap.indent(block.code, "  "), ran)
        sample = output_sample(block, blocks)
        if sample is not None:
            assert output_matches(sample, shown), (
                f"{block.id}: the output shown\n{textwrap.indent(sample, '  ')}\n"
                f"is not what it printed\n{textwrap.indent(shown, '  ')}"
            )
        return
    steps = commands(block)
    assert steps, f"{block.id}: a shell block without commands; use ```text"
    for command, sample in steps:
        await run_command(FakeFactory(), command, sample=sample, blocks=blocks)


def check_data_block(block: Block) -> None:
    """A ``json`` or ``toml`` block must parse."""
    import json

    if block.info == "json":
        json.loads(block.code)
    elif block.info == "toml":
        tomllib.loads(block.code)
