"""Owns the simulated SQL compiler: which program texts compile, and the ``program_error``
bodies each final program status carries.

Pure: no I/O.  The rule (README "Fidelity" says the same):

- A program is a list of statements separated by ``;``.  Comments (``-- ...`` to the end
  of the line, ``/* ... */``) and empty statements are ignored, so the empty program
  compiles (a valid program without tables, as the real compiler says).
- Each statement must begin as the statements of Feldera's SQL grammar do: ``CREATE``
  followed by ``TABLE``, ``VIEW``, ``LOCAL VIEW``, ``MATERIALIZED VIEW``, ``FUNCTION``,
  ``TYPE``, ``INDEX``, ``AGGREGATE`` or ``LINEAR AGGREGATE``; ``DECLARE RECURSIVE VIEW``;
  ``LATENESS``; or ``SET``.  Quotes and parentheses must be closed.
- Anything else (``invalid-sql``, ``SELEKT 1``, a bare ``SELECT``) ends in ``SqlError``
  with one message of error type ``Error parsing SQL`` naming the first offending token,
  its line and column, and a snippet, in the real compiler's message shape.

What the real compiler checks beyond that (types, names, connectors) is not simulated:
such a program compiles here.  Scripted outcomes win over the rule: the
``-- fake: sql_error`` / ``-- fake: rust_error`` markers, ``compile_error=`` and
``fail_next_compile``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = [
    "RUST_ERROR_MARKER",
    "SQL_ERROR_MARKER",
    "CompileError",
    "compile_outcome",
    "program_error_after",
    "sql_errors",
]

CompileError = Literal["sql", "rust", "system"]

#: Write one of these in ``program_code`` to make its compilation fail as scripted.
SQL_ERROR_MARKER = "-- fake: sql_error"
RUST_ERROR_MARKER = "-- fake: rust_error"

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
#: The words each statement may begin with, and what must follow the first.
_STATEMENTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "CREATE": (
        ("TABLE",),
        ("VIEW",),
        ("LOCAL", "VIEW"),
        ("MATERIALIZED", "VIEW"),
        ("FUNCTION",),
        ("TYPE",),
        ("INDEX",),
        ("AGGREGATE",),
        ("LINEAR", "AGGREGATE"),
    ),
    "DECLARE": (("RECURSIVE", "VIEW"),),
    "LATENESS": ((),),
    "SET": ((),),
}


class _Token:
    __slots__ = ("column", "line", "text")

    def __init__(self, text: str, line: int, column: int) -> None:
        self.text = text
        self.line = line
        self.column = column


class _ParseError(Exception):
    def __init__(self, message: str, line: int, column: int, length: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.length = max(1, length)


def _statements(code: str) -> list[list[_Token]]:
    """The program's statements as token lists (comments dropped, strings one token)."""
    statements: list[list[_Token]] = [[]]
    depth: list[_Token] = []
    i, line, column = 0, 1, 1

    def advance(n: int) -> None:
        nonlocal i, line, column
        for char in code[i : i + n]:
            if char == "\n":
                line, column = line + 1, 1
            else:
                column += 1
        i += n

    while i < len(code):
        char = code[i]
        if code.startswith("--", i):
            end = code.find("\n", i)
            advance((len(code) if end < 0 else end) - i)
        elif code.startswith("/*", i):
            end = code.find("*/", i + 2)
            if end < 0:
                raise _ParseError(
                    f"Lexical error at line {line}, column {column}.  Encountered: <EOF> "
                    'after : "/*"',
                    line,
                    column,
                    2,
                )
            advance(end + 2 - i)
        elif char in "'\"`":
            end = code.find(char, i + 1)
            while end >= 0 and code.startswith(char * 2, end):
                end = code.find(char, end + 2)  # a doubled quote is an escaped one
            if end < 0:
                raise _ParseError(
                    f"Lexical error at line {line}, column {column}.  Encountered: <EOF> "
                    f"after : {code[i : i + 20]!r}",
                    line,
                    column,
                    1,
                )
            statements[-1].append(_Token(code[i : end + 1], line, column))
            advance(end + 1 - i)
        elif char.isspace():
            advance(1)
        elif char == ";" and not depth:
            statements.append([])
            advance(1)
        else:
            match = _WORD.match(code, i)
            text = match.group(0) if match else char
            token = _Token(text, line, column)
            if text == "(":
                depth.append(token)
            elif text == ")":
                if not depth:
                    raise _ParseError(_encountered(token), line, column, 1)
                depth.pop()
            statements[-1].append(token)
            advance(len(text))
    if depth:
        raise _ParseError(f'Encountered "<EOF>" at line {line}, column {column}.', line, column, 1)
    return [s for s in statements if s]


