"""The import graph flows one way: dashboard → checkout → orgs, with no circle between
modules, and no import hidden inside a function to get around one (apps.ready excepted)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("orgs", "checkout", "dashboard")
ALLOWED_BETWEEN_APPS = {("checkout", "orgs"), ("dashboard", "checkout"), ("dashboard", "orgs")}


def project_imports() -> dict[str, tuple[set[str], set[str]]]:
    """module → (modules imported at the top, modules imported inside functions)."""
    graph = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(
                ".__init__"
            )
            tree = ast.parse(path.read_text())
            top, inner = set(), set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                for name in names:
                    if name.split(".")[0] in APPS:
                        (top if node in tree.body else inner).add(name)
            graph[module] = (top, inner)
    return graph


def resolve(name: str, modules) -> str | None:
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in modules else None


def test_apps_import_each_other_one_way_only():
    wrong = [
        f"{module} → {name}"
        for module, (top, inner) in project_imports().items()
        for name in top | inner
        if module.split(".")[0] != name.split(".")[0]
        and (module.split(".")[0], name.split(".")[0]) not in ALLOWED_BETWEEN_APPS
    ]
    assert wrong == []


def test_no_import_is_hidden_inside_a_function():
    hidden = {
        module: sorted(inner)
        for module, (_top, inner) in project_imports().items()
        if inner and module != "checkout.apps"
    }
    assert hidden == {}


def test_no_module_imports_itself_back_through_others():
    graph = project_imports()
    edges = {
        module: {
            target
            for name in top | inner
            if (target := resolve(name, graph)) and target != module and "." in target
        }
        for module, (top, inner) in graph.items()
    }
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for target in edges[module]:
            if target in path:
                cycles.append(" → ".join([*path[path.index(target) :], target]))
            elif len(path) < 40:
                visit(target, [*path, target])

    for module in edges:
        visit(module, [module])
    assert cycles == []
