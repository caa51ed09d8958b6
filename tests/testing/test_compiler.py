"""The simulated compiler: which programs compile, and the shape of what it rejects.

Upstream's platform tests create most pipelines with the empty program and expect it to
compile; they expect ``invalid-sql`` and ``INVALID SQL`` to end in ``SqlError``, whose
``program_error.sql_compilation`` the official SDK reads (``error_type``, ``message``,
``snippet``).  The real compiler's message for a parse error has error type
``Error parsing SQL`` (its own unit test of invalid SQL says so).
"""

from __future__ import annotations

import pytest

from feldera_events.testing._compiler import (
    RUST_ERROR_MARKER,
    SQL_ERROR_MARKER,
    compile_outcome,
    program_error_after,
    sql_errors,
)
from tests.testing.schema_check import SchemaChecker

COMPILES = [
    "",
    "   \n\t",
    "-- nothing but a comment",
    "/* a block\ncomment */",
    ";;",
    "CREATE TABLE t1(c1 INTEGER);",
    "create table t1(c1 integer); create view v1 as select * from t1",
    "CREATE TABLE t1(c1 INTEGER) WITH ('materialized' = 'true'); "
    "CREATE VIEW v1 AS SELECT ELEMENT(ARRAY [2, 3]) FROM t1;",
    "CREATE MATERIALIZED VIEW v AS SELECT 1;\nCREATE LOCAL VIEW w AS SELECT 2;",
    "CREATE FUNCTION f(x INT) RETURNS INT AS x + 1; CREATE TYPE p AS (x INT);",
    "CREATE INDEX i ON v(x); CREATE LINEAR AGGREGATE a(x INT) RETURNS INT;",
    "DECLARE RECURSIVE VIEW r (x INT); LATENESS v.ts INTERVAL 1 HOUR; SET x = ON;",
    "CREATE TABLE t (s VARCHAR DEFAULT 'a;b''c', \"odd;name\" INT); -- ; SELEKT",
]


@pytest.mark.parametrize("program", COMPILES)
def test_the_empty_program_and_ordinary_ddl_compile(program: str) -> None:
    assert sql_errors(program) is None
    assert compile_outcome(program) is None


@pytest.mark.parametrize(
    ("program", "token", "line", "column"),
    [
        ("invalid-sql", "invalid", 1, 1),
        ("INVALID SQL", "INVALID", 1, 1),
        ("SELEKT 1", "SELEKT", 1, 1),
        ("SELECT 1", "SELECT", 1, 1),  # a bare query is no statement of a program
        ("CREATE TABL t (x INT)", "TABL", 1, 8),
        ("CREATE TABLE t (x INT);\n\n  DROP TABLE t;", "DROP", 3, 3),
        ("CREATE MATERIALIZED TABLE t (x INT)", "TABLE", 1, 21),
        ("DECLARE VIEW r (x INT)", "VIEW", 1, 9),
        ("CREATE TABLE t (x INT", "<EOF>", 1, 22),
        ("CREATE TABLE t (x INT));", ")", 1, 23),
        ("CREATE", "<EOF>", 1, 7),
    ],
)
def test_what_the_real_compiler_rejects_is_a_sql_error_naming_the_token(
    program: str, token: str, line: int, column: int
) -> None:
    info = sql_errors(program)
    assert info is not None
    assert compile_outcome(program) == "sql"
    assert info["exit_code"] == 1
    [message] = info["messages"]
    assert message["error_type"] == "Error parsing SQL"
    assert message["message"] == f'Encountered "{token}" at line {line}, column {column}.'
    assert (message["start_line_number"], message["start_column"]) == (line, column)
    assert message["end_line_number"] == line
    assert message["warning"] is False
    SchemaChecker.load().validate(info, "SqlCompilationInfo")


def test_the_snippet_points_at_the_token_as_the_compiler_draws_it() -> None:
    info = sql_errors("CREATE TABLE t (x INT);\nSELEKT 1\nCREATE VIEW v AS SELECT 1;")
    assert info is not None
    [message] = info["messages"]
    assert (message["start_column"], message["end_column"]) == (1, 6)
    assert message["snippet"] == (
        "    2|SELEKT 1\n      ^^^^^^\n    3|CREATE VIEW v AS SELECT 1;\n"
    )


@pytest.mark.parametrize("program", ["CREATE TABLE t (s VARCHAR DEFAULT 'open", "/* open"])
def test_an_unclosed_string_or_comment_is_a_lexical_error(program: str) -> None:
    info = sql_errors(program)
    assert info is not None
    [message] = info["messages"]
    assert message["error_type"] == "Error parsing SQL"
    assert message["message"].startswith("Lexical error at line 1, column ")
    assert "Encountered: <EOF>" in message["message"]


def test_scripted_markers_win_over_the_rule() -> None:
    assert compile_outcome(f"CREATE TABLE t (x INT); {SQL_ERROR_MARKER}") == "sql"
    assert compile_outcome(f"CREATE TABLE t (x INT); {RUST_ERROR_MARKER}") == "rust"
    # A scripted SQL error of a program the rule accepts says it was scripted.
    error = program_error_after("SqlError", f"CREATE TABLE t (x INT); {SQL_ERROR_MARKER}")
    [message] = error["sql_compilation"]["messages"]
    assert "scripted" in message["message"]


@pytest.mark.parametrize(
    "status",
    ["Pending", "CompilingSql", "SqlCompiled", "CompilingRust", "Success", "SqlError",
     "RustError", "SystemError"],
)  # fmt: skip
def test_every_program_error_is_valid_against_the_spec(status: str) -> None:
    error = program_error_after(status, "invalid-sql")
    SchemaChecker.load().validate(error, "ProgramError")
    if status == "SqlError":
        assert error["sql_compilation"]["messages"][0]["message"].startswith(
            'Encountered "invalid"'
        )
    if status in ("Pending", "CompilingSql"):
        assert error == {"sql_compilation": None, "rust_compilation": None, "system_error": None}
