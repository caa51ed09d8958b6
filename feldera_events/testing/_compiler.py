"""Owns the simulated SQL compiler: which program texts compile, and the ``program_error``
bodies each final program status carries.

Pure.  The rule is README "Fidelity"'s: comments and empty statements are ignored (the
empty program compiles, as the real compiler's); each statement must begin as one of
Feldera's SQL grammar does (``_STATEMENTS``), with quotes and parentheses closed;
anything else ends in ``SqlError`` with one ``Error parsing SQL`` message in the real
compiler's shape, naming the first offending token.  Types, names and connectors are
not checked.  Scripted outcomes win over the rule: the ``-- fake: sql_error`` /
``-- fake: rust_error`` markers, ``compile_error=`` and ``fail_next_compile``.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NamedTuple

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


class _Token(NamedTuple):
    text: str
    line: int
    column: int


class _ParseError(Exception):
    def __init__(self, message: str, line: int, column: int, length: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.length = max(1, length)


#: One lexeme: a line comment, a block comment (only ``/*`` if it is not closed), a quoted
#: string or name whose doubled quote is an escaped one (only the quote if it is not
#: closed), white space, a word, or any other character.
_LEXEME = re.compile(
    r"--[^\n]*|/\*(?:.*?\*/)?|'(?:[^']|'')*+'|\"(?:[^\"]|\"\")*+\"|`(?:[^`]|``)*+`"
    r"|\s+|[A-Za-z_][A-Za-z0-9_$]*|.",
    re.DOTALL,
)


def _statements(code: str) -> list[list[_Token]]:
    """The program's statements as token lists (comments dropped, strings one token)."""
    statements: list[list[_Token]] = [[]]
    depth: list[_Token] = []
    line, line_start = 1, 0
    for match in _LEXEME.finditer(code):
        text, start = match.group(), match.start()
        token = _Token(text, line, start - line_start + 1)
        if text == "/*":
            raise _ParseError(
                f"Lexical error at line {line}, column {token.column}.  Encountered: <EOF> "
                'after : "/*"',
                line,
                token.column,
                2,
            )
        if text in ("'", '"', "`"):
            raise _ParseError(
                f"Lexical error at line {line}, column {token.column}.  Encountered: <EOF> "
                f"after : {code[start : start + 20]!r}",
                line,
                token.column,
                1,
            )
        if text == ")" and not depth:
            raise _ParseError(_encountered(token), line, token.column, 1)
        if text == ";" and not depth:
            statements.append([])
        elif not text.isspace() and not text.startswith(("--", "/*")):
            if text == "(":
                depth.append(token)
            elif text == ")":
                depth.pop()
            statements[-1].append(token)
        if "\n" in text:
            line += text.count("\n")
            line_start = start + text.rindex("\n") + 1
    if depth:
        column = len(code) - line_start + 1
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
