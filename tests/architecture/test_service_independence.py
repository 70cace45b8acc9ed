"""Services are independent: a service imports `lre_shared` and third-party packages,
never another service; and `lre_shared` imports no service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "src").is_dir())


def imported_top_levels(source_dir: Path, root: Path = ROOT) -> dict[str, set[Path]]:
    found: dict[str, set[Path]] = {}
    for path in source_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(root))
    return found


def test_the_five_services_are_found() -> None:
    assert SERVICES == ["archive", "notifier", "pickup", "signer", "verification"]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    imports = imported_top_levels(ROOT / "services" / service)
    offending = {
        other: sorted(map(str, imports[other])) for other in SERVICES if other != service and other in imports
    }
    assert not offending, f"{service} imports {offending}"


def test_shared_imports_no_service() -> None:
    imports = imported_top_levels(ROOT / "shared" / "src")
    assert not (set(SERVICES) & set(imports))


def test_the_check_would_catch_a_cross_service_import(tmp_path: Path) -> None:
    (tmp_path / "rogue.py").write_text("from archive.domain.item_number import new_item_number\n")
    assert "archive" in imported_top_levels(tmp_path, root=tmp_path)
