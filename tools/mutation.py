"""Mutation testing of the decision and safety modules (issue 24): how strong the tests are.

For each target (a module, or the part of one that holds a decision) cosmic-ray changes one
thing at a time (``<`` to ``<=``, ``and`` to ``or``, a number by one, a condition negated,
...) and runs that target's narrowest test files; a mutant the tests let pass "survived".
The report, ``tests/MUTATION.md``, gives the kill rate per target and every survivor:
each one is killed by a new test or listed in :data:`EQUIVALENT` with one line of why.

    .venv/bin/pip install -e '.[test,mutation]'
    .venv/bin/python tools/mutation.py                  # every target (about 90 min)
    .venv/bin/python tools/mutation.py policies text    # some targets
    .venv/bin/python tools/mutation.py --list           # targets and mutant counts only
    .venv/bin/python tools/mutation.py --report         # tests/MUTATION.md from the results
    .venv/bin/python tools/mutation.py --survivors text # the last run's survivors again

Slow (one pytest process per mutant), so not part of ``.ci/run``. It runs under
``nice -n 19``, one mutant at a time, pytest with ``-x``, no xdist and no cache, in a copy
of the tree (``.mutation/tree``): the checkout itself is never edited, and a run may be
stopped at any time (``--resume`` goes on where it stopped). Results per target are kept in
``tools/mutation_results.json``; the report is written from them and :data:`EQUIVALENT`.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".mutation"
TREE = WORK / "tree"
RESULTS = ROOT / "tools" / "mutation_results.json"
REPORT = ROOT / "tests" / "MUTATION.md"
GOAL = 0.90


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    tests: tuple[str, ...]
    what: str
    #: Top-level names (functions, classes, assignments) to mutate; empty: the whole module.
    only: tuple[str, ...] = ()


TARGETS = (
    Target(
        "decisions",
        "feldera_events/_decisions.py",
        ("tests/test_waits.py", "tests/test_approval_waits.py"),
        "requests, decisions, log lines",
    ),
    Target(
        "acceptors",
        "feldera_events/_acceptors.py",
        ("tests/test_waits.py", "tests/test_approval_waits.py"),
        "what ends a wait: acceptors as data, WAITS",
    ),
    Target(
        "since",
        "feldera_events/_since.py",
        ("tests/test_waits.py",),
        "the since point and the restart rule",
    ),
    Target(
        "machines",
        "feldera_events/_machines.py",
        ("tests/test_waits.py", "tests/test_approval_waits.py", "tests/test_machines.py"),
        "the pipeline and cluster wait machines",
    ),
    Target(
        "watch",
        "feldera_events/_watch.py",
        ("tests/test_waits.py",),
        "the watch machine",
    ),
    Target(
        "policies",
        "feldera_events/_policies.py",
        ("tests/test_policies.py", "tests/test_retry.py"),
        "RetryPolicy, PollPolicy",
    ),
    Target(
        "retry",
        "feldera_events/_retry.py",
        ("tests/test_retry.py", "tests/hostile/test_retry_timeout.py"),
        "the retry loop and the read after clean-up",
    ),
    Target(
        "text",
        "feldera_events/_text.py",
        ("tests/test_text.py", "tests/hostile/test_secrets.py"),
        "safe text, excerpts, every form of the key, withholding",
    ),
    Target(
        "body",
        "feldera_events/_body.py",
        ("tests/test_body.py", "tests/hostile/test_json.py", "tests/hostile/test_body_size.py"),
        "content decoding within a byte budget, strict JSON",
    ),
    Target(
        "transport-size-cap",
        "feldera_events/_transport.py",
        ("tests/test_body.py", "tests/hostile/test_body_size.py"),
        "reading a body within max_body_size",
        only=("read_body", "_READ_AT_ONCE"),
    ),
    Target(
        "exit-codes",
        "feldera_events/cli/_render.py",
        ("tests/test_exit_codes.py", "tests/test_cli_render.py"),
        "the CLI's exit-code table",
        only=(
            "EXIT_OK",
            "EXIT_FAILED",
            "EXIT_USAGE",
            "EXIT_TIMEOUT",
            "EXIT_API",
            "EXIT_APPROVAL",
            "EXIT_INTERRUPTED",
            "EXIT_UNHEALTHY",
            "EXIT_OUTPUT",
            "EXIT_BROKEN_PIPE",
            "EXIT_TERMINATED",
            "EXIT_PRECEDENCE",
            "OUTCOMES",
            "outcome_style",
            "exit_code_for",
            "outcome_exit_code",
            "combine_exit_codes",
        ),
    ),
)

#: The operators run: each operator's one natural counterpart, as mutmut has them (``+``
#: and ``-``, ``<`` and ``<=``, ``==`` and ``!=``, ``is`` and ``is not``), a comparison
#: negated, ``and``/``or``, ``not`` added or removed, True/False, a number +-1, a loop
#: that never runs, ``break``/``continue``, an ``except`` that catches nothing. Left out:
#: the exotic binary swaps (``+`` to ``<<``: they die of a TypeError, and cost a run each)
#: and RemoveDecorator (``@attrs.frozen`` and ``@property`` fail at once, and
#: ``@functools.lru_cache`` is a cache: removing it changes nothing a test can see).
OPERATORS = re.compile(
    r"core/(?:"
    r"ReplaceBinaryOperator_(?:Add_Sub|Sub_Add|Mul_Div|Div_Mul|FloorDiv_Div|Mod_FloorDiv"
    r"|Pow_Mul|LShift_RShift|RShift_LShift|BitOr_BitAnd|BitAnd_BitOr|BitXor_BitOr)"
    r"|ReplaceComparisonOperator_(?:Eq_NotEq|NotEq_Eq|Lt_LtE|LtE_Lt|Gt_GtE|GtE_Gt"
    r"|Lt_GtE|GtE_Lt|Gt_LtE|LtE_Gt|Is_IsNot|IsNot_Is)"
    r"|ReplaceUnaryOperator_(?:USub_UAdd|Delete_Not|Delete_USub)"
    r"|AddNot|ReplaceTrueWithFalse|ReplaceFalseWithTrue|ReplaceAndWithOr|ReplaceOrWithAnd"
    r"|ReplaceBreakWithContinue|ReplaceContinueWithBreak|NumberReplacer"
    r"|ZeroIterationForLoop|ExceptionReplacer"
    r")$"
)

#: Survivors that are equivalent mutants (no test can tell them from the original), by
#: target and key (``definition | the mutated line``), with one line of why.
EQUIVALENT: dict[str, dict[str, str]] = {
    "acceptors": {
        "Seen | count_stops: bool = False": "the one Seen a wait makes says count_stops "
        "(PipelineWait: `since is None`); no other is made",
    },
    "watch": {
        "(module) | WATCH_LOOKBACK: Final = 4095": "a memory bound: any number above what a "
        "pipeline retains (about 720) serves, one more or less is no behaviour",
        "(module) | WATCH_LOOKBACK: Final = 4097": "the same bound, one more",
        "_on_answer | self.settle = True": "the list read it asks for sets `settle` from "
        "its own answer (`bool(new)`) before anything reads it",
        "_new | break": "the list is newest first (the API's order) and the polled event "
        "is in it: every event after one at or before the floor is at or before it too",
    },
    "text": {
        "(module) | @functools.lru_cache(maxsize= 15)": "a cache's size (both caches) changes what is kept, never what is found",
        "(module) | @functools.lru_cache(maxsize= 17)": "the same, one more",
        "excerpt | last = +1  # where the previous match ended (adjacent matches are one word)": "`last` is read only once a word was shown, and showing one sets it",
        "excerpt | last = - 0  # where the previous match ended (adjacent matches are one word)": "the same: the first value of `last` is never read",
        "excerpt | last = - 2  # where the previous match ended (adjacent matches are one word)": "the same: the first value of `last` is never read",
        "excerpt | last = 1  # where the previous match ended (adjacent matches are one word)": "the same: the first value of `last` is never read",
        '_escaped_forms | forms.append(r"\\\\u" + _hex(0xD800 + high, 3) + r"\\\\u" + _hex(0xDC00 + low, 4))': "0xD800 + high has four hex digits: a minimum width of 3 pads nothing",
        '_escaped_forms | forms.append(r"\\\\u" + _hex(0xD800 + high, 4) + r"\\\\u" + _hex(0xDC00 + low, 3))': "0xDC00 + low has four hex digits: a minimum width of 3 pads nothing",
        '_escaped_forms | forms = ["".join("%" + _hex(b, 1) for b in ch.encode("utf-8"))]': "a key goes in a header (check_header_value refuses controls): every byte is >= 0x20, two hex digits at any width",
        "contains_key | data = bytes(item) if not isinstance(item, bytearray) else item": "`in`, `decode`, `count` and a bytes regex work alike on a bytearray: the copy changes nothing found",
        "contains_key | if data[: 5].count(0):  # UTF-16 or UTF-32 JSON: searched as the text it is": "a zero first at the fifth byte means UTF-8 (json.detect_encoding): the byte search after it finds the same",
        "contains_key | if type(value) is bytes and 0 not in value[: 5]:  # a UTF-8 body: the common case": "a zero first at the fifth byte: the walk searches those bytes as bytes too (it looks at four)",
    },
    "body": {
        'parse_json | shallow = body.count(b"{") + body.count(b"[") < MAX_JSON_DEPTH': "a body with exactly 128 brackets cannot nest deeper than 128: the walk it adds finds nothing",
        "parse_json | todo: list[tuple[Any, int]] = [] if shallow and type(data) not in (dict, list) else [(data, 1)]": "a shallow body walked is never too deep, and a scalar with many brackets is a string: walking its characters finds no container",
        'parse_json | if b"\\\\u" in body or _SURROGATE_ESCAPE.search(body):': "the regex needs a `\\u` too: the substring test only spares its cost",
        '__init__ | elif len(codings) == 1 and codings[ -1] in ("gzip", "x-gzip", "deflate"):': "with exactly one coding, [0] and [-1] are the same",
        "__init__ | self.mode = codings[ -1]": "the branch has exactly one coding: [0] and [-1] are the same",
        "__init__ | self._obj = zlib.decompressobj(zlib.MAX_WBITS | 33)  # gzip or zlib header": "15 | 33 == 15 | 32 == 47: the same window bits",
        "feed | self._obj = zlib.decompressobj(zlib.MAX_WBITS | 33)": "15 | 33 == 15 | 32 == 47: the same window bits",
        "feed | if len(piece) == limit and self._obj.unconsumed_tail:": "output zlib holds when a chunk is used up comes with the next feed, and the last chunk's trailer is never used up while output is pending (brute-forced over sizes and chunkings)",
    },
    "retry": {
        "call_with_retry | if policy.attempts < 1 or not policy.is_transient(exc):": "with one attempt the loop stops at its replayed first attempt and raises that same error",
        "call_with_retry | if policy.attempts <= 0 or not policy.is_transient(exc):": "the same: one attempt, the same error raised by the loop",
        "call_with_retry | if policy.attempts <= 1 and not policy.is_transient(exc):": "the loop's own rule (retry) refuses a non-transient error at its replay: the same error",
        "_bounded | scope = asyncio.timeout(max(limit - clock(), -1.0))": "asyncio.timeout of a delay at or below 0 expires at once, as 0 does",
    },
    "transport-size-cap": {
        "read_body | async for chunk in resp.content.iter_chunked( 65535):": "the size of a network chunk: the same bytes in other pieces, each fed within the budget",
        "read_body | async for chunk in resp.content.iter_chunked( 65537):": "the same, one more",
    },
    "machines": {
        "__init__ | testing: bool = True,": "every machine is made with Driver.machine_args, which always passes the switch's value",
        "_failed | backoff = -1.0 if self.testing else self.retry.backoff(self.failures, exc, draw=self.draw())": "a negative delay is clamped to 0 (_schedule), and a server reached waits the poll interval anyway",
        "_progress | threshold = max(self.next_log, -0.999)": "next_log starts at 5 s and only doubles: the floor (against a loop from 0) never applies",
        "_progress | threshold = max(self.next_log, 1.001)": "the same: next_log is never below 5 s",
        "_resolved | return self._schedule(now, -1.0, LATEST)": "_schedule clamps a delay below 0 to 0",
        "_schedule | delay = max(delay, -1.0)": "no caller passes a negative delay (intervals, backoffs, 0): the clamp never applies",
        "__init__ | anew: bool = True,": "the one caller (Poller._pipeline_wait) passes anew from WAITS",
        "__init__ | self.stopped = True": "set whenever the status shows a failure (_on_answer), before anything reads it",
        "__init__ | self.detail_failures = -1  # failed full reads of the failure the status showed": "reset to 0 whenever a failure's full read starts, the only time it is read",
        "__init__ | self.detail_failures = 1  # failed full reads of the failure the status showed": "the same: reset before it is read",
    },
    "since": {
        "SinceRule | anew: bool = True": "a rule made without since has no point, and "
        "counts() and held() read anew only with a point; SinceRule.of passes anew",
        "of | def of(cls, since: object, *, anew: bool = True) -> SinceRule:": "every "
        "caller that reads anew passes it (PipelineWait); the watch never reads it",
        "confirm | between = [ev for ev in events if not point.covers(ev) and order_key(ev) < key]": "the "
        "candidate itself is a success (it holds), so leaving it out of `between` "
        "changes no `not holds`",
        "confirm | self.left = False": "confirm() returning True ends the wait at once "
        "(Succeed): nothing reads `left` after it",
    },
}


# -- running -----------------------------------------------------------------------------


def copy_tree() -> None:
    """The project's files (tracked and new, not ignored) in ``.mutation/tree``."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    if TREE.exists():
        shutil.rmtree(TREE)
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the work tree
        dst = TREE / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def test_args(target: Target) -> list[str]:
    return ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *target.tests]


