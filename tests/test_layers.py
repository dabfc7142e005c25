"""The layers of the house, checked by reading every module under ``reminder/`` with ``ast``.

Pure rules -> domain -> web, never upward: the rules never touch the database or Flask, the
domain never reaches into the web package, no view imports another view (what two views share
lives in ``web/common.py`` or ``web/api/common.py``), and no module imports another's private
(``_underscored``) names. Imports inside functions count too: they are still imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reminder"
PURE_RULES = ("missed_dose", "schedule", "times", "metrics", "svg", "charts", "formulary", "travel", "progress")
# The app factory composes the web app, and db.py keeps one connection per Flask app context:
# the only domain modules that may import Flask.
FLASK_ALLOWED = ("reminder", "reminder.db")
WEB_SHARED = (
    "reminder.web",
    "reminder.web.common",
    "reminder.web.errors",
    "reminder.web.api",
    "reminder.web.api.common",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
VIEWS = sorted(name for name in MODULES if name.startswith("reminder.web.") and name not in WEB_SHARED)


def imports_of(name: str) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in module ``name``, with
    relative imports resolved; ``from . import x`` counts as importing ``package.x`` when
    that is a module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [alias.name for alias in node.names]
            found.append((base, names))
            found += [(f"{base}.{n}", []) for n in names if f"{base}.{n}" in MODULES]
    return found


def private_attributes_used(name: str) -> list[tuple[str, str]]:
    """(module, name) for each ``module._name`` read through a module this one imported."""
    tree = ast.parse(MODULES[name].read_text())
    bound = {}  # local name -> the reminder module it stands for
    for module, names in imports_of(name):
        for n in names:
            if f"{module}.{n}" in MODULES:
                bound[n] = f"{module}.{n}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bound.update({a.asname: a.name for a in node.names if a.asname and a.name in MODULES})
    return [
        (bound[node.value.id], node.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in bound
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]


def imported_modules(name: str) -> set[str]:
    return {module for module, _ in imports_of(name)}


def is_within(module: str, top: str) -> bool:
    return module == top or module.startswith(top + ".")


@pytest.mark.parametrize("rule", PURE_RULES)
def test_a_pure_rule_imports_neither_the_database_nor_flask(rule):
    upward = {
        m
        for m in imported_modules(f"reminder.{rule}")
        if is_within(m, "reminder.db") or is_within(m, "flask") or is_within(m, "sqlite_utils") or m == "sqlite3"
    }
    assert not upward, f"reminder/{rule}.py is a pure rule but imports {sorted(upward)}"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not is_within(n, "reminder.web")))
def test_a_domain_module_never_imports_the_web_package(name):
    upward = {m for m in imported_modules(name) if is_within(m, "reminder.web") or is_within(m, "flask_login")}
    if name not in FLASK_ALLOWED:
        upward |= {m for m in imported_modules(name) if is_within(m, "flask")}
    if name == "reminder":  # the app factory registers the web package: that is its job
        upward -= {"reminder.web"}
    assert not upward, f"{name} is domain code but imports {sorted(upward)}"


@pytest.mark.parametrize("view", VIEWS)
def test_a_view_module_never_imports_another_view_module(view):
    others = {m for m in imported_modules(view) if m in VIEWS and m != view}
    assert not others, f"{view} imports the view modules {sorted(others)}: give what they share a home in common.py"


@pytest.mark.parametrize("shared", ["reminder.web.common", "reminder.web.errors", "reminder.web.api.common"])
def test_what_views_share_imports_no_view_module(shared):
    views = {m for m in imported_modules(shared) if m in VIEWS}
    assert not views, f"{shared} is shared by the views but imports {sorted(views)}: that would be a cycle"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_imports_a_private_name_from_another_module(name):
    private = [
        f"{module}.{n}"
        for module, names in imports_of(name)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    private += [f"{module}.{attr}" for module, attr in private_attributes_used(name)]
    assert not private, f"{name} uses private names {private} of other modules: make them public in a common home"


def test_the_layer_checks_see_every_view_and_every_rule():
    """A guard on the guard: a renamed package or a parse that finds nothing would pass vacuously."""
    assert {f"reminder.{rule}" for rule in PURE_RULES} <= set(MODULES)
    assert {"reminder.web.patient", "reminder.web.dose_link", "reminder.web.api.doses"} <= set(VIEWS)
    assert "reminder.web.common" in imported_modules("reminder.web.patient")
    assert "reminder.ledger" in imported_modules("reminder.web.api.doses")
