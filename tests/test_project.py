"""Project-wide promises: imports flow one way, and every setting is documented where users look."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pydantic import BaseModel

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


def test_timing_imports_nothing_above_it() -> None:
    # Time mechanics sit below signals, bot and handlers: all three may use them, never the reverse.
    paths = list((ROOT / "timing").rglob("*.py"))
    assert paths
    for path in paths:
        bad = {
            (p, line)
            for p, line in imported_packages(path)
            if p in ("signals", "bot", "handlers", "tests")
        }
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


# What each layer of `bot` may import from `bot`: the flow of DESIGN.md section 1, bottom to top.
# Settings is configuration, read by every layer above the pure model and storage.
BOT_LAYERS: dict[str, set[str]] = {
    "model": {"model"},
    "storage": {"model", "storage"},
    "watch": {"model", "storage", "watch", "settings"},
    "delivery": {"model", "storage", "delivery", "settings"},
    "charts": {"model", "storage", "charts"},
    "commands": {"model", "storage", "watch", "charts", "commands", "settings"},
    "web": {"model", "storage", "watch", "web", "settings"},
    "settings": {"settings"},
}
# Front-ends see the core only through its commands package, the model and the settings.
FRONT_END_MAY_IMPORT = {"commands", "model", "settings"}


def imported_modules(path: Path) -> set[tuple[str, int]]:
    """Return (dotted module, line) for every absolute import in a module."""
    found: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name, node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add((node.module, node.lineno))
    return found


def bot_layer(module: str) -> str | None:
    """Return the layer a `bot.` module belongs to: `bot.storage.outbox` -> `storage`."""
    parts = module.split(".")
    if parts[0] != "bot" or len(parts) < 2:
        return None
    return parts[1]


def test_bot_layers_import_downwards_only() -> None:
    for layer, allowed in BOT_LAYERS.items():
        paths = [ROOT / "bot" / "settings.py"] if layer == "settings" else None
        for path in paths or (ROOT / "bot" / layer).rglob("*.py"):
            for module, line in imported_modules(path):
                used = bot_layer(module)
                assert used is None or used in allowed, (
                    f"{path.relative_to(ROOT)}:{line} imports {module}: "
                    f"the {layer} layer may use only {sorted(allowed)}"
                )


def test_front_ends_use_only_commands_model_and_settings() -> None:
    for path in (ROOT / "handlers").rglob("*.py"):
        for module, line in imported_modules(path):
            top = module.split(".")[0]
            assert top != "signals", f"{path.relative_to(ROOT)}:{line} imports {module}"
            used = bot_layer(module)
            if top == "bot":
                assert used in FRONT_END_MAY_IMPORT, (
                    f"{path.relative_to(ROOT)}:{line} imports {module}: "
                    f"front-ends may use only bot.{{{','.join(sorted(FRONT_END_MAY_IMPORT))}}}"
                )
            if used == "commands":
                # The package's public names, not its private modules.
                assert module == "bot.commands", f"{path.relative_to(ROOT)}:{line} imports {module}"


def test_layering_check_catches_a_violation(tmp_path: Path) -> None:
    # The checks above would pass vacuously if the walk found nothing: make sure it sees a breach.
    module = tmp_path / "bad.py"
    module.write_text("from bot.delivery.dispatcher import Dispatcher\nimport bot.web.health\n")
    found = {bot_layer(m) for m, _ in imported_modules(module)}
    assert found == {"delivery", "web"}
    assert not found <= BOT_LAYERS["storage"]


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
    fields = set()
    for name, field in Settings.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            # A front-end's own model: TELEGRAM_TOKEN is telegram.token.
            fields |= {f"{name}_{sub}".upper() for sub in nested.model_fields}
        else:
            fields.add(name.upper())
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