#: What every test run imports, imported once here and shared by every forked run (no pytest
#: plugin: pytest could not rewrite its asserts; never
#: ``feldera_events``: each run imports the module as the mutant left it on disk).
PRELOAD = ("pytest", "aiohttp", "attrs", "cattrs", "tenacity", "rich", "yarl")


def run_tests(
    target: Target, timeout: float, select: list[str] | None = None, trace: bool = False
) -> tuple[Any, str]:
    """Run ``target``'s tests (or the test ids ``select``) in a forked child, as
    cosmic-ray's ``run_tests`` would in a new process (exit 0: the mutant survived; any
    other exit or the timeout: killed), without starting an interpreter and importing
    pytest and its plugins for each mutant. ``trace``: record which tests run each line
    of the module (:func:`tests_by_line`).
    """
    from cosmic_ray.work_item import TestOutcome

    output = WORK / "last-run.txt"
    pid = os.fork()
    if pid == 0:  # the child: its own session (killed whole on a timeout), the copy first
        code = 3
        try:
            os.setsid()
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(TREE)
            sys.path.insert(0, str(TREE))
            import pytest

            args = test_args(target) if select is None else [*test_args(target)[:6], *select]
            code = int(pytest.main(args) if not trace else _traced(target, args))
            module = sys.modules.get("feldera_events")
            print(f"feldera_events from {getattr(module, '__file__', None)}")
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return TestOutcome.KILLED, "timeout"
        time.sleep(0.02)
    code = os.waitstatus_to_exitcode(status)
    text = output.read_text(encoding="utf-8", errors="replace")
    return (TestOutcome.SURVIVED if code == 0 else TestOutcome.KILLED), text[-2000:]


