"""Project-wide promises: imports flow one way, and every setting is documented where users look."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Return (top-level package, line) for every import in a module."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def test_signals_imports_neither_bot_nor_handlers() -> None:
    for path in (ROOT / "signals").rglob("*.py"):
        bad = {(p, line) for p, line in imported_packages(path) if p in ("bot", "handlers")}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_only_the_composition_root_names_handlers() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        bad = {(p, line) for p, line in imported_packages(path) if p == "handlers"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
        if path.name != "app.py":
            assert "handlers." not in path.read_text(), path
    # bot/app.py reaches the front-ends only through importlib, at run time.
    assert 'import_module(f"handlers.{name}")' in (ROOT / "bot" / "app.py").read_text()


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))


def test_every_setting_is_in_env_example_and_the_readme() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    names = env_example_names()
    assert fields == names, (fields - names, names - fields)
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", readme, re.MULTILINE))
    assert table == names, (names - table, table - names)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(.+?)\n```", readme, re.DOTALL)
    test_command = next(c for c in commands if "pytest" in c)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
