"""Dependencies point one way (docs/design.md, "Parts"): a scan of every import proves it."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "sipwarden"

# package -> sipwarden packages it must not import
FORBIDDEN: dict[str, set[str]] = {
    "sip": {"*"},
    "events": {"*"},
    "detect": {"sensors", "hub", "agent", "cli", "app", "store", "enforce"},
    "intel": {"sensors", "hub", "agent", "cli", "app"},
    "store": {"sensors", "hub", "agent", "cli", "app", "detect", "enforce"},
    "enforce": {"sensors", "hub", "agent", "cli", "app"},
    "sensors": {"hub", "agent", "cli", "app"},
    "audit": {"sensors", "hub", "agent", "cli", "app", "store"},
    "fraud": {"sensors", "hub", "agent", "cli", "app", "store"},
}
# Modules that only the I/O layers may import; sip/ and detect/ are pure.
PURE_FORBIDDEN_STDLIB = {"asyncio", "socket", "sqlalchemy", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_imports_point_one_way() -> None:
    problems = []
    for path in PKG.rglob("*.py"):
        top = path.relative_to(PKG).parts[0].removesuffix(".py")
        banned = FORBIDDEN.get(top)
        if not banned:
            continue
        for name in _imports(path):
            if not name.startswith("sipwarden."):
                if top in {"sip", "detect"} and name.split(".")[0] in PURE_FORBIDDEN_STDLIB:
                    problems.append(f"{path.relative_to(PKG)} imports {name} (pure core)")
                continue
            target = name.split(".")[1]
            if target in {"settings_base"}:
                continue
            allowed_for_sip = top == "sip" and target == "sip"
            if ("*" in banned and target != top and not allowed_for_sip) or target in banned:
                problems.append(f"{path.relative_to(PKG)} imports {name}")
    assert not problems, "\n".join(problems)