def _traced(target: Target, args: list[str]) -> int:
    """``pytest.main(args)`` under coverage, each test its own context: which tests run each
    line of the module goes to ``.mutation/<target>.lines.json`` (an import-time line: "")."""
    import coverage
    import pytest

    module = str(TREE / target.path)
    cov = coverage.Coverage(data_file=None, include=[module])
    order: list[str] = []

    class Contexts:
        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> Iterator[None]:
            order.append(item.nodeid)
            cov.switch_context(item.nodeid)
            yield
            cov.switch_context("")

    cov.start()
    try:
        code = int(pytest.main(args, plugins=[Contexts()]))
    finally:
        cov.stop()
    lines = cov.get_data().contexts_by_lineno(module)
    found = {
        str(n): sorted(c, key=lambda t: order.index(t) if t in order else -1)
        for n, c in lines.items()
    }
    (WORK / f"{target.name}.lines.json").write_text(json.dumps(found), encoding="utf-8")
    return code


def tests_by_line(target: Target) -> dict[int, list[str] | None]:
    """For each line of the module: the test ids that run the innermost statement around
    it (coverage counts statements), [] when no test does, and None (every test) for a
    statement run at import or a line outside any statement (a decorator)."""
    traced = json.loads((WORK / f"{target.name}.lines.json").read_text(encoding="utf-8"))
    runs = {int(n): (None if "" in tests else tests) for n, tests in traced.items()}
    tree = ast.parse((TREE / target.path).read_text(encoding="utf-8"))
    innermost: dict[int, ast.stmt] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            end = node.end_lineno or node.lineno
            for line in range(node.lineno, end + 1):
                seen = innermost.get(line)
                if seen is None or end - node.lineno <= (seen.end_lineno or 0) - seen.lineno:
                    innermost[line] = node
    lines = (tree.body[-1].end_lineno or 0) if tree.body else 0
    return {
        line: runs.get(innermost[line].lineno, []) if line in innermost else None
        for line in range(1, lines + 1)
    }


