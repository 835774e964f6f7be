"""The layers of docs/architecture.md, enforced: an import that crosses a layer the wrong
way fails here, as does a module too long to hold in one's head without a stated reason,
or a file that names a path outside the repository."""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Layer of a module, by the longest matching dotted prefix.
LAYERS: dict[str, str] = {
    "app.core": "core",
    "app.arena": "arena",
    "app.web": "web",
    "app.cli": "cli",
    "app": "app",  # the package's own __init__
    "tgi": "tgi",
    "analytics": "analytics",
    "benchmark": "benchmark",
}
# What each layer may import (itself included). docs/architecture.md draws this table.
MAY_IMPORT: dict[str, set[str]] = {
    "app": set(),
    "core": {"core"},
    "arena": {"core", "arena"},
    "tgi": {"core", "tgi"},
    "analytics": {"core", "analytics"},
    "web": {"core", "arena", "analytics", "web"},
    "benchmark": {"core", "arena", "tgi", "analytics", "web", "benchmark"},
    "cli": {"core", "arena", "tgi", "analytics", "web", "benchmark", "cli"},
}
PACKAGES = ("app", "tgi", "analytics", "benchmark")
MAX_LINES = 420  # "about 400"
LONG_REASON = "Why this module is long:"
# The shared folder beside a checkout on the developers' machines, and that machine's own
# root (spelt in pieces so that this file does not match itself).
OUTSIDE = r"\.\./" + "shared|/" + "work/"


@dataclass(frozen=True)
class Crossing:
    module: str
    imported: str
    line: int

    def __str__(self) -> str:
        return (
            f"{self.module}:{self.line} imports {self.imported} "
            f"({layer_of(self.module)} may not import {layer_of(self.imported)})"
        )


def layer_of(module: str) -> str:
    for prefix in sorted(LAYERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return LAYERS[prefix]
    raise KeyError(module)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_imports(source: str, module: str) -> list[tuple[str, int]]:
    """(imported project module, line) for every import in `source`, wherever it sits
    (functions and `TYPE_CHECKING` blocks included)."""
    found: list[tuple[str, int]] = []
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = package[: len(package) - node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return [(name, line) for name, line in found if name.split(".")[0] in PACKAGES]


def crossings(source: str, module: str) -> list[Crossing]:
    allowed = MAY_IMPORT[layer_of(module)]
    return [
        Crossing(module, name, line)
        for name, line in project_imports(source, module)
        if layer_of(name) not in allowed
    ]


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_every_import_goes_down_the_layers() -> None:
    found = [
        str(c)
        for path in source_files()
        for c in crossings(path.read_text("utf-8"), module_name(path))
    ]
    assert not found, "imports across layers:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("app.core.registry", "from app.arena.matchmaking import pick_pairing"),
        ("tgi.supervisor", "def f():\n    from app.web.server import serve_app"),
        ("analytics.ratings", "import app.cli"),
        ("app.arena.battle", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from tgi.supervisor import Supervisor"),
        ("app.core.store.export", "from ...arena import session"),
        ("benchmark.loadtest", "from app.cli.main import main"),
    ],
)  # fmt: skip
def test_a_wrong_import_is_caught(module: str, source: str) -> None:
    assert len(crossings(source, module)) == 1


def test_the_layers_of_the_docs_are_the_layers_tested() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    for layer, allowed in MAY_IMPORT.items():
        if layer == "app":
            continue
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{layer}`")), "")
        assert row, f"docs/architecture.md has no row for layer {layer}"
        cells = row.split("|")
        may = {name.strip(" `") for name in cells[3].split(",") if name.strip(" `-")}
        assert may == allowed - {layer}, (layer, may)


def test_long_modules_say_why() -> None:
    long = [
        f"{path.relative_to(ROOT)} ({n} lines)"
        for path in [*source_files(), *sorted((ROOT / "tests").glob("*.py"))]
        if (n := len(path.read_text("utf-8").splitlines())) > MAX_LINES
        and LONG_REASON not in (ast.get_docstring(ast.parse(path.read_text("utf-8"))) or "")
    ]
    assert not long, f"over {MAX_LINES} lines without '{LONG_REASON}' in the docstring: {long}"


def test_nothing_names_a_path_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "grep", "-lIE", OUTSIDE, "--", ".", ":!uv.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if tracked.returncode not in (0, 1):  # not a git checkout (an sdist): nothing to check
        pytest.skip(f"git grep failed: {tracked.stderr.strip()}")
    named = tracked.stdout.split()
    assert not named, f"files naming a path outside the repository: {named}"
