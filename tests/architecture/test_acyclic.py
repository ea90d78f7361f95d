"""The `acyclic_modules` import-linter contract finds module cycles, lazy ones included."""

from __future__ import annotations

import grimp

from tests.architecture.acyclic import module_cycles


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for importer, imported in imports:
        g.add_module(importer)
        g.add_module(imported)
        g.add_import(importer=importer, imported=imported)
    return g


def test_a_chain_is_no_cycle() -> None:
    g = graph(("app.views", "app.services"), ("app.services", "app.models"))
    assert module_cycles(g, {"app"}) == []


def test_a_two_module_cycle_is_found() -> None:
    g = graph(("app.services", "app.jobs"), ("app.jobs", "app.services"))
    assert module_cycles(g, {"app"}) == [["app.jobs", "app.services"]]


def test_a_long_cycle_across_packages_is_found_once() -> None:
    g = graph(
        ("portal.outbox", "portal.publishing"),
        ("portal.publishing", "portal.tables.publisher"),
        ("portal.tables.publisher", "portal.tables.items"),
        ("portal.tables.items", "portal.outbox"),
        ("portal.views", "portal.outbox"),
    )
    assert module_cycles(g, {"portal"}) == [
        ["portal.outbox", "portal.publishing", "portal.tables.items", "portal.tables.publisher"]
    ]


def test_imports_outside_the_roots_are_ignored() -> None:
    g = graph(("app.a", "django.db"), ("django.db", "app.a"))
    assert module_cycles(g, {"app"}) == []
