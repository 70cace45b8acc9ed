"""Every service has the same shape: use cases in `service_layer/` speak domain words and
reach the database only through the repositories of `adapters/`; no source module grows past
what a reader can hold (500 lines); production code carries no test hooks; contracts live by
owner under `lre_shared.contracts` with one registry."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())
SQL_CALLS = frozenset({"execute", "executemany", "fetch", "fetchrow", "fetchval"})
LONGEST_MODULE = 500


def sql_calls(source_dir: Path, root: Path = ROOT) -> list[str]:
    """Each call of a database driver method (`conn.fetchrow(...)`) below `source_dir`."""
    found: list[str] = []
    for path in sorted(source_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SQL_CALLS
            ):
                found.append(f"{path.relative_to(root)}:{node.lineno} .{node.func.attr}()")
    return found


def long_modules(source_dirs: list[Path], root: Path = ROOT) -> list[str]:
    return [
        f"{path.relative_to(root)}: {lines} lines"
        for source_dir in source_dirs
        for path in sorted(source_dir.rglob("*.py"))
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > LONGEST_MODULE
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_use_cases_reach_the_database_only_through_adapters(service: str) -> None:
    assert sql_calls(ROOT / "services" / service / "src" / service / "service_layer") == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_common_layers(service: str) -> None:
    package = ROOT / "services" / service / "src" / service
    for layer in ("domain", "service_layer", "adapters", "entrypoints"):
        assert (package / layer / "__init__.py").is_file(), f"{service} has no {layer}/"
    assert (package / "service_layer" / "ports.py").is_file()


def test_no_source_module_is_longer_than_a_reader_can_hold() -> None:
    sources = [ROOT / "services" / s / "src" for s in SERVICES] + [ROOT / "shared" / "src"]
    assert long_modules(sources) == []


def test_production_code_carries_no_test_hook() -> None:
    hooks = subprocess.run(
        ["grep", "-rniE", "fault_injection|kill-after-commit", "shared/src", "services", "--include=*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    assert [hook for hook in hooks if "/tests/" not in hook] == []


def test_contracts_have_one_registry_and_import_in_any_order() -> None:
    # Each module imported first in a fresh interpreter: an import loop fails one of them.
    contracts = sorted((ROOT / "shared" / "src" / "lre_shared" / "contracts").glob("*.py"))
    assert len(contracts) >= 6
    for path in [*contracts, ROOT / "shared" / "src" / "lre_shared" / "topology.py"]:
        module = "lre_shared.topology" if path.stem == "topology" else f"lre_shared.contracts.{path.stem}"
        module = module.removesuffix(".__init__")
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True, cwd=ROOT)
    registry = importlib.import_module("lre_shared.contracts").ALL_MESSAGES
    names = [message.__name__ for message in registry]
    assert len(names) == len(set(names))


def test_the_checks_would_catch_sql_in_a_use_case_and_a_long_module(tmp_path: Path) -> None:
    statement = "'UPDATE letters SET state = 1'"
    lines = ["async def settle(tx):", f"    await tx.conn.execute({statement})"]
    (tmp_path / "use_case.py").write_text("\n".join(lines + ["# filler"] * LONGEST_MODULE) + "\n")
    assert sql_calls(tmp_path, root=tmp_path) == ["use_case.py:2 .execute()"]
    assert long_modules([tmp_path], root=tmp_path) == [f"use_case.py: {LONGEST_MODULE + 2} lines"]
