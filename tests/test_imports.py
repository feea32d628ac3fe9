"""The package's import graph, read from the source with ``ast`` (nothing is imported): no
circles, including those hidden in function-level imports; the registries (``ssgan.data``,
``ssgan.methods``) never reach ``ssgan.config``, which asks them; no Snakemake."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ssgan"
# Command modules under ssgan/data/ that resolve run configs (``ssgan prepare-data``): they sit
# above config, which the registries must not reach.
COMMANDS = {"ssgan.data.prepare"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(package modules, other top-level packages) that a module imports anywhere in its body.
    ``from ssgan.data import X`` is the ``ssgan.data`` package plus ``ssgan.data.X`` when X is a
    submodule; ``import ssgan.data.idx`` is ``ssgan.data.idx``."""
    ours, others = set(), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] != "ssgan":
                others.add(target.split(".")[0])
            elif target in known:
                ours.add(target)
    ours.discard(name)  # a package __init__ naming its own package to import its submodules
    return ours, others


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """module -> the package modules it imports; module -> the other packages it imports."""
    paths = modules()
    graph, external = {}, {}
    for name, path in paths.items():
        graph[name], external[name] = imported(name, path, set(paths))
    return graph, external


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module that importing ``start`` may import, each with the module importing it."""
    seen, todo = {start: ""}, [start]
    while todo:
        node = todo.pop()
        for nxt in sorted(graph[node]):
            if nxt not in seen:
                seen[nxt] = node
                todo.append(nxt)
    return seen


def chain(seen: dict[str, str], end: str) -> str:
    out = [end]
    while seen[out[-1]]:
        out.append(seen[out[-1]])
    return " -> ".join(reversed(out))


def test_the_graph_holds_top_level_and_function_level_imports(tmp_path):
    source = tmp_path / "x.py"
    source.write_text(
        "from ssgan import config as C\n"
        "from ssgan.data import DATASETS, idx\n"
        "import ssgan.methods.base\n"
        "from . import registry\n"
        "import numpy as np\n"
        "def f():\n"
        "    from ssgan.training.runs import RunError\n"
        "    import snakemake.io\n"
    )
    ours, others = imported("ssgan.data.x", source, set(modules()))
    assert ours == {
        "ssgan",
        "ssgan.config",
        "ssgan.data",
        "ssgan.data.idx",
        "ssgan.data.registry",
        "ssgan.methods.base",
        "ssgan.training.runs",
    }
    assert others == {"numpy", "snakemake"}
    graph, _ = import_graph()
    assert {"ssgan.data.binaries", "ssgan.data.idx", "ssgan.data.registry"} <= graph["ssgan.data"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_circle():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_registries_never_import_config():
    """Config validation asks the dataset and method registries; they do not ask config."""
    graph, _ = import_graph()
    registries = [m for m in graph if m.startswith(("ssgan.data", "ssgan.methods"))]
    for module in (m for m in registries if m not in COMMANDS):
        seen = reachable(graph, module)
        config = sorted(m for m in seen if m == "ssgan.config" or m.startswith("ssgan.config."))
        assert not config, chain(seen, config[0])
        assert not COMMANDS & set(seen), chain(seen, min(COMMANDS & set(seen)))


def test_the_package_never_imports_snakemake():
    _, external = import_graph()
    users = sorted(m for m, names in external.items() if "snakemake" in names)
    assert not users, f"modules importing snakemake: {users}"


def test_moved_modules_import_at_their_old_names_with_a_notice():
    """Every module that moved into a stage subpackage imports under its old name as the same
    module object, with a DeprecationWarning naming the new place; the old names are no files."""
    import importlib
    import sys
    import warnings

    from ssgan.moved import MOVED

    paths = modules()
    for old, new in MOVED.items():
        assert old not in paths and new in paths, (old, new)
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert module is importlib.import_module(new)
        assert [str(w.message) for w in caught if w.category is DeprecationWarning] == [
            f"{old} moved to {new}; import that instead"
        ]
    # the three the interface names: the config package as it was, the loop and run records
    from ssgan import config as C

    assert C.resolve("mnist", "wgan_gp", 0)["method"] == "wgan_gp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from ssgan.runs import RunError
        from ssgan.train import train
    from ssgan.training.loop import train as loop_train
    from ssgan.training.runs import RunError as run_error

    assert train is loop_train and RunError is run_error