def _encountered(token: _Token) -> str:
    return f'Encountered "{token.text}" at line {token.line}, column {token.column}.'


def _check_statement(tokens: list[_Token]) -> None:
    first = tokens[0]
    follows = _STATEMENTS.get(first.text.upper())
    if follows is None:
        raise _ParseError(_encountered(first), first.line, first.column, len(first.text))
    matched = 0  # the longest run of expected words any statement form matches
    for words in follows:
        n = 0
        while n < len(words) and n + 1 < len(tokens) and tokens[n + 1].text.upper() == words[n]:
            n += 1
        if n == len(words):
            return
        matched = max(matched, n)
    if matched + 1 < len(tokens):
        bad = tokens[matched + 1]
        raise _ParseError(_encountered(bad), bad.line, bad.column, len(bad.text))
    last = tokens[-1]
    line, column = last.line, last.column + len(last.text)
    raise _ParseError(f'Encountered "<EOF>" at line {line}, column {column}.', line, column, 1)


def _snippet(code: str, line: int, column: int, length: int) -> str:
    lines = code.split("\n")
    out = f"{line:5d}|{lines[line - 1] if line <= len(lines) else ''}\n"
    out += " " * (column + 5) + "^" * length + "\n"
    if line < len(lines) and lines[line]:
        out += f"{line + 1:5d}|{lines[line]}\n"
    return out


def sql_errors(code: str) -> dict[str, Any] | None:
    """The ``SqlCompilationInfo`` the simulated compiler reports for ``code`` when it rejects
    it (one ``Error parsing SQL`` message), or ``None`` when it compiles."""
    try:
        for statement in _statements(code):
            _check_statement(statement)
    except _ParseError as exc:
        snippet = _snippet(code, exc.line, exc.column, exc.length)
        return _sql_info(exc.message, exc.line, exc.column, exc.length, snippet)
    return None


def _sql_info(
    message: str, line: int, column: int, length: int, snippet: str | None
) -> dict[str, Any]:
    return {
        "exit_code": 1,
        "messages": [
            {
                "start_line_number": line,
                "start_column": column,
                "end_line_number": line,
                "end_column": column + length - 1,
                "warning": False,
                "error_type": "Error parsing SQL",
                "message": message,
                "snippet": snippet,
            }
        ],
    }


def compile_outcome(code: str) -> CompileError | None:
    """How compiling ``code`` ends: a scripted marker, else the rule above."""
    if SQL_ERROR_MARKER in code:
        return "sql"
    if RUST_ERROR_MARKER in code:
        return "rust"
    return "sql" if sql_errors(code) is not None else None


_SQL_OK: dict[str, Any] = {"exit_code": 0, "messages": []}


def program_error_after(status: str, code: str) -> dict[str, Any]:
    """The ``program_error`` a pipeline carries once compilation reached ``status``.

    ``SqlError`` describes what is wrong with ``code``; a scripted SQL error of a program
    the rule accepts says it was scripted.  Rust and system errors are fixed samples.
    """
    if status == "SqlError":
        info = sql_errors(code) or _sql_info(
            "Simulated SQL error (scripted: compile_error, fail_next_compile or "
            f"{SQL_ERROR_MARKER!r})",
            1,
            1,
            1,
            None,
        )
        return {"sql_compilation": info, "rust_compilation": None, "system_error": None}
    if status == "RustError":
        rust = {
            "exit_code": 101,
            "stdout": "",
            "stderr": "error[E0308]: mismatched types (simulated)",
        }
        return {"sql_compilation": _SQL_OK, "rust_compilation": rust, "system_error": None}
    if status == "SystemError":
        return {
            "sql_compilation": _SQL_OK,
            "rust_compilation": None,
            "system_error": "Compiler server crashed (simulated)",
        }
    if status == "Success":
        rust = {"exit_code": 0, "stdout": "", "stderr": ""}
        return {"sql_compilation": _SQL_OK, "rust_compilation": rust, "system_error": None}
    if status in ("SqlCompiled", "CompilingRust"):
        return {"sql_compilation": _SQL_OK, "rust_compilation": None, "system_error": None}
    return {"sql_compilation": None, "rust_compilation": None, "system_error": None}
