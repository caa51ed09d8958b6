"""Every relative link of README.md and docs/**/*.md leads somewhere: a file that exists
and, given a ``#fragment``, an anchor of that page.

Anchors are what each renderer makes: in docs/ pages those of mkdocs (Python-Markdown's
``toc`` slugs, ``{ #id }`` attributes, what docs/hooks.py generates, what a ``--8<--``
include brings, and mkdocstrings' ids for a ``::: target`` directive and its members);
in README.md, which people read on GitHub or in a clone, GitHub's slugs. A docs/ page
links only inside docs/ (mkdocs cannot serve a file outside it). ``mkdocs build
--strict`` (in .ci/run) checks the rendered site again, with the docs extra installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from cli_support import ROOT

DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
#: ``[text](target)`` and ``![alt](target)``, with an optional ``"title"``.
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def _load_hooks() -> object:
    spec = importlib.util.spec_from_file_location("docs_hooks_links", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()


@attrs.frozen
class Link:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: ({self.target})"


def outside_fences(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the lines outside fenced code blocks."""
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if fence:
            if m and m.group(1).startswith(fence[0]) and len(m.group(1)) >= len(fence):
                fence = ""
            continue
        if m:
            fence = m.group(1)
            continue
        yield number, line


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code spans blanked."""
    for number, line in outside_fences(text):
        yield number, re.sub(r"(`+)(?:(?!\1).)+?\1", "``", line)


def links(page: Path, text: str) -> list[Link]:
    """The links of a page's prose; a link's text may span lines."""
    kept = dict(prose_lines(text))
    prose = "\n".join(kept.get(n, "") for n in range(1, text.count("\n") + 2))
    return [
        Link(page, prose.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(prose)
    ]


def mkdocs_slug(heading: str) -> str:
    """Python-Markdown's ``toc`` slugify (mkdocs' default)."""
    value = unicodedata.normalize("NFKD", heading).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value).strip().lower()
    return re.sub(r"[-\s]+", "-", value)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, each space a ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def heading_text(raw: str) -> tuple[str, str | None]:
    """A heading's plain text, and the id of its ``{ #id }`` attribute if it has one."""
    explicit = None
    attr = re.search(r"\s*\{([^}]*)\}\s*$", raw)
    if attr:
        found = re.search(r"#([\w.:-]+)", attr.group(1))
        explicit = found.group(1) if found else None
        raw = raw[: attr.start()]
    raw = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", raw)  # a link: its text
    raw = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", raw)  # a cross-reference: its text
    return raw.replace("`", "").replace("*", "").strip(), explicit


def rendered_text(page: Path) -> str:
    """The page's Markdown as mkdocs converts it: generated parts and includes in."""
    text = page.read_text(encoding="utf-8")
    if DOCS in page.parents:
        expand: Callable[[str], str] = hooks.expand  # type: ignore[attr-defined]
        text = expand(text)
        text = SNIPPET.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"), text)
    return text


def _has_attribute(target: str, rest: str) -> bool:
    """Whether ``rest`` (``watch``, ``Fault.status``) names a member of ``target``."""
    try:
        obj: object = importlib.import_module(target)
    except ImportError:
        module, _, name = target.rpartition(".")
        obj = getattr(importlib.import_module(module), name)
    for part in rest.split("."):
        if not hasattr(obj, part) and part not in getattr(obj, "__annotations__", {}):
            attrs_fields = getattr(obj, "__attrs_attrs__", ())
            if not any(f.name == part for f in attrs_fields):
                return False
        obj = getattr(obj, part, None)
    return True


def anchors(page: Path, slug: Callable[[str], str]) -> Callable[[str], bool]:
    """Whether a fragment is an anchor of ``page``."""
    text = rendered_text(page)
    ids: set[str] = set()
    targets: list[str] = []
    for _, line in outside_fences(text):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if heading:
            plain, explicit = heading_text(heading.group(1))
            ids.add(explicit or slug(plain))
        directive = re.match(r"^::: *(\S+)", line)
        if directive:
            targets.append(directive.group(1))
    ids.update(re.findall(r"\{[^}]*#([\w.:-]+)[^}]*\}", text))  # attr lists anywhere
    ids.update(re.findall(r'\bid="([^"]+)"', text))  # raw HTML anchors

    def has(fragment: str) -> bool:
        if fragment in ids or fragment in targets:
            return True
        return any(
            fragment.startswith(t + ".") and _has_attribute(t, fragment[len(t) + 1 :])
            for t in targets
        )

    return has


def problems(link: Link) -> str | None:
    """What is wrong with ``link``, or None."""
    target = link.target
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
        return None  # http:, https:, mailto: ... (not a relative link)
    path, _, fragment = target.partition("#")
    resolved = (link.source.parent / path).resolve() if path else link.source
    if not resolved.exists():
        return f"{link}: no such file {resolved.relative_to(ROOT) if resolved.is_relative_to(ROOT) else resolved}"
    if DOCS in link.source.parents and DOCS not in resolved.parents:
        return f"{link}: a docs page links outside docs/ (mkdocs cannot serve it)"
    if fragment:
        if resolved.suffix != ".md":
            return f"{link}: an anchor in a file that is not a page"
        slug = github_slug if link.source == README else mkdocs_slug
        if not anchors(resolved, slug)(fragment):
            return f"{link}: no anchor #{fragment} in {resolved.relative_to(ROOT)}"
    return None


ALL_LINKS = [link for page in PAGES for link in links(page, page.read_text(encoding="utf-8"))]


def test_pages_have_relative_links() -> None:
    relative = [link for link in ALL_LINKS if "://" not in link.target]
    assert len(relative) > 50, relative  # the checker sees the links there are
    assert any(link.source == README and link.target.startswith("docs/") for link in relative)
    assert any("#" in link.target for link in relative)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    found = [problems(link) for link in links(page, page.read_text(encoding="utf-8"))]
    broken = [p for p in found if p]
    assert not broken, "\n".join(broken)


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    """The checker fails on a missing file, a missing anchor, a link out of docs/, and
    passes what renders: a heading's slug, a ``{ #id }``, a reference member."""
    page = DOCS / "guides" / "ci.md"

    def check(target: str, source: Path = page) -> str | None:
        return problems(Link(source, 1, target))

    assert check("no-such-page.md") is not None
    assert check("../concepts.md#no-such-heading") is not None
    assert check("../../README.md") is not None  # outside docs/
    assert check("../concepts.md#since-when-it-is-needed-and-when-not") is None
    assert check("../reference/cli.md#fake-server") is None  # generated by docs/hooks.py
    assert check("../reference/waiting.md#feldera_events.Poller.watch") is None
    assert check("../reference/waiting.md#feldera_events.Poller.no_such_method") is not None
    assert check("../benchmarks.md#coalescing") is None  # from an included file
    assert check("#exit-codes") is None
    assert check("https://example.com/x.md#anything") is None
    assert check("docs/guides/ci.md#exit-codes", README) is None
    assert check("docs/guides/ci.md#no-such-heading", README) is not None
    # Links in code are not links.
    text = "a `[x](nowhere.md)` b\n```\n[y](nowhere.md)\n```\n[z](here.md) [two\nlines](b.md)\n"
    found = links(tmp_path / "p.md", text)
    assert [(link.line, link.target) for link in found] == [(5, "here.md"), (5, "b.md")]
    assert mkdocs_slug("`since`: when it is needed, and when not") == (
        "since-when-it-is-needed-and-when-not"
    )
    assert github_slug("Start them, then wait: `examples/orchestrator.py`".replace("`", "")) == (
        "start-them-then-wait-examplesorchestratorpy"
    )
