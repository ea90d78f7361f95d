"""An import-linter contract type: no import cycles between modules, anywhere in the packages.

import-linter's own `acyclic_siblings` judges packages by their descendants together, which is
stricter than the rule we keep (apps may use each other's lower layers both ways, e.g. markets'
services use accounts' access while accounts' access reads markets' models). What we forbid is a
circle of *modules*: it makes import order matter and usually means two modules are one.
Lazy (function-level) imports count too: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import sys

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def module_cycles(graph: grimp.ImportGraph, roots: set[str]) -> list[list[str]]:
    """Return every strongly connected group of two or more modules under `roots` (Tarjan)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in roots)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(modules) + 100))

    def visit(module: str) -> None:
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.split(".")[0] not in roots:
                continue
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    try:
        for module in modules:
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(cycles)


class AcyclicModulesContract(Contract):
    """Contract type `acyclic_modules`: no module of `containers` takes part in an import cycle."""

    type_name = "acyclic_modules"
    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        cycles = module_cycles(graph, set(self.containers))  # type: ignore[arg-type]
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(" ↔ ".join(cycle), bold=True)
            output.new_line()
