"""The packages of keras_ssm import downwards only: a lower layer never
imports a higher one, not even lazily inside a function; and no modules, in
one package or across packages, import each other round a circle.

The order, lowest first, as the imports stand (each tier may import the
tiers below it, never its own neighbours nor anything above):

0. `ops`, `validation`, `hippo`, `mel`, `simulate`, `intervals`: numerics, no keras_ssm imports; `version`
1. `discretization` (the ops)
2. `layers`, `data` (input pipelines: numpy, tf.data)
3. `models` (the layers; the tokenizers of `data`)
4. `zoo`, `export` (build and ship models)
5. `training` (recipes: models, data, zoo)
6. `tuning`, `cli_zoo`, `cli_export`
7. `cli`; 8. `__main__`

`keras_ssm/__init__.py` (the facade that imports them all) is above them;
`import keras_ssm` alone (e.g. for `__version__`) is no dependency: Python
has run it before any of its modules.
"""

import ast
import pathlib

import keras_ssm

ROOT = pathlib.Path(keras_ssm.__file__).parent

TIERS = [
    ("ops", "validation", "hippo", "mel", "simulate", "intervals", "version"),
    ("discretization",),
    ("layers", "data"),
    ("models",),
    ("zoo", "export"),
    ("training",),
    ("tuning", "cli_zoo", "cli_export"),
    ("cli",),
    ("__main__",),
]
LEVEL = {unit: level for level, units in enumerate(TIERS) for unit in units}

# Upward imports that are known and not fixed yet, (module, package it
# imports). Each must still occur (the test fails once it is fixed, so that
# this list only shrinks); none may be added.
KNOWN_UPWARD = set()


def _module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module):
    """The package (or top-level module) of `keras_ssm.x.y...`: `x`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _imported(tree):
    """Every keras_ssm module an AST imports, at any depth (lazy imports included)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "keras_ssm uses absolute imports only"
            if node.module == "keras_ssm":  # `from keras_ssm import zoo` imports keras_ssm.zoo
                yield from (f"keras_ssm.{alias.name}" for alias in node.names)
            else:
                yield node.module
        elif (  # importlib.import_module("keras_ssm....")
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def _edges():
    """`(module, package imported, level of module, level of package)` for every
    import of a keras_ssm module from another package."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        source = _unit(module)
        if source is None:  # keras_ssm/__init__.py, the facade
            continue
        for imported in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            if not imported.startswith("keras_ssm."):
                continue
            target = _unit(imported)
            # `from keras_ssm import __version__` (or a class of the facade) imports no package.
            is_module = (ROOT / target).is_dir() or (ROOT / f"{target}.py").is_file()
            if is_module and target != source:
                edges.append((module, target, LEVEL[source], LEVEL[target]))
    return edges


def test_every_package_has_a_tier():
    units = {_unit(_module_name(path)) for path in ROOT.rglob("*.py")} - {None}
    assert units - set(LEVEL) == set(), "place the new package in TIERS (and the docstring)"


def test_imports_go_down_only():
    upward = {(module, target) for module, target, source, level in _edges() if not level < source}
    assert upward - KNOWN_UPWARD == set(), "a lower layer imports a higher one (or its neighbour)"
    assert KNOWN_UPWARD - upward == set(), "fixed: remove it from KNOWN_UPWARD"


def test_models_never_import_the_zoo():
    # `from_preset` reaches the zoo through `keras_ssm.models.preset_loader`.
    offenders = sorted({module for module, target, _, _ in _edges()
                        if module.startswith("keras_ssm.models") and target == "zoo"})
    assert offenders == []


def _module_imports():
    """`{module: modules it imports}` inside keras_ssm, at module granularity
    (`from keras_ssm.data import augment` is the module `keras_ssm.data.augment`);
    the facade `keras_ssm/__init__.py` left out."""
    modules = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph = {}
    for module, path in modules.items():
        if module == "keras_ssm":
            continue
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_ssm"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    targets.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.startswith("keras_ssm."))
        graph[module] = {t for t in targets if t in modules and t not in (module, "keras_ssm")}
    return graph


def test_no_module_imports_itself_round_a_circle():
    # Within a package too: two modules that import each other (even lazily) share one job, or
    # one of them holds what both need.
    graph = _module_imports()
    circles, state = [], {}

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == [], "import circles: " + "; ".join(" -> ".join(c) for c in circles)