def regions(target: Target) -> list[tuple[int, int]] | None:
    """The line ranges of ``target.only`` in its module (None: the whole module)."""
    if not target.only:
        return None
    tree = ast.parse((TREE / target.path).read_text(encoding="utf-8"))
    found: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        for name in names:
            found[name] = (node.lineno, node.end_lineno or node.lineno)
    missing = [name for name in target.only if name not in found]
    if missing:
        raise SystemExit(f"{target.name}: not found in {target.path}: {', '.join(missing)}")
    return [found[name] for name in target.only]


def _not_code(path: Path) -> Callable[[tuple[int, int]], bool]:
    """Whether a position is not code that runs: inside an annotation (every module here
    has ``from __future__ import annotations``: they are never evaluated), or the bare
    ``*`` of a parameter list (cosmic-ray makes it a ``/``, as if it were a product)."""
    source = path.read_text(encoding="utf-8")
    assert "from __future__ import annotations" in source, path
    lines = source.splitlines()
    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for node in ast.walk(ast.parse(source)):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            every = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
            notes = [arg.annotation for arg in every if arg is not None]
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes = [node.annotation]
        for note in notes:
            if note is not None and note.end_lineno is not None and note.end_col_offset is not None:
                spans.append(
                    ((note.lineno, note.col_offset), (note.end_lineno, note.end_col_offset))
                )

    def check(pos: tuple[int, int]) -> bool:
        line, col = pos
        if lines[line - 1][col : col + 2] in ("*,", "*)"):
            return True
        return any(start <= (line, col) < end for start, end in spans)

    return check


