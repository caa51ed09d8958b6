"""A griffe extension (mkdocs.yml, mkdocstrings ``extensions:``): our docstrings' Sphinx
markup, rendered as Markdown.

The docstrings are written for ``help()`` and Sphinx-style readers: roles such as
``:class:`EventsClient``` and ``:meth:`~Poller.wait_until_running```, and ``::`` before
a literal block. In Markdown a role would show as ``:class:`` followed by code; this
extension turns each into a link to the object's reference entry: ``EventsClient`` is
looked up as Python would see it from the docstring's own scope (the class, then the
module and its imports), then among the names ``feldera_events`` and
``feldera_events.testing`` export. The link is optional (mkdocs-autorefs): a name the
site does not document (``asyncio.sleep``, a private helper) shows as plain code, with
no warning. A trailing ``::`` becomes ``:`` (the indented block after it is code in
Markdown as it is).

A facade method defined once as ``start = Delegate("_engine", Engine.start)``
(``feldera_events.testing._fake``) is documented as the method it is: the part's
signature and docstring, in the facade's scope; a setting defined as
``timings = Setting[Timings, Timings]("_engine", "timings", doc)`` as the writable
property it is, of the kept type, with that doc.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import griffe

#: ``:role:`target``` or ``:role:`title <target>```; ``~`` shows the last part only.
ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|data|exc|mod|obj|const):"
    r"`(?P<tilde>~?)(?P<text>[^`<]+?)(?:\s*<(?P<target>[^>`]+)>)?`"
)
PUBLIC_PACKAGES = ("feldera_events", "feldera_events.testing")


def _lookup(scope: Any, dotted: str) -> str | None:
    """The canonical path of ``dotted`` seen from ``scope`` (members, then parents)."""
    first, _, rest = dotted.partition(".")
    while scope is not None:
        member = scope.members.get(first) if hasattr(scope, "members") else None
        if member is not None:
            try:
                path = member.target_path if member.is_alias else member.path
            except griffe.AliasResolutionError:
                return None
            return f"{path}.{rest}" if rest else path
        scope = scope.parent
    return None


def resolve(obj: Any, target: str, package: Any) -> str:
    """The identifier ``target`` (from ``obj``'s docstring) links to."""
    target = target.strip().removesuffix("()")
    if target.startswith("feldera_events"):
        return target
    found = _lookup(obj if obj.is_class or obj.is_module else obj.parent, target)
    if found is not None:
        return found
    for name in PUBLIC_PACKAGES:
        module = package if name == package.path else package.get_member(name.split(".", 1)[1])
        found = _lookup(module, target) if module is not None else None
        if found is not None:
            return found
    return target


def rewrite(text: str, obj: Any, package: Any) -> str:
    def link(match: re.Match[str]) -> str:
        written = match["text"].strip()
        target = match["target"] or written
        shown = written.rsplit(".", 1)[-1] if match["tilde"] else written
        if match["role"] in ("meth", "func") and not shown.endswith(")"):
            shown += "()"
        identifier = resolve(obj, target, package)
        return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'

    text = ROLE.sub(link, text)
    return re.sub(r"(?<=\S)::$", ":", text, flags=re.MULTILINE)


def delegate_as_method(attr: Any, package: Any) -> Any:
    """The method that ``attr`` (``name = Delegate("_part", Part.method)``) is, or None."""
    value = attr.value if attr.is_attribute else None
    if not isinstance(value, griffe.ExprCall) or str(value.function) != "Delegate":
        return None
    part, _, name = value.arguments[1].canonical_path.partition(".")[2].rpartition(".")
    target = package.get_member(part).all_members[name]  # inherited ones too
    method = griffe.Function(
        attr.name,
        lineno=attr.lineno,
        endlineno=attr.endlineno,
        parameters=target.parameters,
        returns=target.returns,
    )
    if target.docstring is not None:
        docstring = target.docstring
        method.docstring = griffe.Docstring(
            docstring.value,
            parent=method,
            parser=docstring.parser,
            parser_options=docstring.parser_options,
        )
    return method


def setting_as_property(attr: Any) -> bool:
    """Make ``attr`` (``name = Setting[T, S]("_part", "name", doc)``) read as a writable
    property of type ``T`` with that doc; whether it was one."""
    value = attr.value if attr.is_attribute else None
    function = value.function if isinstance(value, griffe.ExprCall) else None
    if not isinstance(function, griffe.ExprSubscript) or str(function.left) != "Setting":
        return False
    attr.annotation = function.slice.elements[0]
    attr.value = None
    attr.labels = {"property", "writable"}
    attr.docstring = griffe.Docstring(ast.literal_eval(value.arguments[2]), parent=attr)
    return True


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring of the package once it is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        todo: list[Any] = [pkg]
        seen: set[str] = set()
        while todo:
            obj = todo.pop()
            if obj.path in seen:
                continue
            seen.add(obj.path)
            for name, member in list(obj.members.items() if obj.is_class else ()):
                method = None if member.is_alias else delegate_as_method(member, pkg)
                if method is not None:
                    obj.set_member(name, method)
                elif not member.is_alias:
                    setting_as_property(member)
            if obj.docstring is not None:
                obj.docstring.value = rewrite(obj.docstring.value, obj, pkg)
            todo.extend(m for m in obj.members.values() if not m.is_alias)
