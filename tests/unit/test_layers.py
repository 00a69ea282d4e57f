"""The layers only look down (README.md "Architecture").

Every module's imports are read with ``ast``: at the top, inside functions and
under ``TYPE_CHECKING`` alike. :data:`LAYERS`, declared once here, names each
part of the package and the parts it may import directly; a part may also
import what those may import, and nothing else. The table must stay a
layering (no part reaches itself through it), it must keep the separations
the architecture promises (the card side and the terminal side apart, the
settlement client and the center apart, the CLI on top), and no two modules
may import each other, directly or round a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sscard_terminal"
ROOT = "sscard_terminal"

#: the parts of the package, bottom first, each with the parts it may import
#: directly (besides itself); what those may import, it may import too. A
#: module belongs to the longest part its name starts with.
LAYERS: dict[str, frozenset[str]] = {
    # the bottom: the one status-word table, errors, data locations, codecs
    "apdu.status": frozenset(),
    "errors": frozenset({"apdu.status"}),
    "yaml_syntax": frozenset(),
    "shipped": frozenset(),
    "codecs": frozenset({"errors"}),
    "apdu": frozenset({"codecs"}),
    "crypto": frozenset({"errors", "yaml_syntax", "shipped"}),
    "person": frozenset({"codecs"}),
    # the card side: the virtual card, and its link to pcscd
    "vcard": frozenset({"apdu", "crypto", "person", "yaml_syntax"}),
    "vpcd": frozenset({"vcard"}),
    # the terminal side: transports, the card driver
    "transport": frozenset({"apdu"}),
    "transport.virtual": frozenset({"transport", "vcard"}),  # in-process readers hold cards
    "driver": frozenset({"transport", "crypto", "person"}),
    "keyservice": frozenset({"crypto", "codecs", "yaml_syntax"}),
    "system": frozenset({"errors"}),
    # the settlement client and the center: each speaks the wire format on its own
    "settlement": frozenset({"codecs", "yaml_syntax"}),
    "center": frozenset({"codecs", "yaml_syntax"}),
    # what composes them
    "terminal": frozenset({"driver", "settlement"}),
    "agent": frozenset({"terminal"}),
    "kiosk": frozenset({"terminal"}),
    "native": frozenset({"terminal"}),
    "demo_settlement": frozenset({"terminal", "center", "vcard"}),
    "demo": frozenset({"demo_settlement", "vpcd", "system"}),
    # the top
    "cli": frozenset({"demo", "agent", "kiosk", "native", "keyservice", "vpcd", "system"}),
    "": frozenset(),  # the package itself (__init__)
}

CARD_SIDE = frozenset({"vcard", "vpcd"})
TERMINAL_SIDE = frozenset({"transport", "driver", "terminal", "agent", "kiosk", "native"})
#: where the terminal side may reach the card side (README: the virtual transport)
CARD_SIDE_DOORS = frozenset({"transport.virtual"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(module: str) -> Iterator[tuple[str, int]]:
    """(module imported, line) for every import of the package in ``module``:
    ``from package import module`` counts as importing that module."""
    known = modules()
    tree = ast.parse(known[module].read_text(encoding="utf-8"))
    package = module if known[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == ROOT:
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != ROOT:
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield (target if target in known else base), node.lineno


def part_of(module: str) -> str:
    name = module.removeprefix(ROOT).removeprefix(".")
    best = ""
    for part in LAYERS:
        if part and (name == part or name.startswith(part + ".")) and len(part) > len(best):
            best = part
    return best


@cache
def reachable(part: str) -> frozenset[str]:
    """The parts ``part`` may import: the ones it names and theirs, transitively."""
    seen: set[str] = set()
    todo = list(LAYERS[part])
    while todo:
        below = todo.pop()
        if below not in seen:
            seen.add(below)
            todo.extend(LAYERS[below])
    return frozenset(seen)


def test_every_module_belongs_to_a_declared_part() -> None:
    lost = [m for m in modules() if m != ROOT and part_of(m) == ""]
    assert lost == [], f"declare these in LAYERS: {lost}"
    assert all(below in LAYERS for names in LAYERS.values() for below in names)


def test_the_declared_parts_form_layers() -> None:
    assert [part for part in LAYERS if part in reachable(part)] == []


def test_the_layers_keep_the_architecture() -> None:
    for card in CARD_SIDE:
        assert not reachable(card) & (TERMINAL_SIDE | CARD_SIDE_DOORS), card
    for part in TERMINAL_SIDE:
        assert not reachable(part) & CARD_SIDE, f"{part} reaches the card side"
    assert "center" not in reachable("settlement") and "settlement" not in reachable("center")
    card_side_of_the_wire = {"apdu", "vcard", "vpcd", "transport", "driver", "crypto"}
    assert not reachable("center") & card_side_of_the_wire
    assert all("cli" not in reachable(part) for part in LAYERS if part != "cli")
    assert {"vcard", "driver", "crypto"} <= reachable("cli")


def test_imports_only_look_down() -> None:
    wrong = []
    for module in modules():
        here = part_of(module)
        for target, line in imported(module):
            there = part_of(target)
            if there != here and there not in reachable(here):
                path = modules()[module].relative_to(PACKAGE.parent)
                wrong.append(f"{path}:{line}: {here or ROOT} imports {target} ({there})")
    assert wrong == [], "imports against the layers:\n" + "\n".join(wrong)


def test_no_modules_import_each_other() -> None:
    graph = {m: {t for t, _ in imported(m) if t in modules() and t != m} for m in modules()}
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                circle = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    circle.append(member)
                    if member == node:
                        break
                if len(circle) > 1:
                    circles.append(sorted(circle))
    assert circles == [], "modules that import each other: " + "; ".join(map(" <-> ".join, circles))