def db_path(target: Target) -> Path:
    return WORK / f"{target.name}.sqlite"


def init_session(target: Target, db: Path | None = None) -> tuple[int, int]:
    """A new session for ``target`` (in ``db``; default its own, replaced): every mutant,
    those out of scope marked skipped. Returns (mutants to run, skipped)."""
    from cosmic_ray.commands import init
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    db = db or db_path(target)
    db.unlink(missing_ok=True)
    scope = regions(target)
    not_code = _not_code(TREE / target.path)
    with contextlib.chdir(TREE), use_db(str(db), WorkDB.Mode.create) as work_db:
        init([Path(target.path)], work_db, {})
        skip = []
        keep = 0
        for item in work_db.pending_work_items:
            (mutation,) = item.mutations
            line = mutation.start_pos[0]
            in_scope = scope is None or any(a <= line <= b for a, b in scope)
            if (
                in_scope
                and OPERATORS.match(mutation.operator_name)
                and not not_code(mutation.start_pos)
            ):
                keep += 1
            else:
                skip.append(item.job_id)
        work_db.set_multiple_results(
            skip, WorkResult(output="out of scope", worker_outcome=WorkerOutcome.SKIPPED)
        )
    return keep, len(skip)


def baseline(target: Target) -> float:
    """Seconds the unmutated tests take; they must pass, on the copy's code."""
    start = time.monotonic()
    outcome, output = run_tests(target, timeout=600, trace=True)
    took = time.monotonic() - start
    if outcome.value != "survived":
        sys.stderr.write(output)
        raise SystemExit(f"{target.name}: the tests fail without a mutant")
    if f"feldera_events from {TREE}/" not in output:  # not the checkout's code
        sys.stderr.write(output)
        raise SystemExit(f"{target.name}: the tests did not import the copy in {TREE}")
    return took


def forget_survivors(target: Target) -> int:
    """Mark the mutants that survived the last run of ``target`` to be run again (those
    killed stay killed: tests are added, not weakened). Returns how many."""
    with contextlib.closing(sqlite3.connect(db_path(target))) as db, db:
        return db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount


def run_target(target: Target, *, resume: bool) -> dict[str, Any]:
    import cosmic_ray.mutating
    from cosmic_ray.work_db import WorkDB, use_db

    if not (resume and db_path(target).exists()):
        keep, skipped = init_session(target)
        print(f"{target.name}: {keep} mutants ({skipped} out of scope)", flush=True)
    took = baseline(target)
    timeout = max(60.0, 4 * took)
    # cosmic-ray applies each mutant to the copy on disk and restores it; the tests run
    # forked from this process (run_tests), not as a command.
    by_line = tests_by_line(target)
    selected: list[list[str] | None] = [None]

    def run_selected(_command: str, limit: float) -> tuple[Any, str]:
        if selected[0] == []:
            from cosmic_ray.work_item import TestOutcome

            return TestOutcome.SURVIVED, "no test runs this line"
        return run_tests(target, limit, select=selected[0])

    cosmic_ray.mutating.run_tests = run_selected
    print(f"{target.name}: tests pass in {took:.1f}s; timeout {timeout:.0f}s", flush=True)
    start = time.monotonic()
    with contextlib.chdir(TREE), use_db(str(db_path(target)), WorkDB.Mode.open) as work_db:
        pending = list(work_db.pending_work_items)
        for n, item in enumerate(pending, 1):
            # Only the tests that run the mutated statement (all for one run at import).
            selected[0] = by_line.get(item.mutations[0].start_pos[0])
            result = cosmic_ray.mutating.mutate_and_test(item.mutations, "", timeout)
            work_db.set_result(item.job_id, result)
            if n % 10 == 0 or n == len(pending):
                rate = (time.monotonic() - start) / n
                left = (len(pending) - n) * rate / 60
                print(f"  {target.name}: {n}/{len(pending)}, ~{left:.0f} min left", flush=True)
    return collect(target, seconds=time.monotonic() - start)


def _changed_lines(diff: str) -> tuple[str, str]:
    minus = [ln[1:].strip() for ln in diff.splitlines() if ln[:1] == "-" and ln[:3] != "---"]
    plus = [ln[1:].strip() for ln in diff.splitlines() if ln[:1] == "+" and ln[:3] != "+++"]
    return " / ".join(minus), " / ".join(plus)


def collect(target: Target, *, seconds: float) -> dict[str, Any]:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    killed = timeouts = other = 0
    survivors = []
    with use_db(str(db_path(target)), WorkDB.Mode.open) as work_db:
        items = {item.job_id: item for item in work_db.work_items}
        for job_id, result in work_db.results:
            if result.worker_outcome is WorkerOutcome.SKIPPED:
                continue
            if result.worker_outcome is not WorkerOutcome.NORMAL:
                other += 1  # no mutation possible, or the worker broke: listed apart
                continue
            if result.test_outcome is TestOutcome.SURVIVED:
                (mutation,) = items[job_id].mutations
                old, new = _changed_lines(result.diff or "")
                definition = mutation.definition_name or "(module)"
                survivors.append(
                    {
                        "key": f"{definition} | {new}",
                        "line": mutation.start_pos[0],
                        "operator": mutation.operator_name.removeprefix("core/"),
                        "old": old,
                        "new": new,
                    }
                )
            else:
                killed += 1
                timeouts += result.output == "timeout"
    survivors.sort(key=lambda s: (s["line"], s["key"]))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "module": target.path,
        "scope": list(target.only),
        "tests": list(target.tests),
        "mutants": killed + len(survivors),
        "killed": killed,
        "timeouts": timeouts,
        "not_run": other,
        "survivors": survivors,
        "minutes": round(seconds / 60, 1),
        "commit": commit,
        "date": dt.date.today().isoformat(),
    }


# -- the report --------------------------------------------------------------------------


def load_results() -> dict[str, Any]:
    if RESULTS.exists():
        data: dict[str, Any] = json.loads(RESULTS.read_text(encoding="utf-8"))
        return data
    return {}


def save_results(name: str, result: dict[str, Any]) -> None:
    """``result`` for target ``name``, the others' as the file has them now (a second run
    with its own ``--work`` directory may have written some meanwhile)."""
    results = {**load_results(), name: result}
    order = [t.name for t in TARGETS]
    ordered = {name: results[name] for name in order if name in results}
    RESULTS.write_text(json.dumps(ordered, indent=1) + "\n", encoding="utf-8")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def report(results: dict[str, Any]) -> str:
    lines = [
        "# Mutation testing",
        "",
        "How strong the tests of the decision and safety modules are: cosmic-ray changed one",
        "thing at a time in each module and ran its narrowest test files (`tools/mutation.py`,",
        "which writes this page; slow, so outside `.ci/run`). A mutant the tests let pass",
        "survived; each survivor is either killed by a test since or listed below as",
        f"equivalent, with why. The goal: at least {GOAL:.0%} killed in each module. The",
        "kill rate is killed / mutants: an equivalent mutant counts as not killed.",
        "",
        "| target | module (part) | test files | mutants | killed | survived "
        "| equivalent | unexplained | kill rate |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    details: list[str] = []
    for target in TARGETS:
        res = results.get(target.name)
        if res is None:
            lines.append(f"| {target.name} | `{target.path}` | | not run | | | | | |")
            continue
        equivalent = EQUIVALENT.get(target.name, {})
        survivors = res["survivors"]
        eq = [s for s in survivors if s["key"] in equivalent]
        rate = res["killed"] / res["mutants"] if res["mutants"] else 1.0
        part = f" ({', '.join(res['scope'][:3])}{', ...' if len(res['scope']) > 3 else ''})"
        tests = ", ".join(f"`{t.removeprefix('tests/')}`" for t in res["tests"])
        lines.append(
            f"| {target.name} | `{res['module'].removeprefix('feldera_events/')}`"
            f"{part if res['scope'] else ''} | {tests} | {res['mutants']} | {res['killed']} "
            f"| {len(survivors)} | {len(eq)} | {len(survivors) - len(eq)} | {rate:.1%} |"
        )
        details.append(f"### {target.name}: {target.what}")
        details.append("")
        ran = f"last run at {res['commit']}, {res['date']}"
        extra = f"; {res['timeouts']} killed by the timeout" if res["timeouts"] else ""
        details.append(f"{res['mutants']} mutants, {res['killed']} killed{extra} ({ran}).")
        details.append("")
        if not survivors:
            details.append("No survivor.")
        for s in survivors:
            why = equivalent.get(s["key"])
            verdict = f"equivalent: {why}" if why else "**not explained**"
            details.append(
                f"- line {s['line']}, {s['operator']}: `{_cell(s['old'])}` -> "
                f"`{_cell(s['new'])}`: {verdict}"
            )
        details.append("")
    lines += ["", "## Survivors by target", "", *details]
    lines += [
        "## How to run it",
        "",
        "```",
        ".venv/bin/pip install -e '.[test,mutation]'",
        ".venv/bin/python tools/mutation.py                # every target (hours on a busy machine)",
        ".venv/bin/python tools/mutation.py machines       # one",
        ".venv/bin/python tools/mutation.py --survivors machines  # its survivors again",
        ".venv/bin/python tools/mutation.py --work .mutation/b text body  # a second run at once",
        ".venv/bin/python tools/mutation.py --report       # this page from the results",
        "```",
        "",
        "Not part of `.ci/run` (too slow); run it after changing one of these modules or its",
        "tests. It runs under `nice -n 19`, one mutant at a time (pytest `-x`, no xdist), in a",
        "copy of the tree (`.mutation/`, git-ignored), each mutant against only the tests that",
        "run its line, and rewrites this page from `tools/mutation_results.json`. The operators",
        "are each operator's one natural counterpart (see `OPERATORS` in the script).",
        "`--survivors` runs only the last run's survivors against the tests as they are now.",
        "A new survivor gets a test that kills it (seen failing against that mutant), or a",
        "line in `EQUIVALENT` saying why no test can.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all)")
    parser.add_argument("--list", action="store_true", help="count mutants per target, run none")
    parser.add_argument("--report", action="store_true", help="only rewrite the report")
    parser.add_argument("--resume", action="store_true", help="go on with a stopped session")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run only the last run's survivors again, against the tests as they are now",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="the directory for the copy and the sessions (default .mutation); two runs "
        "of different targets at once need one each",
    )
    args = parser.parse_args(argv)
    global WORK, TREE
    if args.work is not None:
        WORK = args.work.resolve()
        TREE = WORK / "tree"
    by_name = {t.name: t for t in TARGETS}
    unknown = [n for n in args.targets if n not in by_name]
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.targets] or list(TARGETS)
    if not args.report:
        os.nice(19)  # every mutant's pytest inherits it: benchmarks come first
        sys.dont_write_bytecode = True  # a mutant's module is never read from a stale .pyc
        for name in PRELOAD:
            __import__(name)
        WORK.mkdir(exist_ok=True)
        copy_tree()
        for target in chosen:
            if args.list:  # in a scratch session: --resume and --survivors need the real one
                scratch = WORK / "list.sqlite"
                keep, skipped = init_session(target, scratch)
                scratch.unlink()
                print(f"{target.name}: {keep} mutants ({skipped} out of scope)")
                continue
            again = args.survivors and db_path(target).exists()
            if again:
                print(f"{target.name}: {forget_survivors(target)} survivors to run again")
            res = run_target(target, resume=args.resume or again)
            save_results(target.name, res)
            print(f"{target.name}: {res['killed']}/{res['mutants']} killed", flush=True)
    if not args.list:
        REPORT.write_text(report(load_results()), encoding="utf-8")
        for line in _survivor_lines(load_results(), chosen):
            print(line)
    return 0


def _survivor_lines(results: dict[str, Any], chosen: list[Target]) -> Iterator[str]:
    for target in chosen:
        res = results.get(target.name)
        if res is None:
            continue
        equivalent = EQUIVALENT.get(target.name, {})
        for s in res["survivors"]:
            if s["key"] not in equivalent:
                yield f"{target.name}: line {s['line']}: {s['old']} -> {s['new']}  [{s['key']}]"


if __name__ == "__main__":
    sys.exit(main())
